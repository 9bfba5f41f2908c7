// close() waits for a running sweep before the file is unmapped (found by the hostile-input
// property: with tiny bounds the process died of heap corruption in about one run of three).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const FIXTURE = fileURLToPath(new URL('../fixtures/close-during-sweep.js', import.meta.url));

function run(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FIXTURE], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

it('closing caches while their sweep runs never crashes the process or prints to stderr', async () => {
  for (let round = 0; round < 4; round++) {
    assert.deepEqual(await run(), { code: 0, signal: null, stderr: '' }, `round ${round}`);
  }
});
