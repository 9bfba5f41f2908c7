import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Files written for one figure, relative to the directory given to {@link writeFigure}. */
export interface FigureFiles {
  readonly svg: string;
  readonly png: string;
}

/** Renders a Vega-Lite spec to SVG with Vega's headless renderer (no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterizes an SVG at twice its size on a white background. */
export function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

/** Writes `<name>.svg` and `<name>.png` into `dir` (created if needed). */
export async function writeFigure(dir: string, name: string, spec: TopLevelSpec): Promise<FigureFiles> {
  mkdirSync(dir, { recursive: true });
  const svg = await renderSvg(spec);
  writeFileSync(join(dir, `${name}.svg`), svg);
  writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
  return { svg: `${name}.svg`, png: `${name}.png` };
}
