// The policy conformance suite can fail: run over policies that each break the contract in one
// way (test/fixtures/broken-policies.ts), in a child process, it fails exactly the tests that
// catch each breach and passes the others.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const fixture = fileURLToPath(new URL('../fixtures/broken-policies.js', import.meta.url));

/** The names of the failed tests of each suite, from the child's TAP output. */
function failures(tap: string): Map<string, string[]> {
  const failed = new Map<string, string[]>();
  let suite = '';
  for (const line of tap.split('\n')) {
    const started = /^# Subtest: policy conformance: (.+)$/.exec(line);
    if (started !== null) suite = started[1]!;
    const failedTest = /^ {4}not ok \d+ - (.+)$/.exec(line);
    if (failedTest !== null) failed.set(suite, [...(failed.get(suite) ?? []), failedTest[1]!]);
  }
  return failed;
}

describe('the policy conformance suite', () => {
  it('fails a policy for each way it breaks the contract, and only for those', () => {
    // Without the runner's context variable the child reports on its own instead of to this runner.
    const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
    const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fixture], { encoding: 'utf8', timeout: 120_000, env });
    assert.equal(run.status, 1, 'the suite fails');
    const failed = failures(run.stdout);
    assert.deepEqual(failed.get('keeps-its-lease'), [
      "answers a cold compute with its function's value, stores it, and gives the lease back",
      'lets a compute that throws reach its caller, stores nothing, and gives the lease back',
      'settles every concurrent caller of a key, with a computed value or a documented refusal',
      'serves a stale entry or replaces it, never fails for it, and computes it at most once',
    ]);
    assert.deepEqual(failed.get('swallows-errors'), [
      'lets a compute that throws reach its caller, stores nothing, and gives the lease back',
      'stores nothing once the cache closed, and the held caller settles',
    ]);
    assert.deepEqual(failed.get('hangs'), [
      "answers a cold compute with its function's value, stores it, and gives the lease back",
      'lets a compute that throws reach its caller, stores nothing, and gives the lease back',
      'settles every concurrent caller of a key, with a computed value or a documented refusal',
      'stores nothing once the cache closed, and the held caller settles',
    ]);
  });
});
