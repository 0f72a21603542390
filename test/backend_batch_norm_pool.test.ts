/**
 * Max pool of a relu'd training batch norm (src/backend/kernels/Pooling.ts): pooled straight from
 * the batch norm's input with argmaxes, its gradient scattered from them and read by the batch-norm
 * gradient below without being written out. A VGG block's outputs and gradients must have the same
 * bits with the fusion on and off and equal tfjs's cpu backend; the fused kernels must really run
 * and neither the relu output nor the pool's gradient be computed; pools it cannot take
 * (overlapping windows), relu outputs read elsewhere and pool gradients read elsewhere stay right.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src';
import {addon} from '../src/native/addon';
import {setBatchNormPoolFusion} from '../src/backend/kernels/batch_norm_relu';
import * as ref from './helpers/reference';
import {outputsAndGradients, randomOutputWeights} from './helpers/training';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`batch norm + max pool tests: seed ${seed}`);
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);  // the cpu backend's "use tfjs-node"
});

afterEach(() => setBatchNormPoolFusion(true));

/** conv -> BN -> relu -> max pool -> conv -> BN -> relu -> max pool (poolSize/strides given), and
 * optionally the first relu's output as a second model output (read elsewhere). */
function buildModel(channels: number, pool: number, stride: number, exposeRelu: boolean): tfl.LayersModel {
  const input = tfl.input({shape: [8, 12, 3]});
  const block = (x: tfl.SymbolicTensor, i: number) => {
    const c = tfl.layers.conv2d({filters: channels, kernelSize: 3, padding: 'same', useBias: false, name: `c${i}`,
                                 kernelInitializer: 'glorotNormal'}).apply(x) as tfl.SymbolicTensor;
    const b = tfl.layers.batchNormalization({name: `b${i}`}).apply(c) as tfl.SymbolicTensor;
    const a = tfl.layers.reLU({name: `r${i}`}).apply(b) as tfl.SymbolicTensor;
    const p = tfl.layers.maxPooling2d({poolSize: pool, strides: stride, name: `p${i}`}).apply(a) as tfl.SymbolicTensor;
    return {a, p};
  };
  const first = block(input, 1);
  const second = block(first.p, 2);
  return tfl.model({inputs: input, outputs: exposeRelu ? [second.p, first.a] : second.p});
}

interface Counts {fusedPools: number, argmaxGrads: number, pooledBnGrads: number, reluApplies: number, plainPoolGrads: number}

async function countNative<T>(fn: () => T | Promise<T>): Promise<{result: T, counts: Counts}> {
  const a = addon() as unknown as {[k: string]: (...args: unknown[]) => unknown};
  const saved = {pool: a.maxPoolOfBatchNorm, grad: a.maxPoolArgmaxBackward, apply: a.batchNormTrainingApply,
                 plain: a.maxPoolBackward, bnGrad: a.batchNormTrainingGradPooledDy};
  const counts: Counts = {fusedPools: 0, argmaxGrads: 0, pooledBnGrads: 0, reluApplies: 0, plainPoolGrads: 0};
  a.maxPoolOfBatchNorm = (...args) => (counts.fusedPools++, saved.pool(...args));
  a.batchNormTrainingGradPooledDy = (...args) => (counts.pooledBnGrads++, saved.bnGrad(...args));
  a.maxPoolArgmaxBackward = (...args) => (counts.argmaxGrads++, saved.grad(...args));
  a.maxPoolBackward = (...args) => (counts.plainPoolGrads++, saved.plain(...args));
  a.batchNormTrainingApply = (...args) => {
    if (args[8]) counts.reluApplies++;
    return saved.apply(...args);
  };
  try {
    return {result: await fn(), counts};
  } finally {
    a.maxPoolOfBatchNorm = saved.pool;
    a.maxPoolArgmaxBackward = saved.grad;
    a.maxPoolBackward = saved.plain;
    a.batchNormTrainingApply = saved.apply;
    a.batchNormTrainingGradPooledDy = saved.bnGrad;
  }
}

async function compare(channels: number, pool: number, stride: number, exposeRelu: boolean) {
  const model = buildModel(channels, pool, stride, exposeRelu);
  const batch = 3;
  const x = tf.tensor(r.floats(batch * 8 * 12 * 3), [batch, 8, 12, 3]);
  const ws = randomOutputWeights(model, batch, r);
  setBatchNormPoolFusion(true);
  const fused = await countNative(() => outputsAndGradients(model, x, ws));
  setBatchNormPoolFusion(false);
  const plain = await countNative(() => outputsAndGradients(model, x, ws));
  expect(plain.counts.fusedPools + plain.counts.argmaxGrads + plain.counts.pooledBnGrads).toBe(0);
  expect(fused.result.length).toBe(plain.result.length);
  fused.result.forEach((f, i) =>
    expect([i, Buffer.from(f.buffer).equals(Buffer.from(plain.result[i].buffer))]).toEqual([i, true]));
  await tf.setBackend('cpu');
  const want = outputsAndGradients(model, x, ws);
  await tf.setBackend('clicktrain');
  fused.result.forEach((f, i) => expect([i, ref.maxRelError(f, want[i]) < 1e-4]).toEqual([i, true]));
  tf.dispose([x, ...ws]);
  model.dispose();
  return fused.counts;
}

test.each([[5], [16], [19]])('%i channels, 2x2/2 pools: the same bits fused and unfused, tfjs cpu\'s values', async (channels) => {
  const counts = await compare(channels, 2, 2, false);
  // Two forward passes (outputs, then inside tf.grads) of two fused pools; one gradient pass, where
  // both batch-norm gradients read their pool's gradient from its argmaxes.
  expect(counts.fusedPools).toBe(4);
  expect(counts.pooledBnGrads).toBe(2);
  expect(counts.argmaxGrads + counts.plainPoolGrads).toBe(0);  // no pool gradient written out
  expect(counts.reluApplies).toBe(0);  // no relu output was ever computed
});

test('overlapping windows (3x3/2) are not fused, and stay right', async () => {
  const counts = await compare(7, 3, 2, false);
  expect(counts.fusedPools + counts.argmaxGrads + counts.pooledBnGrads).toBe(0);
});

test('a relu output also read elsewhere: fused pool, the relu computed for that reader only', async () => {
  const counts = await compare(6, 2, 2, true);
  expect(counts.fusedPools).toBeGreaterThanOrEqual(2);
  expect(counts.reluApplies).toBeGreaterThanOrEqual(1);
});

test('training a VGG block with a 2x2 pool leaks no tensors', async () => {
  const model = buildModel(8, 2, 2, false);
  model.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  const x = tf.tensor(r.floats(4 * 8 * 12 * 3), [4, 8, 12, 3]);
  const y = tf.tensor(r.floats(4 * 2 * 3 * 8), [4, 2, 3, 8]);
  await model.trainOnBatch(x, y);
  const before = tf.memory().numTensors;
  const {counts} = await countNative(() => model.trainOnBatch(x, y));
  expect(tf.memory().numTensors).toBe(before);
  expect(counts.fusedPools).toBe(2);
  expect(counts.pooledBnGrads).toBe(2);
  expect(counts.argmaxGrads + counts.reluApplies).toBe(0);
  tf.dispose([x, y]);
  model.dispose();
});

test('a pool gradient read on its own (no batch norm below) is written from the argmaxes', async () => {
  // The gradient w.r.t. the relu output: the deferred pool gradient itself, read after tf.grads.
  const model = buildModel(6, 2, 2, false);
  const x = tf.tensor(r.floats(2 * 8 * 12 * 3), [2, 8, 12, 3]);
  const [c1, b1, r1, p1] = ['c1', 'b1', 'r1', 'p1'].map((n) => model.getLayer(n));
  const gradAtRelu = () => tf.tidy(() => {
    const a = r1.apply(b1.apply(c1.apply(x), {training: true})) as tf.Tensor;
    return tf.grads((t: tf.Tensor) => tf.sum(tf.square(p1.apply(t) as tf.Tensor)))([a])[0];
  });
  setBatchNormPoolFusion(true);
  const {result: fused, counts} = await countNative(gradAtRelu);
  const fusedValues = fused.dataSync();
  setBatchNormPoolFusion(false);
  const plain = gradAtRelu();
  expect(counts.fusedPools).toBe(1);
  expect(Buffer.from(fusedValues.buffer).equals(Buffer.from(plain.dataSync().buffer))).toBe(true);
  tf.dispose([fused, plain, x]);
  model.dispose();
});
