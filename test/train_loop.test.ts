import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {Rng} from '../src/data/rng';
import {batchSource, encodeCifarRecords, openCifar} from '../src/data';
import {evaluate, makeOptimizer, train, TrainBatch} from '../src/train';
import {formatSummary} from '../src/pruning';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function model(seed = 1, inC = 1, size = 8): tfl.LayersModel {
  const input = tfl.input({shape: [size, size, inC]});
  let x = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1',
    kernelInitializer: tfl.initializers.heUniform({seed})}).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2',
    kernelInitializer: tfl.initializers.heUniform({seed: seed + 1})}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({seed: seed + 2})}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: x});
}

/** Class 1 images have vertical stripes, class 0 horizontal stripes (plus noise). */
function problem(n: number, seed: number) {
  const rng = new Rng(seed);
  const xs = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    labels[k] = k % 2;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      const bright = (labels[k] === 1 ? x : y) % 2 === 0;
      xs[k * 64 + y * 8 + x] = (bright ? 1 : 0) + 0.3 * rng.normal();
    }
  }
  return {xs: tf.tensor4d(xs, [n, 8, 8, 1]), ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 2)};
}

test('dense training learns; LR follows the step schedule; evaluate works; all source kinds accepted', async () => {
  // (the tfjs CPU backend's conv filter gradient is slow: keep shapes tiny)
  const tr = problem(32, 1);
  const te = problem(32, 2);
  const m = model();
  const res = await train({model: m, optimizer: 'adam', learningRate: 0.05, epochs: 7, train: {...tr, batchSize: 8},
    validation: {...te, batchSize: 32}});
  expect(res.history.map((h) => h.lr.toPrecision(3))).toEqual(['0.0500', '0.0500', '0.00500', '0.00500', '0.00500', '0.000500', '0.000500']);
  expect(res.history[6].valAcc!).toBeGreaterThan(0.9);
  expect(res.history[6].loss).toBeLessThan(res.history[0].loss);
  const ev = await evaluate(m, [{xs: te.xs, ys: te.ys}]);
  expect(ev.count).toBe(32);
  expect(ev.acc).toBeCloseTo(res.history[6].valAcc!, 6);
  // tf.data-like dataset and an array of batches
  const datasetLike = {
    iterator: async () => {
      let i = 0;
      return {next: async (): Promise<IteratorResult<TrainBatch>> => (i++ < 2 ? {value: {xs: tf.clone(tr.xs), ys: tf.clone(tr.ys)}, done: false} : {value: undefined, done: true})};
    },
  };
  const before = tf.memory().numTensors;
  const r2 = await train({model: m, optimizer: makeOptimizer('sgd', 0.01), epochs: 1, train: datasetLike, lrSchedule: 'constant'});
  expect(r2.history[0].images).toBe(64);
  const r3 = await train({model: m, optimizer: 'adam', learningRate: 1e-3, epochs: 1, train: [{xs: tr.xs, ys: tr.ys}], lrSchedule: 'cosine'});
  expect(r3.history[0].images).toBe(32);
  expect(tf.memory().numTensors - before).toBeLessThan(20); // optimiser state only, no per-batch leak
  await expect(train({model: m, epochs: 0, train: [{xs: tr.xs, ys: tr.ys}]})).rejects.toThrow(/epochs/);
  await expect(train({model: m, epochs: 1, optimizer: 'nadam' as never, train: [{xs: tr.xs, ys: tr.ys}]})).rejects.toThrow(/unknown optimizer/);
});

test('ClickTrain in the trainer on CIFAR-format files: phases, compression target, checkpoints written atomically', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-train-'));
  const rng = new Rng(4);
  const n = 16;
  const imgs = Uint8Array.from({length: n * 3072}, () => rng.int(256));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), encodeCifarRecords('cifar10', imgs, Array.from({length: n}, (_, i) => i % 10)));
  const ds = openCifar({dir, split: 'test'});
  const input = tfl.input({shape: [32, 32, 3]});
  let x = tfl.layers.conv2d({filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'a'}).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'b'}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({units: 10, activation: 'softmax'}).apply(x) as tfl.SymbolicTensor;
  const m = tfl.model({inputs: input, outputs: x});
  const phases: string[] = [];
  const ckdir = path.join(dir, 'out');
  const res = await train({
    model: m, epochs: 4, learningRate: 0.01, train: batchSource(ds, {batchSize: 8, augment: true, seed: 1}),
    clickTrain: {targetCompression: 8, importanceWindow: 2}, checkpointDir: ckdir, onPhase: (p) => phases.push(p),
  });
  expect(phases).toEqual(['soft', 'hard']); // 4 epochs: patterns + lasso from epoch 1, hard prune at 3
  const s = res.controller!.summary();
  expect(s.totals.convCompression).toBeGreaterThanOrEqual(8);
  expect(s.library.length).toBeGreaterThan(0);
  expect(formatSummary(s)).toMatch(/pattern library \(\d+ patterns, model-wide\)/);
  expect(fs.readdirSync(ckdir)).toEqual(['checkpoint']);
  expect(fs.readdirSync(path.join(ckdir, 'checkpoint')).sort()).toEqual(['model.json', 'optimizer.bin', 'optimizer.json', 'trainer.json', 'weights.bin']);
  // resuming a finished run trains nothing more; resuming with dense options is rejected
  const again = await train({model: m, epochs: 4, train: batchSource(ds, {batchSize: 8}), clickTrain: {targetCompression: 8}, checkpointDir: ckdir});
  expect(again.history).toHaveLength(4);
  ds.close();
  fs.rmSync(dir, {recursive: true, force: true});
});
