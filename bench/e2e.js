// End-to-end benchmark of the paper's claims on CIFAR-10 (same model, epochs and data for every row):
//   1. dense training;
//   2. ClickTrain (prune while training);
//   3. prune-after-training: row 1's dense model pruned by weight magnitude with the same pattern
//      count and connectivity ratios, then retrained for as many epochs as ClickTrain's hard phase;
//   4. ClickTrain with the pattern-sparse kernels turned off (masks on dense kernels).
// Prints time per phase, accuracy, compression and speedups, and writes an SVG of test accuracy
// against training wall time to bench/results/. Times are training seconds (evaluation excluded).
//
//   node bench/benchmark.js e2e [--quick] [--threads N]
//   node bench/e2e.js [--quick] [--subset N] [--test-subset N] [--epochs N] [--batch N]
//                     [--model resnet20] [--data DIR] [--threads N] [--target-compression X] [--ablations]
//                     [--lr 0.1] [--lr-schedule step|cosine] [--pattern-epoch N] [--hard-prune-epoch N] [--rows 1,2,5,6]
//   --ablations adds 5. a fixed 8-pattern library and 6. one-batch importance (issue: ablations).
//   --rows picks which rows run (row 3 needs row 1); --lr-schedule, --pattern-epoch and
//   --hard-prune-epoch apply to every row (short runs need sparse epochs left to recover in).
//   (through benchmark.js the sizes come from CLICKTRAIN_E2E_SUBSET / _EPOCHS / _DATA / _MODEL)
'use strict';
const fs = require('fs');
const path = require('path');
const {loadClicktrain, machine, printTable, writeJson} = require('./lib');

const root = path.join(__dirname, '..');
const DEFAULT_DATA = path.join(root, '..', 'shared', 'data', 'cifar-10-batches-bin');

// Full size: sized for about an hour of a 2-core machine (all four rows together).
const FULL = {model: 'resnet20', subset: 5000, testSubset: 2000, epochs: 10, batch: 64, importanceWindow: 10};
// --quick: a smoke test of a few minutes.
const QUICK = {model: 'resnet20', subset: 256, testSubset: 256, epochs: 4, batch: 64, importanceWindow: 2};

function parseE2eArgs(argv, base) {
  const o = {...base};
  const env = process.env;
  if (env.CLICKTRAIN_E2E_SUBSET) o.subset = Number(env.CLICKTRAIN_E2E_SUBSET);
  if (env.CLICKTRAIN_E2E_EPOCHS) o.epochs = Number(env.CLICKTRAIN_E2E_EPOCHS);
  if (env.CLICKTRAIN_E2E_DATA) o.data = env.CLICKTRAIN_E2E_DATA;
  if (env.CLICKTRAIN_E2E_MODEL) o.model = env.CLICKTRAIN_E2E_MODEL;
  const need = (i, flag) => {
    if (i >= argv.length) throw new Error(`e2e: ${flag} needs a value`);
    return argv[i];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick' || a === '--no-cpu') continue;
    else if (a === '--ablations') o.ablations = true;
    else if (a === '--subset') o.subset = Number(need(++i, a));
    else if (a === '--test-subset') o.testSubset = Number(need(++i, a));
    else if (a === '--epochs') o.epochs = Number(need(++i, a));
    else if (a === '--batch') o.batch = Number(need(++i, a));
    else if (a === '--data') o.data = need(++i, a);
    else if (a === '--model') o.model = need(++i, a);
    else if (a === '--threads') o.threads = Number(need(++i, a));
    else if (a === '--target-compression') o.targetCompression = Number(need(++i, a));
    else if (a === '--importance-window') o.importanceWindow = Number(need(++i, a));
    else if (a === '--lr-schedule') o.lrSchedule = need(++i, a);
    else if (a === '--lr') o.lr = Number(need(++i, a));
    else if (a === '--pattern-epoch') o.patternEpoch = Number(need(++i, a));
    else if (a === '--hard-prune-epoch') o.hardPruneEpoch = Number(need(++i, a));
    else if (a === '--rows') o.rows = need(++i, a).split(',').map(Number);
    else throw new Error(`e2e: unknown argument '${a}'`);
  }
  for (const k of ['subset', 'testSubset', 'epochs', 'batch', 'importanceWindow']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`e2e: --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} must be a positive integer, got ${o[k]}`);
  }
  if (o.epochs < 3) throw new Error('e2e: --epochs must be >= 3 (dense warm-up, soft and hard phases)');
  o.lrSchedule = o.lrSchedule || 'step';
  if (o.lr === undefined) o.lr = 0.1;
  if (!(o.lr > 0 && o.lr < 10)) throw new Error(`e2e: --lr must be in (0, 10), got ${o.lr}`);
  if (o.lrSchedule !== 'step' && o.lrSchedule !== 'cosine') throw new Error(`e2e: --lr-schedule must be step or cosine, got '${o.lrSchedule}'`);
  for (const k of ['patternEpoch', 'hardPruneEpoch']) {
    if (o[k] !== undefined && !(Number.isInteger(o[k]) && o[k] >= 0 && o[k] < o.epochs)) throw new Error(`e2e: --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} must be an epoch in [0, ${o.epochs})`);
  }
  if (o.rows) {
    if (!o.rows.every((r) => [1, 2, 3, 4, 5, 6].includes(r))) throw new Error('e2e: --rows takes numbers 1..6');
    if (o.rows.includes(3) && !o.rows.includes(1)) throw new Error('e2e: row 3 (prune after training) needs row 1');
    if (o.rows.some((r) => r >= 5)) o.ablations = true;
  } else {
    o.rows = o.ablations ? [1, 2, 3, 4, 5, 6] : [1, 2, 3, 4];
  }
  return o;
}

async function run(opts) {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const dist = path.join(root, 'dist', 'src');
  const {buildModel} = require(path.join(dist, 'models'));
  const {openCifar, batchSource} = require(path.join(dist, 'data'));
  const {train} = require(path.join(dist, 'train'));
  const {ClickTrainController, defaultSchedule, learningRateAt} = require(path.join(dist, 'pruning'));
  const {setSparseKernelsEnabled, sparseCallCounts} = require(path.join(dist, 'sparse'));
  const {lineChart} = require(path.join(dist, 'report', 'svg'));

  const o = parseE2eArgs(opts.argv || [], {...(opts.quick ? QUICK : FULL), data: DEFAULT_DATA, targetCompression: 8, ...(opts.e2e || {})});
  if (opts.threads) o.threads = opts.threads;
  await tf.setBackend('clicktrain');
  if (o.threads) ct.setNumThreads(o.threads);
  const info = ct.info();
  const trainSet = openCifar({dir: o.data, variant: 'cifar10', split: 'train'});
  const testSet = openCifar({dir: o.data, variant: 'cifar10', split: 'test'});
  const lr = o.lr;
  const wd = 5e-4;
  const seed = 1;
  const trainSrc = batchSource(trainSet, {batchSize: o.batch, augment: true, seed, limit: o.subset});
  const testSrc = batchSource(testSet, {batchSize: 256, shuffle: false, limit: o.testSubset});
  const scheduleOverrides = {};
  if (o.patternEpoch !== undefined) scheduleOverrides.patternEpoch = o.patternEpoch;
  if (o.hardPruneEpoch !== undefined) scheduleOverrides.hardPruneEpoch = o.hardPruneEpoch;
  const ctOptions = {targetCompression: o.targetCompression, librarySize: 8, patternSize: 4, importanceWindow: o.importanceWindow,
    groupLassoLambda: 2e-4, schedule: scheduleOverrides};
  const schedule = defaultSchedule(o.epochs, scheduleOverrides);
  // The same LR curve for every row; the prune-after row's retraining follows its tail.
  const lrAt = (e) => o.lrSchedule === 'cosine' ? 0.5 * lr * (1 + Math.cos((Math.PI * e) / o.epochs)) : learningRateAt(schedule, lr, e);
  const sparseEpochs = o.epochs - schedule.hardPruneEpoch;
  console.log(`e2e: ${o.model} on CIFAR-10, ${trainSrc.size} training / ${testSrc.size} test images, ${o.epochs} epochs, batch ${o.batch}; ` +
    `clicktrain ${info.isa}, ${info.threads} threads`);
  console.log(`ClickTrain schedule: patterns at epoch ${schedule.patternEpoch}, hard prune at ${schedule.hardPruneEpoch} ` +
    `(${sparseEpochs} sparse epochs), LR ${o.lrSchedule === 'cosine' ? 'cosine from ' + lr : 'x0.1 at ' + schedule.lrDecayEpochs.join(', ')}; ` +
    `target ${o.targetCompression}x, 8 patterns of 4; rows ${o.rows.join(', ')}`);
  const newModel = () => buildModel(o.model, {seed, inputShape: [32, 32, 3], numClasses: 10});
  const sumSec = (h) => h.reduce((a, r) => a + r.seconds, 0);
  const curve = (h, offset = 0) => {
    let t = offset;
    return h.map((r) => [(t += r.seconds), r.valAcc]);
  };
  const snapshotCalls = () => ({...sparseCallCounts});
  const diffCalls = (a, b) => ({forward: b.forward - a.forward, backpropInput: b.backpropInput - a.backpropInput, backpropFilter: b.backpropFilter - a.backpropFilter});
  const rows = [];
  const curves = [];
  const log = (name) => (rec) => console.log(`  [${name}] epoch ${rec.epoch + 1} ${rec.phase} loss ${rec.loss.toFixed(3)} acc ${(100 * rec.acc).toFixed(1)}% test ${(100 * rec.valAcc).toFixed(2)}% ${rec.seconds.toFixed(1)} s`);

  // 1. dense
  setSparseKernelsEnabled(true);
  let dense = null, r1 = null, denseSec = 0;
  if (o.rows.includes(1)) {
    console.log('\n1. dense training');
    dense = newModel();
    r1 = await train({model: dense, optimizer: 'momentum', learningRate: lr, lrSchedule: lrAt, weightDecay: wd, epochs: o.epochs,
      train: trainSrc, validation: testSrc, clickTrain: false, seed, onEpochEnd: log('dense')});
    denseSec = sumSec(r1.history);
    rows.push({method: '1 dense', dense: denseSec, patterns: 0, soft: 0, hard: 0, prune: 0, total: denseSec,
      acc: r1.history[r1.history.length - 1].valAcc, compression: 1});
    curves.push({name: 'dense', points: curve(r1.history)});
  }

  // 3. prune after training (continues row 1's model)
  if (o.rows.includes(3)) {
  console.log('\n3. prune-after-training: magnitude pruning of the dense model, then sparse retraining');
  const tPrune = Date.now();
  const ctrl = new ClickTrainController(dense, {...ctOptions, epochs: sparseEpochs,
    schedule: {patternEpoch: 0, softStartEpoch: 0, hardPruneEpoch: 0, lrDecayEpochs: []}});
  const magnitude = ctrl.layers.map((l) => tf.tidy(() => tf.square(l.variable()).dataSync()));
  ctrl.choosePatterns(magnitude);
  await ctrl.onEpochBegin(0);
  const pruneSec = (Date.now() - tPrune) / 1000;
  const c3a = snapshotCalls();
  const r3 = await train({model: dense, optimizer: 'momentum', learningRate: lr, weightDecay: wd, epochs: sparseEpochs, train: trainSrc,
    validation: testSrc, clickTrain: false, seed: seed + 1,
    lrSchedule: (e) => lrAt(schedule.hardPruneEpoch + e),
    onBatchEnd: (b) => ctrl.afterOptimizerStep(b.lr), onEpochEnd: log('prune-after')});
  const retrainSec = sumSec(r3.history);
  const s3 = ctrl.summary();
  rows.push({method: '3 prune after training', dense: denseSec, patterns: 0, soft: 0, hard: retrainSec, prune: pruneSec,
    total: denseSec + pruneSec + retrainSec, acc: r3.history[r3.history.length - 1].valAcc, compression: s3.totals.convCompression,
    sparseCalls: diffCalls(c3a, snapshotCalls())});
  curves.push({name: 'prune after training', points: [...curve(r1.history), ...curve(r3.history, denseSec + pruneSec)]});
  ctrl.dispose();
  }
  if (dense) dense.dispose();

  // 2. and 4. ClickTrain with and without the sparse kernels; with --ablations also 5. a fixed
  // pattern library and 6. one-batch importance (the reference's), both with the sparse kernels.
  const variants = [[2, '2 ClickTrain', true, {}], [4, '4 ClickTrain, sparse kernels off', false, {}],
    [5, '5 ClickTrain, fixed 8-pattern library', true, {fixedLibrary: 'fixed8'}],
    [6, '6 ClickTrain, one-batch importance', true, {importanceWindow: 1}]].filter((v) => o.rows.includes(v[0])).map((v) => v.slice(1));
  for (const [label, sparseOn, extra] of variants) {
    console.log(`\n${label}`);
    setSparseKernelsEnabled(sparseOn);
    const m = newModel();
    const c0 = snapshotCalls();
    const r = await train({model: m, optimizer: 'momentum', learningRate: lr, lrSchedule: lrAt, weightDecay: wd, epochs: o.epochs, train: trainSrc,
      validation: testSrc, clickTrain: {...ctOptions, ...extra}, seed, onEpochEnd: log(label.split(' ')[0])});
    const s = r.controller.summary();
    const ps = {dense: 0, patterns: 0, soft: 0, hard: 0};
    for (const h of r.history) ps[h.phase] += h.seconds;
    // The library as 9-bit masks (sorted), so rows that ended with the same library show it.
    const library = [...new Set(s.library.length ? s.library : s.layers.flatMap((l) => l.library))].sort((a, b) => a - b);
    console.log(`  [${label.split(' ')[0]}] library: ${library.map((m) => '0x' + m.toString(16).padStart(3, '0')).join(' ')}`);
    rows.push({method: label, ...ps, prune: 0, total: sumSec(r.history), acc: r.history[r.history.length - 1].valAcc,
      compression: s.totals.convCompression, sparseFrozen: r.controller.sparseFrozen, sparseCalls: diffCalls(c0, snapshotCalls()), library});
    curves.push({name: label.replace(/^\d /, ''), points: curve(r.history)});
    r.controller.dispose();
    m.dispose();
  }
  setSparseKernelsEnabled(true);
  trainSet.close();
  testSet.close();

  const byName = (p) => rows.find((r) => r.method.startsWith(p));
  const d = byName('1'), c = byName('2'), p = byName('3'), n = byName('4');
  rows.sort((a, b) => a.method.localeCompare(b.method));
  for (const r of rows) {
    r.vsDense = d ? r.total / d.total : NaN;
    r.accDelta = d ? 100 * (r.acc - d.acc) : NaN;
  }
  console.log('\nTraining seconds per phase (evaluation excluded); accuracy on the test subset');
  printTable(rows.map((r) => ({...r, accPct: 100 * r.acc})), [
    ['method', 'method'], ['dense', 'dense s', 1], ['patterns', 'patterns s', 1], ['soft', 'soft s', 1], ['prune', 'prune s', 1],
    ['hard', 'sparse s', 1], ['total', 'total s', 1], ['vsDense', 'x dense', 2], ['accPct', 'test acc %', 2], ['accDelta', 'vs dense pt', 2],
    ['compression', 'conv compr', 2],
  ]);
  const speedups = {};
  if (c && d) {
    speedups.clickTrainVsDense = c.total / d.total;
    console.log(`\nClickTrain time / dense time: ${speedups.clickTrainVsDense.toFixed(2)}x (claim: <= 1.0x at >= 8x compression, accuracy within 1 point: ` +
      `${(100 * (c.acc - d.acc)).toFixed(2)} points, ${c.compression.toFixed(2)}x)`);
  }
  if (c && p) {
    speedups.pruneAfterVsClickTrain = p.total / c.total;
    console.log(`prune-after-training time / ClickTrain time: ${speedups.pruneAfterVsClickTrain.toFixed(2)}x (claim: up to 2.3x)`);
  }
  if (c && n) {
    speedups.sparseOffVsOn = n.total / c.total;
    speedups.sparsePhaseOffVsOn = n.hard / Math.max(1e-9, c.hard);
    console.log(`ClickTrain with sparse kernels off / on: ${speedups.sparseOffVsOn.toFixed(2)}x overall, ${speedups.sparsePhaseOffVsOn.toFixed(2)}x in the sparse phase` +
      ` (sparse kernel calls with them on: ${JSON.stringify(c.sparseCalls)}; layers frozen: ${c.sparseFrozen})`);
  }

  const svg = lineChart({
    title: `Test accuracy vs training time: ${o.model}, CIFAR-10 ${trainSrc.size} images, ${o.epochs} epochs`,
    xLabel: 'training wall time (s, evaluation excluded)', yLabel: 'test accuracy', yPercent: true, width: 900, height: 480,
    series: curves.map((cv) => ({...cv, dashed: cv.name.includes('sparse kernels off')})), xMin: 0,
  });
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, {recursive: true});
  const svgFile = path.join(dir, `e2e-${new Date().toISOString().replace(/[:.]/g, '-')}.svg`);
  fs.writeFileSync(svgFile, svg);
  console.log(`wrote ${path.relative(root, svgFile)}`);
  console.log('\nMarkdown:\n| method | dense s | patterns+soft s | prune s | sparse s | total s | x dense | test acc | conv compression |\n|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.method} | ${r.dense.toFixed(0)} | ${(r.patterns + r.soft).toFixed(0)} | ${r.prune.toFixed(1)} | ${r.hard.toFixed(0)} | ${r.total.toFixed(0)} | ${d ? r.vsDense.toFixed(2) : '-'} | ${(100 * r.acc).toFixed(2)}% | ${r.compression.toFixed(2)}x |`);
  }
  return {machine: machine(), config: {...o, trainImages: trainSrc.size, testImages: testSrc.size, schedule, sparseEpochs}, rows, speedups, curves, svg: path.relative(root, svgFile)};
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  run({quick: argv.includes('--quick'), argv}).then((result) => {
    writeJson('e2e', {...result, command: `node bench/e2e.js ${argv.join(' ')}`, date: new Date().toISOString()});
  }).catch((e) => {
    console.error(e.message || e);
    process.exit(1);
  });
}

module.exports = {run, parseE2eArgs, FULL, QUICK};
