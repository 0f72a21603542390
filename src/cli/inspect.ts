/** `clicktrain inspect DIR`: a saved model's per-layer layout, pattern library and compression. */
import * as fs from 'fs';
import * as path from 'path';
import type * as tfl from '@tensorflow/tfjs-layers';
import {loadCompact, loadModelFromDir} from '../pruning/export';
import {allLayers, isPrunable} from '../pruning/layers';
import {drawMasksRow, keptKernels, keptWeights, popcount9} from '../pruning/masks';
import {bytes, ratio, siNum, textTable} from '../report/format';
import {CliError, oneLine} from './errors';

export interface InspectedLayer {
  name: string;
  className: string;
  outputShape: string;
  params: number;
  conv3x3?: {cin: number; cout: number; kernels: number; keptKernels: number; weights: number; keptWeights: number; compression: number; flopsDense: number; flopsKept: number};
}

export interface Inspection {
  source: string;
  format: 'compact' | 'tfjs';
  layers: InspectedLayer[];
  library: number[];
  libraryFrom: 'checkpoint' | 'report' | 'masks';
  histogram: {pattern: number; count: number}[];
  totals: {params: number; convWeights: number; convKept: number; convCompression: number; flopsDense: number; flopsKept: number};
  bytes: {dense?: number; compact?: number};
}

/** Locates the model inside DIR (a train output folder, a model/ folder, or a folder with compact.json or model.json). */
function locate(dir: string): {compact?: string; dense?: string; root: string} {
  if (!fs.existsSync(dir)) throw new CliError(`folder not found: ${dir}`);
  if (!fs.statSync(dir).isDirectory()) throw new CliError(`not a folder: ${dir}`);
  const has = (d: string, f: string) => fs.existsSync(path.join(d, f));
  const candidates = [dir, path.join(dir, 'model'), path.join(dir, 'model', 'compact'), path.join(dir, 'compact'), path.join(dir, 'model', 'dense'), path.join(dir, 'dense'), path.join(dir, 'checkpoint')];
  let compact: string | undefined;
  let dense: string | undefined;
  for (const c of candidates) {
    if (!compact && has(c, 'compact.json')) compact = c;
    if (!dense && has(c, 'model.json')) dense = c;
  }
  if (!compact && !dense) throw new CliError(`no saved model in ${dir} (expected compact.json or model.json, or a clicktrain train output folder)`);
  return {compact, dense, root: dir};
}

function dirBytes(d: string | undefined): number | undefined {
  if (!d) return undefined;
  return fs.readdirSync(d).filter((f) => !f.startsWith('.')).reduce((a, f) => a + fs.statSync(path.join(d, f)).size, 0);
}

/** Masks from the zero structure of a [3,3,Cin,Cout] kernel. */
function masksFromWeights(values: Float32Array | Int32Array | Uint8Array, cin: number, cout: number): Uint16Array {
  const n = cin * cout;
  const m = new Uint16Array(n);
  for (let p = 0; p < 9; p++) for (let i = 0; i < n; i++) if (values[p * n + i] !== 0) m[i] |= 1 << p;
  return m;
}

function findLibrary(root: string): {library: number[]; from: 'checkpoint' | 'report'} | null {
  const tryJson = (f: string): unknown => {
    try {
      return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
    } catch {
      return null;
    }
  };
  const rep = tryJson(path.join(root, 'report.json')) as {summary?: {library?: number[]; layers?: {library: number[]}[]}} | null;
  if (rep?.summary) {
    const lib = rep.summary.library?.length ? rep.summary.library : [...new Set((rep.summary.layers ?? []).flatMap((l) => l.library))];
    if (lib.length) return {library: lib, from: 'report'};
  }
  const ck = tryJson(path.join(root, 'checkpoint', 'trainer.json')) as {clickTrain?: {layers?: {library?: number[]}[]}} | null;
  const libs = ck?.clickTrain?.layers?.flatMap((l) => l.library ?? []) ?? [];
  if (libs.length) return {library: [...new Set(libs)], from: 'checkpoint'};
  return null;
}

/** Loads the model in `dir` and computes its layout, library and compression. */
export async function inspectDir(dir: string): Promise<Inspection> {
  const loc = locate(path.resolve(dir));
  let model: tfl.LayersModel;
  let masks = new Map<string, Uint16Array>();
  let format: Inspection['format'];
  try {
    if (loc.compact) {
      const r = await loadCompact(loc.compact);
      model = r.model;
      masks = r.masks;
      format = 'compact';
    } else {
      model = await loadModelFromDir(loc.dense!);
      format = 'tfjs';
    }
  } catch (e) {
    throw new CliError(`cannot load the model in ${loc.compact ?? loc.dense}: ${oneLine(e)}`);
  }
  const layers: InspectedLayer[] = [];
  const allMasks: number[] = [];
  let convWeights = 0;
  let convKept = 0;
  let flopsDense = 0;
  let flopsKept = 0;
  let params = 0;
  for (const l of allLayers(model)) {
    const p = l.countParams();
    params += p;
    let shape = '?';
    try {
      shape = JSON.stringify(l.outputShape).replace(/null/g, 'N');
    } catch {
      shape = '?';
    }
    const entry: InspectedLayer = {name: l.name, className: l.getClassName(), outputShape: shape, params: p};
    if (isPrunable(l)) {
      const k = (l as unknown as {kernel: {read(): {shape: number[]; dataSync(): Float32Array}}}).kernel.read();
      const [, , cin, cout] = k.shape;
      const mask = masks.get(l.name) ?? masksFromWeights(k.dataSync(), cin, cout);
      const kw = keptWeights(mask);
      const os = l.outputShape as number[];
      const hw = Array.isArray(os) && os.length === 4 ? (os[1] ?? 0) * (os[2] ?? 0) : 0;
      entry.conv3x3 = {
        cin, cout, kernels: cin * cout, keptKernels: keptKernels(mask), weights: 9 * cin * cout, keptWeights: kw,
        compression: kw ? (9 * cin * cout) / kw : Infinity, flopsDense: 2 * hw * 9 * cin * cout, flopsKept: 2 * hw * kw,
      };
      convWeights += 9 * cin * cout;
      convKept += kw;
      flopsDense += entry.conv3x3.flopsDense;
      flopsKept += entry.conv3x3.flopsKept;
      for (const m of mask) if (m) allMasks.push(m);
    }
    layers.push(entry);
  }
  const counts = new Map<number, number>();
  for (const m of allMasks) counts.set(m, (counts.get(m) ?? 0) + 1);
  const histogram = [...counts.entries()].map(([pattern, count]) => ({pattern, count})).sort((a, b) => b.count - a.count || a.pattern - b.pattern);
  const stored = findLibrary(loc.root);
  let library: number[];
  let libraryFrom: Inspection['libraryFrom'];
  if (stored) {
    library = stored.library;
    libraryFrom = stored.from;
  } else {
    library = histogram.filter((h) => popcount9(h.pattern) < 9).slice(0, 12).map((h) => h.pattern);
    libraryFrom = 'masks';
  }
  model.dispose();
  return {
    source: loc.compact ?? loc.dense!, format, layers, library, libraryFrom, histogram,
    totals: {params, convWeights, convKept, convCompression: convKept ? convWeights / convKept : Infinity, flopsDense, flopsKept},
    bytes: {compact: dirBytes(loc.compact), dense: dirBytes(loc.dense)},
  };
}

/** Text rendering of an inspection. */
export function formatInspection(r: Inspection): string {
  const lines: string[] = [];
  lines.push(`model: ${r.source} (${r.format === 'compact' ? 'clicktrain compact format' : 'tfjs layers format'})`);
  const rows = r.layers.map((l) => [
    l.name, l.className, l.outputShape, String(l.params),
    l.conv3x3 ? `${l.conv3x3.keptKernels}/${l.conv3x3.kernels}` : '',
    l.conv3x3 ? `${l.conv3x3.keptWeights}/${l.conv3x3.weights}` : '',
    l.conv3x3 ? ratio(l.conv3x3.compression) : '',
    l.conv3x3 ? `${siNum(l.conv3x3.flopsDense)} -> ${siNum(l.conv3x3.flopsKept)}` : '',
  ]);
  rows.push(['total', '', '', String(r.totals.params), '', `${r.totals.convKept}/${r.totals.convWeights}`, ratio(r.totals.convCompression),
    `${siNum(r.totals.flopsDense)} -> ${siNum(r.totals.flopsKept)}`]);
  lines.push(textTable(['layer', 'class', 'output', 'params', 'kernels kept', 'weights kept', 'compression', '3x3 FLOPs/image'], rows, [rows.length - 1]));
  lines.push('');
  lines.push(`3x3 conv compression: ${ratio(r.totals.convCompression)} (${r.totals.convKept} of ${r.totals.convWeights} weights kept)`);
  if (r.bytes.dense !== undefined || r.bytes.compact !== undefined) {
    lines.push(`on disk: ${r.bytes.dense !== undefined ? `tfjs ${bytes(r.bytes.dense)}` : ''}${r.bytes.dense !== undefined && r.bytes.compact !== undefined ? ', ' : ''}${r.bytes.compact !== undefined ? `compact ${bytes(r.bytes.compact)}` : ''}`);
  }
  lines.push('');
  if (r.library.length) {
    const from = r.libraryFrom === 'masks' ? 'most frequent kernel masks' : `from the ${r.libraryFrom}`;
    lines.push(`pattern library (${r.library.length} patterns, ${from}); # = kept weight:`);
    lines.push(drawMasksRow(r.library));
    lines.push(r.library.map((p) => String(r.histogram.find((h) => h.pattern === p)?.count ?? 0).padEnd(3)).join('  ') + '   (kernels per pattern)');
    const other = r.histogram.filter((h) => !r.library.includes(h.pattern)).reduce((a, h) => a + h.count, 0);
    if (other) lines.push(`${other} kernels use masks outside the library (e.g. full kernels of layers not pruned)`);
  } else {
    lines.push('no pattern library (the model is dense)');
  }
  return lines.join('\n');
}
