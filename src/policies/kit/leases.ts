/*
 * Leases within one call: re-entrant, so that stages can nest.
 *
 * The host grants a key's compute lease to whoever asks first (`host.tryLease`). Stages of one
 * pipeline may each want it for the same call: serveStale takes it when the cache is cold, so that
 * every process knows someone computes, and barrier, inside it, takes it before computing. Asked
 * of the host twice, the second request would wait for the first: the call would wait for itself.
 * So a lease taken here is recorded against the call, and a later request of the same call borrows
 * it; a borrow is given back by a release that leaves the lease held, and only the taker's own
 * release returns it to the host.
 *
 * The records are weak maps keyed by the call and the lease: they need no registry per cache,
 * every policy of every cache shares them, and they vanish with the call. A user's policy that
 * takes its leases here nests with the built-ins exactly as they nest with each other.
 */
import type { ComputeCall, PolicyHost } from '../../core/policy.js';
import type { Lease } from '../../core/tier.js';

const heldBy = new WeakMap<ComputeCall, Lease>();
const takerOf = new WeakMap<Lease, ComputeCall>();
const borrows = new WeakMap<Lease, number>();

/**
 * Takes the key's compute lease for this call, or lends the one the call already holds (an outer
 * stage took it). Resolves undefined if another caller holds it.
 *
 * @example
 * ```ts
 * const lease = await takeLease(host, call, 10_000);
 * if (lease !== undefined) try { return await next(); } finally { await giveLease(host, lease); }
 * ```
 */
export async function takeLease(host: PolicyHost, call: ComputeCall, ttl: number): Promise<Lease | undefined> {
  const mine = heldBy.get(call);
  if (mine !== undefined) {
    borrows.set(mine, (borrows.get(mine) ?? 0) + 1);
    return mine;
  }
  const lease = await host.tryLease(call, ttl);
  if (lease === undefined) return undefined;
  heldBy.set(call, lease);
  takerOf.set(lease, call);
  return lease;
}

/**
 * Whether this call holds its key's lease already, so that {@link takeLease} would lend it.
 *
 * @example
 * ```ts
 * if (holdsLease(call)) return next(); // an outer stage guards this compute
 * ```
 */
export function holdsLease(call: ComputeCall): boolean {
  return heldBy.has(call);
}

/**
 * Gives back a lease from {@link takeLease}: ends a borrow, or releases the lease for good when
 * its taker gives it back. Never rejects: a lease that cannot be released expires by itself.
 *
 * @example
 * ```ts
 * try { return await next(); } finally { await giveLease(host, lease); }
 * ```
 */
export async function giveLease(host: PolicyHost, lease: Lease): Promise<void> {
  const lent = borrows.get(lease);
  if (lent !== undefined) {
    if (lent <= 1) borrows.delete(lease);
    else borrows.set(lease, lent - 1);
    return;
  }
  const call = takerOf.get(lease);
  if (call !== undefined && heldBy.get(call) === lease) heldBy.delete(call);
  takerOf.delete(lease);
  await host.releaseLease(lease);
}
