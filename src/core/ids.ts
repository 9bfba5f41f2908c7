import { randomBytes } from 'node:crypto';

/**
 * A random id for one object of this process (a cache, a tier instance): 48 random bits, so that
 * two of them meet with a chance of about 2^-48 however many processes share a file or a server.
 * Lease tokens and change records carry it to tell their writer apart.
 *
 * @example
 * ```ts
 * const origin = instanceId(); // e.g. 'q3Zr9kTa'
 * ```
 */
export function instanceId(): string {
  return randomBytes(6).toString('base64url');
}
