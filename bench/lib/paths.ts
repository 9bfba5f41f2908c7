import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where a run writes its reports unless told otherwise (`--out DIR`): bench/results/local/ of the
 * checkout, which git ignores (this file runs from dist/bench/lib/). bench/results/ itself holds
 * the published figures README links to; refresh them with `--out bench/results`.
 */
export const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/local/', import.meta.url));

/** A fresh temporary directory (one LMDB file per run) and its removal. */
export function tempDir(label: string): { path: string; remove: () => void } {
  // No dot in the name: lmdb-js takes a path with an extension for a file, not a directory.
  const safe = label.replace(/[^a-zA-Z0-9-]/g, '-');
  const path = mkdtempSync(join(tmpdir(), `herdcache-bench-${safe}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
