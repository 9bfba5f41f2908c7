// The schedule of a whole-history run, generated from a seed for every process at once: each
// register (namespace, key) takes its turn at a short burst of overlapping changes, then rests
// with reads only, long enough for the bounds to run out before most of its reads. A burst is a
// few random changes, then a finale that decides what the register holds during the rest:
//
// - a duel: a compute in one process, and a set, delete or clear of its key in another timed to
//   land about when the compute's fn returns (the compute must lose);
// - a read-through race (two machines): a set on one machine, then on the other machine a read
//   that finds nothing local and reads Redis, at the same moment as a set there (the read's copy
//   must not replace the newer set on that machine).
//
// Times are ms after the run's origin on the shared monotonic clock; the workers wait for each
// operation's time, so processes meet where the plan says as long as they keep up.
import type { OpKind } from './checker.js';
import type { PlannedOp } from '../fixtures/history-worker.js';

export interface WorkloadShape {
  readonly namespaces: readonly string[];
  readonly keys: readonly string[];
  /** Length of one register's cycle (burst and rest), ms. Registers start theirs evenly spread. */
  readonly cycleMs: number;
  /** Random operations at the start of each burst, and over how long. */
  readonly noiseOps: number;
  readonly noiseMs: number;
  /** Chance that a burst ends in a read-through race rather than a duel (two machines only). */
  readonly raceShare: number;
  /** Longest a compute's fn sleeps, ms. */
  readonly maxFnMs: number;
  /** Longest pause between two reads of a process's read lane, ms. */
  readonly maxGapMs: number;
  /** Lanes per process: one for reads, the others for the bursts' operations. */
  readonly lanes: number;
}

/** One process position: a replacement after a kill takes over the rest of its schedule. */
export interface Slot {
  readonly name: string;
  readonly machine: string;
}

/** Rough time an operation takes, ms: only for keeping a lane free for its next planned operation. */
const EXPECTED_MS: Readonly<Record<OpKind, number>> = { get: 1, getSync: 0.2, set: 4, delete: 4, clear: 5, compute: 3 };

const NOISE: ReadonlyArray<readonly [OpKind, number]> = [['set', 25], ['delete', 20], ['compute', 30], ['get', 10], ['getSync', 10], ['clear', 5]];
const DUEL_CHANGE: ReadonlyArray<readonly [OpKind, number]> = [['set', 45], ['delete', 40], ['clear', 15]];

/** mulberry32: small, fast and good enough to spread a seed over plans. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every slot's plan: lanes of operations, each lane in time order. */
export function generateSchedule(random: () => number, slots: readonly Slot[], durationMs: number, shape: WorkloadShape): Map<string, PlannedOp[][]> {
  const uniform = (lo: number, hi: number): number => lo + random() * (hi - lo);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const weighted = (table: ReadonlyArray<readonly [OpKind, number]>): OpKind => {
    let r = random() * table.reduce((sum, [, w]) => sum + w, 0);
    for (const [kind, w] of table) if ((r -= w) < 0) return kind;
    return table[table.length - 1]![0];
  };
  const registers = shape.namespaces.flatMap((namespace) => shape.keys.map((key) => ({ namespace, key })));
  const machines = [...new Set(slots.map((s) => s.machine))];
  const opLanes = Math.max(1, shape.lanes - 1);
  const plans = new Map(slots.map((s) => [s.name, Array.from({ length: opLanes + 1 }, (): PlannedOp[] => [])]));
  const busyUntil = new Map(slots.map((s) => [s.name, Array.from({ length: opLanes }, () => 0)]));

  const burstOps: Array<{ readonly slot: Slot; readonly op: PlannedOp }> = [];
  const place = (slot: Slot, op: PlannedOp): void => {
    burstOps.push({ slot, op });
  };
  /** Puts a burst operation on the slot's op lane that is free soonest (in time order). */
  const assign = (slot: Slot, op: PlannedOp): void => {
    const busy = busyUntil.get(slot.name)!;
    let lane = 0;
    for (let i = 1; i < busy.length; i++) if (busy[i]! < busy[lane]!) lane = i;
    busy[lane] = Math.max(busy[lane]!, op.atMs) + EXPECTED_MS[op.op] + (op.fnMs ?? 0);
    plans.get(slot.name)![lane + 1]!.push(op);
  };
  const operation = (kind: OpKind, register: { namespace: string; key: string }, atMs: number): PlannedOp => {
    const at = Math.max(0, atMs);
    if (kind === 'clear') return { op: kind, namespace: register.namespace, atMs: at };
    if (kind === 'compute') return { op: kind, namespace: register.namespace, key: register.key, atMs: at, fnMs: Math.round(uniform(0, shape.maxFnMs)) };
    return { op: kind, namespace: register.namespace, key: register.key, atMs: at };
  };

  const offset = shape.cycleMs / registers.length;
  registers.forEach((register, index) => {
    for (let burst = index * offset; burst < durationMs - shape.noiseMs - shape.maxFnMs - 20; burst += shape.cycleMs) {
      for (let i = 0; i < shape.noiseOps; i++) place(pick(slots), operation(weighted(NOISE), register, burst + uniform(0, shape.noiseMs)));
      const finale = burst + shape.noiseMs + uniform(0, 5);
      if (machines.length > 1 && random() < shape.raceShare) {
        // The set lands on `home` (dropping the other machine's copies), then the other machine
        // reads it through from Redis while one of its processes sets a newer value.
        const home = pick(machines);
        const away = slots.filter((s) => s.machine !== home);
        place(pick(slots.filter((s) => s.machine === home)), operation('set', register, finale));
        const moment = finale + uniform(6, 16);
        const reader = pick(away);
        const writers = away.filter((s) => s !== reader);
        place(reader, operation(random() < 0.7 ? 'get' : 'compute', register, moment));
        place(writers.length > 0 ? pick(writers) : reader, operation('set', register, moment + uniform(-0.5, 0.5)));
      } else {
        const computer = pick(slots);
        const compute = operation('compute', register, finale);
        const fnMs = Math.round(uniform(3, shape.maxFnMs));
        place(computer, { ...compute, fnMs });
        const changers = slots.filter((s) => s !== computer);
        // Lands a little before or after the fn returns: a change takes a commit, a few ms.
        place(changers.length > 0 ? pick(changers) : computer, operation(weighted(DUEL_CHANGE), register, finale + fnMs - uniform(-3, 8)));
      }
    }
  });

  burstOps.sort((a, b) => a.op.atMs - b.op.atMs);
  for (const { slot, op } of burstOps) assign(slot, op);
  for (const slot of slots) {
    const lanes = plans.get(slot.name)!;
    for (let at = uniform(0, shape.maxGapMs); at < durationMs; at += uniform(0, shape.maxGapMs)) {
      lanes[0]!.push(operation(random() < 0.5 ? 'get' : 'getSync', pick(registers), at));
    }
    for (const lane of lanes) lane.sort((a, b) => a.atMs - b.atMs);
  }
  return plans;
}
