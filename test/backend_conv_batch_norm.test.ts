/**
 * Inference conv -> batch norm -> relu folded into the conv (src/backend/kernels/conv_batch_norm.ts):
 * the same bits as the unfused kernels, for dense and pattern-sparse convs; the fold really runs;
 * a deferred conv result read after its sparse layer's values changed (a frozen training step) or
 * after its input was freed still has the values of the call that made it. A max pool of a sparse
 * conv's deferred result runs inside the conv (src/backend/kernels/Pooling.ts, native
 * SparseConv2DForwardMaxPool): the same bits as unfused, on the fused native paths (lane strips:
 * batch >= 8 on 24x24 images; tiny-image kernels: 8x8 and 4x4) and the fallbacks (12x12 at batch
 * 9, batch 1, overlapping windows), and a deferred relu that something else reads as well.
 */
process.env.CLICKTRAIN_POISON_OUTPUTS = '1';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {freezeSparsity} from '../src';
import {setBatchNormReluFusion} from '../src/backend/kernels/batch_norm_relu';
import {setConvBatchNormFusion} from '../src/backend/kernels/conv_batch_norm';
import {addon} from '../src/native/addon';
import {sparseCallCounts} from '../src/sparse';
import * as ref from './helpers/reference';
import * as masksHelper from './helpers/sparse_masks';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`conv + batch norm tests: seed ${seed}`);
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});

afterEach(() => {
  setConvBatchNormFusion(true);
  setBatchNormReluFusion(true);
});

function fusion(on: boolean): void {
  setConvBatchNormFusion(on);
  setBatchNormReluFusion(on);
}

/** conv -> BN -> relu -> conv -> BN -> (relu + the BN output itself, as a residual block reads it),
 * then conv -> BN with scalar-free defaults -> maxpool (a BN output read by something else). */
function buildModel(channels: number, height = 7): tfl.LayersModel {
  const input = tfl.input({shape: [height, 6, 3]});
  const conv = (x: tfl.SymbolicTensor, name: string, useBias = false) => tfl.layers.conv2d(
      {filters: channels, kernelSize: 3, padding: 'same', useBias, name, kernelInitializer: 'glorotNormal'})
      .apply(x) as tfl.SymbolicTensor;
  const bn = (x: tfl.SymbolicTensor, name: string) => tfl.layers.batchNormalization({
    name, movingMeanInitializer: 'randomNormal', movingVarianceInitializer: 'ones',
    gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal'}).apply(x) as tfl.SymbolicTensor;
  const relu = (x: tfl.SymbolicTensor, name: string) => tfl.layers.reLU({name}).apply(x) as tfl.SymbolicTensor;
  const a = relu(bn(conv(input, 'c1', true), 'b1'), 'r1');
  const b = bn(conv(a, 'c2'), 'b2');
  const c = tfl.layers.add({name: 'add'}).apply([relu(b, 'r2'), b]) as tfl.SymbolicTensor;
  const d = bn(conv(c, 'c3'), 'b3');
  const out = tfl.layers.maxPooling2d({poolSize: 2, name: 'pool'}).apply(d) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: out});
}

/** Runs fn, counting the native forward convs that ran with a batch norm folded in (and relu). */
function countFolds<T>(fn: () => T): {result: T, folds: number, foldsWithRelu: number} {
  const a = addon() as unknown as {[k: string]: (...args: unknown[]) => unknown};
  const dense = a.conv2dForward, sparse = a.sparseForward;
  let folds = 0, foldsWithRelu = 0;
  const note = (bn: unknown) => {
    if (!bn) return;
    folds++;
    if ((bn as {relu: boolean}).relu) foldsWithRelu++;
  };
  a.conv2dForward = (...args) => (note(args[8]), dense(...args));
  a.sparseForward = (...args) => (note(args[8]), sparse(...args));
  try {
    return {result: fn(), folds, foldsWithRelu};
  } finally {
    a.conv2dForward = dense;
    a.sparseForward = sparse;
  }
}

const same = ref.sameBits;

test.each([[5, 1], [16, 3], [21, 2]])('dense convs, %i channels, batch %i: the same bits folded and unfolded', (channels, batch) => {
  const model = buildModel(channels);
  const x = tf.tensor(r.floats(batch * 7 * 6 * 3), [batch, 7, 6, 3]);
  const predict = () => {
    const t = model.predict(x) as tf.Tensor;
    const v = t.dataSync() as Float32Array;
    t.dispose();
    return v;
  };
  fusion(false);
  const plain = countFolds(predict);
  fusion(true);
  const before = tf.memory().numTensors;
  const fused = countFolds(predict);
  expect(tf.memory().numTensors).toBe(before);
  expect(plain.folds).toBe(0);
  // c1 -> b1 -> r1 and c2 -> b2 -> r2 with relu; b2 read by the add (c2 again, no relu); b3 read
  // by the pool.
  expect(fused.foldsWithRelu).toBe(2);
  expect(fused.folds).toBe(4);
  expect(same(fused.result, plain.result)).toBe(true);
  model.dispose();
});

/** A VGG-like conv-BN-relu stack whose 3x3 convs after the first are frozen pattern-sparse. */
function sparseModel(inC: number, channels: number, size: number, prune: number) {
  const m = tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [size, size, inC], filters: channels, kernelSize: 3, padding: 'same',
                       useBias: false, name: 's1'}),
    tfl.layers.batchNormalization({name: 'n1', gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal'}),
    tfl.layers.reLU({name: 'q1'}),
    tfl.layers.conv2d({filters: channels, kernelSize: 3, padding: 'same', useBias: false, name: 's2'}),
    tfl.layers.batchNormalization({name: 'n2', gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal'}),
    tfl.layers.reLU({name: 'q2'}),
    tfl.layers.flatten(), tfl.layers.dense({units: 3, name: 'fc'}),
  ]});
  m.compile({optimizer: tf.train.momentum(0.05, 0.9), loss: 'meanSquaredError'});
  const masks = {s2: masksHelper.randomMasks(r, channels, channels, prune)};
  freezeSparsity(m, {masks, layers: ['s2']});
  return m;
}

test.each([[1, 16, 8, 0.5], [9, 12, 5, 0.75], [2, 24, 4, 0.75]])(
    'frozen sparse convs, batch %i, %i channels, %i-pixel images, prune %d: the same bits folded and unfolded', async (batch, channels, size, prune) => {
      const m = sparseModel(3, channels, size, prune);
      const x = tf.tensor(r.floats(batch * size * size * 3), [batch, size, size, 3]);
      const y = tf.tensor(r.floats(batch * 3), [batch, 3]);
      for (let step = 0; step < 2; step++) {
        fusion(false);
        const plain = countFolds(() => (m.predict(x) as tf.Tensor).dataSync() as Float32Array);
        fusion(true);
        const fused = countFolds(() => (m.predict(x) as tf.Tensor).dataSync() as Float32Array);
        expect(fused.foldsWithRelu).toBe(2);
        expect(same(fused.result, plain.result)).toBe(true);
        await m.trainOnBatch(x, y);  // new weights for the next round
      }
      m.dispose();
    });

test('a deferred sparse conv result read after a training step changed its layout has the old weights', async () => {
  const m = sparseModel(3, 16, 6, 0.75);
  const x = tf.tensor(r.floats(2 * 6 * 6 * 3), [2, 6, 6, 3]);
  const y = tf.tensor(r.floats(2 * 3), [2, 3]);
  const s2 = m.getLayer('s2');
  const probe = tf.tensor(r.floats(2 * 6 * 6 * 16), [2, 6, 6, 16]);
  const conv = () => tf.fused.conv2d({x: probe, filter: s2.getWeights()[0], strides: 1, pad: 'same'});
  fusion(false);
  const want = conv().dataSync() as Float32Array;
  fusion(true);
  await m.trainOnBatch(x, y);  // a packed frozen step: the weight variable is now the layout's values
  const before = conv();  // deferred, reads the layout as it is now
  const wantNow = (() => {
    fusion(false);
    const t = conv();
    fusion(true);
    return t.dataSync() as Float32Array;
  })();
  await m.trainOnBatch(x, y);  // changes the layout's values in place
  await m.trainOnBatch(x, y);
  expect(same(before.dataSync() as Float32Array, wantNow)).toBe(true);
  expect(same(wantNow, want)).toBe(false);  // the steps did change the weights
  m.dispose();
});

test('a deferred conv result keeps its input: freed and its buffer offered for reuse', () => {
  const a = tf.tensor(r.floats(2 * 9 * 9 * 8), [2, 9, 9, 8]), b = tf.tensor(r.floats(2 * 9 * 9 * 8), [2, 9, 9, 8]);
  const w = tf.tensor(r.floats(3 * 3 * 8 * 8), [3, 3, 8, 8]);
  const x = tf.add(a, b);  // a native kernel's pooled output
  fusion(false);
  const want = tf.fused.conv2d({x, filter: w, strides: 1, pad: 'same', activation: 'relu'}).dataSync() as Float32Array;
  fusion(true);
  const yt = tf.fused.conv2d({x, filter: w, strides: 1, pad: 'same', activation: 'relu'});
  x.dispose();
  const others = [tf.sub(a, b), tf.mul(a, b), tf.add(b, a)];  // would take x's buffer if it were free
  expect(same(yt.dataSync() as Float32Array, want)).toBe(true);
  tf.dispose([a, b, w, yt, ...others]);
});

/** conv (dense) -> BN -> relu -> [conv s2 (sparse) -> BN -> relu -> pool] -> [conv s3 (sparse,
 * relu activation, no BN) -> pool], pools of `poolSize` with `strides`, then a dense head. With
 * `branch`, the relu before the first pool is also read by a global max pool (another reader). */
function pooledModel(size: number, channels: number, poolSize: number, strides: number, branch: boolean) {
  const input = tfl.input({shape: [size, size, 3]});
  const conv = (x: tfl.SymbolicTensor, name: string, activation?: 'relu') => tfl.layers.conv2d(
      {filters: channels, kernelSize: 3, padding: 'same', useBias: activation !== undefined, activation, name,
       kernelInitializer: 'glorotNormal', biasInitializer: 'randomNormal'}).apply(x) as tfl.SymbolicTensor;
  const bn = (x: tfl.SymbolicTensor, name: string) => tfl.layers.batchNormalization({
    name, movingMeanInitializer: 'randomNormal', movingVarianceInitializer: 'ones',
    gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal'}).apply(x) as tfl.SymbolicTensor;
  const relu = (x: tfl.SymbolicTensor) => tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  const pool = (x: tfl.SymbolicTensor) => tfl.layers.maxPooling2d({poolSize, strides}).apply(x) as tfl.SymbolicTensor;
  const a = relu(bn(conv(input, 's1'), 'n1'));
  const b = relu(bn(conv(a, 's2'), 'n2'));
  const c = pool(conv(pool(b), 's3', 'relu'));
  const flat = tfl.layers.flatten().apply(c) as tfl.SymbolicTensor;
  const head = branch ?
    tfl.layers.concatenate().apply([flat, tfl.layers.globalMaxPooling2d({}).apply(b) as tfl.SymbolicTensor]) as tfl.SymbolicTensor :
    flat;
  const m = tfl.model({inputs: input, outputs: tfl.layers.dense({units: 3}).apply(head) as tfl.SymbolicTensor});
  freezeSparsity(m, {masks: {
    s2: masksHelper.randomMasks(r, channels, channels, 0.5),
    s3: masksHelper.randomMasks(r, channels, channels, 0.75),
  }, layers: ['s2', 's3']});
  return m;
}

test.each([
  [9, 24, 11, 2, 2, false],  // fused at 24x24 (lane strips), a fallback at 12x12
  [17, 24, 8, 2, 2, true],   // a third, partly filled lane group; the relu read twice
  [9, 8, 7, 2, 2, false],    // 8x8 and 4x4 at batch >= 8: tiny-image kernels, fused
  [1, 8, 5, 2, 2, false],    // batch 1: flat images, pooled after the conv
  [9, 12, 6, 2, 1, false],   // overlapping windows: pooled after the conv
])('max pool of a sparse conv, batch %i, %i-pixel images, %i channels, pool %i / stride %i, second reader %s: the same bits as unfused',
   (batch, size, channels, poolSize, strides, branch) => {
     const m = pooledModel(size, channels, poolSize, strides, branch);
     const x = tf.tensor(r.floats(batch * size * size * 3), [batch, size, size, 3]);
     const predict = () => {
       const t = m.predict(x) as tf.Tensor;
       const v = t.dataSync() as Float32Array;
       t.dispose();
       return v;
     };
     fusion(false);
     const before = sparseCallCounts.forwardMaxPool;
     const plain = predict();
     expect(sparseCallCounts.forwardMaxPool).toBe(before);
     fusion(true);
     const tensors = tf.memory().numTensors;
     const fused = predict();
     expect(tf.memory().numTensors).toBe(tensors);
     // Both pools ran inside their convs (the relu'd batch norm of s2, the relu activation of s3),
     // but s2's when the global pool read (computed) its relu first.
     expect(sparseCallCounts.forwardMaxPool - before).toBe(branch ? 1 : 2);
     expect(same(fused, plain)).toBe(true);
     x.dispose();
     m.dispose();
   });

test('a pooled sparse conv result with an average pool, or read directly, is computed as before', () => {
  const m = pooledModel(24, 8, 2, 2, false);
  const x = tf.tensor(r.floats(9 * 24 * 24 * 3), [9, 24, 24, 3]);
  const s2 = m.getLayer('s2');
  const probe = tfl.model({inputs: m.inputs, outputs: s2.output as tfl.SymbolicTensor});
  const avg = tfl.sequential({layers: [tfl.layers.averagePooling2d({inputShape: [24, 24, 8], poolSize: 2})]});
  fusion(false);
  const plain = (avg.predict(probe.predict(x) as tf.Tensor) as tf.Tensor).dataSync() as Float32Array;
  fusion(true);
  const before = sparseCallCounts.forwardMaxPool;
  const fused = (avg.predict(probe.predict(x) as tf.Tensor) as tf.Tensor).dataSync() as Float32Array;
  expect(sparseCallCounts.forwardMaxPool).toBe(before);
  expect(same(fused, plain)).toBe(true);
  x.dispose();
  m.dispose();
});
