// The capture of lmdb-js's console output (src/tiers/lmdb/console.ts). A call "made by lmdb-js" is
// code compiled with a file name inside the installed lmdb package, so its stack frame says so,
// as the frames of lmdb-js's own files do.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInThisContext } from 'node:vm';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { captureLmdbOutput } from '../../src/tiers/lmdb/console.js';

const lmdbFile = join(dirname(fileURLToPath(import.meta.resolve('lmdb'))), 'herdcache-test-caller.js');
const fromLmdb = runInThisContext('(method, ...args) => console[method](...args)', { filename: lmdbFile }) as (method: 'error' | 'warn' | 'log', ...args: unknown[]) => void;
const fromApp = (method: 'error' | 'warn', ...args: unknown[]): void => console[method](...args);

describe('lmdb-js console output', () => {
  const saved = { error: console.error, warn: console.warn };
  let printed: Array<[string, unknown[]]>;

  beforeEach(() => {
    printed = [];
    console.error = (...args: unknown[]) => void printed.push(['error', args]);
    console.warn = (...args: unknown[]) => void printed.push(['warn', args]);
  });
  afterEach(() => {
    console.error = saved.error;
    console.warn = saved.warn;
  });

  it("takes lmdb-js's errors and warnings off the console and hands them to every capture; the rest goes through", () => {
    const first: Error[] = [];
    const second: Error[] = [];
    const stopFirst = captureLmdbOutput((error) => first.push(error));
    const stopSecond = captureLmdbOutput((error) => second.push(error));
    const failure = new Error('MDB_MAP_FULL');
    fromLmdb('error', 'Commit failed', failure);
    fromLmdb('warn', 'retrying', 3, { a: 1 });
    fromApp('error', 'the application speaks');
    fromLmdb('log', 'console.log is not captured');
    assert.deepEqual(first.map((e) => e.message), ['MDB_MAP_FULL', 'retrying 3 [object Object]']);
    assert.equal(first[0], failure, 'the Error it printed, itself');
    assert.deepEqual(second.map((e) => e.message), first.map((e) => e.message));
    assert.deepEqual(printed, [['error', ['the application speaks']]]);
    stopFirst();
    stopFirst(); // a second stop changes nothing
    fromLmdb('warn', 'still captured');
    assert.equal(second.at(-1)?.message, 'still captured');
    assert.equal(first.length, 2, 'a stopped capture hears nothing more');
    stopSecond();
    fromLmdb('error', 'printed again');
    assert.deepEqual(printed.at(-1), ['error', ['printed again']], 'the console is given back once the last capture stops');
  });

  it('gives back the console it found, unless someone replaced it meanwhile', () => {
    const mine = console.error;
    const stop = captureLmdbOutput(() => {});
    assert.notEqual(console.error, mine);
    const theirs = (..._args: unknown[]): void => {};
    console.warn = theirs;
    stop();
    assert.equal(console.error, mine);
    assert.equal(console.warn, theirs, 'a method replaced while captured stays replaced');
  });
});
