// The parent side of a test worker process driven over IPC: requests { id, op, ...args },
// replies { id, ok, value } or { id, ok: false, code, name, message }, unprompted
// { event: 'ready' } and { event: 'unhandled', message }. Shared by the engine and fault fixtures.
import { spawn, type ChildProcess } from 'node:child_process';

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code?: string; name?: string; message: string };
type Message = Reply | { event: 'ready' } | { event: 'unhandled'; message: string };

/** A running worker. */
export interface RpcWorker<Request extends { readonly op: string }> {
  readonly pid: number;
  /** Sends a request; resolves with the reply value, rejects with the worker's error (`code`, `errorName`). */
  call(request: Request, timeoutMs?: number): Promise<unknown>;
  /** Unhandled rejections the worker reported. */
  readonly unhandled: readonly string[];
  /** What the worker wrote on its stderr so far (it is also passed on to this process's stderr). */
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** How to start a worker. */
export interface RpcStartOptions {
  /** Runs the worker under `ulimit -f <blocks>` (a small file size limit: writes past it fail). */
  readonly fileSizeLimitBlocks?: number;
  readonly startTimeoutMs?: number;
}

/** Starts `file` with its JSON config as argv[2] and resolves once it reports ready. */
export function startRpcWorker<Request extends { readonly op: string }>(file: string, config: unknown, options: RpcStartOptions = {}): Promise<RpcWorker<Request>> {
  const args = [file, JSON.stringify(config)];
  const stdio: Array<'inherit' | 'pipe' | 'ipc'> = ['inherit', 'inherit', 'pipe', 'ipc'];
  const { fileSizeLimitBlocks, startTimeoutMs = 10_000 } = options;
  const child: ChildProcess =
    fileSizeLimitBlocks === undefined
      ? spawn(process.execPath, args, { stdio, serialization: 'advanced' })
      : spawn('/bin/sh', ['-c', `ulimit -f ${fileSizeLimitBlocks} && exec "$0" "$@"`, process.execPath, ...args], { stdio, serialization: 'advanced' });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const unhandled: string[] = [];
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr.push(chunk);
    process.stderr.write(chunk);
  });
  let seq = 0;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const p of pending.values()) p.reject(new Error(`worker ${child.pid} exited (${code ?? signal}) before replying`));
      pending.clear();
      resolve({ code, signal });
    });
  });
  const worker: RpcWorker<Request> = {
    pid: child.pid ?? -1,
    unhandled,
    stderr: () => Buffer.concat(stderr).toString('utf8'),
    exited,
    call(request, timeoutMs = 10_000) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`worker ${child.pid}: no reply to ${request.op} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => { clearTimeout(timer); resolve(v); },
          reject: (e) => { clearTimeout(timer); reject(e); },
        });
        child.send({ id, ...request });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`worker exited during start (${code ?? signal})`));
    });
    child.on('message', (raw) => {
      const message = raw as Message;
      if ('event' in message) {
        if (message.event === 'ready') {
          clearTimeout(timer);
          resolve(worker);
        } else unhandled.push(message.message);
        return;
      }
      const waiter = pending.get(message.id);
      if (waiter === undefined) return;
      pending.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(Object.assign(new Error(message.message), { code: message.code, errorName: message.name }));
    });
  });
}

/**
 * The worker side of the channel: how to send to the parent (nothing once it is gone), with every
 * unhandled rejection reported to it and failing the worker; and the worker's JSON config.
 */
export function workerSide<Config, Message>(): { send: (message: Message | { event: 'unhandled'; message: string }) => void; config: Config } {
  const send = (message: unknown): void => {
    if (process.connected) process.send?.(message);
  };
  process.on('unhandledRejection', (reason) => {
    send({ event: 'unhandled', message: String(reason) });
    process.exitCode = 1;
  });
  return { send, config: JSON.parse(process.argv[2] ?? '{}') as Config };
}
