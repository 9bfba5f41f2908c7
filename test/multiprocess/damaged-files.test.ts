// A cache file can always be thrown away: damaged LMDB files never take the process down. Each
// kind of damage (drawn by a seeded generator, so a failure replays) is done to a closed file,
// and then a real process opens it through createCache. Before the probe, several of these killed
// the process opening it (SIGSEGV at open, SIGBUS on reads) or failed createCache with raw errors.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from 'lmdb';
import type { CacheStats } from '../../src/index.js';
import { startEngineWorker, type EngineWorker } from '../fixtures/engine-worker.js';
import { propertyParams } from '../helpers/fc.js';
import { seededRandom } from '../history/workload.js';
import { tempDir } from '../helpers/tmp.js';

const PAGE = 4096;
const KEYS = 150;

function overwrite(file: string, at: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
}

function garbage(length: number, rand: () => number): Buffer {
  return Buffer.from(Array.from({ length }, () => Math.floor(rand() * 256)));
}

const data = (dir: string): string => join(dir, 'data.mdb');
const pages = (dir: string): number => Math.floor(statSync(data(dir)).size / PAGE);

/** Writes garbage over msgpackr's shared structures record of the entries database. */
async function garbleStructures(dir: string, rand: () => number): Promise<void> {
  const raw = open({ path: dir, maxDbs: 12 });
  try {
    await raw.openDB('entries', { encoding: 'binary' }).put(Symbol.for('herdcache.structures') as unknown as string, garbage(64, rand));
  } finally {
    await raw.close();
  }
}

type Damage = { readonly name: string; apply(dir: string, rand: () => number): void | Promise<void> };

const DAMAGES: readonly Damage[] = [
  { name: 'a garbled shared structures record', apply: garbleStructures },
  { name: 'truncated to 0 bytes', apply: (dir) => truncateSync(data(dir), 0) },
  { name: 'truncated to 4 KiB', apply: (dir) => truncateSync(data(dir), PAGE) },
  { name: 'truncated to half', apply: (dir) => truncateSync(data(dir), Math.floor(pages(dir) / 2) * PAGE) },
  { name: 'first meta page garbage', apply: (dir, rand) => overwrite(data(dir), 0, garbage(PAGE, rand)) },
  { name: 'both meta pages garbage', apply: (dir, rand) => overwrite(data(dir), 0, garbage(2 * PAGE, rand)) },
  { name: 'both meta pages zeroed', apply: (dir) => overwrite(data(dir), 0, Buffer.alloc(2 * PAGE)) },
  {
    name: 'random data pages garbage',
    apply: (dir, rand) => {
      for (let i = 0; i < 4; i++) overwrite(data(dir), (2 + Math.floor(rand() * (pages(dir) - 2))) * PAGE, garbage(PAGE, rand));
    },
  },
  {
    name: 'random data pages zeroed',
    apply: (dir, rand) => {
      for (let i = 0; i < 4; i++) overwrite(data(dir), (2 + Math.floor(rand() * (pages(dir) - 2))) * PAGE, Buffer.alloc(PAGE));
    },
  },
  {
    name: 'bit flips in page headers',
    apply: (dir, rand) => {
      const fd = openSync(data(dir), 'r+');
      try {
        for (let i = 0; i < 16; i++) {
          const at = (2 + Math.floor(rand() * (pages(dir) - 2))) * PAGE + Math.floor(rand() * 16);
          const byte = Buffer.alloc(1);
          readSync(fd, byte, 0, 1, at);
          byte[0] = byte[0]! ^ (1 << Math.floor(rand() * 8));
          writeSync(fd, byte, 0, 1, at);
        }
      } finally {
        closeSync(fd);
      }
    },
  },
  {
    // LMDB keeps no checksums: a flipped bit inside a value still decodes, to another value.
    name: 'bit flips inside stored values',
    apply: (dir, rand) => {
      const file = readFileSync(data(dir));
      const runs: number[] = [];
      for (let at = file.indexOf('value-'); at !== -1; at = file.indexOf('value-', at + 1)) runs.push(at);
      assert.ok(runs.length >= KEYS, 'the values are in the file');
      const fd = openSync(data(dir), 'r+');
      try {
        for (let i = 0; i < 16; i++) {
          // Inside the run of x's that every value ends with: the string stays a valid string.
          const at = runs[Math.floor(rand() * runs.length)]! + 12 + Math.floor(rand() * 150);
          writeSync(fd, Buffer.from([file[at]! ^ 1]), 0, 1, at);
        }
      } finally {
        closeSync(fd);
      }
    },
  },
  { name: 'garbage lock file', apply: (dir, rand) => writeFileSync(join(dir, 'lock.mdb'), garbage(8 * PAGE, rand)) },
  {
    name: 'data file replaced by a directory',
    apply: (dir) => {
      rmSync(data(dir));
      mkdirSync(data(dir));
    },
  },
];

async function fill(path: string): Promise<void> {
  const writer = await startEngineWorker({ path, ttl: 3_600_000 });
  try {
    for (let i = 0; i < KEYS; i++) await writer.call({ op: 'set', key: `k${i}`, value: `value-${i}-${'x'.repeat(200)}` });
  } finally {
    await writer.call({ op: 'close' }).catch(() => undefined);
    await writer.exited;
  }
}

describe('damaged LMDB files (property 21)', () => {
  // Seeded, so that a failure replays from HERDCACHE_SEED.
  const rand = seededRandom(propertyParams().seed ?? 424242);
  for (const damage of DAMAGES) {
    it(`${damage.name}: the process opening it lives, every read is the right value or a miss, and writes work`, async () => {
      const dir = tempDir('herdcache-damage');
      let reader: EngineWorker | undefined;
      try {
        await fill(dir.path);
        await damage.apply(dir.path, rand);
        reader = await startEngineWorker({ path: dir.path, ttl: 3_600_000 });
        let misses = 0;
        for (let i = 0; i < KEYS; i++) {
          const read = await reader.call({ op: 'getSync', key: `k${i}` });
          if (read === undefined || read === null) misses++;
          else assert.equal(read, `value-${i}-${'x'.repeat(200)}`, `k${i} read back a wrong value`);
        }
        await reader.call({ op: 'set', key: 'after', value: 'written after the damage' });
        assert.equal(await reader.call({ op: 'getSync', key: 'after' }), 'written after the damage');
        const stats = (await reader.call({ op: 'stats' })) as CacheStats;
        // A moved-aside file loses everything it held: the misses and the report go together.
        if (stats.corruptFiles > 0) assert.equal(misses, KEYS, 'a quarantined file serves nothing');
        await reader.call({ op: 'close' });
        const exit = await reader.exited;
        assert.deepEqual(exit, { code: 0, signal: null }, 'the process ended normally');
        assert.deepEqual(reader.unhandled, []);
      } finally {
        await reader?.kill('SIGKILL').catch(() => undefined);
        dir.cleanup();
      }
    });
  }
});
