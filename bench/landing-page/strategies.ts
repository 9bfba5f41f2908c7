/** The strategies of the landing-page case study, in report order. */
export const STRATEGIES = [
  'none',
  'ttl',
  'barrier',
  'xfetch-1',
  'xfetch-0.5',
  'xfetch-0.3',
  'stale-barrier',
  'flagship',
  'lru-cache',
  'bentocache',
  'cache-manager',
] as const;

/** The short run of `npm run demo`: the problem, the baseline, the answer. */
export const DEMO_STRATEGIES = ['none', 'ttl', 'flagship'] as const;
