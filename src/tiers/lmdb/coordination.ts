/*
 * The coordination file: the leases of the barrier and the refreshes, the sweep's claim and the
 * log of released leases live in an LMDB environment of their own, beside the data file.
 *
 * Why a second file. A lease is worth nothing once the machine has crashed (every holder is gone
 * with it), yet in the data file each take and each release was a durable commit: three flushes
 * to disk per cold compute under the barrier where one (the value's) is all that needs to last.
 * LMDB decides durability per environment, so the leases get one that is never flushed
 * (`noSync`), and their transactions are synchronous: about 20 µs, and the write lock they wait
 * for is only ever held by other lease transactions, which are as short.
 *
 * Why its name carries the boot id. An environment that is not flushed may be damaged by a crash
 * of the machine. The file is named after the kernel's boot id, which every process and container
 * of the host reads alike and which changes at each restart: after a crash every process opens a
 * new, empty file, and the files of earlier boots, whose users all died with their boot, are
 * removed by whichever process opens first. Where the system gives no boot id, the file keeps a
 * fixed name and is flushed like the data file (slower, never damaged).
 *
 * A process killed with SIGKILL loses nothing of it: its pages are in the kernel's cache.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { open, TransactionFlags, type Database, type RootDatabase } from 'lmdb';
import { StorageError } from '../../core/errors.js';
import { bootId } from './boot.js';
import type { ChangeRecord } from './env.js';

/**
 * The coordination environment of one LMDB directory (see the top of this file).
 *
 * @example
 * ```ts
 * const coordination = openCoordination('/var/cache/app');
 * await inLeaseTransaction(coordination, () => coordination.leases.put('0::k', { token: 't', expiresAt: 1 }));
 * ```
 */
export interface Coordination {
  readonly root: RootDatabase;
  /** storage key (or the sweep's claim) -> { token, expiresAt }. */
  readonly leases: Database<{ token: string; expiresAt: number }, string>;
  /** counter -> a released lease (`r`), so that waiters in other processes look again at once. */
  readonly releases: Database<ChangeRecord, number>;
  /** The releases' counter (`seq`). */
  readonly meta: Database<number, string>;
  /** False when the file is not flushed (it has a boot id): its transactions are then synchronous. */
  readonly flushed: boolean;
}

/** How long a coordination file that could not be opened is left alone before the next try, ms. */
const REOPEN_MS = 1_000;
const FILE = /^leases(?:-([0-9a-f-]+))?\.mdb(?:-lock)?$/;

/**
 * Opens the coordination environment of the directory `absolute`, removing the files of earlier
 * boots first.
 *
 * @example
 * ```ts
 * const coordination = openCoordination(resolve('./.herdcache'));
 * ```
 */
export function openCoordination(absolute: string): Coordination {
  const boot = bootId();
  removeEarlierBoots(absolute, boot);
  const root = open({
    path: join(absolute, boot === undefined ? 'leases.mdb' : `leases-${boot}.mdb`),
    noSubdir: true,
    noSync: boot !== undefined,
    // Not useWritemap, though its commits cost half: a page written through the map that the
    // disk (or `ulimit -f`) has no room for is a SIGBUS, not an error.
    maxDbs: 4,
    mapSize: 64 * 1024 * 1024,
    eventTurnBatching: false,
  });
  return {
    root,
    leases: root.openDB<{ token: string; expiresAt: number }, string>('leases', {}),
    releases: root.openDB<ChangeRecord, number>('releases', {}),
    meta: root.openDB<number, string>('meta', {}),
    flushed: boot === undefined,
  };
}

/** The files of other boots: nobody uses them any more. A failure to remove one is harmless. */
function removeEarlierBoots(absolute: string, boot: string | undefined): void {
  let names: string[];
  try {
    names = readdirSync(absolute);
  } catch {
    return;
  }
  for (const name of names) {
    const match = FILE.exec(name);
    if (match === null || boot === undefined || match[1] === boot) continue;
    rmSync(join(absolute, name), { force: true });
  }
}

/**
 * Runs `action` in a write transaction of the coordination file: synchronous when the file is
 * not flushed (no disk to wait for), asynchronous otherwise (a flush must not block the caller).
 * Resolves with what it returned; a failure rejects, never throws.
 *
 * @example
 * ```ts
 * const took = await inLeaseTransaction(coordination, () => coordination.leases.get('0::k') === undefined);
 * ```
 */
export function inLeaseTransaction<T>(coordination: Coordination, action: () => T): Promise<T> {
  if (coordination.flushed) return coordination.root.transaction(action);
  try {
    return Promise.resolve(coordination.root.transactionSync(action, TransactionFlags.ABORTABLE | TransactionFlags.SYNCHRONOUS_COMMIT));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Inside a coordination transaction: logs the release of `key`'s lease by `origin`.
 *
 * @example
 * ```ts
 * await inLeaseTransaction(c, () => { c.leases.remove('0::k'); recordRelease(c, { o: id, t: Date.now(), r: '0::k' }); });
 * ```
 */
export function recordRelease(coordination: Coordination, record: ChangeRecord): number {
  const next = (coordination.meta.get('seq') ?? 0) + 1;
  coordination.meta.put('seq', next);
  coordination.releases.put(next, record);
  return next;
}

/**
 * The releases' counter in the current snapshot.
 *
 * @example
 * ```ts
 * coordination.root.resetReadTxn(); const latest = releaseVersion(coordination);
 * ```
 */
export function releaseVersion(coordination: Coordination): number {
  return coordination.meta.get('seq') ?? 0;
}

/**
 * The coordination file of one environment, opened at its first use (a directory that only
 * reads never creates one) and opened again at the next if it could not be (a full disk).
 *
 * @example
 * ```ts
 * const lazy = new LazyCoordination('/var/cache/app');
 * lazy.get().leases.get('0::k');
 * await lazy.close();
 * ```
 */
export class LazyCoordination {
  private opened: Coordination | undefined;
  private failed: { readonly at: number; readonly error: StorageError } | undefined;

  constructor(private readonly absolute: string) {}

  /** The open environment; throws StorageError if it cannot be opened (tried again after REOPEN_MS). */
  get(): Coordination {
    if (this.opened !== undefined) return this.opened;
    const now = performance.now();
    if (this.failed !== undefined && now - this.failed.at < REOPEN_MS) throw this.failed.error;
    try {
      this.opened = openCoordination(this.absolute);
      this.failed = undefined;
    } catch (error) {
      const failure = new StorageError('lmdb', `cannot open the lease file in ${this.absolute}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      this.failed = { at: now, error: failure };
      throw failure;
    }
    return this.opened;
  }

  /**
   * The open environment, or undefined if it cannot be opened: for the work that goes on without
   * it (the sweep unclaimed, followers unwoken), where only the leases must know why.
   */
  tryGet(): Coordination | undefined {
    try {
      return this.get();
    } catch {
      return undefined;
    }
  }

  /** Whether it was opened (and not closed). */
  get isOpen(): boolean {
    return this.opened !== undefined;
  }

  async close(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    if (opened === undefined) return;
    await opened.root.committed;
    await opened.root.close();
  }
}
