import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import type { Parameters } from 'fast-check';

/** The seed `npm test` uses: every default run is the same run. */
const FIXED_SEED = 424242;

let seed: number | undefined;

/** HERDCACHE_PROPERTY_RUNS as a number of runs, when it is set (`npm run test:deep`). */
function runsFromEnvironment(): number | undefined {
  return Number(process.env['HERDCACHE_PROPERTY_RUNS'] ?? '') || undefined;
}

/**
 * The seed of this process's properties. HERDCACHE_SEED when it is given; else, when
 * HERDCACHE_PROPERTY_RUNS is set (`npm run test:deep`), a random seed, printed once to stdout
 * and put in HERDCACHE_SEED so that child processes started afterwards use it too; else a
 * fixed seed, so that `npm test` is deterministic.
 */
export function propertySeed(): number {
  if (seed !== undefined) return seed;
  const text = process.env['HERDCACHE_SEED'];
  if (text !== undefined && text !== '') {
    seed = Number(text);
    assert.ok(Number.isSafeInteger(seed), `HERDCACHE_SEED must be an integer, got ${text}`);
    return seed;
  }
  const runs = runsFromEnvironment();
  if (runs === undefined) return (seed = FIXED_SEED);
  seed = randomInt(-(2 ** 31), 2 ** 31);
  process.env['HERDCACHE_SEED'] = String(seed);
  // stdout, not stderr: some tests count stderr output as a failure.
  console.log(`property seed ${seed} (random); replay with HERDCACHE_SEED=${seed} HERDCACHE_PROPERTY_RUNS=${runs}`);
  return seed;
}

/**
 * Property run settings: a fixed seed and few runs by default so `npm test` is fast and
 * replayable; HERDCACHE_PROPERTY_RUNS widens them and, unless HERDCACHE_SEED is given, draws a
 * random seed that it prints (`npm run test:deep`). A failure prints its seed and path for replay.
 */
export function propertyParams<T>(overrides: Parameters<T> = {}): Parameters<T> {
  const runs = runsFromEnvironment();
  return { seed: propertySeed(), verbose: 1, ...overrides, ...(runs === undefined ? {} : { numRuns: runs }) };
}

/** Where a test prints its diagnostics (node:test's `t`). */
export interface DiagnosticSink {
  diagnostic(message: string): void;
}

/**
 * How many runs of a property exercised each of its interesting cases. A run that checks
 * nothing is counted, not hidden: `check` prints the counts and fails when they show that a case
 * is reached at a lower rate than its stated share.
 *
 * @example
 * ```ts
 * const seen = coverage('P4 sweep');
 * // in each run:
 * seen.run({ 'over maxBytes before the sweep': used > maxBytes });
 * // after fc.assert:
 * seen.check(t, { 'over maxBytes before the sweep': 1 });
 * ```
 */
export class Coverage {
  private runs = 0;
  private readonly counts = new Map<string, number>();

  constructor(readonly property: string) {}

  /** Counts one run, and each case that this run exercised. */
  run(cases: Readonly<Record<string, boolean>>): void {
    this.runs++;
    for (const [name, exercised] of Object.entries(cases)) this.counts.set(name, (this.counts.get(name) ?? 0) + (exercised ? 1 : 0));
  }

  /** How many runs exercised `name` so far. */
  count(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  /** Runs counted so far. */
  total(): number {
    return this.runs;
  }

  /**
   * Prints each case's count through `t.diagnostic`, then asserts for each case named in
   * `minimum` that its runs are consistent with reaching it at that rate at least: 1 means every
   * run; a share below 1 fails when a generator reaching the case at exactly that rate would give
   * so few runs with probability under 1e-3 (a one-sided binomial test), and needs one run at
   * least. A plain "count >= share * runs" failed by chance, at some run counts and seeds, for
   * generators whose real rate was well above the share.
   */
  check(t: DiagnosticSink, minimum: Readonly<Record<string, number>>): void {
    for (const name of new Set([...this.counts.keys(), ...Object.keys(minimum)])) {
      const share = minimum[name];
      t.diagnostic(`${this.property}: ${this.count(name)} of ${this.runs} runs ${name}${share === undefined ? '' : ` (${share >= 1 ? 'every run' : `a rate of at least ${formatShare(share)}`} required)`}`);
    }
    assert.ok(this.runs > 0, `${this.property}: no run was counted`);
    for (const [name, share] of Object.entries(minimum)) {
      const needed = share >= 1 ? this.runs : Math.max(share > 0 ? 1 : 0, plausibleMinimum(this.runs, share));
      assert.ok(this.count(name) >= needed, `${this.property}: only ${this.count(name)} of ${this.runs} runs ${name}, fewer than the ${needed} that a rate of ${formatShare(share)} gives with probability 0.999`);
    }
  }
}

/** The smallest count k with P(Binomial(runs, share) < k) <= 1e-3: fewer than k is implausible at that rate. */
function plausibleMinimum(runs: number, share: number): number {
  if (share <= 0) return 0;
  const logP = Math.log(share);
  const logQ = Math.log1p(-share);
  let logChoose = 0; // log C(runs, k)
  let below = 0; // P(X < k)
  for (let k = 0; k <= runs; k++) {
    const next = below + Math.exp(logChoose + k * logP + (runs - k) * logQ);
    if (next > 1e-3) return k;
    below = next;
    logChoose += Math.log(runs - k) - Math.log(k + 1);
  }
  return runs;
}

function formatShare(share: number): string {
  return share >= 1 ? 'every run' : `${Math.round(share * 100)}%`;
}

/** A {@link Coverage} counter for one property. */
export function coverage(property: string): Coverage {
  return new Coverage(property);
}

/**
 * The run count of a property whose runs are costly (real processes): `defaults` under `npm test`;
 * HERDCACHE_PROPERTY_RUNS when it is set, but at most `cap`, so that `test:deep` stays bounded.
 * Pass it after {@link propertyParams}'s result, which would otherwise put the full count back.
 *
 * @example
 * ```ts
 * fc.assert(property, { ...propertyParams(), numRuns: runsFor(8, 120) });
 * ```
 */
export function runsFor(defaults: number, cap: number): number {
  const runs = runsFromEnvironment();
  return runs === undefined ? defaults : Math.min(runs, cap);
}
