/**
 * Batch norm + relu fused while training (src/backend/kernels/batch_norm_relu.ts): a model's
 * outputs and gradients must have the same bits with the fusion on and off, and equal tfjs's cpu
 * backend; the fused kernels must really run; a deferred batch-norm output must stay right when
 * its input tensor is freed and its buffer would be reused.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src';
import {addon} from '../src/native/addon';
import {setBatchNormReluFusion} from '../src/backend/kernels/batch_norm_relu';
import {setConvBatchNormFusion} from '../src/backend/kernels/conv_batch_norm';
import * as ref from './helpers/reference';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`batch norm + relu tests: seed ${seed}`);
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);  // the cpu backend's "use tfjs-node"
});

afterEach(() => setBatchNormReluFusion(true));

/** conv -> BN -> relu -> conv -> BN -> (relu + the BN output itself, as a residual block reads it). */
function buildModel(channels: number): tfl.LayersModel {
  const input = tfl.input({shape: [6, 5, 3]});
  const conv = (x: tfl.SymbolicTensor, name: string) => tfl.layers.conv2d(
      {filters: channels, kernelSize: 3, padding: 'same', useBias: false, name, kernelInitializer: 'glorotNormal'})
      .apply(x) as tfl.SymbolicTensor;
  const bn = (x: tfl.SymbolicTensor, name: string) => tfl.layers.batchNormalization({name}).apply(x) as tfl.SymbolicTensor;
  const relu = (x: tfl.SymbolicTensor, name: string) => tfl.layers.reLU({name}).apply(x) as tfl.SymbolicTensor;
  const a = relu(bn(conv(input, 'c1'), 'b1'), 'r1');
  const b = bn(conv(a, 'c2'), 'b2');
  const out = tfl.layers.add({name: 'add'}).apply([relu(b, 'r2'), b]) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: out});
}

interface Counts {applyPlain: number, applyRelu: number, foldedGrads: number, plainGrads: number,
                  inferencePlain: number, inferenceRelu: number}

/** Runs fn (awaited), counting the native batch-norm calls by kind. */
async function countNative<T>(fn: () => T | Promise<T>): Promise<{result: T, counts: Counts}> {
  const a = addon() as unknown as {[k: string]: (...args: unknown[]) => unknown};
  const apply = a.batchNormTrainingApply, grad = a.batchNormTrainingGrad, inference = a.batchNorm;
  const sums = a.batchNormTrainingGradSums;  // a gradient whose dx is deferred (batch_norm_grad_dy.ts)
  const counts: Counts = {applyPlain: 0, applyRelu: 0, foldedGrads: 0, plainGrads: 0, inferencePlain: 0, inferenceRelu: 0};
  a.batchNorm = (...args) => {
    counts[args[9] ? 'inferenceRelu' : 'inferencePlain']++;
    return inference(...args);
  };
  a.batchNormTrainingApply = (...args) => {
    counts[args[8] ? 'applyRelu' : 'applyPlain']++;
    return apply(...args);
  };
  a.batchNormTrainingGrad = (...args) => {
    counts[args[11] ? 'foldedGrads' : 'plainGrads']++;
    return grad(...args);
  };
  a.batchNormTrainingGradSums = (...args) => {
    counts[args[11] ? 'foldedGrads' : 'plainGrads']++;
    return sums(...args);
  };
  try {
    return {result: await fn(), counts};
  } finally {
    a.batchNormTrainingApply = apply;
    a.batchNormTrainingGrad = grad;
    a.batchNormTrainingGradSums = sums;
    a.batchNorm = inference;
  }
}

/** Output and gradients (input and every weight) of sum(out * w) in training mode. */
function outputsAndGradients(model: tfl.LayersModel, x: tf.Tensor, w: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const vars = model.trainableWeights.map((v) => v.read());
    const f = (xx: tf.Tensor) => tf.sum(tf.mul(model.apply(xx, {training: true}) as tf.Tensor, w));
    const out = model.apply(x, {training: true}) as tf.Tensor;
    const grads = tf.grads((xx: tf.Tensor, ..._v: tf.Tensor[]) => f(xx))([x, ...vars]);
    return [out, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

test.each([[5], [16], [21]])('%i channels: the same bits fused and unfused, tfjs cpu\'s values', async (channels) => {
  const model = buildModel(channels);
  const x = tf.tensor(r.floats(3 * 6 * 5 * 3), [3, 6, 5, 3]);
  const w = tf.tensor(r.floats(3 * 6 * 5 * channels), [3, 6, 5, channels]);
  setBatchNormReluFusion(true);
  const {result: fused, counts} = await countNative(() => outputsAndGradients(model, x, w));
  setBatchNormReluFusion(false);
  const {result: plain, counts: plainCounts} = await countNative(() => outputsAndGradients(model, x, w));
  // Fused: b1's relu from its input (twice: the output pass and the gradient pass), b1's gradient
  // folded; b2's output is also read by the add, so its y is computed and its gradient is not folded.
  expect(counts.applyRelu).toBeGreaterThanOrEqual(2);
  expect(counts.foldedGrads).toBeGreaterThanOrEqual(1);
  expect(plainCounts.applyRelu + plainCounts.foldedGrads).toBe(0);
  expect(fused.length).toBe(plain.length);
  fused.forEach((f, i) => expect([i, Buffer.from(f.buffer).equals(Buffer.from(plain[i].buffer))]).toEqual([i, true]));

  await tf.setBackend('cpu');
  const want = outputsAndGradients(model, x, w);
  await tf.setBackend('clicktrain');
  fused.forEach((f, i) => expect([i, ref.maxRelError(f, want[i]) < 1e-4]).toEqual([i, true]));
  model.dispose();
});

test('training a conv-BN-relu model leaks no tensors and reads no deferred batch-norm output', async () => {
  const model = buildModel(8);
  model.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  const x = tf.tensor(r.floats(4 * 6 * 5 * 3), [4, 6, 5, 3]);
  const y = tf.tensor(r.floats(4 * 6 * 5 * 8), [4, 6, 5, 8]);
  await model.trainOnBatch(x, y);
  const before = tf.memory().numTensors;
  const {counts} = await countNative(() => model.trainOnBatch(x, y));
  expect(tf.memory().numTensors).toBe(before);
  expect(counts.foldedGrads).toBe(1);  // b1 (b2's output also feeds the add)
  expect(counts.applyPlain).toBe(1);   // b2's y, read by the add; b1's y never computed
  model.dispose();
});

test('inference (FusedBatchNorm): the same bits fused and unfused, relu from the batch norm\'s input', async () => {
  const model = buildModel(12);
  const x = tf.tensor(r.floats(2 * 6 * 5 * 3), [2, 6, 5, 3]);
  const predict = () => (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  setConvBatchNormFusion(false);  // the batch norm on its own here (the conv fold: backend_conv_batch_norm)
  setBatchNormReluFusion(true);
  const {result: fused, counts} = await countNative(predict);
  setBatchNormReluFusion(false);
  const {result: plain, counts: plainCounts} = await countNative(predict);
  expect(counts.inferenceRelu).toBe(2);   // b1 -> r1 and b2 -> r2
  expect(counts.inferencePlain).toBe(1);  // b2's y, read by the add
  expect(plainCounts.inferenceRelu).toBe(0);
  expect(Buffer.from(fused.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
  setConvBatchNormFusion(true);
  model.dispose();
});

test('a deferred batch-norm output keeps its input: freed and its buffer offered for reuse', async () => {
  const shape = [4, 8, 8, 32];  // 8192 floats: pooled buffers
  const n = 4 * 8 * 8 * 32;
  const av = r.floats(n), bv = r.floats(n);
  const a = tf.tensor(av, shape), b = tf.tensor(bv, shape);
  // A native kernel's output, never read out: its buffer goes back to the pool when it is freed.
  const x = tf.add(a, b);
  const xValues = Float32Array.from(av, (v, i) => v + bv[i]);
  const scale = tf.tensor1d(Float32Array.from(r.floats(32), (v) => v + 1.5)), offset = tf.tensor1d(r.floats(32));
  const [yt, mean, variance] = tf.engine().runKernel(
      'ClickTrainBatchNormTraining', {x, scale, offset}, {varianceEpsilon: 1e-3}) as tf.Tensor[];
  // Expected y from the statistics (float64).
  const mv = mean.dataSync(), vv = variance.dataSync(), sv = scale.dataSync(), ov = offset.dataSync();
  const want = Float64Array.from(xValues, (v, i) => {
    const c = i % 32;
    return ov[c] + (v - mv[c]) * sv[c] / Math.sqrt(vv[c] + 1e-3);
  });
  x.dispose();
  const others = [tf.sub(a, b), tf.mul(a, b), tf.add(b, a)];  // would take x's buffer if it were free
  const got = yt.dataSync();
  expect(ref.maxRelError(got, want)).toBeLessThan(1e-5);
  tf.dispose([a, b, yt, mean, variance, scale, offset, ...others]);
});

test('a relu gradient of a batch norm read after the gradient computation ended', () => {
  // The gradient w.r.t. a batch norm's output through a relu is the deferred relu gradient itself;
  // here it is read after tf.grads and the tidy have freed the tensors it came from.
  const layer = tfl.layers.batchNormalization({});
  const x = tf.tensor(r.floats(2 * 3 * 3 * 6), [2, 3, 3, 6]);
  const w = tf.tensor(r.floats(2 * 3 * 3 * 6), [2, 3, 3, 6]);
  const gradAtOutput = () => tf.tidy(() => {
    const y = layer.apply(x, {training: true}) as tf.Tensor;
    return tf.grads((b: tf.Tensor) => tf.sum(tf.mul(tf.relu(b), w)))([y])[0];
  });
  setBatchNormReluFusion(true);
  const fused = gradAtOutput();
  setBatchNormReluFusion(false);
  const plain = gradAtOutput();
  expect(Buffer.from(fused.dataSync().buffer).equals(Buffer.from(plain.dataSync().buffer))).toBe(true);
  tf.dispose([fused, plain, x, w]);
});
