import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InvalidOptionError, StorageError } from '../../core/errors.js';
import { open, type Database, type RootDatabase } from 'lmdb';
import { LazyCoordination } from './coordination.js';
import { Headroom, SMALL_WRITE, type RoomClaim } from './headroom.js';
import { checkEnvironmentFile, markChecked, quarantineNow, type FileFinding } from './probe.js';
import { openEntries, STRUCTURES_KEY } from './seal.js';

/**
 * The databases of one herdcache LMDB environment (one directory, shared by every process).
 *
 * @example
 * ```ts
 * const env = acquireEnvironment('/var/cache/app', 1 << 31, 1 << 30);
 * env.entries.get('0::k');
 * releaseEnvironment(env);
 * ```
 */
export interface LmdbEnvironment {
  readonly path: string;
  readonly root: RootDatabase;
  /** storage key -> entry record (sealed msgpackr with shared structures, see seal.ts). */
  readonly entries: Database<unknown, string>;
  /** [storedAt, storage key] -> staleUntil: the sweep's and the size bound's order. */
  readonly byAge: Database<number, [number, string]>;
  /** storage key (or the sweep's claim) -> { token, expiresAt }: in the coordination file (coordination.ts). */
  readonly leases: Database<{ token: string; expiresAt: number }, string>;
  /** The coordination file beside this one: leases, the sweep's claim, released leases. */
  readonly coordination: LazyCoordination;
  /** version -> change made by one cache instance, read by the others (see versions.ts). */
  readonly log: Database<ChangeRecord, number>;
  /** storage key -> the version (and cluster version) of its last delete, kept for a while. */
  readonly tombstones: Database<ChangeStamp, string>;
  /** key prefix -> the version (and cluster version) of its last clear. */
  readonly clears: Database<ChangeStamp, string>;
  /** Small bookkeeping values (the change counter `seq`, how far the log was trimmed, the site id). */
  readonly meta: Database<number, string>;
  /** Free space kept for the deletes of a full disk (see room.ts). */
  readonly reserve: Database<Buffer, string>;
  /** Named strings kept for the tiers above (see Checkpoints in src/core/tier.ts). */
  readonly checkpoints: Database<string, string>;
  /** What the probe found when this process first opened the path, if it moved a damaged file aside. */
  readonly fileFinding: FileFinding | undefined;
  /** A random id written into the file when it was created: every process that opens it reads the same. */
  readonly site: string;
  /** The blocks kept allocated ahead of LMDB, where its commits land (see headroom.ts). */
  readonly room: Headroom;
}

/**
 * When a key (or every key under a prefix) was last deleted: its version on this file, the
 * version the change had on the cluster tier when it came from there, and the wall-clock ms.
 *
 * @example
 * ```ts
 * const stamp: ChangeStamp = { v: 42, t: Date.now() };
 * ```
 */
export interface ChangeStamp {
  readonly v: number;
  readonly t: number;
  readonly rv?: number;
}

/**
 * One entry of the change log: who wrote it, when, and which key (or key prefix) changed, or
 * whose lease was released (`r`, which changes no value).
 *
 * @example
 * ```ts
 * const change: ChangeRecord = { o: 'a1b2', t: Date.now(), k: '0::user:1' };
 * ```
 */
export interface ChangeRecord {
  /** Id of the cache instance that made the change (it skips its own). */
  readonly o: string;
  /** Wall-clock ms of the change, for trimming the log. */
  readonly t: number;
  readonly k?: string;
  readonly p?: string;
  readonly r?: string;
}

const open_ = new Map<string, { env: LmdbEnvironment; refs: number; maxBytes: number | undefined }>();
const SITE_KEY = 'site';

/**
 * Opens (or shares, within this process) the environment at `path`. One environment per path
 * per process, as LMDB requires; stale reader slots left by dead processes are cleared here.
 *
 * @example
 * ```ts
 * const env = acquireEnvironment('./.herdcache', 1 << 31, 1 << 30);
 * ```
 */
export function acquireEnvironment(path: string, mapSize: number, maxBytes?: number): LmdbEnvironment {
  const absolute = resolve(path);
  const existing = open_.get(absolute);
  if (existing !== undefined) {
    // One environment per path per process: a second bound would silently be the first one.
    if (maxBytes !== undefined && existing.maxBytes !== undefined && existing.maxBytes !== maxBytes) {
      throw new InvalidOptionError('lmdbTier.maxBytes', `${absolute} is already open in this process with maxBytes ${existing.maxBytes}: give every cache on one path the same bound (got ${maxBytes})`);
    }
    existing.refs++;
    existing.maxBytes ??= maxBytes;
    return existing.env;
  }
  makeDirectory(absolute);
  const existed = existsSync(join(absolute, 'data.mdb'));
  let finding = checkEnvironmentFile(absolute);
  let env: LmdbEnvironment;
  try {
    env = openDatabases(absolute, mapSize, finding);
  } catch (error) {
    // The probe passed a file on which LMDB still reports damage opening its databases: it is
    // moved aside like any damaged file, and a fresh one takes its place.
    if (!existed || !isDamage(error)) throw asStorageError(absolute, error);
    finding = quarantineNow(absolute, `LMDB reported damage opening it: ${(error as Error).message}`);
    try {
      env = openDatabases(absolute, mapSize, finding);
    } catch (again) {
      throw asStorageError(absolute, again);
    }
  }
  if (!existed || finding !== undefined) markChecked(absolute);
  open_.set(absolute, { env, refs: 1, maxBytes });
  return env;
}

function asStorageError(absolute: string, error: unknown): StorageError {
  return new StorageError('lmdb', `cannot open the LMDB environment in ${absolute}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** Whether LMDB's error says the file is damaged (rather than, say, not permitted). */
function isDamage(error: unknown): boolean {
  return error instanceof Error && /MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_BAD_TXN|MDB_INVALID|MDB_VERSION_MISMATCH|wrong type/i.test(error.message);
}

function openDatabases(absolute: string, mapSize: number, finding: FileFinding | undefined): LmdbEnvironment {
  const root = openRoot(absolute, mapSize);
  try {
    // Reader slots left by dead processes: lmdb-js's open() clears them itself (mdb_reader_check).
    const meta = root.openDB<number, string>('meta', {});
    const databases = {
      entries: openEntries(root),
      byAge: root.openDB<number, [number, string]>('by-age', {}),
      log: root.openDB<ChangeRecord, number>('change-log', {}),
      tombstones: root.openDB<ChangeStamp, string>('tombstones', {}),
      clears: root.openDB<ChangeStamp, string>('clears', {}),
      meta,
      checkpoints: root.openDB<string, string>('checkpoints', {}),
      reserve: root.openDB<Buffer, string>('reserve', { encoding: 'binary' }),
    };
    const site = siteOf(meta, root);
    const room = new Headroom(join(absolute, 'data.mdb'), root, () => Object.values(databases));
    const coordination = new LazyCoordination(absolute);
    return {
      path: absolute,
      root,
      ...databases,
      coordination,
      get leases() {
        return coordination.get().leases;
      },
      fileFinding: finding,
      site,
      room,
    };
  } catch (error) {
    // Closed before the file is moved aside: nothing may read this environment any more.
    void root.close().catch(() => undefined);
    throw error;
  }
}

function openRoot(absolute: string, mapSize: number): RootDatabase {
  // No event-turn batching: in that mode lmdb-js keeps a promise per batch that nobody can
  // observe, so a failed commit (disk full) became an unhandled rejection. Every write here is a
  // transaction, and transactions queued together still commit together.
  // noSubdir: false, or lmdb-js takes a directory named like `cache.v2` for a file name.
  return open({ path: absolute, maxDbs: 12, mapSize, eventTurnBatching: false, noSubdir: false });
}

/**
 * Creates the directory and its missing parents one level at a time. Node's recursive mkdir
 * loops for ever under pseudo file systems such as /proc/self, where a parent that exists
 * refuses children; here that is one failed mkdir and a StorageError.
 */
function makeDirectory(absolute: string): void {
  const missing: string[] = [];
  for (let at = absolute; ; at = dirname(at)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(at).isDirectory();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') throw new InvalidOptionError('lmdbTier.path', `a part of ${absolute} is a file, not a directory: give a directory for the LMDB environment`);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) {
        throw new StorageError('lmdb', `cannot use ${absolute} for the LMDB environment: ${(error as Error).message}`, { cause: error });
      }
      missing.push(at);
      continue;
    }
    if (!isDirectory) throw new InvalidOptionError('lmdbTier.path', `${at} exists and is not a directory: give a directory for the LMDB environment`);
    break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statSync(dir).isDirectory()) continue;
      throw new StorageError('lmdb', `cannot create ${dir} for the LMDB environment: ${(error as Error).message}`, { cause: error });
    }
  }
}

/**
 * The file's site id: written once, by whichever process creates the file. The look and the
 * write share one write transaction, so two processes opening a new file at once agree.
 */
function siteOf(meta: Database<number, string>, root: RootDatabase): string {
  let id = 0;
  root.transactionSync(() => {
    const existing = meta.get(SITE_KEY);
    id = existing ?? randomBytes(6).readUIntBE(0, 6);
    if (existing === undefined) meta.putSync(SITE_KEY, id);
  });
  // Let the first read take a fresh snapshot rather than one left from opening the file.
  root.resetReadTxn();
  return id.toString(36);
}

/**
 * Number of cache entries in the environment: the entries db also holds msgpackr's shared
 * structures record, which is not an entry.
 *
 * @example
 * ```ts
 * countEntries(env); // 0 for a fresh file
 * ```
 */
export function countEntries(env: LmdbEnvironment): number {
  const count = (env.entries.getStats() as { entryCount: number }).entryCount;
  return env.entries.doesExist(STRUCTURES_KEY as unknown as string) ? count - 1 : count;
}

/**
 * Gives back an environment; the last user in this process closes it after its writes commit.
 *
 * @example
 * ```ts
 * await releaseEnvironment(env);
 * ```
 */
export async function releaseEnvironment(env: LmdbEnvironment): Promise<void> {
  const slot = open_.get(env.path);
  if (slot === undefined || slot.env !== env) return;
  if (--slot.refs > 0) return;
  open_.delete(env.path);
  await env.root.committed;
  await env.root.close();
  await env.coordination.close();
  env.room.close();
  // Closed cleanly: the next process to open it on this boot need not probe it unless it changes.
  markChecked(env.path);
}

/**
 * Runs `action` in an asynchronous write transaction of `db`, after claiming room for it in the
 * file's headroom (`claim`: what it writes; a write that cannot fit rejects before it starts).
 * When lmdb-js fails a commit (disk full, I/O error) it rejects with a generic error whose
 * `commitError` is a second promise that rejects with the real cause; nobody else awaits that
 * one, so it would surface as an unhandled rejection. It is observed here; the caller's rejection
 * keeps it reachable as `commitError`.
 *
 * @example
 * ```ts
 * await transact(env, env.entries, () => env.entries.remove('0::k'), FREEING_WRITE);
 * ```
 */
export function transact<T>(env: Pick<LmdbEnvironment, 'room'>, db: Pick<RootDatabase, 'transaction'>, action: () => T, claim: RoomClaim = SMALL_WRITE): Promise<T> {
  let settle: (() => void) | undefined;
  return db.transaction(() => {
    // lmdb-js runs this while the write lock is held: what the claim sees, no one else changes.
    settle = env.room.claim(claim);
    return action();
  }).then(
    (result) => {
      settle?.();
      return result;
    },
    (error: unknown) => {
      settle?.();
      const detail = typeof error === 'object' && error !== null ? (error as { commitError?: unknown }).commitError : undefined;
      if (detail instanceof Promise) detail.catch(() => undefined);
      throw error;
    },
  );
}
