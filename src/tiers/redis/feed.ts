/*
 * The change feed of the Redis tier: every machine follows the change stream (XREAD BLOCK on a
 * connection of its own) and drops the local copies that others replaced. Unlike pub/sub, a
 * stream remembers: a process that reconnects, or a machine whose processes were all stopped,
 * resumes from the last record it applied (kept in the machine's LMDB file as a checkpoint) and
 * replays what it missed. If what it missed is no longer in the stream (trimmed past
 * `changeStreamLength`, or Redis lost its data), it drops every local copy instead. Either way no
 * gap is forgotten.
 *
 * The checkpoint is written after the drops it covers were queued on the same LMDB file, so it
 * never claims a change whose drop was not committed first. A file that never had a checkpoint
 * starts from the stream's end: whatever it held from before it was first used with this Redis
 * is not known to be stale.
 */
import type { Redis } from 'ioredis';
import type { Checkpoints, Invalidation } from '../../core/tier.js';

/**
 * What the feed needs from its tier.
 *
 * @example
 * ```ts
 * const feed = new ChangeFeed({ stream: 'herdcache:x', origin, checkpoint: 'redis:herdcache:', checkpoints: () => host.checkpoints, deliver, report });
 * ```
 */
export interface FeedOptions {
  readonly stream: string;
  /** This tier's own id: its own records are skipped. */
  readonly origin: string;
  /** Name of the checkpoint in the machine tier. */
  readonly checkpoint: string;
  readonly checkpoints: () => Checkpoints | undefined;
  deliver(change: Invalidation): void;
  report(operation: string, error: unknown): void;
}

/** Records per XREAD, and how long one waits for news, ms. */
const BATCH = 512;
const BLOCK_MS = 1_000;

/** Compares two stream ids (`<ms>-<seq>`). */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

/**
 * Follows the change stream; see the top of this file.
 *
 * @example
 * ```ts
 * connection.on('ready', () => void feed.follow(connection, () => connection === current));
 * ```
 */
export class ChangeFeed {
  private lastId: string | undefined;
  /** True while following (caught up and reading). */
  following = false;

  constructor(private readonly options: FeedOptions) {}

  /** Catches up, then reads until `current()` says this connection is no longer the feed's. */
  async follow(connection: Redis, current: () => boolean, onState: () => void): Promise<void> {
    try {
      await this.catchUp(connection);
      // Replay what was missed before saying so: once following, the drops of every change made
      // while away have committed (the checkpoint is queued after them on the same file).
      for (;;) {
        const backlog = await this.next(connection, undefined);
        if (backlog === null || !current()) break;
      }
      await this.save();
    } catch (error) {
      if (current()) this.options.report('feed', error);
      return;
    }
    if (!current()) return;
    this.following = true;
    onState();
    try {
      while (current()) {
        const reply = await this.next(connection, BLOCK_MS);
        if (reply !== null) void this.save();
      }
    } catch (error) {
      // The connection went away: its 'ready' follows again from lastId.
      if (current()) this.options.report('feed', error);
    } finally {
      this.following = false;
      onState();
    }
  }

  /** Reads and applies the next records (waiting up to `block` ms for some); null if there were none. */
  private async next(connection: Redis, block: number | undefined): Promise<number | null> {
    const args: Array<string | number> = block === undefined ? ['COUNT', BATCH] : ['COUNT', BATCH, 'BLOCK', block];
    const reply = (await connection.xread(...(args as ['COUNT', number]), 'STREAMS', this.options.stream, this.lastId ?? '0-0')) as Array<[string, Array<[string, string[]]>]> | null;
    if (reply === null) return null;
    let applied = 0;
    for (const [, records] of reply) for (const [id, fields] of records) (this.apply(id, fields), applied++);
    return applied === 0 ? null : applied;
  }

  private async catchUp(connection: Redis): Promise<void> {
    const saved = this.lastId ?? this.options.checkpoints()?.get(this.options.checkpoint);
    const info = await streamInfo(connection, this.options.stream);
    const end = info?.lastGenerated ?? '0-0';
    if (saved !== undefined && missedRecordsAreGone(saved, info)) {
      // Everything up to the stream's end is covered by dropping every local copy.
      this.options.deliver({ prefix: '' });
      this.lastId = end;
    } else {
      this.lastId = saved ?? end;
    }
  }

  private apply(id: string, fields: string[]): void {
    this.lastId = id;
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
    if (record['o'] === this.options.origin) return;
    const version = Number(record['v']);
    const extra = { ...(record['s'] ? { site: record['s'] } : {}), ...(Number.isFinite(version) ? { version } : {}) };
    if (record['k'] !== undefined) this.options.deliver({ key: record['k'], ...extra });
    else if (record['p'] !== undefined) this.options.deliver({ prefix: record['p'], ...extra });
  }

  private async save(): Promise<void> {
    const checkpoints = this.options.checkpoints();
    const id = this.lastId;
    if (checkpoints === undefined || id === undefined) return;
    try {
      await checkpoints.put(this.options.checkpoint, id);
    } catch (error) {
      this.options.report('checkpoint', error);
    }
  }
}

/** What XINFO STREAM says of the stream (undefined: there is none). */
interface StreamInfo {
  readonly lastGenerated: string;
  /** The oldest record still held; undefined when it holds none. */
  readonly firstId: string | undefined;
  readonly length: number;
  /** Records ever added (Redis 7 and later). */
  readonly entriesAdded: number | undefined;
}

/**
 * Whether records after `saved` (the last record applied, or the stream's end when it was last
 * followed) may have left the stream. Trimming removes the oldest records first and nothing else
 * deletes them, so records after `saved` are all still there exactly when `saved` itself is (or
 * nothing came after it). Redis 7's `max-deleted-entry-id` counts XDEL only, not trimming, so it
 * cannot tell. When `saved` itself was trimmed but nothing after it, this still says gone: a
 * needless drop costs misses, a missed one would serve stale values.
 */
export function missedRecordsAreGone(saved: string, info: StreamInfo | undefined): boolean {
  if (info === undefined) return saved !== '0-0';
  if (compareStreamIds(info.lastGenerated, saved) < 0) return true; // the stream started over
  if (compareStreamIds(info.lastGenerated, saved) === 0) return false;
  if (saved === '0-0') return info.entriesAdded === undefined || info.entriesAdded > info.length;
  return info.firstId === undefined || compareStreamIds(info.firstId, saved) > 0;
}

async function streamInfo(connection: Redis, stream: string): Promise<StreamInfo | undefined> {
  let reply: unknown;
  try {
    reply = await connection.xinfo('STREAM', stream);
  } catch (error) {
    if (error instanceof Error && /no such key/i.test(error.message)) return undefined;
    throw error;
  }
  const flat = Array.isArray(reply) ? reply : [];
  const field = (name: string): unknown => {
    const at = flat.indexOf(name);
    return at < 0 ? undefined : flat[at + 1];
  };
  const first = field('first-entry');
  const added = field('entries-added');
  return {
    lastGenerated: String(field('last-generated-id') ?? '0-0'),
    firstId: Array.isArray(first) && typeof first[0] === 'string' ? first[0] : undefined,
    length: Number(field('length') ?? 0),
    entriesAdded: typeof added === 'number' ? added : undefined,
  };
}
