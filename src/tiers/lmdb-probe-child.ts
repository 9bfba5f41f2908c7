// Run by lmdb-probe.ts in a child process: opens an LMDB environment the way the tier does,
// reads every page of every database, and inserts a key next to every key and removes it again in
// one committed transaction, so that every leaf and branch page also goes through LMDB's write
// path and its commit, which use parts of a page header that reads ignore: flipped bits there
// passed every read, then faulted the first set (SIGSEGV) or failed every commit after opening.
// The file keeps what it held; it may grow by the pages rewritten, which later writes reuse.
// A damaged file can make LMDB fault (SIGSEGV, SIGBUS) or abort: that ends this child, not the
// application.
// argv[2]: the environment's directory. Exit 0: usable; 3: LMDB reported damage (on stderr).
import { open } from 'lmdb';

const DATABASES = ['by-age', 'leases', 'change-log', 'tombstones', 'clears', 'meta', 'checkpoints', 'reserve'];
const path = process.argv[2] ?? '';
const NEIGHBOUR = Buffer.from([0]);

try {
  const root = open({ path, maxDbs: 12, eventTurnBatching: false, noSubdir: false });
  // Raw bytes, not decoded values: a record that does not decode (or match its seal) is the
  // cache's to report as a miss, while any error LMDB raises reading the file is damage to it.
  for (const name of ['entries', ...DATABASES]) {
    const db = root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoding: 'binary' });
    for (const { key, value } of db.getRange({})) void key, void value;
  }
  // Each key gets a neighbour, inserted and removed again in one committed transaction: the file
  // holds what it held, and every page went through LMDB's write path and its commit, which
  // frees the old copy of each page under the number the page keeps of itself.
  root.transactionSync(() => {
    for (const name of ['entries', ...DATABASES]) {
      const db = root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoding: 'binary' });
      const neighbours = [...db.getKeys({})].map((key) => Buffer.concat([key, NEIGHBOUR]));
      for (const key of neighbours) db.putSync(key, NEIGHBOUR);
      for (const key of neighbours) db.removeSync(key);
    }
  });
  const meta = root.openDB('meta', {});
  root.transactionSync(() => {
    meta.putSync('probe', Date.now());
    meta.removeSync('probe');
  });
  process.exit(0);
} catch (error) {
  process.stderr.write(error instanceof Error ? error.message : String(error));
  process.exit(3);
}
