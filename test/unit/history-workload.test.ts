// The schedule of the whole-history runs (property 19): the same seed gives the same plans, and
// every burst ends in a duel that the rest of the cycle can judge.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultShape } from '../history/run-history.js';
import { generateSchedule, seededRandom, type Slot } from '../history/workload.js';

const SLOTS: Slot[] = [{ name: 'm0.0', machine: 'm0' }, { name: 'm0.1', machine: 'm0' }, { name: 'm0.2', machine: 'm0' }];

describe('history workload', () => {
  it('is the same for the same seed and different for another', () => {
    const shape = defaultShape('one-machine');
    const a = generateSchedule(seededRandom(7), SLOTS, 3_000, shape);
    const b = generateSchedule(seededRandom(7), SLOTS, 3_000, shape);
    const c = generateSchedule(seededRandom(8), SLOTS, 3_000, shape);
    assert.deepEqual([...a], [...b]);
    assert.notDeepEqual([...a], [...c]);
  });

  it('gives every slot a read lane and op lanes in time order, and no change of a register during most of its rest', () => {
    const shape = defaultShape('one-machine');
    const plans = generateSchedule(seededRandom(1), SLOTS, 5_000, shape);
    const changes: Array<{ at: number; register: string }> = [];
    for (const slot of SLOTS) {
      const lanes = plans.get(slot.name) ?? [];
      assert.equal(lanes.length, shape.lanes);
      assert.ok(lanes[0]!.length > 100 && lanes[0]!.every((op) => op.op === 'get' || op.op === 'getSync'), 'lane 0 reads');
      for (const lane of lanes) {
        assert.ok(lane.every((op, i) => i === 0 || lane[i - 1]!.atMs <= op.atMs), 'in time order');
        for (const op of lane) if (op.op !== 'get' && op.op !== 'getSync' && op.key !== undefined) changes.push({ at: op.atMs, register: `${op.namespace}/${op.key}` });
      }
    }
    // The longest quiet stretch of each register outlasts the one-machine bound (250 ms).
    for (const register of new Set(changes.map((c) => c.register))) {
      const times = changes.filter((c) => c.register === register).map((c) => c.at).sort((x, y) => x - y);
      const longest = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
      assert.ok(longest > 300, `${register}: longest rest ${longest} ms`);
    }
  });
});
