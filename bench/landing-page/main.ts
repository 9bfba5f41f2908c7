/** `npm run bench:landing`: the landing-page case study, every strategy (flags: --help). */
import { commandLine } from '../lib/flags.js';
import { RESULTS_DIR } from '../lib/paths.js';
import { runLanding } from './landing.js';
import { parseParams } from './params.js';

const params = parseParams(process.argv.slice(2), { out: RESULTS_DIR, name: 'landing-page' });
const failed = await runLanding(params, commandLine('bench:landing', process.argv.slice(2)));
process.exitCode = failed > 0 ? 1 : 0;
