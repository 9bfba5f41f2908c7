// Run by probe.ts in a child process: opens an LMDB environment the way the tier does,
// reads every page of every database, takes a copy of the file through LMDB's write path (see
// writePasses), which uses parts of a page header that reads ignore: flipped bits there passed
// every read, then faulted the first set (SIGSEGV) or failed every commit after opening; and
// commits one small write to the file itself.
// A damaged file can make LMDB fault (SIGSEGV, SIGBUS) or abort: that ends this child, not the
// application.
// argv[2]: the environment's directory. Exit 0: usable; 3: LMDB reported damage (on stderr);
// 4: a write found no room (a full disk, the file-size limit), which says nothing of damage.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';

const DATABASES = ['by-age', 'change-log', 'tombstones', 'clears', 'meta', 'checkpoints', 'reserve'];
const path = process.argv[2] ?? '';
const NEIGHBOUR = Buffer.from([0]);

/**
 * Each key gets a neighbour, inserted and removed again in one committed transaction, so that
 * every page goes through LMDB's write path and its commit, which frees the old copy of each
 * page under the number the page keeps of itself; a flipped bit there puts a page still in use
 * on the free list, which only the next transaction that takes pages from it meets: so the pass
 * runs twice. On a copy of the file: writing into a damaged file can spread the damage.
 */
function writePasses(dir: string): void {
  const copy = join(dir, `.probe-${process.pid}`);
  try {
    mkdirSync(copy);
    copyFileSync(join(dir, 'data.mdb'), join(copy, 'data.mdb'));
  } catch {
    // No room for a copy (a full disk): the reads above are the whole probe.
    rmSync(copy, { recursive: true, force: true });
    return;
  }
  try {
    const root = open({ path: copy, maxDbs: 12, eventTurnBatching: false, noSubdir: false });
    for (let pass = 0; pass < 2; pass++) {
      root.transactionSync(() => {
        for (const name of ['entries', ...DATABASES]) {
          const db = root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoding: 'binary' });
          const neighbours = [...db.getKeys({})].map((key) => Buffer.concat([key, NEIGHBOUR]));
          for (const key of neighbours) db.putSync(key, NEIGHBOUR);
          for (const key of neighbours) db.removeSync(key);
        }
      });
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

try {
  const root = open({ path, maxDbs: 12, eventTurnBatching: false, noSubdir: false });
  // Raw bytes, not decoded values: a record that does not decode (or match its seal) is the
  // cache's to report as a miss, while any error LMDB raises reading the file is damage to it.
  // lmdb-js ends an iteration quietly when LMDB fails to read the next page: a range that yields
  // fewer records than the database counts met a page it could not read.
  for (const name of ['entries', ...DATABASES]) {
    const db = root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoding: 'binary' });
    let seen = 0;
    for (const { key, value } of db.getRange({})) void key, void value, seen++;
    const counted = (db.getStats() as { entryCount: number }).entryCount;
    if (seen !== counted) throw new Error(`reading the ${name} database stopped after ${seen} of its ${counted} records`);
  }
  writePasses(path);
  const meta = root.openDB('meta', {});
  root.transactionSync(() => {
    meta.putSync('probe', Date.now());
    meta.removeSync('probe');
  });
  process.exit(0);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(message);
  process.exit(/no space|file too large|quota|MDB_MAP_FULL|ENOSPC|EFBIG|EDQUOT/i.test(message) ? 4 : 3);
}
