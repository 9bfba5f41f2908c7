import type { Invalidation } from '../../core/tier.js';

/**
 * One message on the invalidation channel: who sent it (`o`, a tier instance), the sender's
 * machine storage (`s`, its site id, when it has one) and what changed, a storage key (`k`) or
 * every key under a prefix (`p`); or the storage key whose lease was just released (`r`), which
 * changes no value. Never a value: values stay in Redis.
 *
 * @example
 * ```ts
 * const message: BusMessage = { o: 'Zq3x9Lk2', s: '2kx9a1', k: '0::user:1' };
 * ```
 */
export type BusMessage = { readonly o: string; readonly s?: string } & ({ readonly k: string } | { readonly p: string } | { readonly r: string });

/**
 * What a message from the channel says: a change, or a released lease.
 *
 * @example
 * ```ts
 * const heard: BusNews = { origin: 'a', released: '0::k' };
 * ```
 */
export type BusNews = { readonly origin: string } & ({ readonly change: Invalidation } | { readonly released: string });

/**
 * Encodes a change for the invalidation channel.
 *
 * @example
 * ```ts
 * encodeBusMessage('Zq3x9Lk2', undefined, { key: '0::user:1' }); // '{"o":"Zq3x9Lk2","k":"0::user:1"}'
 * ```
 */
export function encodeBusMessage(origin: string, site: string | undefined, change: Invalidation): string {
  const what = 'key' in change ? { k: change.key } : { p: change.prefix };
  return JSON.stringify(site === undefined ? { o: origin, ...what } : { o: origin, s: site, ...what });
}

/**
 * Encodes the release of a lease for the invalidation channel: the callers waiting on it
 * elsewhere look again at once.
 *
 * @example
 * ```ts
 * encodeReleaseMessage('Zq3x9Lk2', '0::user:1'); // '{"o":"Zq3x9Lk2","r":"0::user:1"}'
 * ```
 */
export function encodeReleaseMessage(origin: string, key: string): string {
  return JSON.stringify({ o: origin, r: key });
}

/**
 * Decodes a message from the invalidation channel; anything malformed (another program
 * publishing on the channel) gives undefined and is ignored.
 *
 * @example
 * ```ts
 * decodeBusMessage('{"o":"a","p":"0::"}'); // { origin: 'a', change: { prefix: '0::' } }
 * decodeBusMessage('{"o":"a","s":"b","k":"0::x"}'); // { origin: 'a', change: { key: '0::x', site: 'b' } }
 * decodeBusMessage('{"o":"a","r":"0::x"}');        // { origin: 'a', released: '0::x' }
 * decodeBusMessage('hello');               // undefined
 * ```
 */
export function decodeBusMessage(message: string): BusNews | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { o, s, k, p, r } = parsed as Record<string, unknown>;
  if (typeof o !== 'string' || (s !== undefined && typeof s !== 'string')) return undefined;
  const site = s === undefined ? {} : { site: s };
  if (typeof k === 'string') return { origin: o, change: { key: k, ...site } };
  if (typeof p === 'string') return { origin: o, change: { prefix: p, ...site } };
  if (typeof r === 'string') return { origin: o, released: r };
  return undefined;
}

/**
 * Tells a read whether its key was changed while the read was in flight.
 *
 * A GET answered on the command connection and an invalidation delivered on the subscriber
 * connection race: the invalidation of a key may be handled first, then the older value
 * arrives and would be copied into the local tiers after the drop, staying stale there until its
 * ttl. A read that overlapped a change of its key is therefore read again. Only changes seen
 * while reads are in flight are remembered, so the memory used is bounded by the overlap.
 *
 * @example
 * ```ts
 * const guard = new ReadGuard();
 * const started = guard.begin();
 * const reply = await redis.getBuffer(key);
 * if (guard.end(key, started)) { // changed meanwhile: read again
 * }
 * ```
 */
export class ReadGuard {
  private inFlight = 0;
  private seq = 0;
  private readonly keys = new Map<string, number>();
  private prefixes: Array<{ readonly prefix: string; readonly seq: number }> = [];

  /** Marks a read as started; pass the returned mark to {@link end}. */
  begin(): number {
    this.inFlight++;
    return this.seq;
  }

  /** Marks the read as finished; true if its key changed since `begin` returned `mark`. */
  end(key: string, mark: number): boolean {
    const keySeq = this.keys.get(key);
    const changed = (keySeq !== undefined && keySeq > mark) || this.prefixes.some((p) => p.seq > mark && key.startsWith(p.prefix));
    if (--this.inFlight === 0) {
      this.keys.clear();
      this.prefixes = [];
    }
    return changed;
  }

  /** A change happened (a message from elsewhere, or a write of this tier). */
  changed(change: Invalidation): void {
    if (this.inFlight === 0) return;
    this.seq++;
    if ('key' in change) this.keys.set(change.key, this.seq);
    else this.prefixes.push({ prefix: change.prefix, seq: this.seq });
  }
}
