/**
 * One OS process of the herd run: sets up one contender on its LMDB path (shared by the processes
 * of one machine, or its own when it stands for a machine that shares only Redis), then at the
 * shared start instant fires all of its requests at once on the cold cache and sends back what
 * it recorded.
 */
import { contender, type Contender, type ContenderSettings, type Work } from '../lib/contenders.js';
import { fromParent, listenToParent, sendToParent, type Message } from '../lib/children.js';
import { Recorder } from '../lib/record.js';
import { sleepUntil } from '../lib/time.js';
import { machineContender } from './cross-machine.js';

/** What the parent passes on the command line (JSON). */
export interface HerdWorkerConfig {
  readonly proc: number;
  readonly contender: string;
  readonly lmdbPath: string;
  readonly requests: number;
  readonly compute: number;
  readonly ttl: number;
  /** Set in the cross-machine shape: the Redis every machine shares. */
  readonly redisUrl?: string;
}

function create(config: HerdWorkerConfig, settings: ContenderSettings, work: Work): Promise<Contender> {
  if (config.redisUrl === undefined) return contender(config.contender).create(settings, work);
  return machineContender(config.contender).create({ ...settings, redisUrl: config.redisUrl }, work);
}

async function main(config: HerdWorkerConfig): Promise<void> {
  const recorder = new Recorder(config.proc);
  const cache = await create(
    config,
    { lmdbPath: config.lmdbPath, ttl: config.ttl, maxAge: config.ttl, refreshThreshold: config.ttl / 10 },
    recorder.work(config.compute),
  );
  await sendToParent({ type: 'ready' });
  const { startAt } = await fromParent<Message & { startAt: number }>('go');
  await sleepUntil(startAt);
  await Promise.all(Array.from({ length: config.requests }, (_, i) => recorder.timeCall(i, false, () => cache.call())));
  await recorder.settle(config.compute * 2 + 2_000);
  await cache.close();
  await sendToParent({ type: 'done', ...recorder.records() });
}

listenToParent();
const config = JSON.parse(process.argv[2] ?? '{}') as HerdWorkerConfig;
main(config).then(
  () => process.disconnect(),
  async (error: unknown) => {
    await sendToParent({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }).catch(() => {});
    process.exit(1);
  },
);
