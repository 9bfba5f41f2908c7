// The memory copy a write leaves behind. A shared tier decides what is committed; the memory tier
// has no transaction, so after a set or a compute store it must hold that write's value or
// nothing, never an older value that a read copied in while the write was in flight. These run
// Coherence over a real memory tier and one shared tier whose write the test holds open.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coherence } from '../../src/core/coherence.js';
import { makeEntry } from '../../src/core/entry.js';
import { StatsCounters } from '../../src/core/stats.js';
import type { SharedTier, WriteOutcome } from '../../src/core/tier.js';
import { memoryTier } from '../../src/tiers/memory/tier.js';
import { deferred } from '../fixtures/policy-support.js';

const older = makeEntry('older, committed by another process', 1_000, 60_000, 60_000, 0);
const ours = makeEntry('this write', 1_001, 60_000, 60_000, 0);

/** Coherence over a real memory tier and one machine tier whose set answers when the test says. */
function held(outcome: WriteOutcome = { applied: true, version: 2 }) {
  const memory = memoryTier();
  memory.attach({ clock: () => 1_002, report: () => {}, site: undefined });
  const gate = deferred<void>();
  const machine: SharedTier = {
    name: 'lmdb', scope: 'machine', maxKeyBytes: Infinity, attach: () => {}, close: async () => {},
    get: () => undefined, delete: () => ({ applied: true }), clear: () => ({ applied: true }),
    set: async () => (await gate.promise, outcome),
  };
  const counters = new StatsCounters([]);
  const coherence = new Coherence({
    processTier: memory, shared: [machine], counters, prefix: '0::',
    report: () => {}, landed: () => {}, heardOf: () => {}, adopt: () => {},
  });
  return { coherence, memory, gate, counters };
}

const inMemory = (memory: ReturnType<typeof memoryTier>, key = 'k'): unknown => memory.getSync(key)?.value;

describe('Coherence: the memory copy a write leaves behind', () => {
  it('a set that heard of an older change while in flight, and whose process read that value meanwhile, leaves no older copy', async () => {
    const h = held();
    // A compute of another key is in flight, so the ledger is recording.
    const elsewhere = h.coherence.beginRead();
    const storing = h.coherence.store('k', '0::k', ours);
    // The change feed reports the other process's earlier commit late; a getSync copies it in.
    h.coherence.heard({ key: '0::k' }, 0);
    h.memory.set('k', older);
    h.gate.resolve();
    assert.equal(await storing, true);
    assert.notEqual(inMemory(h.memory), older.value, 'memory kept a value older than the committed write');
    h.coherence.endRead(elsewhere);
  });

  it('a set that heard of a change while in flight, with nothing else open, keeps no copy of its own value', async () => {
    const h = held();
    const storing = h.coherence.store('k', '0::k', ours);
    // Another process committed after this write and the feed said so before it returned: the
    // shared tier holds the other value, so this one must not stay in memory.
    h.coherence.heard({ key: '0::k' }, 0);
    h.gate.resolve();
    assert.equal(await storing, true);
    assert.equal(inMemory(h.memory), undefined);
  });

  it('a write the shared tier refuses leaves no older memory copy', async () => {
    for (const basis of [false, true]) {
      const h = held({ applied: false });
      h.memory.set('k', older);
      const storing = h.coherence.store('k', '0::k', ours, basis ? h.coherence.open([1]) : undefined);
      h.gate.resolve();
      assert.equal(await storing, false);
      assert.equal(h.counters.superseded, 1);
      assert.equal(inMemory(h.memory), undefined, `${basis ? 'a compute' : 'a set'} refused by the shared tier left an older copy in memory`);
    }
  });

  it('a set with nothing heard in between keeps its own copy, and the ledger forgets once it is done', async () => {
    const h = held();
    const storing = h.coherence.store('k', '0::k', ours);
    h.gate.resolve();
    assert.equal(await storing, true);
    assert.equal(inMemory(h.memory), ours.value);
    assert.equal(h.coherence.ledger.size, 0);
  });
});
