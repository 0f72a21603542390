/** Small self-contained SVG chart builders (no scripts, no external resources). */
import {PHASE_COLOR, PHASE_LABEL, PhaseName} from './types';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#7f7f7f'];

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000) return `${Math.round(v)}`;
  if (a >= 10) return v.toFixed(0);
  if (a >= 1) return v.toFixed(1).replace(/\.0$/, '');
  return v.toPrecision(2);
}

export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  /** Shaded x ranges (phases), [start, end) in x units. */
  bands?: {phase: PhaseName; start: number; end: number}[];
  yMin?: number;
  yMax?: number;
  xMin?: number;
  xMax?: number;
  /** Format y tick labels as percentages of 1. */
  yPercent?: boolean;
  /** Only whole-number x ticks (epochs). */
  xInteger?: boolean;
}

/** A line chart with axes, ticks, legend and optional shaded phase bands. */
export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 300;
  const m = {l: 56, r: 16, t: 34, b: 44};
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = o.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  let x0 = o.xMin ?? Math.min(...all.map((p) => p[0]), ...(o.bands ?? []).map((b) => b.start));
  let x1 = o.xMax ?? Math.max(...all.map((p) => p[0]), ...(o.bands ?? []).map((b) => b.end));
  let y0 = o.yMin ?? Math.min(...all.map((p) => p[1]));
  let y1 = o.yMax ?? Math.max(...all.map((p) => p[1]));
  if (!Number.isFinite(x0) || !Number.isFinite(x1)) [x0, x1] = [0, 1];
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  if (o.yMin === undefined || o.yMax === undefined) {
    const pad = (y1 - y0) * 0.05;
    if (o.yMin === undefined) y0 -= pad;
    if (o.yMax === undefined) y1 += pad;
  }
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(o.title)}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold" ${FONT}>${esc(o.title)}</text>`);
  for (const b of o.bands ?? []) {
    const bx0 = sx(Math.max(x0, b.start));
    const bx1 = sx(Math.min(x1, b.end));
    if (bx1 <= bx0) continue;
    parts.push(`<rect class="phase-band" x="${bx0.toFixed(1)}" y="${m.t}" width="${(bx1 - bx0).toFixed(1)}" height="${ph}" fill="${PHASE_COLOR[b.phase]}"><title>${esc(PHASE_LABEL[b.phase])}</title></rect>`);
    parts.push(`<text x="${((bx0 + bx1) / 2).toFixed(1)}" y="${m.t + 12}" text-anchor="middle" font-size="10" fill="#555" ${FONT}>${esc(b.phase)}</text>`);
    parts.push(`<line x1="${bx0.toFixed(1)}" y1="${m.t}" x2="${bx0.toFixed(1)}" y2="${m.t + ph}" stroke="#aaa" stroke-dasharray="3,3"/>`);
  }
  // grid and ticks
  const ys = niceStep(y1 - y0, 5);
  for (let v = Math.ceil(y0 / ys) * ys; v <= y1 + 1e-12; v += ys) {
    const y = sy(v).toFixed(1);
    parts.push(`<line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    const label = o.yPercent ? `${(v * 100).toFixed(ys * 100 < 1 ? 1 : 0)}%` : fmtTick(v);
    parts.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11" ${FONT}>${label}</text>`);
  }
  const xs = o.xInteger ? Math.max(1, Math.round(niceStep(x1 - x0, 8))) : niceStep(x1 - x0, 8);
  for (let v = Math.ceil(x0 / xs) * xs; v <= x1 + 1e-12; v += xs) {
    const x = sx(v).toFixed(1);
    parts.push(`<line x1="${x}" y1="${m.t + ph}" x2="${x}" y2="${m.t + ph + 4}" stroke="#333"/>`);
    parts.push(`<text x="${x}" y="${m.t + ph + 16}" text-anchor="middle" font-size="11" ${FONT}>${fmtTick(v)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12" ${FONT}>${esc(o.xLabel)}</text>`);
  parts.push(`<text x="14" y="${m.t + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${m.t + ph / 2})" ${FONT}>${esc(o.yLabel)}</text>`);
  // series
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (pts.length === 0) return;
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
    parts.push(`<path class="series" d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
    for (const p of pts) parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${color}"/>`);
  });
  // legend (top right, inside the plot)
  const lx = m.l + pw - 8;
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const y = m.t + 26 + i * 15;
    parts.push(`<line x1="${lx - 150}" y1="${y}" x2="${lx - 128}" y2="${y}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`);
    parts.push(`<text x="${lx - 124}" y="${y}" dominant-baseline="middle" font-size="11" ${FONT}>${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface Bar {
  label: string;
  value: number;
  text?: string;
  color?: string;
}

/** Horizontal bar chart (one bar per row, value label at the bar's end). */
export function barChart(o: {title: string; bars: Bar[]; width?: number; xLabel?: string; color?: string; refLine?: {value: number; label: string}}): string {
  const W = o.width ?? 560;
  const rowH = 22;
  const labelW = Math.min(200, 12 + 7 * Math.max(4, ...o.bars.map((b) => b.label.length)));
  const m = {l: labelW, r: 190, t: 34, b: o.xLabel ? 30 : 10};
  const H = m.t + m.b + Math.max(1, o.bars.length) * rowH;
  const pw = W - m.l - m.r;
  const finite = o.bars.map((b) => b.value).filter((v) => Number.isFinite(v));
  const max = Math.max(1e-12, ...finite, o.refLine?.value ?? 0);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(o.title)}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold" ${FONT}>${esc(o.title)}</text>`);
  o.bars.forEach((b, i) => {
    const y = m.t + i * rowH;
    const v = Number.isFinite(b.value) ? b.value : max;
    const w = Math.max(1, (v / max) * pw);
    parts.push(`<text x="${m.l - 6}" y="${y + rowH / 2}" text-anchor="end" dominant-baseline="middle" font-size="11" ${FONT}>${esc(b.label)}</text>`);
    parts.push(`<rect class="bar" x="${m.l}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${b.color ?? o.color ?? PALETTE[0]}"/>`);
    parts.push(`<text x="${(m.l + w + 4).toFixed(1)}" y="${y + rowH / 2}" dominant-baseline="middle" font-size="11" ${FONT}>${esc(b.text ?? fmtTick(b.value))}</text>`);
  });
  if (o.refLine) {
    const x = m.l + (o.refLine.value / max) * pw;
    parts.push(`<line x1="${x.toFixed(1)}" y1="${m.t - 4}" x2="${x.toFixed(1)}" y2="${H - m.b}" stroke="#d62728" stroke-dasharray="4,3"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${m.t - 6}" text-anchor="middle" font-size="10" fill="#d62728" ${FONT}>${esc(o.refLine.label)}</text>`);
  }
  if (o.xLabel) parts.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12" ${FONT}>${esc(o.xLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** One 3x3 kernel pattern as a grid of squares (filled = kept weight), at (x, y). */
export function patternGrid(mask: number, x: number, y: number, cell = 14, on = '#1f4e9a'): string {
  const parts: string[] = [`<g class="pattern-grid" data-mask="${mask}">`];
  for (let kh = 0; kh < 3; kh++) {
    for (let kw = 0; kw < 3; kw++) {
      const kept = (mask & (1 << (kh * 3 + kw))) !== 0;
      parts.push(`<rect x="${x + kw * cell}" y="${y + kh * cell}" width="${cell - 1}" height="${cell - 1}" fill="${kept ? on : '#f2f2f2'}" stroke="#999" stroke-width="0.5"/>`);
    }
  }
  parts.push('</g>');
  return parts.join('');
}

/** The pattern library: each pattern as a 3x3 grid with a histogram bar (kernels using it) above. */
export function patternLibraryChart(title: string, hist: {pattern: number; count: number}[], width = 560): string {
  const cell = 14;
  const colW = Math.max(3 * cell + 16, 58);
  const cols = Math.max(1, Math.min(hist.length, Math.floor((width - 20) / colW)));
  const rows = Math.ceil(hist.length / cols) || 1;
  const barH = 70;
  const rowH = barH + 3 * cell + 40;
  const W = Math.max(width, 20 + cols * colW);
  const H = 34 + rows * rowH + 8;
  const max = Math.max(1, ...hist.map((h) => h.count));
  const total = hist.reduce((a, h) => a + h.count, 0);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold" ${FONT}>${esc(title)}</text>`);
  hist.forEach((h, i) => {
    const c = i % cols;
    const r = Math.floor(i / cols);
    const x = 10 + c * colW;
    const y = 34 + r * rowH;
    const bh = (h.count / max) * barH;
    const gx = x + (colW - 3 * cell) / 2;
    parts.push(`<rect class="hist-bar" x="${gx + 4}" y="${(y + barH - bh).toFixed(1)}" width="${3 * cell - 9}" height="${bh.toFixed(1)}" fill="#7aa6d9"><title>${h.count} kernels</title></rect>`);
    parts.push(`<text x="${x + colW / 2}" y="${(y + barH - bh - 3).toFixed(1)}" text-anchor="middle" font-size="10" ${FONT}>${h.count}</text>`);
    parts.push(patternGrid(h.pattern, gx, y + barH + 4, cell));
    const share = total ? `${((100 * h.count) / total).toFixed(1)}%` : '';
    parts.push(`<text x="${x + colW / 2}" y="${y + barH + 3 * cell + 18}" text-anchor="middle" font-size="10" fill="#555" ${FONT}>${share}</text>`);
  });
  if (hist.length === 0) parts.push(`<text x="${W / 2}" y="60" text-anchor="middle" font-size="12" fill="#777" ${FONT}>no patterns chosen yet</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
