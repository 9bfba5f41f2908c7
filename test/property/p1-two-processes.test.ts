// Property 1 across two real OS processes on one LMDB file: the parent runs get / getSync / set /
// delete / compute / clear, a forked peer runs set / delete and reads, both against one model.
// A write made by the other process is only required to show within a bounded delay (the
// documented bound is syncInterval = 20 ms plus the writer's commit): such reads poll until they
// see the model's value, for at most DEADLINE ms; every other read must agree at once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inspect, isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { createCache, lmdbTier, memoryTier, type Cache } from '../../src/index.js';
import { propertyParams } from '../helpers/fc.js';
import { tempDir } from '../helpers/tmp.js';
import { CacheModel, ClearCommand, ComputeCommand, DeleteCommand, GetCommand, GetSyncCommand, key, KEYS, modelValue, SetCommand, type CacheCommand, type RealSystem } from './model.js';
import { Peer } from './peer.js';

/** Long enough that nothing expires during a run on the real clock. */
const TTL = 60_000;
/** Longest a process may take to see the other's committed write, ms. */
const DEADLINE = 2_000;

/** The model, plus the keys whose latest write came from the other process and is not yet seen here. */
class TwoProcessModel extends CacheModel {
  /** Written by the peer; the parent has not confirmed seeing it yet. */
  readonly unseenByParent = new Set<string>();
  /** Written by the parent; the peer has not confirmed seeing it yet (the peer always polls). */
  readonly unseenByPeer = new Set<string>();
}

interface TwoProcessSystem extends RealSystem {
  readonly peer: Peer;
  /** Longest time a process took to see the other's write, ms. */
  slowest: number;
}

type TwoProcessCommand = fc.AsyncCommand<TwoProcessModel, TwoProcessSystem, false>;

function show(value: unknown): string {
  return inspect(value, { depth: 5, breakLength: Infinity });
}

/** Waits until the parent's getSync shows the model's value for `key` (the peer wrote it last). */
async function parentSees(model: TwoProcessModel, real: TwoProcessSystem, k: string): Promise<void> {
  if (!model.unseenByParent.has(k)) return;
  const expected = model.read(k);
  const started = Date.now();
  let last: unknown;
  while (!isDeepStrictEqual((last = real.cache.getSync(k)), expected)) {
    if (Date.now() - started > DEADLINE) {
      assert.fail(`the parent still reads ${show(last)} for ${k} ${DEADLINE} ms after the peer committed ${show(expected)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  real.slowest = Math.max(real.slowest, Date.now() - started);
  model.unseenByParent.delete(k);
}

/** A parent operation: first let the parent see the peer's last write of the key, then check as in one process. */
class InParent implements TwoProcessCommand {
  constructor(readonly k: string | undefined, readonly inner: CacheCommand, readonly writes: boolean) {}
  check = (): boolean => true;
  async run(model: TwoProcessModel, real: TwoProcessSystem): Promise<void> {
    if (this.k !== undefined) await parentSees(model, real, this.k);
    await this.inner.run(model, real);
    if (!this.writes) return;
    if (this.k === undefined) {
      model.unseenByParent.clear();
      for (const k of KEYS) model.unseenByPeer.add(k);
    } else {
      model.unseenByPeer.add(this.k);
    }
  }
  toString = (): string => `parent.${String(this.inner)}`;
}

class PeerSet implements TwoProcessCommand {
  constructor(readonly k: string, readonly value: unknown) {}
  check = (): boolean => true;
  async run(model: TwoProcessModel, real: TwoProcessSystem): Promise<void> {
    await real.peer.request({ op: 'set', key: this.k, value: this.value });
    model.write(this.k, this.value);
    model.unseenByParent.add(this.k);
    model.unseenByPeer.delete(this.k);
  }
  toString = (): string => `peer.set(${this.k}, ${show(this.value)})`;
}

class PeerDelete implements TwoProcessCommand {
  constructor(readonly k: string) {}
  check = (): boolean => true;
  async run(model: TwoProcessModel, real: TwoProcessSystem): Promise<void> {
    await real.peer.request({ op: 'delete', key: this.k });
    model.delete(this.k);
    model.unseenByParent.add(this.k);
    model.unseenByPeer.delete(this.k);
  }
  toString = (): string => `peer.delete(${this.k})`;
}

/** The peer reads the key until it shows the model's value (it polls every time: cheap and always sound). */
class PeerRead implements TwoProcessCommand {
  constructor(readonly k: string) {}
  check = (): boolean => true;
  async run(model: TwoProcessModel, real: TwoProcessSystem): Promise<void> {
    const expected = model.read(this.k);
    const mustBeAtOnce = !model.unseenByPeer.has(this.k);
    const answer = await real.peer.request<{ seen: boolean; last: unknown; waitedMs: number }>({ op: 'waitFor', key: this.k, expected, deadlineMs: DEADLINE }, DEADLINE + 3_000);
    assert.ok(answer.seen, `the peer still reads ${show(answer.last)} for ${this.k} ${DEADLINE} ms after the parent committed ${show(expected)}`);
    if (mustBeAtOnce) assert.equal(answer.waitedMs < 50, true, `the peer's own last write of ${this.k} took ${answer.waitedMs} ms to read back`);
    else real.slowest = Math.max(real.slowest, answer.waitedMs);
    model.unseenByPeer.delete(this.k);
  }
  toString = (): string => `peer.getSync(${this.k})`;
}

const commands: Array<fc.Arbitrary<TwoProcessCommand>> = [
  key.map((k) => new InParent(k, new GetCommand(k), false)),
  key.map((k) => new InParent(k, new GetSyncCommand(k), false)),
  fc.tuple(key, modelValue).map(([k, v]) => new InParent(k, new SetCommand(k, v, undefined, 1), true)),
  key.map((k) => new InParent(k, new DeleteCommand(k), true)),
  fc.tuple(key, modelValue, fc.boolean()).map(([k, v, fails]) => new InParent(k, new ComputeCommand(k, v, undefined, fails), true)),
  fc.constant(new InParent(undefined, new ClearCommand(), true)),
  fc.tuple(key, modelValue).map(([k, v]) => new PeerSet(k, v)),
  fc.tuple(key, modelValue).map(([k, v]) => new PeerSet(k, v)),
  key.map((k) => new PeerDelete(k)),
  key.map((k) => new PeerRead(k)),
];

describe('P1 engine against a model (two processes, one LMDB file)', () => {
  let dir: ReturnType<typeof tempDir>;
  let cache: Cache;
  let peer: Peer;

  before(async () => {
    dir = tempDir('herdcache-p1-2p');
    cache = createCache({ tiers: [memoryTier(), lmdbTier({ path: dir.path })], ttl: TTL });
    peer = await Peer.start(dir.path, TTL);
  });

  after(async () => {
    await peer?.stop();
    await cache?.close();
    dir?.cleanup();
  });

  it('P1 L1+L2 in two processes: reads in either process agree with the model once the other process\'s write is seen, within a bounded delay', async (t) => {
    let slowest = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 30, size: 'medium' }), async (cmds) => {
        await cache.clear();
        const model = new TwoProcessModel(Date.now, TTL);
        // The peer's memory copies of the last run go when it sees this clear: it polls anyway.
        for (const k of KEYS) model.unseenByPeer.add(k);
        const real: TwoProcessSystem = { cache, peer, slowest: 0 };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        slowest = Math.max(slowest, real.slowest);
      }),
      propertyParams({ numRuns: 50 }),
    );
    // Informative: how long the slowest cross-process read took to see the other's write.
    t.diagnostic(`slowest cross-process visibility: ${slowest} ms (deadline ${DEADLINE} ms)`);
  });
});
