// A checker over whole recorded histories of single-key registers (a register is one key of one
// namespace), in the manner of Jepsen's Elle: it does not replay a model, it looks for
// operations that no correct execution within the README's bounds could have produced.
//
// Every written value is unique, so a read names its writer. Times are CLOCK_MONOTONIC readings
// in ms (process.hrtime), taken in the worker right before the call and right after it settled:
// CLOCK_MONOTONIC is one clock for every process of a host, so times of different processes
// compare. Machines of the Redis mode run on one host too.

/** Operations of the public API that a history records. */
export type OpKind = 'set' | 'delete' | 'clear' | 'compute' | 'get' | 'getSync';

/** One operation, as the worker that ran it reported it. */
export interface OpRecord {
  /** Unique in the history, e.g. `p1#17`. */
  readonly id: string;
  /** The process (one incarnation: a replacement after a kill has another name). */
  readonly process: string;
  /** Which LMDB file the process used: processes of one machine share it. */
  readonly machine: string;
  readonly op: OpKind;
  readonly namespace: string;
  /** Absent for clear. */
  readonly key?: string | undefined;
  /** set: the value written. get/getSync/compute: the value returned (undefined: a miss, or not completed). */
  readonly value?: string | undefined;
  /** compute: the returned value was produced by this call's own fn (it missed and computed). */
  readonly own?: boolean | undefined;
  /** compute: what its fn returns if it runs, known at invocation: a compute killed after its fn began may have stored it. */
  readonly fnValue?: string | undefined;
  readonly invokedAt: number;
  /** Undefined if the process was killed before the operation settled. */
  readonly completedAt?: number | undefined;
  /** compute: when its fn began, if it ran. */
  readonly fnStartedAt?: number | undefined;
  /** Settled without an error. Undefined while not completed. */
  readonly ok?: boolean | undefined;
  /** The error's code (or name) when it rejected. */
  readonly error?: string | undefined;
  /** Operations left unsettled by a SIGKILL: when the parent sent it. */
  readonly killedAt?: number | undefined;
}

/** How long a change may take to be seen, ms. */
export interface CheckBounds {
  /** Writer, change and reader all on one LMDB file. */
  readonly sameMachine: number;
  /** Any two of them on different machines. */
  readonly crossMachine: number;
  /**
   * Only for the "interesting" count: a read invoked within this long after a change's bound
   * ran out, ms. Default: that bound again.
   */
  readonly window?: number;
}

export type CheckName = 'thin-air' | 'stale-read' | 'lost-write';

/** One thing no correct execution could have done. */
export interface Violation {
  readonly check: CheckName;
  /** The read that returned what it should not have. */
  readonly read: OpRecord;
  /** The operation that wrote the value read (stale-read), or that should have been read (lost-write). */
  readonly writer?: OpRecord | undefined;
  /** The completed change that replaced the value (stale-read). */
  readonly cause?: OpRecord | undefined;
  readonly explanation: string;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  /** Operations in the history. */
  readonly operations: number;
  /** Reads that completed with an answer (get, getSync, computes). */
  readonly reads: number;
  /** Reads some check constrained: a stale value they had to not return, or a value they had to return. */
  readonly interestingReads: number;
  /** Of those, constrained by the stale-read check (near a change) and by the lost-write check. */
  readonly constrained: { readonly stale: number; readonly lost: number };
}

const WRITES: ReadonlySet<OpKind> = new Set<OpKind>(['set', 'delete', 'clear', 'compute']);

function isRead(op: OpRecord): boolean {
  return (op.op === 'get' || op.op === 'getSync' || op.op === 'compute') && op.ok === true && op.completedAt !== undefined;
}

/** What a completed read saw: a compute that ran its own fn found nothing to return. */
function seen(read: OpRecord): string | undefined {
  return read.op === 'compute' && read.own === true ? undefined : read.value;
}

function registerOf(namespace: string, key: string): string {
  return `${namespace}\u0000${key}`;
}

function sameMachine(...ops: readonly OpRecord[]): boolean {
  return ops.every((op) => op.machine === ops[0]?.machine);
}

/** A change that replaces whatever the register held once it completed ok. */
function replaces(change: OpRecord, read: OpRecord): boolean {
  if (change.ok !== true || change.completedAt === undefined) return false;
  if (change.op === 'clear') return change.namespace === read.namespace;
  if (change.namespace !== read.namespace || change.key !== read.key) return false;
  return change.op === 'delete' || (change.op === 'set' && change.value !== seen(read));
}

/**
 * W is "before" D: nothing W left may outlive D. A set that completed before D began was
 * replaced by D; a compute whose fn began before D must never be stored after D (D wins), and if
 * it was stored before, D replaced it.
 */
function before(writer: OpRecord, change: OpRecord): boolean {
  if (writer.op === 'set') return writer.completedAt !== undefined && writer.completedAt < change.invokedAt;
  return writer.op === 'compute' && writer.fnStartedAt !== undefined && writer.fnStartedAt < change.invokedAt;
}

/**
 * Until when an operation's effect may still land. A killed one: LMDB commits die with the
 * process, a command already sent to Redis runs at once; what it published travels within the
 * cross-machine bound.
 */
function effectEnd(op: OpRecord, bounds: CheckBounds): number {
  if (op.completedAt !== undefined) return op.completedAt;
  if (op.killedAt !== undefined) return op.killedAt + bounds.crossMachine;
  return Number.POSITIVE_INFINITY;
}

/**
 * Formats one operation for a report, times relative to `origin` (the history's first invocation).
 */
export function formatOp(op: OpRecord, origin: number): string {
  const t = (ms: number | undefined): string => (ms === undefined ? '?' : (ms - origin).toFixed(1));
  const target = op.op === 'clear' ? `${op.namespace}/*` : `${op.namespace}/${op.key ?? '?'}`;
  let what: string;
  switch (op.op) {
    case 'set':
      what = `set ${target} = ${JSON.stringify(op.value)}`;
      break;
    case 'compute': {
      const result = op.completedAt === undefined ? '' : op.own === true ? ` -> ${JSON.stringify(op.value)} (its own fn)` : ` -> ${JSON.stringify(op.value)} (cached)`;
      const fn = op.fnStartedAt === undefined ? ', fn did not run' : `, fn began ${t(op.fnStartedAt)}`;
      what = `compute ${target} [fn value ${JSON.stringify(op.fnValue)}${op.completedAt === undefined && op.fnStartedAt === undefined ? ', fn not seen to start' : fn}]${result}`;
      break;
    }
    case 'get':
    case 'getSync':
      what = `${op.op} ${target}${op.completedAt === undefined ? '' : ` -> ${op.value === undefined ? 'undefined' : JSON.stringify(op.value)}`}`;
      break;
    default:
      what = `${op.op} ${target}`;
  }
  const outcome = op.completedAt === undefined ? `never completed (killed at ${t(op.killedAt)})` : op.ok === true ? 'ok' : `failed ${op.error ?? ''}`;
  return `${op.id} on ${op.machine}: ${what}, invoked ${t(op.invokedAt)} completed ${t(op.completedAt)} ms, ${outcome}`;
}

/** Formats a violation over several lines. */
export function formatViolation(v: Violation, origin: number): string {
  const lines = [`[${v.check}] ${v.explanation}`, `  read:   ${formatOp(v.read, origin)}`];
  if (v.writer !== undefined) lines.push(`  writer: ${formatOp(v.writer, origin)}`);
  if (v.cause !== undefined) lines.push(`  change: ${formatOp(v.cause, origin)}`);
  return lines.join('\n');
}

/** The earliest invocation: the origin of the relative times in reports. */
export function historyOrigin(history: readonly OpRecord[]): number {
  let origin = Number.POSITIVE_INFINITY;
  for (const op of history) origin = Math.min(origin, op.invokedAt);
  return Number.isFinite(origin) ? origin : 0;
}

/**
 * Checks a history against the README's consistency rules:
 *
 * a. no value from thin air: a read of x needs a write of x (a set of x, or a compute whose own
 *    fn produced x) of the same register, invoked before the read completed;
 * b. no stale read beyond the bound: a read of x written by W is a violation if some D (a set of
 *    another value, a delete, or a clear of the namespace, completed ok) has
 *    D.completedAt + bound < R.invokedAt while W was before D;
 * c. no lost committed write: a set W of x that completed ok, with no other write of the register
 *    (set, delete, clear, compute) overlapping W or invoked between W and a read R invoked more
 *    than the bound after W completed, must be what R returns;
 * d. a miss is checked by (c) only.
 *
 * `getSync` reads memory and LMDB only, never Redis, so (c) holds it to writes of its own
 * machine, and counts a change made on another machine as overlapping until its invalidation
 * could have arrived (it drops this machine's copies, newer or not). Pure: the same history
 * gives the same answer.
 */
export function checkHistory(history: readonly OpRecord[], bounds: CheckBounds): CheckResult {
  const origin = historyOrigin(history);
  const t = (ms: number): string => (ms - origin).toFixed(1);
  const violations: Violation[] = [];
  const writersOf = new Map<string, OpRecord>();
  const writesOf = new Map<string, OpRecord[]>();
  const clearsOf = new Map<string, OpRecord[]>();
  for (const op of history) {
    if (op.op === 'set' && op.value !== undefined) writersOf.set(op.value, op);
    if (op.op === 'compute' && op.fnValue !== undefined && op.fnStartedAt !== undefined) writersOf.set(op.fnValue, op);
    if (op.op === 'clear') {
      const list = clearsOf.get(op.namespace) ?? [];
      list.push(op);
      clearsOf.set(op.namespace, list);
    } else if (WRITES.has(op.op) && op.key !== undefined) {
      const register = registerOf(op.namespace, op.key);
      const list = writesOf.get(register) ?? [];
      list.push(op);
      writesOf.set(register, list);
    }
  }
  const changesOf = (read: OpRecord): OpRecord[] => [...(writesOf.get(registerOf(read.namespace, read.key ?? '')) ?? []), ...(clearsOf.get(read.namespace) ?? [])];

  let reads = 0;
  let constrainedStale = 0;
  let constrainedLost = 0;
  let interesting = 0;
  for (const read of history) {
    if (!isRead(read) || read.key === undefined) continue;
    reads++;
    const readAt = read.invokedAt;
    const value = seen(read);
    const changes = changesOf(read);
    let stale = false;
    let lost = false;

    if (value !== undefined) {
      // (a) thin air
      const writer = writersOf.get(value);
      const where = `${read.namespace}/${read.key}`;
      if (writer === undefined || writer.namespace !== read.namespace || writer.key !== read.key) {
        violations.push({
          check: 'thin-air',
          read,
          writer,
          explanation:
            writer === undefined
              ? `${read.id} read ${JSON.stringify(value)} from ${where}, a value nobody wrote`
              : `${read.id} read ${JSON.stringify(value)} from ${where}, but ${writer.id} wrote it to ${writer.namespace}/${writer.key ?? '*'}`,
        });
      } else if (!(writer.invokedAt < read.completedAt!)) {
        violations.push({
          check: 'thin-air',
          read,
          writer,
          explanation: `${read.id} read ${JSON.stringify(value)} from ${where} at ${t(read.completedAt!)} ms, before ${writer.id} that writes it was invoked (${t(writer.invokedAt)} ms)`,
        });
      } else {
        // (b) stale beyond the bound: report the change that has been complete the longest.
        let worst: { change: OpRecord; bound: number; late: number } | undefined;
        for (const change of changes) {
          if (change === writer || !replaces(change, read)) continue;
          const bound = sameMachine(writer, change, read) ? bounds.sameMachine : bounds.crossMachine;
          const late = readAt - (change.completedAt! + bound);
          if (late > 0 && before(writer, change) && (worst === undefined || late > worst.late)) worst = { change, bound, late };
        }
        if (worst !== undefined) {
          const { change, bound } = worst;
          const why =
            writer.op === 'set'
              ? `${writer.id}'s set completed at ${t(writer.completedAt!)} ms, before ${change.id} (${change.op}) was invoked at ${t(change.invokedAt)} ms`
              : `${writer.id}'s fn began at ${t(writer.fnStartedAt!)} ms, before ${change.id} (${change.op}) was invoked at ${t(change.invokedAt)} ms, so its result must never be stored over that ${change.op}`;
          violations.push({
            check: 'stale-read',
            read,
            writer,
            cause: change,
            explanation: `${read.id} read ${JSON.stringify(value)} from ${where} at ${t(readAt)} ms, ${(readAt - change.completedAt!).toFixed(1)} ms after ${change.id} (${change.op}) completed (bound ${bound} ms); ${why}`,
          });
        }
      }
    }

    // How many reads (b) constrained near a change: some other value written before a change
    // that had completed, within the window after its bound, could no longer be returned.
    for (const change of changes) {
      if (change.op === 'compute' || change.ok !== true || change.completedAt === undefined) continue;
      const bound = change.machine === read.machine ? bounds.sameMachine : bounds.crossMachine;
      const window = bounds.window ?? bound;
      const after = readAt - (change.completedAt! + bound);
      if (after <= 0 || after > window) continue;
      const ruledOut = changes.some((w) => (w.op === 'set' || w.op === 'compute') && w !== change && (w.op === 'set' ? w.value : w.fnValue) !== value && before(w, change));
      if (ruledOut) {
        stale = true;
        break;
      }
    }

    // (c) lost write: the last write-like operation invoked before the read must be a set that
    // completed ok, that nothing else overlapped, and whose bound ran out before the read.
    let last: OpRecord | undefined;
    for (const change of changes) {
      if (change.invokedAt < readAt && (last === undefined || change.invokedAt > last.invokedAt)) last = change;
    }
    if (last !== undefined && last.op === 'set' && last.ok === true && last.completedAt !== undefined && last.value !== undefined) {
      const writer = last;
      const bound = sameMachine(writer, read) ? bounds.sameMachine : bounds.crossMachine;
      // A change made on another machine reaches this one up to the cross-machine bound after it
      // completed, and drops this machine's copies even if they are newer: then a get reads
      // Redis again, but a getSync finds nothing.
      const lateDrop = (other: OpRecord): number => (read.op === 'getSync' && other.machine !== read.machine ? bounds.crossMachine : 0);
      const overlapped = changes.some((other) => other !== writer && other.invokedAt < readAt && effectEnd(other, bounds) + lateDrop(other) > writer.invokedAt);
      const applies = readAt > writer.completedAt! + bound && !overlapped && (read.op !== 'getSync' || writer.machine === read.machine);
      if (applies) {
        lost = true;
        if (value !== writer.value) {
          const got = read.op === 'compute' && read.own === true ? `missed (its fn ran and returned ${JSON.stringify(read.value)})` : `returned ${value === undefined ? 'undefined' : JSON.stringify(value)}`;
          violations.push({
            check: 'lost-write',
            read,
            writer,
            explanation: `${read.id} ${got} for ${read.namespace}/${read.key} at ${t(readAt)} ms, but ${writer.id} set ${JSON.stringify(writer.value)} and completed at ${t(writer.completedAt!)} ms (bound ${bound} ms), with no other write of the key overlapping it or since`,
          });
        }
      }
    }

    if (stale) constrainedStale++;
    if (lost) constrainedLost++;
    if (stale || lost) interesting++;
  }

  return {
    ok: violations.length === 0,
    violations,
    operations: history.length,
    reads,
    interestingReads: interesting,
    constrained: { stale: constrainedStale, lost: constrainedLost },
  };
}
