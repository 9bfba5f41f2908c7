// Drives real worker processes (test/fixtures/history-worker.ts) through random plans on one
// LMDB file, or on two "machines" (two LMDB files) sharing one real redis-server, SIGKILLs a
// random worker at random moments and starts a replacement on the same file, and collects every
// operation they report into one history for the checker.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import type { OpRecord } from './checker.js';
import { generateSchedule, seededRandom, type Slot, type WorkloadShape } from './workload.js';
import { monotonicMs, type HistoryWorkerConfig, type ParentMessage, type PlannedOp, type WorkerMessage } from '../fixtures/history-worker.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { tempDir } from '../helpers/tmp.js';

const WORKER_FILE = fileURLToPath(new URL('../fixtures/history-worker.js', import.meta.url));

export type HistoryMode = 'one-machine' | 'two-machines';

/**
 * The bursts of one register are a cycle apart; the rest between them outlasts the bound its
 * reads are checked against (250 ms on one machine, 1 000 ms across machines).
 */
export function defaultShape(mode: HistoryMode): WorkloadShape {
  return {
    namespaces: ['ns0', 'ns1'],
    keys: ['k0', 'k1', 'k2'],
    cycleMs: mode === 'one-machine' ? 480 : 1_300,
    noiseOps: 6,
    noiseMs: 25,
    raceShare: 0.5,
    maxFnMs: 30,
    maxGapMs: 20,
    lanes: 3,
  };
}

export interface HistoryRunOptions {
  readonly mode: HistoryMode;
  readonly seed: number;
  /** How long the workers run their plans, ms (start-up and shut-down come on top). */
  readonly durationMs: number;
  /** Processes per machine: 3 for one machine, 2 each for two. */
  readonly processesPerMachine: number;
  /** Changes to the default shape of the workload. */
  readonly shape?: Partial<WorkloadShape>;
  /** SIGKILLs during the run, each followed by a replacement on the same file. Default 1 or 2 (seeded), at least 1. */
  readonly kills?: number;
  /** two-machines: a running server to use; otherwise one is started for the run. */
  readonly redisUrl?: string;
}

export interface KillRecord {
  readonly process: string;
  readonly machine: string;
  readonly at: number;
  readonly replacement: string;
}

export interface HistoryRun {
  readonly seed: number;
  readonly mode: HistoryMode;
  readonly history: readonly OpRecord[];
  /** Every process that ran, replacements included. */
  readonly processes: readonly string[];
  readonly kills: readonly KillRecord[];
  /** Unhandled rejections the workers reported, and exits nobody asked for. */
  readonly problems: readonly string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface RunningWorker {
  readonly name: string;
  readonly slot: Slot;
  readonly machine: string;
  readonly child: ChildProcess;
  /** Resolves once the process exited and its IPC channel closed: every message it sent was read. */
  readonly gone: Promise<void>;
  expectedExit: boolean;
  killedAt: number | undefined;
  done: boolean;
}

/**
 * Runs one history. Never throws for what the workers do (that is for the checker); throws only
 * when the run itself cannot be set up.
 */
export async function runHistory(options: HistoryRunOptions): Promise<HistoryRun> {
  const random = seededRandom(options.seed);
  const shape: WorkloadShape = { ...defaultShape(options.mode), ...options.shape };
  const machineNames = options.mode === 'one-machine' ? ['m0'] : ['m0', 'm1'];
  const dirs = machineNames.map((name) => ({ name, dir: tempDir(`herdcache-p19-${name}`) }));
  let server: RedisServer | undefined;
  let redisUrl = options.redisUrl;
  if (options.mode === 'two-machines' && redisUrl === undefined) {
    server = await startRedisServer();
    redisUrl = server.url;
  }
  const redis = redisUrl === undefined ? undefined : { url: redisUrl, keyPrefix: `p19:${options.seed}:${process.pid}:${Date.now()}:` };

  const records = new Map<string, Mutable<OpRecord>>();
  const workers: RunningWorker[] = [];
  const problems: string[] = [];
  const kills: KillRecord[] = [];
  let processCount = 0;

  const onMessage = (worker: RunningWorker, message: WorkerMessage): void => {
    switch (message.type) {
      case 'invoke':
        records.set(message.record.id, { ...message.record });
        break;
      case 'fn-started': {
        const record = records.get(message.id);
        if (record !== undefined) record.fnStartedAt = message.at;
        break;
      }
      case 'complete': {
        const record = records.get(message.id);
        if (record === undefined) {
          problems.push(`${worker.name}: a completion of ${message.id} without its invocation`);
          break;
        }
        record.invokedAt = message.invokedAt;
        record.completedAt = message.completedAt;
        record.ok = message.ok;
        if (message.value !== undefined) record.value = message.value;
        if (message.own !== undefined) record.own = message.own;
        if (message.error !== undefined) record.error = message.error;
        break;
      }
      case 'done':
        worker.done = true;
        break;
      case 'unhandled':
        problems.push(`${worker.name}: unhandled rejection: ${message.message}`);
        break;
      case 'ready':
        break;
    }
  };

  /** Starts a worker for a slot and waits until its caches are open; `run` then sets it going. */
  const start = async (slot: Slot, path: string): Promise<RunningWorker> => {
    const name = `p${++processCount}`;
    const machine = slot.machine;
    const config: HistoryWorkerConfig = { process: name, machine, path, redis, namespaces: shape.namespaces, ttl: 10 * 60_000, syncInterval: 10 };
    const child = spawn(process.execPath, [WORKER_FILE, JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const disconnected = new Promise<void>((resolve) => child.once('disconnect', () => resolve()));
    const worker: RunningWorker = { name, slot, machine, child, gone: Promise.all([exited, disconnected]).then(() => undefined), expectedExit: false, killedAt: undefined, done: false };
    void exited.then(() => {
      if (!worker.expectedExit) problems.push(`${name} exited by itself (code ${child.exitCode}, signal ${child.signalCode})`);
    });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within 15 s`)), 15_000);
      child.on('message', (raw) => {
        const message = raw as WorkerMessage;
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        }
        onMessage(worker, message);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${name} exited during start`));
      });
    });
    try {
      await ready;
    } catch (error) {
      worker.expectedExit = true;
      child.kill('SIGKILL');
      throw error;
    }
    workers.push(worker);
    return worker;
  };
  /** Sends the rest of the slot's schedule, from `fromMs` on. */
  const run = (worker: RunningWorker, origin: number, fromMs: number): void => {
    const lanes = (schedule.get(worker.slot.name) ?? []).map((lane) => lane.filter((op) => op.atMs >= fromMs));
    worker.child.send({ type: 'run', origin, lanes } satisfies ParentMessage);
  };

  const slots: Slot[] = machineNames.flatMap((machine) => Array.from({ length: options.processesPerMachine }, (_, i) => ({ name: `${machine}.${i}`, machine })));
  const schedule: Map<string, PlannedOp[][]> = generateSchedule(random, slots, options.durationMs, shape);
  const pathOf = (machine: string): string => dirs.find((d) => d.name === machine)!.dir.path;
  try {
    for (const slot of slots) await start(slot, pathOf(slot.machine));
    const began = monotonicMs() + 20;
    for (const worker of workers) run(worker, began, 0);
    const killCount = Math.max(1, options.kills ?? (random() < 0.5 ? 1 : 2));
    const killMoments = Array.from({ length: killCount }, () => options.durationMs * (0.15 + 0.7 * random())).sort((a, b) => a - b);
    for (const moment of killMoments) {
      const wait = began + moment - monotonicMs();
      if (wait > 0) await delay(wait);
      const live = workers.filter((w) => w.killedAt === undefined && !w.expectedExit);
      const victim = live[Math.floor(random() * live.length)];
      if (victim === undefined) continue;
      victim.expectedExit = true;
      victim.killedAt = monotonicMs();
      victim.child.kill('SIGKILL');
      await victim.gone;
      const replacement = await start(victim.slot, pathOf(victim.machine));
      run(replacement, began, monotonicMs() - began);
      kills.push({ process: victim.name, machine: victim.machine, at: victim.killedAt, replacement: replacement.name });
    }
    const rest = began + options.durationMs - monotonicMs();
    if (rest > 0) await delay(rest);

    // Let every lane finish its operation in flight, then close and exit.
    const stopping = workers.filter((w) => w.killedAt === undefined);
    for (const w of stopping) {
      w.expectedExit = true;
      if (w.child.connected) w.child.send({ type: 'stop' } satisfies ParentMessage);
    }
    await Promise.all(
      stopping.map(async (w) => {
        const timer = setTimeout(() => {
          if (!w.done) problems.push(`${w.name} did not stop within 20 s`);
          w.killedAt = monotonicMs();
          w.child.kill('SIGKILL');
        }, 20_000);
        await w.gone;
        clearTimeout(timer);
      }),
    );
  } finally {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.expectedExit = true;
        w.child.kill('SIGKILL');
      }
    }
    await Promise.all(workers.map((w) => w.gone));
    await server?.stop();
    for (const { dir } of dirs) dir.cleanup();
  }

  const killedAt = new Map(workers.map((w) => [w.name, w.killedAt]));
  const history: OpRecord[] = [];
  for (const record of records.values()) {
    if (record.completedAt === undefined) {
      const at = killedAt.get(record.process);
      if (at !== undefined) record.killedAt = at;
    }
    history.push(record);
  }
  history.sort((a, b) => a.invokedAt - b.invokedAt);
  return { seed: options.seed, mode: options.mode, history, processes: workers.map((w) => w.name), kills, problems };
}
