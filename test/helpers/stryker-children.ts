// Mutation testing across child processes. StrykerJS learns which mutants a test file covers
// from a coverage map that its hook writes when the test process exits; code that runs only in a
// child process (a worker on the same LMDB file) records its coverage in that child, so those
// mutants were reported "not covered" and never run. Loaded into the test process (stryker
// nodeArgs) during Stryker's coverage run only, this file makes every Node child inherit it
// (NODE_OPTIONS); a child writes its coverage map to a shared folder as it runs, and the test
// process merges them into its own before it exits. Mutant runs need nothing: the active mutant
// reaches children through the environment already.
import { mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Coverage = { static?: Record<string, number>; perTest?: Record<string, Record<string, number>> };
type Namespace = { mutantCoverage?: Coverage };

const namespace = process.env['STRYKER_NAMESPACE'] ?? '__stryker__';
const folderVariable = 'HERDCACHE_STRYKER_CHILD_COVERAGE';
const global = globalThis as unknown as Record<string, Namespace | undefined>;

function merge(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [id, hits] of Object.entries(from ?? {})) into[id] = (into[id] ?? 0) + hits;
}

if (process.env['STRYKER_DRY_RUN'] === 'true') {
  const folder = process.env[folderVariable];
  if (folder === undefined) {
    // The test process: hand the folder and this file down to every child.
    const created = mkdtempSync(join(tmpdir(), 'stryker-children-'));
    process.env[folderVariable] = created;
    process.env['NODE_OPTIONS'] = `${process.env['NODE_OPTIONS'] ?? ''} --import ${JSON.stringify(fileURLToPath(import.meta.url))}`.trim();
    // Before the Stryker hook's own exit listener, which writes the map: prepended.
    process.prependOnceListener('exit', () => {
      const own = (global[namespace] ??= {});
      const coverage = (own.mutantCoverage ??= { static: {}, perTest: {} });
      const statics = (coverage.static ??= {});
      for (const name of readdirSync(created)) {
        if (!name.endsWith('.json')) continue; // a child's write still in progress
        const child = JSON.parse(readFileSync(join(created, name), 'utf8')) as Coverage;
        merge(statics, child.static);
        for (const perTest of Object.values(child.perTest ?? {})) merge(statics, perTest);
      }
    });
  } else {
    // A child: keep its map on disk, so that even a child killed with SIGKILL leaves most of it.
    const file = join(folder, `${process.pid}.json`);
    const save = (): void => {
      const coverage = global[namespace]?.mutantCoverage;
      if (coverage === undefined) return;
      // Written aside and renamed, so that the test process never reads half a map.
      writeFileSync(`${file}.tmp`, JSON.stringify(coverage));
      renameSync(`${file}.tmp`, file);
    };
    setInterval(save, 100).unref();
    process.on('exit', save);
  }
}
