/** Anything with a wall-clock start and end. */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

interface Event {
  readonly at: number;
  readonly delta: 1 | -1;
}

function events(intervals: readonly Interval[]): Event[] {
  const list: Event[] = [];
  for (const { start, end } of intervals) list.push({ at: start, delta: 1 }, { at: end, delta: -1 });
  // At equal times an end comes before a start: back-to-back runs are not concurrent.
  return list.sort((a, b) => a.at - b.at || a.delta - b.delta);
}

/** The most intervals open at once: a sweep over start (+1) and end (-1) events. */
export function maxConcurrency(intervals: readonly Interval[]): number {
  let open = 0;
  let max = 0;
  for (const event of events(intervals)) {
    open += event.delta;
    if (open > max) max = open;
  }
  return max;
}

/** The count of open intervals after each event, as (seconds since `t0`, count) points. */
export function concurrencySteps(intervals: readonly Interval[], t0: number, until: number): Array<{ t: number; n: number }> {
  const points = [{ t: 0, n: 0 }];
  let open = 0;
  for (const event of events(intervals)) {
    open += event.delta;
    points.push({ t: (event.at - t0) / 1000, n: open });
  }
  points.push({ t: Math.max((until - t0) / 1000, points[points.length - 1]!.t), n: open });
  return points;
}
