/**
 * A throwaway redis-server for the cross-machine bench: started on a free loopback port without
 * persistence, stopped after the run (and killed if the bench process exits first).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { sleep } from './time.js';
import { tempDir } from './paths.js';

/** What the bench prints when redis-server is missing. */
export const REDIS_SERVER_MISSING = 'redis-server not installed (apt-get install -y redis-server)';

let installed: boolean | undefined;

/** True when a `redis-server` binary is on the PATH. */
export function redisServerInstalled(): boolean {
  installed ??= spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  return installed;
}

/** A running redis-server owned by the bench. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops it (SIGTERM, SIGKILL after 2 s) and removes its directory. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// A bench that crashes must not leave a server behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function freePort(): Promise<number> {
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
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited at start (port ${port}): ${stderr.trim()}`);
    if (await pings(port, 500)) return child;
    await sleep(20);
  }
  child.kill('SIGKILL');
  await exited(child);
  throw new Error(`redis-server did not accept connections on port ${port} within 10 s`);
}

/**
 * Starts redis-server on a free loopback port (`--save '' --appendonly no`) and resolves once it
 * answers PING; tries another port if the chosen one was taken meanwhile.
 */
export async function startRedisServer(): Promise<RedisServer> {
  if (!redisServerInstalled()) throw new Error(REDIS_SERVER_MISSING);
  const dir = tempDir('redis');
  let child: ChildProcess | undefined;
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3 && child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir.path);
    } catch (error) {
      lastError = error;
    }
  }
  if (child === undefined) {
    dir.remove();
    throw lastError;
  }
  const server = child;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill('SIGTERM');
        const timer = setTimeout(() => server.kill('SIGKILL'), 2_000);
        await exited(server);
        clearTimeout(timer);
      }
      dir.remove();
    },
  };
}
