import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  ClickTrainController, clickTrain, expandMask, formatSummary, loadCompact, loadModelFromDir, saveCompact,
  exportPrunedModel, Phase,
} from '../src/pruning';
import {Rng} from '../src/data/rng';
import {makeOptimizer, OptimizerName, train} from '../src/train';

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('IS_TEST', true);
});

// Five input channels: a first layer reading <= 4 channels (an image) is kept dense by default.
function tinyModel(seed = 1): tfl.LayersModel {
  const input = tfl.input({shape: [6, 6, 5]});
  let x = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c1',
    kernelInitializer: tfl.initializers.glorotNormal({seed})}).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({name: 'bn1'}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c2',
    kernelInitializer: tfl.initializers.glorotNormal({seed: seed + 1})}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({units: 3, activation: 'softmax', name: 'fc',
    kernelInitializer: tfl.initializers.glorotNormal({seed: seed + 2})}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: x});
}

function data(n = 16, seed = 9) {
  const rng = new Rng(seed);
  const xs = tf.tensor4d(Float32Array.from({length: n * 180}, () => rng.normal()), [n, 6, 6, 5]);
  const ys = tf.oneHot(tf.tensor1d(Int32Array.from({length: n}, (_, i) => i % 3), 'int32'), 3);
  return {xs, ys};
}

function randomImportance(c: ClickTrainController, seed = 4): Float32Array[] {
  const rng = new Rng(seed);
  return c.layers.map((l) => Float32Array.from({length: 9 * l.cin * l.cout}, () => rng.next()));
}

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ct-'));
}

test('group lasso shrinks only the groups about to be removed, by lr*lambda in norm', () => {
  const m = tinyModel();
  const c = new ClickTrainController(m, {epochs: 4, layerRatios: 0.5, groupLassoLambda: 0.05});
  c.choosePatterns(randomImportance(c));
  const l = c.layers[0];
  const n = l.cin * l.cout;
  const before = l.variable().dataSync().slice();
  const keep = expandMask(c.masks![0], l.cin, l.cout);
  c.groupLassoStep(0.1); // t = 0.005
  const after = l.variable().dataSync();
  for (let i = 0; i < n; i++) {
    let nb = 0;
    let na = 0;
    for (let p = 0; p < 9; p++) {
      const j = p * n + i;
      if (keep[j]) expect(after[j]).toBe(before[j]); // pattern positions untouched, exactly
      else {
        nb += before[j] ** 2;
        na += after[j] ** 2;
      }
    }
    nb = Math.sqrt(nb);
    na = Math.sqrt(na);
    expect(na).toBeCloseTo(Math.max(0, nb - 0.005), 5);
    // direction preserved
  }
  // a huge step zeroes the groups (proximal is exact at 0)
  c.groupLassoStep(1e6);
  const z = l.variable().dataSync();
  for (let j = 0; j < 9 * n; j++) if (!keep[j]) expect(z[j]).toBe(0);
  c.dispose();
});

test('subgradient mode moves each group towards zero by lr*lambda', () => {
  const m = tinyModel();
  const c = new ClickTrainController(m, {epochs: 4, layerRatios: 0.25, groupLassoLambda: 0.01, groupLassoMode: 'subgradient'});
  c.choosePatterns(randomImportance(c));
  const l = c.layers[1];
  const n = l.cin * l.cout;
  const keep = expandMask(c.masks![1], l.cin, l.cout);
  const before = l.variable().dataSync().slice();
  c.groupLassoStep(0.1);
  const after = l.variable().dataSync();
  for (let j = 0; j < 9 * n; j++) if (keep[j]) expect(after[j]).toBe(before[j]);
  c.dispose();
});

const OPTIMIZERS: OptimizerName[] = ['sgd', 'momentum', 'adam', 'adamax', 'adagrad', 'adadelta', 'rmsprop'];

test.each(OPTIMIZERS)('masks hold after every %s step (model.fit + clickTrain callback)', async (name) => {
  const m = tinyModel();
  m.compile({optimizer: makeOptimizer(name, 0.05), loss: 'categoricalCrossentropy'});
  const {xs, ys} = data();
  const cb = clickTrain({sampleData: {xs, ys}, sampleBatchSize: 8, layerRatios: 0.5, patternSize: 3,
    schedule: {patternEpoch: 0, softStartEpoch: 0, hardPruneEpoch: 1}});
  let checked = 0;
  const check = new tfl.CustomCallback({
    onBatchEnd: async () => {
      const c = cb.controller!;
      if (c.phase !== 'hard') return;
      c.layers.forEach((l, i) => {
        const keep = expandMask(c.masks![i], l.cin, l.cout);
        const w = l.variable().dataSync();
        for (let j = 0; j < w.length; j++) if (!keep[j]) expect(w[j]).toBe(0);
      });
      checked++;
    },
  });
  await m.fit(xs, ys, {epochs: 3, batchSize: 4, verbose: 0, callbacks: [cb, check], shuffle: false});
  expect(checked).toBe(8); // 2 hard epochs x 4 batches
  expect(cb.summary().totals.convCompression).toBeCloseTo(6, 5); // half the kernels, 3 of 9 weights: 9 / (0.5 * 3)
  tf.dispose([xs, ys]);
  cb.controller!.dispose();
});

test.each(OPTIMIZERS)('masks hold after every %s step (trainer loop)', async (name) => {
  const m = tinyModel();
  const {xs, ys} = data();
  let checked = 0;
  const res = await train({
    model: m, optimizer: name, learningRate: 0.05, epochs: 2, train: {xs, ys, batchSize: 8},
    clickTrain: {layerRatios: 0.5, schedule: {patternEpoch: 0, hardPruneEpoch: 1}},
    onBatchEnd: ({controller: c}) => {
      if (!c || c.phase !== 'hard') return;
      c.layers.forEach((l, i) => {
        const keep = expandMask(c.masks![i], l.cin, l.cout);
        const w = l.variable().dataSync();
        for (let j = 0; j < w.length; j++) if (!keep[j]) expect(w[j]).toBe(0);
      });
      checked++;
    },
  });
  expect(res.history).toHaveLength(2);
  expect(res.history[1].phase).toBe('hard');
  // verify final weights too
  const c = res.controller!;
  c.layers.forEach((l, i) => {
    const keep = expandMask(c.masks![i], l.cin, l.cout);
    const w = l.variable().dataSync();
    for (let j = 0; j < w.length; j++) if (!keep[j]) expect(w[j]).toBe(0);
  });
  expect(checked).toBe(2); // epoch 1 (hard) x 2 batches
  tf.dispose([xs, ys]);
  c.dispose();
});

// Adamax: tfjs has no getWeights/setWeights for it; the checkpoint reads its state directly.
test.each(['adam', 'adamax', 'momentum', 'rmsprop'] as OptimizerName[])(
    'resume from a mid-training checkpoint gives the same weights as an uninterrupted run (%s)', async (optimizer) => {
  const {xs, ys} = data(24);
  const opts = (model: tfl.LayersModel) => ({
    model, optimizer, learningRate: 0.01, epochs: 5, train: {xs, ys, batchSize: 8}, seed: 3,
    mixupAlpha: 0.2, labelSmoothing: 0.1,
    clickTrain: {layerRatios: 0.5, importanceWindow: 2, groupLassoLambda: 0.01, schedule: {patternEpoch: 1, softStartEpoch: 2, hardPruneEpoch: 3}},
  });
  const a = tinyModel(7);
  const ra = await train(opts(a));
  const dir = tmp();
  const b1 = tinyModel(7);
  let steps = 0;
  const phases: Phase[] = [];
  const r1 = await train({...opts(b1), checkpointDir: dir, shouldStop: () => ++steps === 8, onPhase: (p) => phases.push(p)});
  expect(r1.stopped).toBe(true);
  expect(fs.existsSync(path.join(dir, 'checkpoint', 'trainer.json'))).toBe(true);
  // new process-like start: fresh model (different variable names), fresh optimiser
  const b2 = tinyModel(123);
  const r2 = await train({...opts(b2), checkpointDir: dir});
  expect(r2.stopped).toBe(false);
  const wa = a.getWeights();
  const wb = b2.getWeights();
  for (let i = 0; i < wa.length; i++) expect(Array.from(wb[i].dataSync())).toEqual(Array.from(wa[i].dataSync()));
  expect(r2.controller!.getState()).toEqual(ra.controller!.getState());
  expect(r2.history.map((h) => h.epoch)).toEqual([0, 1, 2, 3, 4]);
  tf.dispose([xs, ys]);
  fs.rmSync(dir, {recursive: true, force: true});
});

test('state round-trips through JSON; summary draws the library', async () => {
  const m = tinyModel();
  const c = new ClickTrainController(m, {epochs: 8, layerRatios: {c1: 0.25, c2: 0.5}, librarySize: 4, libraryScope: 'layer'});
  c.choosePatterns(randomImportance(c));
  c.hardPrune();
  const state = JSON.parse(JSON.stringify(c.getState()));
  const m2 = tinyModel(2);
  const c2 = new ClickTrainController(m2, {epochs: 8});
  c2.setState(state);
  expect(c2.masks!.map((x) => Array.from(x))).toEqual(c.masks!.map((x) => Array.from(x)));
  expect(c2.hardPruned).toBe(true);
  const s = c.summary();
  expect(s.layers[0].keptKernels).toBe(15);  // 5x4 kernels, 25% removed
  expect(s.layers[1].keptKernels).toBe(8);   // 4x4 kernels, 50% removed
  expect(s.totals.flopsPruned).toBeLessThan(s.totals.flopsDense);
  expect(s.layers[0].flopsDense).toBe(2 * 36 * 9 * 20);
  const text = formatSummary(s);
  expect(text).toMatch(/pattern library of c1/);
  expect(text).toMatch(/TOTAL/);
  expect(() => c2.setState({...state, layers: state.layers.slice(1)})).toThrow(/prunable layers/);
  c.dispose();
  c2.dispose();
});

test('compact export round-trips exactly; standard save still loads; bytes reported', async () => {
  const m = tinyModel();
  const c = new ClickTrainController(m, {epochs: 8, layerRatios: 0.5, patternSize: 2});
  c.choosePatterns(randomImportance(c));
  c.hardPrune();
  const dir = tmp();
  const r = await exportPrunedModel(m, c.masksByLayerName(), dir);
  expect(r.compactBytes).toBe(fs.statSync(path.join(r.compactDir, 'compact.json')).size + fs.statSync(path.join(r.compactDir, 'compact.bin')).size);
  expect(r.denseBytes).toBeGreaterThan(0);
  const {model: back, masks} = await loadCompact(r.compactDir);
  const w0 = m.getWeights();
  const w1 = back.getWeights();
  expect(w1.length).toBe(w0.length);
  for (let i = 0; i < w0.length; i++) {
    expect(w1[i].shape).toEqual(w0[i].shape);
    expect(Buffer.from((w1[i].dataSync() as Float32Array).buffer)).toEqual(Buffer.from((w0[i].dataSync() as Float32Array).buffer));
  }
  expect(Array.from(masks.get('c1')!)).toEqual(Array.from(c.masks![0]));
  const dense = await loadModelFromDir(r.denseDir);
  const x = tf.randomNormal([2, 6, 6, 5]);
  expect(Array.from((dense.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((m.predict(x) as tf.Tensor).dataSync()));
  // corrupt / truncated compact file
  const bin = path.join(r.compactDir, 'compact.bin');
  fs.writeFileSync(bin, fs.readFileSync(bin).subarray(0, 10));
  await expect(loadCompact(r.compactDir)).rejects.toThrow(/compact\.bin.*truncated or corrupt/);
  // a layer not hard-pruned is stored densely and still exact
  const m2 = tinyModel(5);
  const c2 = new ClickTrainController(m2, {epochs: 8, layerRatios: 0.5});
  c2.choosePatterns(randomImportance(c2));
  await saveCompact(m2, c2.masksByLayerName(), path.join(dir, 'soft'));
  const back2 = (await loadCompact(path.join(dir, 'soft'))).model;
  m2.getWeights().forEach((w, i) => expect(Array.from(back2.getWeights()[i].dataSync())).toEqual(Array.from(w.dataSync())));
  c.dispose();
  c2.dispose();
  fs.rmSync(dir, {recursive: true, force: true});
});
