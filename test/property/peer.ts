// The parent's side of test/fixtures/property-peer.ts: a real second OS process with its own
// cache on the same LMDB path, one request at a time, every request bounded by a timeout.
import { fork, type ChildProcess } from 'node:child_process';
import type { PeerReply, PeerRequest } from '../fixtures/property-peer.js';

const FIXTURE = new URL('../fixtures/property-peer.js', import.meta.url);

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The error a peer's operation failed with, rebuilt in the parent with its name and code. */
export class PeerError extends Error {
  constructor(readonly remote: { name: string; code?: string; message: string }) {
    super(`${remote.name}${remote.code === undefined ? '' : ` [${remote.code}]`}: ${remote.message}`);
  }
}

export class Peer {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(private readonly child: ChildProcess, private readonly clock: (() => number) | undefined) {
    child.on('message', (reply: PeerReply) => {
      const waiter = this.pending.get(reply.id);
      if (waiter === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new PeerError(reply.error));
    });
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        for (const waiter of this.pending.values()) waiter.reject(new Error(`the peer exited (${code ?? signal}) before answering`));
        this.pending.clear();
        resolve();
      });
    });
  }

  /**
   * Starts the peer process and opens its cache (memory over LMDB at `path`). Its clock is the
   * real one, or with `clock` the parent's: every request then carries `clock()`, and the peer
   * sets its own clock to it before it runs the request.
   */
  static async start(path: string, ttl: number, namespace?: string, clock?: () => number): Promise<Peer> {
    const child = fork(FIXTURE, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const peer = new Peer(child, clock);
    try {
      await peer.request({ op: 'open', path, ttl, ...(namespace === undefined ? {} : { namespace }) }, 10_000);
    } catch (error) {
      await peer.stop();
      throw error;
    }
    return peer;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends one request and resolves with its result; rejects on a remote error or after `timeoutMs`. */
  request<T = unknown>(request: WithoutId<PeerRequest>, timeoutMs = 5_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error('the peer has exited'));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the peer did not answer ${request.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => { clearTimeout(timer); resolve(value as T); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      });
      this.child.send({ ...request, id, ...(this.clock === undefined ? {} : { now: this.clock() }) } as PeerRequest);
    });
  }

  /** Closes the peer's cache and waits for the process to exit; kills it if it does not within 5 s. */
  async stop(): Promise<void> {
    if (!this.exited) {
      try {
        await this.request({ op: 'close' }, 5_000);
      } catch {
        // Killed below.
      }
      if (this.child.connected) this.child.disconnect();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exit;
      clearTimeout(timer);
    }
  }
}
