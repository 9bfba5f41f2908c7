import { fork, type ChildProcess } from 'node:child_process';

/** A message between the bench parent and one of its worker processes. */
export interface Message {
  readonly type: string;
  readonly [field: string]: unknown;
}

/**
 * A forked worker process with a typed mailbox: `next(type)` waits (bounded) for the next
 * message of that type; a crash or a timeout rejects with a message saying which child and why.
 */
export class Child {
  private readonly process: ChildProcess;
  private readonly inbox: Message[] = [];
  private waiter: (() => void) | undefined;
  private exited: string | undefined;

  constructor(script: string | URL, readonly name: string, args: readonly string[] = []) {
    this.process = fork(script, [...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    this.process.on('message', (message: Message) => {
      this.inbox.push(message);
      this.waiter?.();
    });
    this.process.on('exit', (code, signal) => {
      this.exited = `${this.name} exited (code ${String(code)}, signal ${String(signal)})`;
      this.waiter?.();
    });
    this.process.on('error', (error) => {
      this.exited = `${this.name} failed: ${error.message}`;
      this.waiter?.();
    });
  }

  send(message: Message): void {
    this.process.send(message);
  }

  /** The next message of `type`; a child's `{ type: 'error' }` rejects with its message. */
  async next<T extends Message>(type: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.inbox.findIndex((m) => m.type === type || m.type === 'error');
      if (index >= 0) {
        const [message] = this.inbox.splice(index, 1);
        if (message!.type === 'error') throw new Error(`${this.name}: ${String(message!['message'])}`);
        return message as T;
      }
      if (this.exited !== undefined) throw new Error(`${this.exited} before sending "${type}"`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} sent no "${type}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Waits for the child to exit; kills it if it has not within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.exited !== undefined || this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.exited === undefined) this.process.kill('SIGKILL');
  }
}

/**
 * The child side: sends a message to the parent, resolving once it is handed to the channel
 * (large record batches included).
 */
export function sendToParent(message: Message): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      reject(new Error('this script is a bench worker: start it from the bench main, not directly'));
      return;
    }
    process.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

const parentInbox: Message[] = [];
let parentWaiter: (() => void) | undefined;
let listening = false;

/**
 * The child side: starts buffering the parent's messages. Call it first thing: a listener
 * keeps the IPC channel referenced, so the worker cannot exit (code 0, silently) while it
 * waits on something that holds no handle of its own; `process.disconnect()` ends it.
 */
export function listenToParent(): void {
  if (listening) return;
  listening = true;
  process.on('message', (message: Message) => {
    parentInbox.push(message);
    parentWaiter?.();
  });
}

/**
 * The child side: the next message of `type` from the parent. Messages are buffered from the
 * first call on, so one sent before its reader is ready is not lost.
 */
export async function fromParent<T extends Message>(type: string): Promise<T> {
  listenToParent();
  for (;;) {
    const index = parentInbox.findIndex((m) => m.type === type);
    if (index >= 0) return parentInbox.splice(index, 1)[0] as T;
    await new Promise<void>((resolve) => {
      parentWaiter = resolve;
    });
    parentWaiter = undefined;
  }
}
