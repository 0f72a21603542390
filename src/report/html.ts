/** The self-contained HTML training report: inline SVG charts, no scripts, no external resources. */
import {bytes, duration, pct, ratio, siNum} from './format';
import {barChart, esc, lineChart, PALETTE, patternGrid, patternLibraryChart} from './svg';
import {PHASE_COLOR, PHASE_LABEL, PHASES, phaseRanges, RunReport} from './types';

const CSS = `
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fafafa;max-width:1180px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px;margin-bottom:12px}
.grid{display:flex;flex-wrap:wrap;gap:16px}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
table{border-collapse:collapse;font-size:12px;background:#fff}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}tr.total td{font-weight:bold;background:#f7f7f7}
.kpis{display:flex;gap:12px;flex-wrap:wrap}.kpi{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:130px}
.kpi b{display:block;font-size:20px}.kpi span{font-size:12px;color:#666}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border:1px solid #bbb}
code{font-size:12px}.opts{font-size:12px;columns:3}
`;

function table(header: string[], rows: string[][], totalRows = 0): string {
  const h = `<tr>${header.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const b = rows.map((r, i) => `<tr${i >= rows.length - totalRows ? ' class="total"' : ''}>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>${h}\n${b}</table>`;
}

/** Renders the report as one HTML document. */
export function renderReportHtml(r: RunReport): string {
  const bands = phaseRanges(r.history);
  const ep = (h: {epoch: number}) => h.epoch + 1;
  const accChart = lineChart({
    title: 'Accuracy', xLabel: 'epoch', yLabel: 'accuracy', yPercent: true,
    series: [
      {name: 'train', points: r.history.map((h) => [ep(h), h.acc])},
      {name: 'test', points: r.history.filter((h) => h.valAcc !== undefined).map((h) => [ep(h), h.valAcc!])},
    ],
    bands: bands.map((b) => ({phase: b.phase, start: b.start + 0.5, end: b.end + 0.5})),
    xMin: 0.5, xMax: Math.max(1, r.history.length) + 0.5, xInteger: true, width: 540,
  });
  const lossChart = lineChart({
    title: 'Loss', xLabel: 'epoch', yLabel: 'cross-entropy loss',
    series: [
      {name: 'train', points: r.history.map((h) => [ep(h), h.loss])},
      {name: 'test', points: r.history.filter((h) => h.valLoss !== undefined).map((h) => [ep(h), h.valLoss!])},
    ],
    bands: bands.map((b) => ({phase: b.phase, start: b.start + 0.5, end: b.end + 0.5})),
    xMin: 0.5, xMax: Math.max(1, r.history.length) + 0.5, xInteger: true, width: 540,
  });
  const legend = `<div class="legend">${PHASES.map((p) => `<span><i style="background:${PHASE_COLOR[p]}"></i>${esc(PHASE_LABEL[p])}</span>`).join('')}</div>`;
  const s = r.summary;
  let layers = '<p>No ClickTrain summary (dense run).</p>';
  let library = '';
  let kpis = '';
  if (s) {
    const t = s.totals;
    layers = barChart({
      title: 'Compression per 3x3 conv layer (dense / kept weights)', xLabel: 'compression ratio',
      bars: s.layers.map((l) => ({label: l.name, value: l.compression, text: `${ratio(l.compression, 1)}  (${l.keptKernels}/${l.kernels} kernels)`})),
      refLine: {value: t.convCompression, label: `total ${ratio(t.convCompression, 1)}`},
      width: 1100,
    });
    const layerRows = s.layers.map((l) => [l.name, `${l.cin}x${l.cout}`, siNum(l.flopsDense), siNum(l.flopsPruned),
      `${l.keptKernels}/${l.kernels}`, `${l.keptWeights}/${l.weights}`, ratio(l.compression)]);
    layerRows.push(['3x3 conv total', '', siNum(t.flopsDense), siNum(t.flopsPruned), `${t.keptKernels}/${t.kernels}`,
      `${t.keptWeights}/${t.weights}`, ratio(t.convCompression)]);
    layerRows.push(['whole model', '', siNum(t.modelFlopsDense), siNum(t.modelFlopsPruned), '', '',
      ratio(t.modelFlopsDense / Math.max(1, t.modelFlopsPruned))]);
    layers += table(['layer', 'Cin x Cout', 'FLOPs dense', 'FLOPs kept', 'kernels kept', 'weights kept', 'compression'], layerRows, 2);
    if (s.library.length) {
      const hist = s.library.map((p) => ({pattern: p, count: s.histogram.find((h) => h.pattern === p)?.count ?? 0}));
      library = patternLibraryChart(`Pattern library (${s.library.length} patterns, model-wide): kernels per pattern`, hist, 1100);
    } else {
      library = s.layers.filter((l) => l.library.length).map((l) =>
        patternLibraryChart(`Pattern library of ${l.name}`, l.histogram.filter((h) => l.library.includes(h.pattern)), 1100)).join('\n');
      if (!library) library = patternLibraryChart('Pattern library', [], 1100);
    }
    const others = s.histogram.filter((h) => !s.library.includes(h.pattern) && !s.layers.some((l) => l.library.includes(h.pattern)));
    if (others.length) {
      library += `<p class="sub">Kernels with masks outside the library: ${others.map((o) => `${patternGridInline(o.pattern)} ${o.count}`).join(' &nbsp; ')}</p>`;
    }
    kpis += `<div class="kpi"><b>${ratio(t.convCompression, 1)}</b><span>3x3 conv compression</span></div>`;
    kpis += `<div class="kpi"><b>${ratio(t.modelFlopsDense / Math.max(1, t.modelFlopsPruned), 1)}</b><span>fewer model FLOPs</span></div>`;
  }
  if (r.final.testAcc !== undefined) kpis = `<div class="kpi"><b>${pct(r.final.testAcc)}</b><span>test accuracy</span></div>` + kpis;
  const trainTotal = PHASES.reduce((a, p) => a + (r.phaseSeconds[p] ?? 0), 0);
  kpis += `<div class="kpi"><b>${duration(trainTotal)}</b><span>training time</span></div>`;
  if (r.export) kpis += `<div class="kpi"><b>${bytes(r.export.compactBytes)}</b><span>compact model (dense ${bytes(r.export.denseBytes)})</span></div>`;
  const timeBars = PHASES.filter((p) => (r.phaseSeconds[p] ?? 0) > 0 || r.history.some((h) => h.phase === p)).map((p, i) => ({
    label: PHASE_LABEL[p], value: r.phaseSeconds[p] ?? 0,
    text: `${duration(r.phaseSeconds[p] ?? 0)} (${r.history.filter((h) => h.phase === p).length} ep)`,
    color: PALETTE[i % PALETTE.length],
  }));
  const timeChart = barChart({title: 'Training time per phase', bars: timeBars, xLabel: 'seconds', width: 540});
  const epochRows = r.history.map((h) => [String(h.epoch + 1), h.phase, h.lr.toPrecision(3), h.loss.toFixed(4), pct(h.acc),
    h.valLoss === undefined ? '-' : h.valLoss.toFixed(4), pct(h.valAcc), duration(h.seconds),
    h.seconds > 0 ? (h.images / h.seconds).toFixed(1) : '-']);
  const opts = Object.entries(r.options).map(([k, v]) => `<div><code>${esc(k)}</code>: ${esc(String(v))}</div>`).join('');
  const sk = r.sparseKernels;
  const sparseLine = sk ? `sparse kernels ${sk.enabled ? 'enabled' : 'disabled'}, ${sk.frozen ? 'layers frozen onto them' : 'masks on dense kernels'}; sparse calls: forward ${sk.calls.forward}, backprop-input ${sk.calls.backpropInput}, backprop-filter ${sk.calls.backpropFilter}` : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>${CSS}</style></head><body>
<h1>${esc(r.title)}</h1>
<div class="sub">${esc(r.model)} on ${esc(r.dataset)} &middot; ${r.history.length} epochs &middot; backend ${esc(r.backend ?? '?')}${r.threads ? `, ${r.threads} threads` : ''} &middot; ${esc(r.createdAt)}${sparseLine ? ` &middot; ${esc(sparseLine)}` : ''}</div>
<div class="kpis">${kpis}</div>
<h2>Training curves</h2>
${legend}
<div class="grid"><div class="card">${accChart}</div><div class="card">${lossChart}</div></div>
<h2>Compression per layer</h2>
<div class="card">${layers}</div>
<h2>Pattern library</h2>
<div class="card">${library || '<p>No pattern library (dense run).</p>'}</div>
<h2>Time per phase</h2>
<div class="grid"><div class="card">${timeChart}</div><div class="card">${table(['epoch', 'phase', 'lr', 'loss', 'acc', 'test loss', 'test acc', 'time', 'img/s'], epochRows)}</div></div>
<h2>Options</h2>
<div class="opts">${opts}</div>
</body></html>
`;
}

function patternGridInline(mask: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="30" height="30" viewBox="0 0 30 30" style="vertical-align:middle">${patternGrid(mask, 0, 0, 10)}</svg>`;
}
