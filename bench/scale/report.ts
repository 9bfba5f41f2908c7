import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFigure } from '../lib/charts.js';
import { firstLine } from '../lib/flags.js';
import { markdownTable } from '../lib/table.js';
import type { PartOutput, Settings } from './common.js';

/** One part as the parent saw it: what it returned, or why it could not. */
export interface PartRecord {
  readonly name: string;
  readonly title: string;
  readonly settings: Settings;
  /** Wall time of the part's process, from fork to result. */
  readonly wallMs: number;
  readonly output?: PartOutput;
  readonly error?: string;
}

/** Where the figures of a run go, beside scale.md. */
const FIGURE_DIR = 'scale';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function partSection(record: PartRecord, figures: ReadonlyMap<string, string>): string {
  const lines = [`## \`${record.name}\`: ${record.title}`, '', `${record.settings.repeats} repeats${record.settings.quick ? ' (--quick)' : ''}; the part took ${seconds(record.wallMs)}.`, ''];
  if (record.output === undefined) {
    lines.push(`**Not measured**: ${firstLine(record.error ?? 'no result')}`, '');
    return lines.join('\n');
  }
  lines.push(...record.output.notes, '');
  for (const table of record.output.tables) lines.push(`${table.caption}:`, '', markdownTable(table.header, table.rows), '');
  for (const figure of record.output.figures) {
    const file = figures.get(figure.name);
    if (file !== undefined) lines.push(`![${figure.name}](${file})`, '');
  }
  return lines.join('\n');
}

/** The markdown report: header, a table of the parts and their wall times, then a section per part. */
export function markdownReport(records: readonly PartRecord[], machine: string, command: string, totalMs: number, figures: ReadonlyMap<string, string>): string {
  return [
    '# Scale',
    '',
    `Measured with \`${command}\` on ${machine}.`,
    '',
    'How each cost grows with the work, every part beside its natural baseline measured in the same run (lru-cache,',
    "raw lmdb-js, ttl() without a barrier, an idle event loop, the change feed's sync bound). Ratios come with their spread",
    'over the repeats: median (p25–p75; min–max). Each part runs in a process of its own, so that one part\'s heap and',
    "compiled code do not tax the next. Nothing here is a timed test: the numbers belong to this machine and this moment.",
    '',
    markdownTable(
      ['part', 'what', 'wall time', ''],
      records.map((r) => [`\`${r.name}\``, r.title, seconds(r.wallMs), r.output === undefined ? `failed: ${firstLine(r.error ?? '')}` : '']),
    ),
    '',
    `Whole suite: ${seconds(totalMs)}.`,
    '',
    ...records.map((r) => partSection(r, figures)),
  ].join('\n');
}

/** Writes scale.json, scale.md and every part's figures (svg + png) under `out`; returns the path of scale.md. */
export async function writeReports(out: string, records: readonly PartRecord[], machine: string, command: string, totalMs: number): Promise<string> {
  mkdirSync(out, { recursive: true });
  const figures = new Map<string, string>();
  for (const record of records) {
    for (const figure of record.output?.figures ?? []) {
      try {
        const files = await writeFigure(join(out, FIGURE_DIR), figure.name, figure.spec);
        figures.set(figure.name, `${FIGURE_DIR}/${files.svg}`);
      } catch (error) {
        process.stderr.write(`[scale] figure ${figure.name} could not be drawn: ${firstLine(error)}\n`);
      }
    }
  }
  const json = {
    machine,
    command,
    totalMs,
    parts: records.map((r) => ({ name: r.name, title: r.title, settings: r.settings, wallMs: r.wallMs, error: r.error, tables: r.output?.tables, data: r.output?.data })),
  };
  writeFileSync(join(out, 'scale.json'), `${JSON.stringify(json, null, 2)}\n`);
  const md = join(out, 'scale.md');
  writeFileSync(md, markdownReport(records, machine, command, totalMs, figures));
  return md;
}
