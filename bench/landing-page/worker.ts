/**
 * One OS process of the landing-page run: sets up one strategy (on the LMDB path shared by
 * every process of the run), does its warm-up call when told, then runs its async workers
 * (call, sleep, repeat) from the shared start instant to the shared end, and sends back every
 * call and compute it recorded.
 */
import { contender } from '../lib/contenders.js';
import { fromParent, listenToParent, sendToParent, type Message } from '../lib/children.js';
import { Recorder } from '../lib/record.js';
import { sleep, sleepUntil, wallNow } from '../lib/time.js';

/** What the parent passes on the command line (JSON). */
export interface WorkerConfig {
  readonly proc: number;
  readonly strategy: string;
  readonly lmdbPath: string;
  readonly workers: number;
  readonly compute: number;
  readonly ttl: number;
  readonly maxAge: number;
  readonly sleep: number;
  readonly refreshThreshold: number;
}

interface Go extends Message {
  readonly startAt: number;
  readonly endAt: number;
}

async function main(config: WorkerConfig): Promise<void> {
  const recorder = new Recorder(config.proc);
  const cache = await contender(config.strategy).create(
    { lmdbPath: config.lmdbPath, ttl: config.ttl, maxAge: config.maxAge, refreshThreshold: config.refreshThreshold },
    recorder.work(config.compute),
  );
  await sendToParent({ type: 'ready' });
  await fromParent('warm');
  await recorder.timeCall(0, true, () => cache.call());
  await sendToParent({ type: 'warmed' });
  const { startAt, endAt } = await fromParent<Go>('go');
  await sleepUntil(startAt);
  const loop = async (worker: number): Promise<void> => {
    while (wallNow() < endAt) {
      await recorder.timeCall(worker, false, () => cache.call());
      await sleep(config.sleep);
    }
  };
  await Promise.all(Array.from({ length: config.workers }, (_, w) => loop(w)));
  // Let refreshes started by the last calls finish so that they are recorded too.
  await recorder.settle(config.compute * 3 + 2_000);
  await cache.close();
  await sendToParent({ type: 'done', ...recorder.records() });
}

listenToParent();
const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
main(config).then(
  () => process.disconnect(),
  async (error: unknown) => {
    await sendToParent({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }).catch(() => {});
    process.exit(1);
  },
);
