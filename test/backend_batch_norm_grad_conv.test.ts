/**
 * The backward passes of a conv read the input gradient of the training batch norm it feeds without
 * that gradient being written (src/backend/kernels/batch_norm_grad_dy.ts): the backward-filter of a
 * conv with few input channels (native Conv2DBackpropFilter with a BatchNormGradDx), and both
 * backward passes of a frozen sparse conv on the tiny-image kernels. Outputs, gradients and trained
 * weights must have the same bits with the fusion on and off, with and without a relu after the
 * batch norm; the fused calls must really run and the batch norm's dx must never be computed when
 * only the conv reads it; a dx also read elsewhere (the input's gradient, a bias) stays right.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src';
import {batchNormGradConvCounts, setBatchNormGradConvFusion} from '../src/backend/kernels/batch_norm_grad_dy';
import {addon, ConvGeometry} from '../src/native/addon';
import {sparseCallCounts} from '../src/sparse';
import * as ref from './helpers/reference';
import * as masksHelper from './helpers/sparse_masks';
import {frozenBlocksModel, outputsAndGradients, randomOutputWeights, trainTwoSteps} from './helpers/training';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`batch norm gradient -> conv tests: seed ${seed}`);
});

afterEach(() => setBatchNormGradConvFusion(true));

/** RGB conv (c1) -> BN (-> relu) -> conv (one channel more: its batch norm's dx has another size) ->
 * BN -> relu -> dense head. */
function buildModel(size: number, channels: number, relu: boolean, bias: boolean, init?: tf.Tensor[]): tfl.LayersModel {
  const input = tfl.input({shape: [size, size, 3]});
  const conv = (x: tfl.SymbolicTensor, name: string, useBias: boolean) => tfl.layers.conv2d(
      {filters: name === 'c1' ? channels : channels + 1, kernelSize: 3, padding: 'same', useBias, name,
       kernelInitializer: 'glorotNormal', biasInitializer: 'randomNormal'}).apply(x) as tfl.SymbolicTensor;
  const bn = (x: tfl.SymbolicTensor) => tfl.layers.batchNormalization(
      {gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal'}).apply(x) as tfl.SymbolicTensor;
  const reLU = (x: tfl.SymbolicTensor) => tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  const b1 = bn(conv(input, 'c1', bias));
  const b2 = reLU(bn(conv(relu ? reLU(b1) : b1, 'c2', false)));
  const head = tfl.layers.dense({units: 3}).apply(tfl.layers.flatten().apply(b2)) as tfl.SymbolicTensor;
  const model = tfl.model({inputs: input, outputs: head});
  if (init) model.setWeights(init);
  return model;
}

/** Runs fn, counting the fused backward-filter calls and the batch-norm dx computed for c1's batch
 * norm (rows x channels floats). */
async function countFused<T>(fn: () => T | Promise<T>, firstDxLength: number) {
  const a = addon() as unknown as {[k: string]: (...args: unknown[]) => unknown};
  const dxOf = a.batchNormTrainingGradDx, grad = a.batchNormTrainingGrad;
  let firstDx = 0;
  const count = (dx: unknown) => {
    if ((dx as Float32Array).length === firstDxLength) firstDx++;
  };
  a.batchNormTrainingGradDx = (...args) => {
    count(args[11]);
    return dxOf(...args);
  };
  a.batchNormTrainingGrad = (...args) => {
    count(args[8]);
    return grad(...args);
  };
  const before = batchNormGradConvCounts.fused;
  try {
    const result = await fn();
    return {result, fused: batchNormGradConvCounts.fused - before, firstDx};
  } finally {
    a.batchNormTrainingGradDx = dxOf;
    a.batchNormTrainingGrad = grad;
  }
}

const same = ref.sameBits;

test('the native query says which geometries read dy row by row', () => {
  const g = (inC: number): ConvGeometry => [2, 6, 6, inC, 6, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1];
  expect(addon().conv2dReadsDyRows(g(3))).toBe(true);
  expect(addon().conv2dReadsDyRows(g(9))).toBe(false);
});

test.each([
  [5, 7, 6, true],    // relu after the first batch norm (its gradient folded into dy's rows)
  [2, 12, 17, false], // no relu; channels past a vector; rows of 12 pixels
  [1, 5, 3, true],    // batch 1
])('batch %i, %i-pixel images, %i channels, relu %s: training gradients have the same bits with and without the fusion',
   async (batch, size, channels, relu) => {
     const model = buildModel(size, channels, relu, false);
     const x = tf.tensor(r.floats(batch * size * size * 3), [batch, size, size, 3]);
     const y = tf.tensor(r.floats(batch * 3), [batch, 3]);
     const dxLength = batch * size * size * channels;
     const init = model.getWeights().map((t) => t.clone());
     const weightsAfterTraining = async (fusion: boolean) => {
       setBatchNormGradConvFusion(fusion);
       const {weights, counted} = await trainTwoSteps(buildModel(size, channels, relu, false, init), x, y,
                                                      (step) => countFused(step, dxLength));
       return {w: weights, ...counted};
     };
     const plain = await weightsAfterTraining(false);
     const fused = await weightsAfterTraining(true);
     expect(plain.fused).toBe(0);
     expect(plain.firstDx).toBe(1);  // c1's batch norm's dx, written and read by c1's backward-filter
     expect(fused.fused).toBe(channels <= 4 ? 2 : 1);  // c2 too when it has few input channels
     expect(fused.firstDx).toBe(0);  // never computed: read row by row, c1's input gradient unread
     expect(fused.w.length).toBe(plain.w.length);
     fused.w.forEach((w, i) => expect([i, same(w, plain.w[i])]).toEqual([i, true]));
     tf.dispose([x, y, ...init]);
     model.dispose();
   });

test.each([[false], [true]])('with the input gradient read too (bias on c1: %s), gradients have the same bits', async (bias) => {
  const model = buildModel(6, 5, true, bias);
  const x = tf.tensor(r.floats(3 * 6 * 6 * 3), [3, 6, 6, 3]);
  const ws = randomOutputWeights(model, 3, r);
  setBatchNormGradConvFusion(false);
  const plain = await countFused(() => outputsAndGradients(model, x, ws), 3 * 6 * 6 * 5);
  setBatchNormGradConvFusion(true);
  const fused = await countFused(() => outputsAndGradients(model, x, ws), 3 * 6 * 6 * 5);
  expect(plain.fused).toBe(0);
  // The backward-filter reads dx row by row; the input's gradient computes dx when read. With a
  // bias, the bias gradient (which tfjs runs after the filter's) computes dx as well, and the input's
  // gradient, read after that dx tensor is gone, computes it again from the pinned arrays.
  expect(fused.fused).toBe(1);
  expect(fused.firstDx).toBe(bias ? 2 : 1);
  expect(fused.result.length).toBe(plain.result.length);
  fused.result.forEach((f, i) => expect([i, same(f, plain.result[i])]).toEqual([i, true]));
  tf.dispose([x, ...ws]);
  model.dispose();
});

test.each([
  [9, 8, 12, true],   // the tiny-image kernels read dy's rows; a partly filled second lane group
  [8, 4, 9, true],    // 4x4 images
  [17, 2, 10, true],  // 2x2 images, batch 17: two 16-image lane groups on AVX-512, the second with one
  [3, 8, 6, false],   // batch 3: other kernels, dy computed whole first (in JS, once for both passes)
])('frozen sparse layers, batch %i, %i-pixel images, %i channels: the same trained weights with and without the fusion (rows read: %s)',
   async (batch, size, channels, rows) => {
     const masks = {s2: masksHelper.randomMasks(r, channels, channels, 0.5),
                    s3: masksHelper.randomMasks(r, channels, channels, 0.75)};
     const start = frozenBlocksModel(size, channels, masks);
     const init = start.getWeights().map((t) => t.clone());
     start.dispose();
     const x = tf.tensor(r.floats(batch * size * size * 3), [batch, size, size, 3]);
     const y = tf.tensor(r.floats(batch * 3), [batch, 3]);
     const weightsAfterTraining = async (fusion: boolean) => {
       setBatchNormGradConvFusion(fusion);
       const {weights, counted} = await trainTwoSteps(frozenBlocksModel(size, channels, masks, {init}), x, y, async (step) => {
         const before = {sparse: sparseCallCounts.outputBatchNormGrad, dense: batchNormGradConvCounts.fused};
         await step();
         return {sparse: sparseCallCounts.outputBatchNormGrad - before.sparse, dense: batchNormGradConvCounts.fused - before.dense};
       });
       return {w: weights, counts: counted};
     };
     const plain = await weightsAfterTraining(false);
     const fused = await weightsAfterTraining(true);
     expect(plain.counts).toEqual({sparse: 0, dense: 0});
     // s2 and s3: backward-data and backward-filter each; s1 (dense, RGB): backward-filter.
     expect(fused.counts).toEqual({sparse: rows ? 4 : 0, dense: 1});
     expect(fused.w.length).toBe(plain.w.length);
     fused.w.forEach((w, i) => expect([i, same(w, plain.w[i])]).toEqual([i, true]));
     tf.dispose([x, y, ...init]);
   });
