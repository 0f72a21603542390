/** The end-of-training table printed in the terminal. */
import {bytes, duration, pct, ratio, siNum, textTable} from './format';
import {PHASE_LABEL, PHASES, RunReport} from './types';

/** Per-layer FLOPs/kept weights/compression, totals, accuracy and time per phase. */
export function formatReportTable(r: RunReport): string {
  const out: string[] = [];
  out.push(`${r.title}`);
  const s = r.summary;
  if (s) {
    const header = ['layer', 'Cin x Cout', 'FLOPs dense', 'FLOPs kept', 'kernels kept', 'weights kept', 'compression'];
    const rows = s.layers.map((l) => [
      l.name, `${l.cin}x${l.cout}`, siNum(l.flopsDense), siNum(l.flopsPruned), `${l.keptKernels}/${l.kernels}`,
      `${l.keptWeights}/${l.weights}`, ratio(l.compression),
    ]);
    const t = s.totals;
    rows.push(['3x3 conv total', '', siNum(t.flopsDense), siNum(t.flopsPruned), `${t.keptKernels}/${t.kernels}`,
      `${t.keptWeights}/${t.weights}`, ratio(t.convCompression)]);
    rows.push(['whole model', '', siNum(t.modelFlopsDense), siNum(t.modelFlopsPruned), '', '',
      ratio(t.modelFlopsDense / Math.max(1, t.modelFlopsPruned))]);
    out.push('');
    out.push('Per-layer compression (FLOPs: dense-equivalent forward FLOPs per image)');
    out.push(textTable(header, rows, [s.layers.length]));
  }
  out.push('');
  const acc: string[][] = [];
  if (r.final.testAcc !== undefined) acc.push(['test accuracy', pct(r.final.testAcc)]);
  if (r.final.testLoss !== undefined) acc.push(['test loss', r.final.testLoss.toFixed(4)]);
  if (r.final.trainAcc !== undefined) acc.push(['train accuracy (last epoch)', pct(r.final.trainAcc)]);
  if (r.export) {
    acc.push(['model on disk (tfjs, dense)', bytes(r.export.denseBytes)]);
    acc.push(['model on disk (compact)', `${bytes(r.export.compactBytes)} (${ratio(r.export.denseBytes / r.export.compactBytes)} smaller)`]);
  }
  if (acc.length) {
    out.push(textTable(['result', 'value'], acc));
    out.push('');
  }
  const total = PHASES.reduce((a, p) => a + (r.phaseSeconds[p] ?? 0), 0);
  const epochsOf = (p: string) => r.history.filter((h) => h.phase === p).length;
  const prow = PHASES.filter((p) => epochsOf(p) > 0 || (r.phaseSeconds[p] ?? 0) > 0).map((p) => {
    const sec = r.phaseSeconds[p] ?? 0;
    const imgs = r.history.filter((h) => h.phase === p).reduce((a, h) => a + h.images, 0);
    return [PHASE_LABEL[p], String(epochsOf(p)), duration(sec), total ? `${((100 * sec) / total).toFixed(1)}%` : '-',
      sec > 0 ? (imgs / sec).toFixed(1) : '-'];
  });
  prow.push(['training total', String(r.history.length), duration(total), '100%',
    total > 0 ? (r.history.reduce((a, h) => a + h.images, 0) / total).toFixed(1) : '-']);
  out.push(textTable(['phase', 'epochs', 'time', 'share', 'images/s'], prow, [prow.length - 1]));
  if (r.wallSeconds !== undefined) out.push(`wall time of the command (incl. data loading and evaluation): ${duration(r.wallSeconds)}`);
  return out.join('\n');
}
