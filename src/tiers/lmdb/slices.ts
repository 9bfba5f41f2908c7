import type { LmdbEnvironment } from './env.js';

/** What a walk in slices needs of a database: ranges from a key, with a limit. */
export interface RangeReader<K, V> {
  getRange(options: { start?: K; limit: number }): Iterable<{ key: K; value: V }>;
}

/**
 * Reads `db` in slices of at most `size` rows, each from a fresh snapshot, going on from where the
 * last walk of `db` stopped (remembered in `resume`) and reading at most `budget` rows in all. A
 * walk that reaches the end forgets its place, so that the next one starts from the beginning.
 * The caller writes what a slice asks for, or gives the event loop back, before the next slice is
 * read: no step holds the main thread for longer than one slice takes.
 *
 * @example
 * ```ts
 * for await (const rows of resumableSlices(env, env.tombstones, cursors, 1_000, 20_000, (a, b) => a === b)) remove(rows);
 * ```
 */
export async function* resumableSlices<K, V>(
  env: Pick<LmdbEnvironment, 'root'>,
  db: RangeReader<K, V>,
  resume: WeakMap<object, K>,
  size: number,
  budget: number,
  same: (a: K, b: K) => boolean,
): AsyncGenerator<Array<{ key: K; value: V }>> {
  let after = resume.get(db);
  for (let read = 0; read < budget; ) {
    env.root.resetReadTxn();
    const rows: Array<{ key: K; value: V }> = [];
    // getRange's start is inclusive: the row the last slice ended on was read already.
    for (const row of db.getRange(after === undefined ? { limit: size } : { start: after, limit: size + 1 })) {
      if (after !== undefined && same(row.key, after)) continue;
      rows.push(row);
      after = row.key;
    }
    if (rows.length === 0 || after === undefined) {
      resume.delete(db);
      return;
    }
    read += rows.length;
    resume.set(db, after);
    yield rows;
  }
}
