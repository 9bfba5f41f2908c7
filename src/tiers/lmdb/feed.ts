/*
 * The LMDB change feed: how one process hears of the changes other processes commit to the file.
 *
 * Every write transaction appends a record to the file's change log (see versions.ts): a set or
 * delete names its key, a clear its prefix, each with the writer's instance id; a released lease
 * is logged in the coordination file (coordination.ts), followed the same way. A follower keeps
 * a cursor in the log, the last record it read. Each poll renews its read snapshot (another
 * process's commit is visible only after that) and reads the records after its cursor, skipping
 * its own. The sweep trims the log's oldest records and writes how far it trimmed: a follower
 * whose cursor lies below that point missed changes it can never read, so it drops every copy
 * (a change of prefix '') and goes on from there; so does one that finds more than
 * MAX_POLL_RECORDS waiting, which it could not read without stalling its event loop. The poll
 * interval (`syncInterval`) bounds how long a memory copy may outlive a change made by another
 * process.
 */
import { Listeners } from '../../core/listeners.js';
import type { Invalidation } from '../../core/tier.js';
import type { LmdbEnvironment } from './env.js';
import { releaseVersion } from './coordination.js';
import { currentVersion } from './versions.js';

/** Records one poll reads at most; a follower further behind drops every copy instead. */
export const MAX_POLL_RECORDS = 5_000;

/**
 * Follows the change log of one environment for one tier instance, and hands what it reads to the
 * tier's listeners.
 *
 * @example
 * ```ts
 * const feed = new ChangeFeed(instance, (error) => report(error));
 * feed.start(env);
 * setInterval(() => feed.poll(env), syncInterval);
 * ```
 */
export class ChangeFeed {
  readonly changes = new Listeners<Invalidation>();
  readonly releases = new Listeners<string>();
  private cursor = 0;
  /** Where this follower is in the coordination file's log of released leases (once it is open). */
  private releaseCursor: number | undefined;

  constructor(private readonly instance: string, private readonly onError: (error: unknown) => void) {}

  /** Starts after everything committed so far: what the file holds now is read as it is. */
  start(env: LmdbEnvironment): void {
    this.cursor = currentVersion(env);
    this.pollReleases(env);
  }

  /** Reads the changes committed since the last poll by other instances and delivers them. */
  poll(env: LmdbEnvironment): void {
    try {
      env.root.resetReadTxn();
      const trimmed = env.meta.get('trimmed') ?? 0;
      const latest = currentVersion(env);
      // Changes this process never saw were trimmed away, or so many came at once that reading
      // them would hold the event loop: dropping every copy covers them all, in one call.
      const skipTo = latest - this.cursor > MAX_POLL_RECORDS ? latest : trimmed > this.cursor ? trimmed : undefined;
      if (skipTo !== undefined) {
        this.changes.emit({ prefix: '' }, this.onError);
        this.cursor = skipTo;
      }
      for (const { key, value } of env.log.getRange({ start: this.cursor + 1 })) {
        this.cursor = key;
        if (value.o === this.instance) continue;
        this.changes.emit(value.k !== undefined ? { key: value.k } : { prefix: value.p ?? '' }, this.onError);
      }
    } catch (error) {
      this.onError(error);
    }
    this.pollReleases(env);
  }

  /**
   * The leases other processes released since the last poll: a wake-up for their waiters, who
   * otherwise look again at their next pause, so a follower that cannot read them (no
   * coordination file yet, or far behind) skips them.
   */
  private pollReleases(env: LmdbEnvironment): void {
    const coordination = env.coordination.tryGet();
    if (coordination === undefined) return;
    try {
      coordination.root.resetReadTxn();
      const latest = releaseVersion(coordination);
      const cursor = this.releaseCursor;
      this.releaseCursor = latest;
      if (cursor === undefined || cursor > latest || latest - cursor > MAX_POLL_RECORDS) return;
      for (const { value } of coordination.releases.getRange({ start: cursor + 1, end: latest + 1 })) {
        if (value.o !== this.instance && value.r !== undefined) this.releases.emit(value.r, this.onError);
      }
    } catch (error) {
      this.onError(error);
    }
  }
}
