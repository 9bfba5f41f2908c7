/** Parses a flag that must be a positive number (integers only when `integer`). */
export function positiveNumber(name: string, raw: string | undefined, fallback: number, integer = false): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

/** Splits a comma-separated list flag and checks every item against the known names. */
export function nameList(name: string, raw: string | undefined, known: readonly string[], fallback: readonly string[]): string[] {
  if (raw === undefined) return [...fallback];
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = items.filter((s) => !known.includes(s));
  if (unknown.length > 0 || items.length === 0) {
    throw new Error(`--${name}: unknown ${unknown.join(', ') || '(empty list)'}; choose from ${known.join(', ')}`);
  }
  return items;
}

/** How the user ran it, for the report: `npm run <script> -- <flags>`. */
export function commandLine(script: string, args: readonly string[]): string {
  return args.length === 0 ? `npm run ${script}` : `npm run ${script} -- ${args.join(' ')}`;
}

/** The first line of an error's message: the report keeps it short, the terminal gets the rest. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0] ?? text;
}
