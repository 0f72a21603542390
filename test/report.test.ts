import {formatReportTable, renderReportHtml, RunReport, HistoryPoint, phaseSecondsOf} from '../src/report';
import type {ClickTrainSummary} from '../src/pruning';

function synthetic(): RunReport {
  const phases: HistoryPoint['phase'][] = ['dense', 'dense', 'patterns', 'soft', 'soft', 'hard', 'hard', 'hard'];
  const history: HistoryPoint[] = phases.map((phase, epoch) => ({
    epoch, phase, lr: epoch < 5 ? 0.1 : 0.01, loss: 2 / (epoch + 1), acc: 0.5 + 0.05 * epoch, valLoss: 2.2 / (epoch + 1),
    valAcc: 0.45 + 0.05 * epoch, seconds: 10 + epoch, images: 2000,
  }));
  const library = [0b000011011, 0b110110000, 0b011011000, 0b000110110];
  const layers = ['conv1', 'conv2', 'conv3'].map((name, i) => {
    const cin = i === 0 ? 1 : 16 * i;
    const cout = 16 * (i + 1);
    const kernels = cin * cout;
    const keptKernels = Math.ceil(kernels * (i === 0 ? 1 : 0.4));
    return {
      name, cin, cout, kernels, keptKernels, weights: 9 * kernels, keptWeights: 4 * keptKernels, compression: (9 * kernels) / (4 * keptKernels),
      library, histogram: library.map((p, j) => ({pattern: p, count: Math.floor(keptKernels / (j + 2))})),
      flopsDense: 2 * 784 * 9 * kernels, flopsPruned: 2 * 784 * 4 * keptKernels,
    };
  });
  const sum = (f: (l: typeof layers[0]) => number) => layers.reduce((a, l) => a + f(l), 0);
  const summary: ClickTrainSummary = {
    phase: 'hard', epoch: 7, layers, library, histogram: library.map((p, j) => ({pattern: p, count: 100 - 10 * j})),
    totals: {kernels: sum((l) => l.kernels), keptKernels: sum((l) => l.keptKernels), weights: sum((l) => l.weights), keptWeights: sum((l) => l.keptWeights),
      convCompression: sum((l) => l.weights) / sum((l) => l.keptWeights), flopsDense: sum((l) => l.flopsDense), flopsPruned: sum((l) => l.flopsPruned),
      otherFlops: 1000, modelFlopsDense: sum((l) => l.flopsDense) + 1000, modelFlopsPruned: sum((l) => l.flopsPruned) + 1000},
  };
  return {
    format: 'clicktrain-report', version: 1, title: 'ClickTrain: fmnist-cnn on fashion-mnist <test>', createdAt: '2026-01-01T00:00:00Z',
    model: 'fmnist-cnn', dataset: 'fashion-mnist', options: {epochs: 8, batch: 64}, history, phaseSeconds: phaseSecondsOf(history),
    wallSeconds: 123, summary, final: {testAcc: 0.8, testLoss: 0.5, trainAcc: 0.85}, export: {denseBytes: 100000, compactBytes: 30000},
    backend: 'clicktrain', threads: 2,
  };
}

test('the HTML report is self-contained and has the charts, phases and pattern grids', () => {
  const r = synthetic();
  const html = renderReportHtml(r);
  expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  expect(html).not.toMatch(/<script|<link|@import|src=|href=|url\(/i);
  expect(html).toContain('&lt;test&gt;'); // escaped title
  const svgs = html.match(/<svg /g) ?? [];
  expect(svgs.length).toBeGreaterThanOrEqual(5); // accuracy, loss, compression bars, library, time per phase
  expect(html).toContain('aria-label="Accuracy"');
  expect(html).toContain('aria-label="Loss"');
  expect(html).toContain('Compression per 3x3 conv layer');
  expect(html).toContain('Training time per phase');
  // phase bands in both curves: dense, patterns, soft, hard
  expect((html.match(/class="phase-band"/g) ?? []).length).toBe(8);
  // the library as 3x3 grids with a histogram bar each
  for (const p of r.summary!.library) expect(html).toContain(`class="pattern-grid" data-mask="${p}"`);
  expect((html.match(/class="hist-bar"/g) ?? []).length).toBe(4);
  const grid = html.slice(html.indexOf(`data-mask="${0b000011011}"`));
  expect((grid.slice(0, grid.indexOf('</g>')).match(/<rect /g) ?? []).length).toBe(9);
  expect(html).toContain('80.00%');
});

test('the terminal table lists layers, totals, accuracy and time per phase', () => {
  const t = formatReportTable(synthetic());
  for (const s of ['conv1', 'conv2', 'conv3', '3x3 conv total', 'whole model', 'FLOPs dense', 'compression', 'test accuracy', '80.00%',
    'dense warm-up', 'patterns chosen', 'soft (group lasso)', 'hard-pruned', 'training total']) {
    expect(t).toContain(s);
  }
  expect(t).toMatch(/hard-pruned\s+3\s+48\.0 s/);
});

test('a dense run (no summary) still renders', () => {
  const r = {...synthetic(), summary: null};
  expect(renderReportHtml(r)).toContain('No ClickTrain summary');
  expect(formatReportTable(r)).toContain('training total');
});
