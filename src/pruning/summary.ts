/** Text rendering of a ClickTrain summary. */
import type {ClickTrainSummary} from './controller';
import {drawMasksRow} from './masks';

function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return 'inf';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return `${n}`;
}

/** Renders the per-layer table, the library as 3x3 grids with the histogram, and totals. */
export function formatSummary(s: ClickTrainSummary): string {
  const lines: string[] = [];
  lines.push(`ClickTrain summary (phase ${s.phase}, epoch ${s.epoch})`);
  const header = ['layer', 'Cin x Cout', 'kernels kept', 'weights kept', 'compression', 'FLOPs dense', 'FLOPs pruned'];
  const rows = s.layers.map((l) => [
    l.name, `${l.cin}x${l.cout}`, `${l.keptKernels}/${l.kernels}`, `${l.keptWeights}/${l.weights}`,
    `${l.compression.toFixed(2)}x`, fmtNum(l.flopsDense), fmtNum(l.flopsPruned),
  ]);
  const t = s.totals;
  rows.push([
    'TOTAL (3x3 conv)', '', `${t.keptKernels}/${t.kernels}`, `${t.keptWeights}/${t.weights}`,
    `${t.convCompression.toFixed(2)}x`, fmtNum(t.flopsDense), fmtNum(t.flopsPruned),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmtRow = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  lines.push(fmtRow(header));
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) lines.push(fmtRow(r));
  lines.push(`model FLOPs (incl. other layers): ${fmtNum(t.modelFlopsDense)} dense -> ${fmtNum(t.modelFlopsPruned)} ` +
      `(${(t.modelFlopsDense / Math.max(1, t.modelFlopsPruned)).toFixed(2)}x fewer)`);
  const drawLib = (title: string, hist: {pattern: number; count: number}[]) => {
    if (hist.length === 0) return;
    lines.push(title);
    lines.push(drawMasksRow(hist.map((h) => h.pattern)));
    lines.push(hist.map((h) => String(h.count).padEnd(3)).join('  ') + '   (kernels per pattern)');
  };
  if (s.library.length) {
    const h = s.library.map((p) => ({pattern: p, count: s.histogram.find((e) => e.pattern === p)?.count ?? 0}));
    drawLib(`pattern library (${s.library.length} patterns, model-wide):`, h);
  } else {
    for (const l of s.layers) {
      if (l.library.length) drawLib(`pattern library of ${l.name}:`, l.histogram.filter((e) => l.library.includes(e.pattern)));
    }
  }
  return lines.join('\n');
}
