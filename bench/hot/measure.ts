/** One operation under measurement: `run(n)` performs it n times and returns the elapsed ns. */
export interface Operation {
  readonly name: string;
  readonly label: string;
  run(n: number): Promise<number>;
}

let sink = 0;

/** Keeps results alive so that the compiler cannot drop the measured work. */
export function consumed(): number {
  return sink;
}

type Clock = () => bigint;
const now: Clock = () => process.hrtime.bigint();

/**
 * Compiles a fresh copy of a timing loop for one operation. Sharing one loop between all the
 * operations would make its call site megamorphic and cost every operation a few ns of
 * indirect call, which is most of what a Map lookup costs: each operation gets its own loop.
 */
function specialize<R>(source: string, op: unknown): (n: number) => R {
  return new Function('op', 'now', `'use strict'; return ${source}`)(op, now) as (n: number) => R;
}

/** A synchronous operation timed in a tight loop. */
export function syncOperation(name: string, label: string, op: () => unknown): Operation {
  const loop = specialize<[number, number]>(
    'function run(n) { let hits = 0; const t0 = now(); for (let i = 0; i < n; i++) if (op() !== undefined) hits++; return [Number(now() - t0), hits]; }',
    op,
  );
  return {
    name,
    label,
    run(n) {
      const [elapsed, hits] = loop(n);
      sink += hits;
      return Promise.resolve(elapsed);
    },
  };
}

/** An asynchronous operation awaited once per iteration, as a caller would. */
export function asyncOperation(name: string, label: string, op: () => Promise<unknown>): Operation {
  const loop = specialize<Promise<[number, number]>>(
    'async function run(n) { let hits = 0; const t0 = now(); for (let i = 0; i < n; i++) if ((await op()) !== undefined) hits++; return [Number(now() - t0), hits]; }',
    op,
  );
  return {
    name,
    label,
    async run(n) {
      const [elapsed, hits] = await loop(n);
      sink += hits;
      return elapsed;
    },
  };
}

/** `batch` operations in flight at once (Promise.all), repeated; ns are per operation. */
export function batchedOperation(name: string, label: string, batch: number, op: (i: number) => Promise<unknown>): Operation {
  return {
    name,
    label,
    async run(n) {
      const t0 = process.hrtime.bigint();
      for (let done = 0; done < n; done += batch) {
        const size = Math.min(batch, n - done);
        await Promise.all(Array.from({ length: size }, (_, i) => op(done + i)));
      }
      return Number(process.hrtime.bigint() - t0);
    },
  };
}

/** How many iterations fill about `targetMs`: doubles from 1 until a run lasts 10 ms. */
export async function calibrate(op: Operation, targetMs: number): Promise<number> {
  let n = 1;
  for (;;) {
    const ns = await op.run(n);
    if (ns >= 10e6 || n >= 2 ** 30) return Math.max(1, Math.round((n * targetMs * 1e6) / ns));
    n *= 2;
  }
}
