/**
 * A child process of the scale suite: it waits for jobs from its parent (one at a time, each on
 * a cache of its own) until told to quit. The parts that need other processes (memory, cold,
 * staleness) import only this file's types; the code below runs in the child alone.
 */
import { LRUCache } from 'lru-cache';
import { barrier, createCache, lmdbTier, memoryTier, ttl, type Cache } from '../../src/index.js';
import { fromParent, listenToParent, sendToParent, type Message } from '../lib/children.js';
import { sleep, sleepUntil, wallNow } from '../lib/time.js';
import { monotonicMs } from './common.js';

/** Memory per entry in a process of its own (started with --expose-gc). */
export interface MemoryJob {
  readonly kind: 'memory';
  readonly contender: 'herdcache' | 'lru-cache';
  readonly entries: number;
}
export interface MemoryResult {
  readonly heapBytes: number;
  readonly arrayBufferBytes: number;
  readonly fillMs: number;
  readonly held: number;
}

/** Cold misses, one after the other, from the shared start (wall clock) for `durationMs`. */
export interface ColdJob {
  readonly kind: 'cold';
  readonly path: string;
  readonly policy: 'ttl' | 'barrier';
  readonly prefix: string;
  readonly warmup: number;
  readonly durationMs: number;
}
export interface ColdResult {
  readonly calls: number;
  readonly computes: number;
  readonly ms: number;
}

/** Writes `k` every `periodMs` from the shared start (monotonic clock) for `durationMs`. */
export interface StaleWriterJob {
  readonly kind: 'stale-writer';
  readonly path: string;
  readonly periodMs: number;
  readonly durationMs: number;
}
export interface StaleWriterResult {
  /** Monotonic ms at which the set of seq i+1 resolved. */
  readonly done: number[];
}

/** Reads `k` in a busy loop from the shared start until the shared stop (monotonic clock). */
export interface StaleReaderJob {
  readonly kind: 'stale-reader';
  readonly path: string;
  readonly busyMs: number;
}
export interface StaleReaderResult {
  /** [seq, monotonic ms at which this reader first saw it]. */
  readonly seen: Array<[number, number]>;
  readonly loops: number;
}

export type Job = MemoryJob | ColdJob | StaleWriterJob | StaleReaderJob | { readonly kind: 'quit' };

/** Keeps what a memory job measured reachable until the heap was read. */
let keep: unknown;

function collect(): void {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('the memory job needs --expose-gc');
  for (let i = 0; i < 3; i++) gc();
}

async function memoryJob(job: MemoryJob): Promise<MemoryResult> {
  const { entries } = job;
  // Both libraries' code runs once on a throwaway instance first, so that neither the compiled
  // code nor lazily built internals land in the measured delta.
  const warm = createCache({ tiers: [memoryTier({ maxEntries: 100 })] });
  for (let i = 0; i < 100; i++) await warm.set(`w${i}`, `value-${i}`);
  await warm.close();
  const warmLru = new LRUCache<string, string>({ max: 100 });
  for (let i = 0; i < 100; i++) warmLru.set(`w${i}`, `value-${i}`);
  collect();
  const before = process.memoryUsage();
  const t0 = performance.now();
  let held: () => number;
  if (job.contender === 'herdcache') {
    const cache = createCache({ tiers: [memoryTier({ maxEntries: entries })] });
    for (let i = 0; i < entries; i++) await cache.set(`k${i}`, `value-${i}`);
    keep = cache;
    held = () => {
      let n = 0;
      for (let i = 0; i < entries; i += 97) if (cache.getSync(`k${i}`) !== undefined) n++;
      return n;
    };
  } else {
    const lru = new LRUCache<string, string>({ max: entries });
    for (let i = 0; i < entries; i++) lru.set(`k${i}`, `value-${i}`);
    keep = lru;
    held = () => {
      let n = 0;
      for (let i = 0; i < entries; i += 97) if (lru.get(`k${i}`) !== undefined) n++;
      return n;
    };
  }
  const fillMs = performance.now() - t0;
  collect();
  const after = process.memoryUsage();
  // Read after the heap so that the check's own strings are not counted; it proves the entries were all there.
  const sampled = held();
  const expected = Math.ceil(entries / 97);
  if (sampled !== expected || keep === undefined) throw new Error(`memory: ${job.contender} holds ${sampled} of ${expected} sampled keys`);
  return { heapBytes: after.heapUsed - before.heapUsed, arrayBufferBytes: after.arrayBuffers - before.arrayBuffers, fillMs, held: sampled };
}

async function coldJob(job: ColdJob): Promise<ColdResult> {
  const cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: job.path })], policies: [job.policy === 'ttl' ? ttl() : barrier()] });
  try {
    let computes = 0;
    const produce = async (): Promise<{ at: number }> => {
      computes++;
      return { at: computes };
    };
    for (let i = 0; i < job.warmup; i++) await cache.compute(`${job.prefix}:w${i}`, produce);
    await sendToParent({ type: 'ready' });
    const { startAt } = await fromParent<Message & { startAt: number }>('go');
    computes = 0;
    await sleepUntil(startAt);
    const deadline = startAt + job.durationMs;
    let calls = 0;
    while (wallNow() < deadline) await cache.compute(`${job.prefix}:${calls++}`, produce);
    return { calls, computes, ms: wallNow() - startAt };
  } finally {
    await cache.close();
  }
}

function staleCache(path: string): Cache {
  return createCache({ tiers: [memoryTier(), lmdbTier({ path })] });
}

async function waitUntilMonotonic(at: number): Promise<void> {
  const left = at - monotonicMs();
  if (left > 0) await sleep(left);
}

async function staleWriterJob(job: StaleWriterJob): Promise<StaleWriterResult> {
  const cache = staleCache(job.path);
  try {
    await cache.set('k', { seq: 0 });
    await sendToParent({ type: 'ready' });
    const { startAt } = await fromParent<Message & { startAt: number }>('go');
    await waitUntilMonotonic(startAt);
    const done: number[] = [];
    for (let seq = 1; seq * job.periodMs <= job.durationMs; seq++) {
      await cache.set('k', { seq });
      done.push(monotonicMs());
      // On a fixed schedule: a slow set does not push every later one back.
      await waitUntilMonotonic(startAt + seq * job.periodMs);
    }
    return { done };
  } finally {
    await cache.close();
  }
}

const PAYLOAD = { items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b', 'c'] })) };

/** The busy reader's other work: JSON round trips for `ms`, so that the loop turns about once per ms. */
function busy(ms: number): void {
  const until = monotonicMs() + ms;
  while (monotonicMs() < until) JSON.parse(JSON.stringify(PAYLOAD));
}

async function staleReaderJob(job: StaleReaderJob): Promise<StaleReaderResult> {
  const cache = staleCache(job.path);
  try {
    cache.getSync('k');
    await sendToParent({ type: 'ready' });
    const { startAt, stopAt } = await fromParent<Message & { startAt: number; stopAt: number }>('go');
    await waitUntilMonotonic(startAt);
    const seen: Array<[number, number]> = [];
    let last = -1;
    let loops = 0;
    await new Promise<void>((resolve) => {
      const turn = (): void => {
        const value = cache.getSync<{ seq: number }>('k');
        const now = monotonicMs();
        if (value !== undefined && value.seq > last) {
          last = value.seq;
          seen.push([value.seq, now]);
        }
        loops++;
        busy(job.busyMs);
        if (now < stopAt) setImmediate(turn);
        else resolve();
      };
      turn();
    });
    return { seen, loops };
  } finally {
    await cache.close();
  }
}

async function main(): Promise<void> {
  for (;;) {
    const { job } = await fromParent<Message & { job: Job }>('job');
    if (job.kind === 'quit') return;
    let result: MemoryResult | ColdResult | StaleWriterResult | StaleReaderResult;
    if (job.kind === 'memory') result = await memoryJob(job);
    else if (job.kind === 'cold') result = await coldJob(job);
    else if (job.kind === 'stale-writer') result = await staleWriterJob(job);
    else result = await staleReaderJob(job);
    await sendToParent({ type: 'result', result });
  }
}

listenToParent();
main().then(
  () => process.disconnect(),
  async (error: unknown) => {
    await sendToParent({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }).catch(() => {});
    process.exit(1);
  },
);
