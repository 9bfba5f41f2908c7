// Starts a real redis-server for a test on a free loopback port, without persistence, and
// stops it after. Tests that need one call `redisSkip()` for node:test's `skip` option.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { tempDir } from './tmp.js';

/** What node:test shows when redis-server is missing. */
export const REDIS_MISSING = 'redis-server not installed: apt-get install -y redis-server';

let installed: boolean | undefined;

/** True when a `redis-server` binary is on the PATH. */
export function redisServerInstalled(): boolean {
  installed ??= spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  return installed;
}

/**
 * The value for node:test's `skip` option: the install command when redis-server is missing,
 * else false. With HERDCACHE_REQUIRE_REDIS set (CI), a missing server is never skipped: the
 * tests run and fail at `startRedisServer()` with the same message.
 */
export function redisSkip(): string | false {
  if (redisServerInstalled()) return false;
  const required = process.env['HERDCACHE_REQUIRE_REDIS'];
  return required !== undefined && required !== '' && required !== '0' ? false : REDIS_MISSING;
}

/** A running redis-server owned by one test. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops it gracefully (SIGTERM, then SIGKILL after 2 s). */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing answers. */
  freeze(): void;
  /** Thaws a frozen server (SIGCONT). */
  thaw(): void;
  /** Starts it again on the same port (after stop or kill); resolves when it accepts commands. */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true if the server answered +PONG within `ms`. */
function pings(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    let reply = '';
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function launch(port: number, dir: string): Promise<ChildProcess> {
  if (!redisServerInstalled()) throw new Error(`${REDIS_MISSING} (HERDCACHE_REQUIRE_REDIS is set, so this is a failure)`);
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  child.once('exit', () => running.delete(child));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited at start (port ${port}): ${stderr.trim()}`);
    if (await pings(port, 500)) return child;
    await delay(20);
  }
  child.kill('SIGKILL');
  await exited(child);
  throw new Error(`redis-server did not accept connections on port ${port} within 10 s`);
}

/**
 * Starts redis-server on a free loopback port (`--save '' --appendonly no`), waiting until it
 * answers PING. Retries with another port if the chosen one was taken meanwhile.
 */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = tempDir('herdcache-redis');
  let child: ChildProcess | undefined;
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3 && child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir.path);
    } catch (error) {
      lastError = error;
      if (!redisServerInstalled()) break;
    }
  }
  if (child === undefined) {
    dir.cleanup();
    throw lastError;
  }
  let current: ChildProcess = child;
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const proc = current;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2_000);
    await exited(proc);
    clearTimeout(timer);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      current.kill('SIGCONT');
      await signal('SIGTERM');
      dir.cleanup();
    },
    kill: () => signal('SIGKILL'),
    freeze: () => void current.kill('SIGSTOP'),
    thaw: () => void current.kill('SIGCONT'),
    async restart() {
      await signal('SIGKILL');
      current = await launch(port, dir.path);
    },
  };
}
