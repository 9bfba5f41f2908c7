import { parseArgs } from 'node:util';
import { nameList, positiveNumber } from '../lib/flags.js';
import { STRATEGIES } from './strategies.js';

/** Everything one landing-page run needs. */
export interface LandingParams {
  readonly processes: number;
  readonly workers: number;
  readonly duration: number;
  readonly compute: number;
  readonly ttl: number;
  readonly maxAge: number;
  readonly sleep: number;
  readonly refreshThreshold: number;
  readonly strategies: readonly string[];
  /** Report name: `<out>/<name>.md`, `<out>/<name>.json`, figures in `<out>/<name>/`. */
  readonly name: string;
  readonly out: string;
}

const USAGE = `Options (times in ms):
  --processes N          OS processes (default 5)
  --workers N            async workers per process (default 2)
  --duration MS          measured run per strategy (default 10000)
  --compute MS           time the work takes, a timer (default 200)
  --ttl MS               freshness (default 1000)
  --max-age MS           serveStale maxAge / bentocache grace (default 10000)
  --sleep MS             pause after each call (default 10)
  --refresh-threshold MS cache-manager refreshThreshold (default 0.3 x ttl, as in its README)
  --strategies a,b,...   subset of: ${STRATEGIES.join(', ')}
  --out DIR              where the report goes (default bench/results)
  --name NAME            report name (default landing-page)`;

/** Parses the command line over the given defaults; prints usage and exits on --help. */
export function parseParams(argv: readonly string[], defaults: Partial<LandingParams> & { out: string; name: string }): LandingParams {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      processes: { type: 'string' },
      workers: { type: 'string' },
      duration: { type: 'string' },
      compute: { type: 'string' },
      ttl: { type: 'string' },
      'max-age': { type: 'string' },
      sleep: { type: 'string' },
      'refresh-threshold': { type: 'string' },
      strategies: { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const ttl = positiveNumber('ttl', values.ttl, defaults.ttl ?? 1_000);
  const maxAge = positiveNumber('max-age', values['max-age'], defaults.maxAge ?? 10_000);
  if (maxAge < ttl) throw new Error(`--max-age (${maxAge}) must not be shorter than --ttl (${ttl})`);
  return {
    processes: positiveNumber('processes', values.processes, defaults.processes ?? 5, true),
    workers: positiveNumber('workers', values.workers, defaults.workers ?? 2, true),
    duration: positiveNumber('duration', values.duration, defaults.duration ?? 10_000),
    compute: positiveNumber('compute', values.compute, defaults.compute ?? 200),
    ttl,
    maxAge,
    sleep: positiveNumber('sleep', values.sleep, defaults.sleep ?? 10),
    refreshThreshold: positiveNumber('refresh-threshold', values['refresh-threshold'], defaults.refreshThreshold ?? 0.3 * ttl),
    strategies: nameList('strategies', values.strategies, STRATEGIES, defaults.strategies ?? STRATEGIES),
    out: values.out ?? defaults.out,
    name: values.name ?? defaults.name,
  };
}
