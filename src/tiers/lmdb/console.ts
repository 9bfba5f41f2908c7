/*
 * lmdb-js's own output. lmdb-js reports a failed commit twice: it rejects the write (which the
 * tier turns into a StorageError and a tier-error event) and it prints the error with
 * `console.error` from its write thread's callback, where no caller can catch it; it also warns
 * on the console before some of its internal failures. A library must not write on its
 * application's stderr, so while an LMDB tier is attached in this process, console.error and
 * console.warn calls made by lmdb-js's own files are taken off the console and handed to the
 * attached tiers, which report them as tier-error events (operation `lmdb-output`). Every
 * other call goes through unchanged, and the console is given back as it was found when the
 * last tier detaches (unless someone replaced the methods meanwhile: theirs stay).
 *
 * What JavaScript cannot catch: LMDB's C library prints one line (`Write error: ...`) with
 * fprintf when the write of a page fails. The headroom (headroom.ts) keeps a full disk from
 * failing LMDB's page writes where the file system writes in place; elsewhere the line remains.
 */
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

type Sink = (error: Error) => void;
type Method = 'error' | 'warn';

const sinks = new Set<Sink>();
const originals = new Map<Method, (...args: unknown[]) => void>();
const wrappers = new Map<Method, (...args: unknown[]) => void>();
const lmdbDirectory = locateLmdb();

function locateLmdb(): string | undefined {
  try {
    return dirname(fileURLToPath(import.meta.resolve('lmdb')));
  } catch {
    return undefined;
  }
}

/** Whether the function that called console.<method> lives in lmdb-js's package. */
function calledFromLmdb(): boolean {
  // Frames: Error, calledFromLmdb, the wrapper, its caller.
  const caller = new Error().stack?.split('\n')[3] ?? '';
  return lmdbDirectory !== undefined ? caller.includes(lmdbDirectory) : /[\\/]node_modules[\\/]lmdb[\\/]/.test(caller);
}

function asError(args: readonly unknown[]): Error {
  const found = args.find((a): a is Error => a instanceof Error);
  const text = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : String(a))).join(' ');
  return found ?? new Error(text);
}

function install(method: Method): void {
  const original = console[method];
  const wrapper = (...args: unknown[]): void => {
    if (sinks.size > 0 && calledFromLmdb()) {
      const error = asError(args);
      for (const sink of sinks) sink(error);
      return;
    }
    original.apply(console, args);
  };
  originals.set(method, original);
  wrappers.set(method, wrapper);
  console[method] = wrapper;
}

/**
 * Routes lmdb-js's console output to `sink` until the returned function is called.
 *
 * @example
 * ```ts
 * const stop = captureLmdbOutput((error) => host.report({ type: 'error', operation: 'lmdb-output', error }));
 * // ... on close:
 * stop();
 * ```
 */
export function captureLmdbOutput(sink: Sink): () => void {
  const own: Sink = (error) => sink(error);
  if (sinks.size === 0) for (const method of ['error', 'warn'] as const) install(method);
  sinks.add(own);
  return () => {
    if (!sinks.delete(own) || sinks.size > 0) return;
    for (const [method, original] of originals) if (console[method] === wrappers.get(method)) console[method] = original;
    originals.clear();
    wrappers.clear();
  };
}
