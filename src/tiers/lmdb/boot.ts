import { readFileSync } from 'node:fs';

/**
 * The kernel's id of this boot (Linux), the same in every process and container of the host until
 * it restarts; undefined where the system does not say.
 *
 * @example
 * ```ts
 * bootId(); // '6f1c2e0a-...' on Linux
 * ```
 */
export function bootId(): string | undefined {
  try {
    const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return /^[0-9a-f-]{8,64}$/i.test(id) ? id.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}
