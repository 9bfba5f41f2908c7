// Run by lmdb-probe.ts in a child process: opens an LMDB environment the way the tier does,
// reads every page of every database, inserts a key next to every key inside a transaction it
// then aborts (so that every leaf and branch page is also taken through LMDB's write path, which
// reads the parts of a page header that reads ignore, such as its free-space bounds: a flipped
// bit there faulted the first set after opening), and commits one small write. A damaged file
// can make LMDB fault (SIGSEGV, SIGBUS) or abort: here that ends this child, not the application.
// argv[2]: the environment's directory. Exit 0: usable; 3: LMDB reported damage (on stderr).
import { open } from 'lmdb';
import { openEntries } from './lmdb-seal.js';

const DATABASES = ['by-age', 'leases', 'change-log', 'tombstones', 'clears', 'meta', 'checkpoints', 'reserve'];
const path = process.argv[2] ?? '';
const NEIGHBOUR = Buffer.from([0]);

try {
  const root = open({ path, maxDbs: 12, eventTurnBatching: false, noSubdir: false });
  const entries = openEntries(root);
  // Values are decoded one by one: an undecodable record is the cache's to report as a miss,
  // not damage to the file, so only what LMDB itself says counts here.
  for (const key of entries.getKeys({})) {
    try {
      entries.get(key as string);
    } catch {
      // a corrupt record, not a corrupt file
    }
  }
  for (const name of DATABASES) {
    const db = root.openDB(name, { encoding: 'binary' });
    for (const { key, value } of db.getRange({})) void key, void value;
  }
  const ABORT = new Error('abort');
  try {
    root.transactionSync(() => {
      for (const name of ['entries', ...DATABASES]) {
        const db = root.openDB<Buffer, Buffer>(name, { encoding: 'binary', keyEncoding: 'binary' });
        const keys = [...db.getKeys({})];
        for (const key of keys) db.putSync(Buffer.concat([key, NEIGHBOUR]), NEIGHBOUR);
      }
      throw ABORT;
    });
  } catch (error) {
    if (error !== ABORT) throw error;
  }
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
