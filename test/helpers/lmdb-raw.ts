// Writes into an LMDB file behind the cache's back, as a damaged file or a foreign writer would.
import { open } from 'lmdb';
import { acquireEnvironment, releaseEnvironment } from '../../src/tiers/lmdb/env.js';

/**
 * Writes raw bytes under a storage key (or removes it), bypassing the cache's encoder; then renews
 * the read snapshot of the cache's open environment, as its change-log poll would within
 * syncInterval, so that the cache sees the commit at once.
 */
export async function writeRaw(path: string, key: string, bytes: Uint8Array | undefined): Promise<void> {
  const raw = open({ path, maxDbs: 12 });
  const db = raw.openDB('entries', { encoding: 'binary' });
  await (bytes === undefined ? db.remove(key) : db.put(key, Buffer.from(bytes)));
  await raw.close();
  const env = acquireEnvironment(path, 16 * 1024 * 1024);
  env.root.resetReadTxn();
  await releaseEnvironment(env);
}
