#!/usr/bin/env node
// Estimates the mutation score of src/core, src/policies and src/tiers from a uniform random
// sample of each group's mutants, because testing all of them (about 5,400) takes many hours on
// two cores. Random mutant sampling is an established way to estimate a score; the estimate
// comes with a 95% Wilson interval, so a reader can see how far it may be from the full score.
//
// How only the sampled mutants run: StrykerJS selects mutants by file and line range, and a range
// also takes every mutant nested inside (a function body's BlockStatement brings all of its body),
// so ranges would test four to five times the sample. Instead each sampled file is annotated
// with Stryker's own directives: `// Stryker disable all` on top, and right before each sampled
// mutant `/* Stryker restore next-line <mutators> */`. Everything else becomes Ignored and is never
// run. The annotations are comments, so behaviour is unchanged. The compiled files are annotated in
// place and restored afterwards, even when the run fails.
//
// Usage: node scripts/mutation-sample.mjs [--per-group 100] [--seed 20261201] [--groups core,policies,tiers]
//   [--timeout ms] [--resume] [--retest Survived,NoCoverage] [--out reports/mutation-sample]
// (after `npm run build:all`). Writes <out>/summary.md and <out>/sample.json. With --check the
// sample runs against a test command that does nothing: every mutant survives in seconds, which
// shows that the annotations select exactly the sample.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1] : fallback;
};
const perGroup = Number(option('per-group', '100'));
const seed = Number(option('seed', '20261201'));
const out = option('out', 'reports/mutation-sample');
const check = args.includes('--check');
const groups = ['core', 'policies', 'tiers'];
/** Which groups to run (all by default), e.g. `--groups policies,core`. */
const only = option('groups', groups.join(',')).split(',');
const resume = args.includes('--resume');
const retest = option('retest', '').split(',').filter(Boolean);
/** Stryker's timeoutMS for this run (the config's otherwise). */
const timeoutMs = option('timeout', undefined) === undefined ? undefined : Number(option('timeout', undefined));
mkdirSync(out, { recursive: true });

/** Largest file any test may write under mutation, KiB (bash's ulimit -f unit): 8 GiB. */
const FILE_SIZE_LIMIT_KIB = 8 * 1024 * 1024;

function stryker(config, name) {
  const file = join(out, `${name}.config.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  // A mutant can make a tier grow its file without end (a headroom or map size gone wrong): the
  // file size limit makes such a write fail, so the mutant is killed instead of filling the disk.
  const run = spawnSync('bash', ['-c', `ulimit -f ${FILE_SIZE_LIMIT_KIB} && exec npx stryker run "$0"`, file], { stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`stryker run ${file} exited with ${run.status}`);
}

/** Every mutant Stryker would make, found with a test command that does nothing (seconds). */
function listMutants() {
  const report = join(out, 'all-mutants.json');
  stryker({
    testRunner: 'command', commandRunner: { command: 'true' }, coverageAnalysis: 'off',
    mutate: groups.map((g) => `dist/src/${g}/**/*.js`), concurrency: 2, reporters: ['json'],
    jsonReporter: { fileName: report }, tempDirName: '.stryker-tmp-list', incremental: false,
  }, 'list');
  const files = JSON.parse(readFileSync(report, 'utf8')).files;
  return Object.entries(files).flatMap(([file, { mutants }]) =>
    mutants.map((m) => ({ file, group: file.split('/')[2], mutator: m.mutatorName, replacement: m.replacement, location: m.location })));
}

function random(state) {
  // mulberry32: small, seeded, uniform enough for a sample.
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample(all) {
  const next = random(seed);
  return groups.flatMap((group) => {
    const pool = all.filter((m) => m.group === group);
    for (let i = 0; i < Math.min(perGroup, pool.length); i += 1) {
      const j = i + Math.floor(next() * (pool.length - i));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, perGroup);
  });
}

/**
 * Annotates one file in place. Stryker applies a directive to the line of the node the comment
 * leads, so a block comment is put right before each sampled mutant's first character: the node
 * that starts there is on that line whatever the statement around it (a `finally` block, an
 * `else if`), which a comment on the line above would not always lead. Returns the original text
 * and, per line, where a comment went in, to map reported columns back.
 */
function annotate(file, mutants) {
  const original = readFileSync(file, 'utf8');
  const lines = original.split('\n');
  const byLine = new Map();
  for (const m of mutants) {
    const at = byLine.get(m.location.start.line) ?? { column: Infinity, names: new Set() };
    at.column = Math.min(at.column, m.location.start.column - 1);
    at.names.add(m.mutator);
    byLine.set(m.location.start.line, at);
  }
  const inserted = new Map();
  for (const [line, { column, names }] of byLine) {
    const text = lines[line - 1];
    const comment = `/* Stryker restore next-line ${[...names].join(',')} */`;
    lines[line - 1] = text.slice(0, column) + comment + text.slice(column);
    inserted.set(line, { column, length: comment.length });
  }
  writeFileSync(file, `// Stryker disable all\n${lines.join('\n')}`);
  return { original, inserted };
}

/** A position of the original file, as a 0-based range bound of the annotated one. */
function annotatedBound({ line, column }, inserted) {
  const at = inserted.get(line);
  const shift = at !== undefined && column - 1 >= at.column ? at.length : 0;
  return `${line + 1}:${column - 1 + shift}`;
}

/** A reported position in the annotated file, as a position in the original one. */
function originalPosition({ line, column }, inserted) {
  const at = inserted.get(line - 1);
  const shift = at !== undefined && column - 1 >= at.column + at.length ? at.length : 0;
  return { line: line - 1, column: column - shift };
}

function wilson(detected, total) {
  if (total === 0) return [0, 0];
  const z = 1.96, p = detected / total, d = 1 + (z * z) / total;
  const centre = (p + (z * z) / (2 * total)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / total + (z * z) / (4 * total * total))) / d;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const same = (a, b) => a.line === b.line && a.column === b.column;
// A replacement that prints its operands prints the annotation leading them too, and parentheses
// around them; mutator and exact location already single the mutant out.
const plain = (text) => text.replace(/\/\* Stryker restore next-line [A-Za-z,]+ \*\//g, '').replace(/[()]/g, '');

/** Runs Stryker on the sampled mutants of one group and says what became of each. */
function runGroup(group, chosen) {
  const files = [...new Set(chosen.map((m) => m.file))];
  const annotated = new Map();
  let results;
  try {
    for (const file of files) annotated.set(file, annotate(file, chosen.filter((m) => m.file === file)));
    const base = check
      ? { testRunner: 'command', commandRunner: { command: 'true' }, coverageAnalysis: 'off', concurrency: 2 }
      : JSON.parse(readFileSync('stryker.config.json', 'utf8'));
    delete base.$schema;
    const report = join(out, `run-${group}.json`);
    stryker({
      // The directives select by line and mutator; a range per mutant also drops the same-line
      // mutants of that mutator outside it. What is left over (another variant at the very same
      // place) runs and is not counted.
      ...base, mutate: chosen.map((m) => {
        const { inserted } = annotated.get(m.file);
        return `${m.file}:${annotatedBound(m.location.start, inserted)}-${annotatedBound(m.location.end, inserted)}`;
      }), incremental: false, reporters: ['progress', 'json'],
      ...(timeoutMs === undefined ? {} : { timeoutMS: timeoutMs }),
      jsonReporter: { fileName: report }, tempDirName: '.stryker-tmp-sample',
    }, `sample-${group}`);
    results = JSON.parse(readFileSync(report, 'utf8')).files;
  } finally {
    for (const [file, { original }] of annotated) writeFileSync(file, original);
  }
  return chosen.map((m) => {
    const { inserted } = annotated.get(m.file);
    const found = (results[m.file]?.mutants ?? []).find((r) => r.mutatorName === m.mutator && plain(r.replacement) === plain(m.replacement)
      && same(originalPosition(r.location.start, inserted), m.location.start)
      && same(originalPosition(r.location.end, inserted), m.location.end));
    // Static mutants are Ignored by the config (ignoreStatic); an Ignored one for any other reason
    // would mean its directive was lost, which must show.
    const status = found === undefined ? 'Missing'
      : found.status === 'Ignored' && !/static/i.test(found.statusReason ?? '') ? 'IgnoredByDirective' : found.status;
    return { ...m, status, reason: found?.statusReason };
  });
}

function summary(all, tested) {
  const rows = groups.filter((group) => tested.some((m) => m.group === group)).map((group) => {
    const of = tested.filter((m) => m.group === group);
    const count = (s) => of.filter((m) => m.status === s).length;
    const detected = count('Killed') + count('Timeout');
    const valid = detected + count('Survived') + count('NoCoverage');
    const [low, high] = wilson(detected, valid);
    return { group, total: all.filter((m) => m.group === group).length, sampled: of.length, killed: count('Killed'),
      timeout: count('Timeout'), survived: count('Survived'), noCoverage: count('NoCoverage'),
      ignored: count('Ignored'), other: of.length - valid - count('Ignored'), score: valid ? detected / valid : 0, low, high };
  });
  return [
    `Sampled mutation score (seed ${seed}, ${perGroup} mutants per group, ${new Date().toISOString().slice(0, 10)})`, '',
    '| group | mutants | sampled | killed | timed out | survived | not covered | static (ignored) | other | score | 95% interval |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((r) => `| src/${r.group} | ${r.total} | ${r.sampled} | ${r.killed} | ${r.timeout} | ${r.survived} | ${r.noCoverage} | ${r.ignored} | ${r.other} | ${pct(r.score)} | ${pct(r.low)}-${pct(r.high)} |`),
    '', 'Survivors and mutants not covered:', '',
    ...tested.filter((m) => m.status === 'Survived' || m.status === 'NoCoverage')
      .map((m) => `- ${m.status} ${m.file}:${m.location.start.line}:${m.location.start.column} ${m.mutator} → ${JSON.stringify(m.replacement.slice(0, 80))}`),
    '', 'Other outcomes:', '',
    ...tested.filter((m) => !['Killed', 'Timeout', 'Survived', 'NoCoverage', 'Ignored'].includes(m.status))
      .map((m) => `- ${m.status} ${m.file}:${m.location.start.line} ${m.mutator} ${m.reason ?? ''}`),
  ];
}

// One Stryker run per group, smallest first, each saved as it ends: a run cut short keeps the
// groups it finished.
const all = listMutants();
const chosen = sample(all);
// --resume keeps what an earlier run in <out> found for the mutants it tested (a larger
// --per-group with the same seed extends the same sample); --retest names the outcomes to test
// again (Survived,NoCoverage after adding tests).
const identity = (m) => `${m.file}|${m.mutator}|${m.replacement}|${m.location.start.line}:${m.location.start.column}|${m.location.end.line}:${m.location.end.column}`;
const earlier = new Map(resume && existsSync(join(out, 'sample.json'))
  ? JSON.parse(readFileSync(join(out, 'sample.json'), 'utf8')).filter((m) => !retest.includes(m.status)).map((m) => [identity(m), m])
  : []);
const tested = [];
for (const group of ['policies', 'core', 'tiers'].filter((g) => only.includes(g))) {
  const mine = chosen.filter((m) => m.group === group);
  const known = mine.flatMap((m) => earlier.get(identity(m)) ?? []);
  const fresh = mine.filter((m) => !earlier.has(identity(m)));
  tested.push(...known, ...(fresh.length === 0 ? [] : runGroup(group, fresh)));
  const lines = summary(all, tested);
  writeFileSync(join(out, 'summary.md'), `${lines.join('\n')}\n`);
  writeFileSync(join(out, 'sample.json'), JSON.stringify(tested, null, 2));
  console.log(lines.join('\n'));
}
