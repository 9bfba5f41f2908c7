/*
 * Headroom: a full disk is met by the tier's own write, never by LMDB's.
 *
 * LMDB (without a write map, as lmdb-js opens it) grows its file by writing pages past the end.
 * On a full disk or at the process's file-size limit that write fails inside the C library, which
 * prints a line to stderr that no JavaScript can intercept, and the commit fails. So the tier
 * keeps the blocks LMDB grows into allocated ahead of it: zeros written past LMDB's last page.
 * Overwriting a block that is already allocated needs no new space on the file systems that
 * write in place (ext4, xfs, tmpfs; not copy-on-write ones such as btrfs or zfs, where LMDB's own
 * failure and its line come back), so LMDB's commits land in the headroom, and it is the tier's
 * extension, a plain write whose ENOSPC or EFBIG JavaScript sees, that meets the full disk.
 *
 * Every write transaction claims room first, inside the callback that lmdb-js runs while this
 * process holds the file's write lock: no other process commits meanwhile, so LMDB's last page
 * and the file's size are what the claim sees. A claim that leaves too little room extends the
 * file; when the file cannot grow, a write that needs new pages is refused with a StorageError
 * before it touches anything, and the writes that make room (deletes, clears, the sweep) may use
 * the last GROW_MARGIN bytes, which a growing write never takes. Pages that deletes gave back to
 * LMDB's free list count as room again, so writes resume by themselves once a delete, a clear or
 * the sweep freed pages, or the disk has space again.
 *
 * The estimate is deliberately coarse (twice a record's bytes, with the tree paths a commit
 * copies covered by the margin). Where it is short, LMDB writes past the headroom and fails the commit as before (the
 * commit's repairs still apply); nothing is lost either way.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import type { Database, RootDatabase } from 'lmdb';
import { StorageError } from '../../core/errors.js';

/** What a write transaction is about to do: grow the file (sets, leases) or make room (deletes). */
export interface RoomClaim {
  readonly use: 'grow' | 'free';
  /** Bytes of record it writes (0 when it only changes small records or removes). */
  readonly bytes: number;
}

/** The claim of a write with no large record: a lease, a tombstone, a change record. */
export const SMALL_WRITE: RoomClaim = { use: 'grow', bytes: 0 };
/** The claim of a delete, a clear or a sweep. */
export const FREEING_WRITE: RoomClaim = { use: 'free', bytes: 0 };

/**
 * Pages a transaction copies besides its records (tree paths in a few databases, the free list):
 * a growing write's are covered by GROW_MARGIN, a freeing write claims them.
 */
const PATH_BYTES = 64 * 1024;
/** The last bytes of headroom, kept for the writes that make room. */
export const GROW_MARGIN = 256 * 1024;
const MIN_EXTENSION = 1024 * 1024;
const MAX_EXTENSION = 64 * 1024 * 1024;
/** Zeros written by one claim beyond what it needs: the write lock is held meanwhile (about 2 ms). */
const EXTENSION_STEP = 4 * 1024 * 1024;
/** How often LMDB's end is read again at most, whatever was claimed meanwhile. */
const REREAD_MS = 50;
/** After the file could not grow, how long before the next attempt (a failing write is cheap). */
const RETRY_MS = 100;
const ZEROS = Buffer.alloc(MIN_EXTENSION);

/**
 * The headroom of one environment's data file, in this process.
 *
 * @example
 * ```ts
 * const room = new Headroom(`${dir}/data.mdb`, root, () => [entries, byAge]);
 * const settle = room.claim({ use: 'grow', bytes: 4_096 }); // in a write transaction
 * settle(); // when it committed or failed
 * ```
 */
export class Headroom {
  private readonly fd: number | undefined;
  private size: number;
  /** Bytes claimed by this process's transactions that have not settled (one batch commits many). */
  private pending = 0;
  /** LMDB's end when last read, and the bytes claimed here since then. */
  private knownEnd = 0;
  private claimedSince = 0;
  private readAt = -Infinity;
  private retryAt = 0;
  private readonly pageSize: number;

  constructor(dataFile: string, private readonly root: RootDatabase, private readonly databases: () => readonly Pick<Database, 'getStats'>[]) {
    let fd: number | undefined;
    try {
      fd = openSync(dataFile, 'r+');
    } catch {
      fd = undefined; // no headroom kept: LMDB meets a full disk itself, as without this module
    }
    this.fd = fd;
    this.size = fd === undefined ? 0 : fstatSync(fd).size;
    this.pageSize = (root.getStats() as { pageSize: number }).pageSize;
  }

  /**
   * Claims room for one write transaction; call it inside the transaction, before writing.
   * Returns what to call once the transaction settled. Throws a StorageError when the file
   * cannot hold the write and cannot grow.
   */
  claim(claim: RoomClaim): () => void {
    if (this.fd === undefined) return noop;
    // A record, its index and change rows, in pages that B-trees keep half to wholly full.
    const need = claim.use === 'grow' ? 2 * claim.bytes + 1024 : PATH_BYTES;
    const margin = claim.use === 'grow' ? GROW_MARGIN : 0;
    const now = Date.now();
    // LMDB's end is read again (a native call of about 3 µs, a quarter of a small set) only when
    // the estimate looks short, after a quarter of the headroom was claimed here, or every
    // REREAD_MS: other processes' growth since the last read is what the estimate misses, and
    // each of them reads the end again as often, so they overrun the headroom only if several each
    // claim a quarter of it within REREAD_MS; then LMDB meets the full disk itself, as without it.
    let end = this.knownEnd + this.claimedSince;
    const short = (): boolean => this.size - end - need < margin + this.extension(end);
    if (short() || this.claimedSince > this.extension(end) / 4 || now - this.readAt > REREAD_MS) {
      const info = this.info();
      this.knownEnd = (info.lastPageNumber + 1) * info.pageSize;
      this.claimedSince = this.pending;
      this.readAt = now;
      end = this.knownEnd + this.claimedSince;
      if (short()) {
        this.size = Math.max(this.size, fstatSync(this.fd).size);
        if (short()) this.extend(end + need + margin, end + need + margin + 2 * this.extension(end), now);
        if (this.size - end - need < margin && this.freeBytes(info) - need < margin) {
          throw new StorageError('lmdb', `no room for this write: the disk is full (or the file reached its size limit) and the file has ${Math.max(0, this.size - end)} bytes left; deletes, a clear and the sweep still make room, and writes resume once there is some`);
        }
      }
    }
    this.pending += need;
    this.claimedSince += need;
    let settled = false;
    return () => {
      if (settled) return;
      settled = true;
      this.pending -= need;
    };
  }

  /** Closes the file descriptor (the environment is closing). */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }

  private info(): { lastPageNumber: number; pageSize: number } {
    // lmdb-js's environment handle: info() is mdb_env_info, where getStats() would also stat
    // every database.
    const env = (this.root as unknown as { env: { info(): { lastPageNumber: number } } }).env;
    return { lastPageNumber: env.info().lastPageNumber, pageSize: this.pageSize };
  }

  /** Headroom kept ahead of LMDB's end: an eighth of the file, within bounds. */
  private extension(end: number): number {
    return Math.min(MAX_EXTENSION, Math.max(MIN_EXTENSION, Math.floor(end / 8)));
  }

  /**
   * Writes zeros from the file's end up to `required` (what the claim needs) and on towards
   * `target` by one step at most, as far as the disk lets it.
   */
  private extend(required: number, target: number, now: number): void {
    if (this.fd === undefined || now < this.retryAt) return;
    try {
      const stop = Math.max(required, Math.min(target, this.size + EXTENSION_STEP));
      while (this.size < stop) {
        const written = writeSync(this.fd, ZEROS, 0, Math.min(ZEROS.length, stop - this.size), this.size);
        if (written === 0) break;
        this.size += written;
      }
    } catch {
      // ENOSPC, EDQUOT or EFBIG (past `ulimit -f`; Node ignores SIGXFSZ): what was written is
      // headroom all the same.
      this.retryAt = now + RETRY_MS;
      this.size = fstatSync(this.fd).size;
    }
  }

  /**
   * Bytes in LMDB's free list: pages below its end that no database uses. Some may still be
   * pinned by an old reader; the estimate errs on the side of trying the write.
   */
  private freeBytes(info: { lastPageNumber: number; pageSize: number }): number {
    let used = 2; // the meta pages
    for (const db of [this.root, ...this.databases()]) used += pagesOf(db.getStats() as PageStats);
    used += pagesOf((this.root.getStats() as { free: PageStats }).free);
    return Math.max(0, info.lastPageNumber + 1 - used) * info.pageSize;
  }
}

interface PageStats {
  readonly treeBranchPageCount: number;
  readonly treeLeafPageCount: number;
  readonly overflowPages: number;
}

function pagesOf(stats: PageStats): number {
  return stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages;
}

function noop(): void {}
