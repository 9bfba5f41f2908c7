/**
 * `npm run demo`: a short landing-page run (about 20 s) of no cache, traditional ttl() and the
 * flagship [serveStale, xfetch, barrier]; prints the table and writes bench/results/demo.md
 * with its figures. Takes the same flags as the full run (--help).
 */
import { commandLine } from '../lib/flags.js';
import { RESULTS_DIR } from '../lib/paths.js';
import { runLanding } from './landing.js';
import { parseParams } from './params.js';
import { DEMO_STRATEGIES } from './strategies.js';

const params = parseParams(process.argv.slice(2), { out: RESULTS_DIR, name: 'demo', duration: 5_000, strategies: DEMO_STRATEGIES });
const failed = await runLanding(params, commandLine('demo', process.argv.slice(2)));
process.exitCode = failed > 0 ? 1 : 0;
