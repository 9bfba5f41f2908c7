/*
 * Leases that need no free space: the machine's fallback when the LMDB file cannot commit (a full
 * disk). Each lease is a symbolic link in `<dir>/leases/`, named after a hash of the key, whose
 * target holds the owner token and the expiry. Creating a link is atomic and fails if it exists,
 * and a short target lives in the inode itself, so taking a lease writes no data block: on a full
 * disk the processes of the machine still agree on one holder per key. An expired link is taken
 * over by removing it only if it still names the expired holder, then linking anew.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { Lease, LeaseGrant, LeaseStore } from '../../core/tier.js';

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

/**
 * The link-based lease store of an LMDB directory (see the top of this file).
 *
 * @example
 * ```ts
 * const fallback = linkLeaseStore('/var/cache/app', Date.now);
 * await fallback.acquire('0::page', 'token', 10_000);
 * ```
 */
export function linkLeaseStore(dir: string, clock: Clock): LeaseStore {
  const folder = join(dir, 'leases');
  const linkOf = (key: string): string => join(folder, createHash('sha256').update(key).digest('hex').slice(0, 40));
  const read = (key: string): Lease | undefined => {
    // Until a full disk made some process fall back, there is no folder: one stat says so, where
    // a readlink would throw (and build an error) on every lease of every cold compute.
    if (!existsSync(folder)) return undefined;
    let target: string;
    try {
      target = readlinkSync(linkOf(key));
    } catch (error) {
      if (code(error) === 'ENOENT') return undefined;
      throw error;
    }
    const [token = '', expiry = '0'] = target.split('@');
    return { key, token, expiresAt: Number(expiry) };
  };
  const tryLink = (key: string, token: string, expiresAt: number): boolean => {
    try {
      symlinkSync(`${token}@${expiresAt}`, linkOf(key));
      return true;
    } catch (error) {
      if (code(error) === 'EEXIST') return false;
      if (code(error) !== 'ENOENT') throw error;
      mkdirSync(folder, { recursive: true });
      return tryLink(key, token, expiresAt);
    }
  };
  return {
    scope: 'machine',
    async acquire(key, token, ttl): Promise<LeaseGrant> {
      const expiresAt = clock() + ttl;
      if (tryLink(key, token, expiresAt)) return { acquired: true, lease: { key, token, expiresAt }, tookOver: false };
      const current = read(key);
      if (current !== undefined && current.expiresAt > clock()) return { acquired: false, holder: current };
      // Expired (or gone meanwhile): remove it only if it still names the same holder.
      if (current !== undefined && read(key)?.token === current.token) {
        try {
          unlinkSync(linkOf(key));
        } catch (error) {
          if (code(error) !== 'ENOENT') throw error;
        }
      }
      if (tryLink(key, token, expiresAt)) return { acquired: true, lease: { key, token, expiresAt }, tookOver: current !== undefined };
      return { acquired: false, holder: read(key) ?? { key, token: '', expiresAt: clock() + 1 } };
    },
    async release(key, token) {
      if (read(key)?.token !== token) return false;
      try {
        unlinkSync(linkOf(key));
        return true;
      } catch (error) {
        if (code(error) === 'ENOENT') return false;
        throw error;
      }
    },
    holder(key) {
      const current = read(key);
      return current !== undefined && current.expiresAt > clock() ? current : undefined;
    },
  };
}
