/**
 * `memory`: bytes per entry of herdcache's memory tier beside lru-cache holding the same entries.
 * Each sample runs in a fresh process started with --expose-gc, so that the heap it reads holds
 * nothing but the one cache and what every process holds anyway.
 */
import { fork } from 'node:child_process';
import type { Message } from '../lib/children.js';
import type { Progress } from '../lib/progress.js';
import { count } from '../lib/table.js';
import { alternate, band, cell, lineChart, ratioCell, spread, type Part, type PartOutput, type Settings } from './common.js';
import type { MemoryJob, MemoryResult } from './worker.js';

const WORKER = new URL('./worker.js', import.meta.url);
const TIMEOUT_MS = 120_000;

/**
 * One memory job in a child of its own. The bench's Child (bench/lib/children.ts) forks with the
 * parent's flags, and this child needs --expose-gc, so it is forked here with the same mailbox
 * protocol: a `job`, then a `result` (or an `error`), then `quit`.
 */
function measureInChild(job: MemoryJob): Promise<MemoryResult> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER, [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    let settled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`memory child (${job.contender}, ${job.entries}) sent nothing within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    const finish = (error: Error | undefined, result?: MemoryResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined && result !== undefined) resolve(result);
      else reject(error ?? new Error('memory child sent no result'));
    };
    child.on('message', (message: Message) => {
      if (message.type === 'result') {
        child.send({ type: 'job', job: { kind: 'quit' } });
        finish(undefined, message['result'] as MemoryResult);
      } else if (message.type === 'error') finish(new Error(`memory child: ${String(message['message'])}`));
    });
    child.on('exit', (code, signal) => finish(new Error(`memory child exited (code ${String(code)}, signal ${String(signal)}) before its result`)));
    child.on('error', (error) => finish(error));
    child.send({ type: 'job', job });
  });
}

interface SizeResult {
  readonly entries: number;
  readonly herdBytes: number[];
  readonly lruBytes: number[];
  readonly herdHeapOnly: number[];
  readonly lruHeapOnly: number[];
  readonly herdFillMs: number[];
  readonly lruFillMs: number[];
  readonly ratios: number[];
}

async function run(settings: Settings, progress: Progress): Promise<PartOutput> {
  const sizes = settings.quick ? [10_000] : [100_000, 1_000_000];
  const results: SizeResult[] = [];
  for (const entries of sizes) {
    const r: SizeResult = { entries, herdBytes: [], lruBytes: [], herdHeapOnly: [], lruHeapOnly: [], herdFillMs: [], lruFillMs: [], ratios: [] };
    for (let i = 0; i < settings.repeats; i++) {
      progress.step(i + 1, settings.repeats, `${count(entries)} entries`, 1_500 + entries / 500);
      const [herd, lru] = await alternate(
        i,
        () => measureInChild({ kind: 'memory', contender: 'herdcache', entries }),
        () => measureInChild({ kind: 'memory', contender: 'lru-cache', entries }),
      );
      // lru-cache keeps its links in typed arrays, off the JS heap: both counts include array buffers.
      const herdPer = (herd.heapBytes + herd.arrayBufferBytes) / entries;
      const lruPer = (lru.heapBytes + lru.arrayBufferBytes) / entries;
      r.herdBytes.push(herdPer);
      r.lruBytes.push(lruPer);
      r.herdHeapOnly.push(herd.heapBytes / entries);
      r.lruHeapOnly.push(lru.heapBytes / entries);
      r.herdFillMs.push(herd.fillMs);
      r.lruFillMs.push(lru.fillMs);
      r.ratios.push(herdPer / lruPer);
    }
    progress.done(`${count(entries)} entries: herdcache/lru-cache ${spread(r.ratios).median.toFixed(2)}x bytes per entry`);
    results.push(r);
  }
  const points = results.flatMap((r) => [
    { entries: r.entries, ...band(spread(r.herdBytes)), contender: 'herdcache memoryTier' },
    { entries: r.entries, ...band(spread(r.lruBytes)), contender: 'lru-cache' },
  ]);
  return {
    notes: [
      '`createCache({ tiers: [memoryTier({ maxEntries: n })] })` filled with `await cache.set(key, value)` beside',
      '`new LRUCache({ max: n })` filled with `lru.set(key, value)`: the same n keys `k0`, `k1`, … and values `value-0`, …. Each sample is a fresh process started',
      'with `--expose-gc`: both libraries warmed on a throwaway instance, three `gc()`, memory read, fill, three `gc()`,',
      'memory read again. Bytes per entry = (heapUsed + arrayBuffers delta) / n: the keys and values themselves are',
      'included for both, and lru-cache keeps its links in typed arrays, outside heapUsed. A sample of the keys is read',
      `back after the measurement to prove both held every entry. ${settings.repeats} repeats, the contenders' order alternating.`,
    ],
    tables: [
      {
        caption: 'Bytes per entry (heap + array buffers) and time to fill: median (p25–p75) of the repeats; ratio: median (p25–p75; min–max)',
        header: ['entries', 'herdcache B/entry', 'lru-cache B/entry', 'ratio herdcache/lru-cache', 'herdcache heap only', 'lru-cache heap only', 'herdcache fill ms', 'lru-cache fill ms'],
        rows: results.map((r) => [
          count(r.entries),
          cell(spread(r.herdBytes)),
          cell(spread(r.lruBytes)),
          ratioCell(spread(r.ratios)),
          cell(spread(r.herdHeapOnly)),
          cell(spread(r.lruHeapOnly)),
          cell(spread(r.herdFillMs)),
          cell(spread(r.lruFillMs)),
        ]),
      },
    ],
    figures: [{ name: 'memory', spec: lineChart('Memory per entry vs entries', 'heap + array buffers, median', points, { field: 'entries', title: 'entries', log: true }, { field: 'median', title: 'bytes per entry' }, 'contender') }],
    data: results,
  };
}

export const memory: Part = { name: 'memory', title: 'Memory per L1 entry', repeats: 3, run };
