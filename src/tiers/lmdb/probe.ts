/*
 * A cache file can always be thrown away, so a damaged one is moved aside rather than trusted.
 *
 * LMDB has no checksums and maps its file into memory: a truncated file, a garbled meta page or
 * garbage pages make it fault (SIGSEGV, SIGBUS) or abort inside the process that reads them, which
 * no try/catch survives. So before a process opens an existing file for the first time on this
 * boot, a short-lived child process opens it the same way, reads every page of every database and
 * makes one small write. If the child dies by a signal or LMDB reports damage, the file (and its
 * lock file) is moved into `<dir>/quarantine-<time>/` and a fresh environment is created; the
 * tier reports what was found (`corrupt-file`). A file that passed, that this process created, or
 * that the last cache of this process just closed, is marked with the boot id and the file's
 * inode, size and modification time: a later open on the same boot skips the probe unless the
 * file changed since (written by another process, or damaged while nobody had it open).
 *
 * What this cannot see: damage that happens after the probe (a disk failing while the file is in
 * use) and flipped bits inside a value that still decodes (the record decodes to another value).
 */
import { bootId } from './boot.js';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sealOf } from './seal.js';

/**
 * What the probe found about a file it moved aside.
 *
 * @example
 * ```ts
 * const finding: FileFinding = { reason: 'LMDB faulted reading it (SIGBUS)', quarantinedTo: '/var/cache/app/quarantine-...' };
 * ```
 */
export interface FileFinding {
  readonly reason: string;
  readonly quarantinedTo: string;
}

const DATA = 'data.mdb';
const LOCK = 'lock.mdb';
const MARKER = 'herdcache-probe.json';
const CHILD = fileURLToPath(new URL('./probe-child.js', import.meta.url));
/** Longest a probe may take before the file is used unverified, ms. */
const PROBE_TIMEOUT = 120_000;
/** LMDB's two meta pages at the default 4 KiB page size. */
const META_PAGES_BYTES = 8192;

/** This boot's id; without one, every process probes its first open. */
function bootMark(): string {
  return bootId() ?? `process-${process.pid}`;
}

/** Which file, and as it was: a change since the last check (a write, a truncation) shows here. */
/**
 * What a checked file is recognized by: its inode, size and modification time, and a hash of its
 * two meta pages, which decay in place without touching the modification time (a bad sector,
 * bit rot) and fault LMDB at open. The rest of the file is not hashed: that would be a read of
 * the whole file at every open.
 */
function identityOf(file: string): string | undefined {
  try {
    const s = statSync(file);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${metaPagesHash(file)}`;
  } catch {
    return undefined;
  }
}

function metaPagesHash(file: string): number {
  const head = Buffer.alloc(META_PAGES_BYTES);
  const fd = openSync(file, 'r');
  try {
    const read = readSync(fd, head, 0, head.length, 0);
    return sealOf(head, 0, read);
  } finally {
    closeSync(fd);
  }
}

/**
 * Marks the data file as checked on this boot (a file this process just created needs no probe).
 *
 * @example
 * ```ts
 * markChecked('/var/cache/app');
 * ```
 */
export function markChecked(dir: string): void {
  const inode = identityOf(join(dir, DATA));
  if (inode === undefined) return;
  const temp = join(dir, `${MARKER}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, JSON.stringify({ boot: bootMark(), inode }));
    renameSync(temp, join(dir, MARKER));
  } catch {
    // A read-only directory: the next process probes again.
    rmSync(temp, { force: true });
  }
}

function checkedAlready(dir: string, inode: string): boolean {
  try {
    const marker = JSON.parse(readFileSync(join(dir, MARKER), 'utf8')) as { boot?: unknown; inode?: unknown };
    return marker.boot === bootMark() && marker.inode === inode;
  } catch {
    return false;
  }
}

/**
 * The child's write found no room (a full disk): the file is neither damaged nor fully checked,
 * so it is kept and not marked checked, and the next open probes it again.
 */
const NO_ROOM = Symbol('no room');

/** Runs the child; a reason if the file is damaged, undefined if usable or if it could not tell. */
function probe(dir: string): string | typeof NO_ROOM | undefined {
  const run = spawnSync(process.execPath, [CHILD, dir], { timeout: PROBE_TIMEOUT, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.error !== undefined) return undefined;
  if (run.status === 4) return NO_ROOM;
  if (run.signal !== null) return `LMDB ${run.signal === 'SIGTERM' ? 'took too long' : `faulted (${run.signal})`} reading it`;
  if (run.status === 3) return `LMDB reported damage: ${run.stderr.trim().slice(0, 200)}`;
  return undefined;
}

function quarantine(dir: string, files: readonly string[]): string {
  const to = join(dir, `quarantine-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`);
  mkdirSync(to);
  for (const name of files) {
    try {
      renameSync(join(dir, name), join(to, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  rmSync(join(dir, MARKER), { force: true });
  return to;
}

/**
 * Moves the data and lock files of `dir` aside now, for damage found some other way than the
 * probe (LMDB reporting it while the databases are opened); says where they went.
 *
 * @example
 * ```ts
 * const finding = quarantineNow('/var/cache/app', 'LMDB reported damage opening it');
 * ```
 */
export function quarantineNow(dir: string, reason: string): FileFinding {
  return { reason, quarantinedTo: quarantine(dir, [DATA, LOCK]) };
}

/**
 * Checks the environment in `dir` before this process opens it; moves a damaged file aside and
 * says what was found. Undefined: the file is new, usable, or was checked already this boot.
 *
 * @example
 * ```ts
 * const finding = checkEnvironmentFile('/var/cache/app');
 * if (finding) report({ type: 'corrupt-file', ...finding });
 * ```
 */
export function checkEnvironmentFile(dir: string): FileFinding | undefined {
  const data = join(dir, DATA);
  let isFile: boolean;
  try {
    isFile = statSync(data).isFile();
  } catch {
    return undefined;
  }
  if (!isFile) return { reason: 'the data file is not a regular file', quarantinedTo: quarantine(dir, [DATA, LOCK]) };
  const inode = identityOf(data);
  if (inode === undefined || checkedAlready(dir, inode)) return undefined;
  const reason = probe(dir);
  if (reason === NO_ROOM) return undefined;
  if (reason === undefined) {
    markChecked(dir);
    return undefined;
  }
  // Another process may have replaced the file meanwhile: judge only the one that was probed.
  if (identityOf(data)?.split(':', 2).join(':') !== inode.split(':', 2).join(':')) return checkEnvironmentFile(dir);
  // The lock file alone is rebuilt by LMDB: try without it before giving up the data.
  const lockOnly = quarantine(dir, [LOCK]);
  const again = probe(dir);
  if (again === undefined || again === NO_ROOM) {
    if (again === undefined) markChecked(dir);
    return { reason: `${reason}; the lock file alone was damaged`, quarantinedTo: lockOnly };
  }
  return { reason, quarantinedTo: quarantine(dir, [DATA, LOCK]) };
}
