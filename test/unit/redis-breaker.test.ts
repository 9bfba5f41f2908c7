import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from '../../src/tiers/redis/breaker.js';

function fakeTime(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

describe('redis circuit breaker', () => {
  it('stays closed below the failure threshold and a success resets the count', () => {
    const time = fakeTime();
    const breaker = new CircuitBreaker({ failures: 3, cooldown: 1_000 }, time.now);
    breaker.failed();
    breaker.failed();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.failures, 2);
    breaker.succeeded();
    breaker.failed();
    breaker.failed();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.allow(), true);
  });

  it('opens after N consecutive failures and refuses every command during the cooldown', () => {
    const time = fakeTime();
    const breaker = new CircuitBreaker({ failures: 3, cooldown: 1_000 }, time.now);
    for (let i = 0; i < 3; i++) breaker.failed();
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.allow(), false);
    time.advance(999);
    assert.equal(breaker.allow(), false);
    assert.equal(breaker.retryIn, 1);
  });

  it('half-opens after the cooldown with exactly one trial, and closes when it succeeds', () => {
    const time = fakeTime();
    const breaker = new CircuitBreaker({ failures: 2, cooldown: 500 }, time.now);
    breaker.failed();
    breaker.failed();
    time.advance(500);
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.allow(), true, 'the trial');
    assert.equal(breaker.allow(), false, 'only one trial at a time');
    breaker.succeeded();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.failures, 0);
    assert.equal(breaker.allow(), true);
  });

  it('frees the trial slot when the trial was never sent, without closing or counting', () => {
    const time = fakeTime();
    const breaker = new CircuitBreaker({ failures: 1, cooldown: 100 }, time.now);
    breaker.failed();
    assert.equal(breaker.retryIn, 100);
    time.advance(100);
    assert.equal(breaker.allow(), true, 'the trial');
    breaker.abandoned();
    assert.equal(breaker.state, 'half-open', 'an abandoned trial says nothing about the server');
    assert.equal(breaker.failures, 1);
    assert.equal(breaker.allow(), true, 'another caller may try');
    assert.equal(breaker.allow(), false);
    assert.equal(breaker.retryIn, 0, 'no longer open');
  });

  it('reopens for a full cooldown when the trial fails', () => {
    const time = fakeTime();
    const breaker = new CircuitBreaker({ failures: 2, cooldown: 500 }, time.now);
    breaker.failed();
    breaker.failed();
    time.advance(600);
    assert.equal(breaker.allow(), true);
    breaker.failed();
    assert.equal(breaker.state, 'open');
    time.advance(499);
    assert.equal(breaker.allow(), false);
    time.advance(1);
    assert.equal(breaker.allow(), true);
  });

  it('does not extend the cooldown when commands sent before it opened fail late', () => {
    const time = fakeTime();
    const breaker = new CircuitBreaker({ failures: 2, cooldown: 500 }, time.now);
    breaker.failed();
    breaker.failed();
    time.advance(400);
    breaker.failed();
    time.advance(100);
    assert.equal(breaker.state, 'half-open');
  });
});
