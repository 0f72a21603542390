/**
 * A frozen sparse conv of a relu'd training batch norm reads its input through the batch norm
 * (src/backend/kernels/batch_norm_relu.ts: convInputThroughBatchNorm; native SparseConv2DForward /
 * SparseConv2DBackpropFilter with an input batch norm): the relu output is never computed. Outputs,
 * gradients and trained weights must have the same bits with the fusion on and off, on the lane
 * strips (24x24), the tiny-image kernels (8x8) and the paths that compute the input first (batch 2);
 * the fused calls must really run; a relu output also read elsewhere stays right.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src';
import {setBatchNormConvFusion} from '../src/backend/kernels/batch_norm_relu';
import {addon} from '../src/native/addon';
import {sparseCallCounts} from '../src/sparse';
import * as ref from './helpers/reference';
import {frozenBlocksModel, outputsAndGradients, randomOutputWeights, trainTwoSteps} from './helpers/training';
import * as masksHelper from './helpers/sparse_masks';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`batch norm -> sparse conv tests: seed ${seed}`);
});

afterEach(() => setBatchNormConvFusion(true));

type Masks = {s2: Uint16Array, s3: Uint16Array};
const randomMasks = (channels: number): Masks => ({
  s2: masksHelper.randomMasks(r, channels, channels, 0.5),
  s3: masksHelper.randomMasks(r, channels, channels, 0.75),
});

/** The frozen s2, s3 blocks model (helpers/training.ts); masks random unless given. */
function buildModel(size: number, channels: number, exposeRelu: boolean, masks: Masks = randomMasks(channels),
                    init?: tf.Tensor[]): tfl.LayersModel {
  return frozenBlocksModel(size, channels, masks, {init, exposeRelu});
}

/** Runs fn, counting the relu'd batch-norm outputs computed (batchNormTrainingApply with relu). */
async function countReluApplies<T>(fn: () => T | Promise<T>): Promise<{result: T, reluApplies: number, through: number}> {
  const a = addon() as unknown as {[k: string]: (...args: unknown[]) => unknown};
  const apply = a.batchNormTrainingApply;
  let reluApplies = 0;
  a.batchNormTrainingApply = (...args) => {
    if (args[8]) reluApplies++;
    return apply(...args);
  };
  const before = sparseCallCounts.inputBatchNorm;
  try {
    const result = await fn();
    return {result, reluApplies, through: sparseCallCounts.inputBatchNorm - before};
  } finally {
    a.batchNormTrainingApply = apply;
  }
}

const same = ref.sameBits;

test.each([
  [9, 24, 10, false],  // lane strips (forward and backward-filter)
  [17, 8, 12, false],  // tiny-image kernels, a partly filled third lane group
  [2, 8, 6, false],    // batch 2: flat images / whole input computed first
  [9, 24, 7, true],    // the first relu also a model output
])('batch %i, %i-pixel images, %i channels, relu exposed %s: the same bits with and without the fusion',
   async (batch, size, channels, exposeRelu) => {
     const model = buildModel(size, channels, exposeRelu);
     const x = tf.tensor(r.floats(batch * size * size * 3), [batch, size, size, 3]);
     const ws = randomOutputWeights(model, batch, r);
     setBatchNormConvFusion(false);
     const plain = await countReluApplies(() => outputsAndGradients(model, x, ws));
     setBatchNormConvFusion(true);
     const fused = await countReluApplies(() => outputsAndGradients(model, x, ws));
     expect(plain.through).toBe(0);
     // s2 and s3 read their inputs through the batch norms: forward (twice: outputs, then inside
     // tf.grads) and backward-filter; but s2's backward-filter when the exposed relu was computed
     // (for the loss) before it ran.
     expect(fused.through).toBe(exposeRelu ? 5 : 6);
     // The relu outputs feeding s2 and s3 are never computed: only s3's (read by the dense head)
     // and the exposed one, once per forward pass.
     expect(plain.reluApplies).toBe(6);
     expect(fused.reluApplies).toBe(exposeRelu ? 4 : 2);
     expect(fused.result.length).toBe(plain.result.length);
     fused.result.forEach((f, i) => expect([i, same(f, plain.result[i])]).toEqual([i, true]));
     tf.dispose([x, ...ws]);
     model.dispose();
   });

test('training steps give the same weights with and without the fusion, and leak no tensors', async () => {
  const masks = randomMasks(8);
  const start = buildModel(24, 8, false, masks);
  const init = start.getWeights().map((t) => t.clone());
  start.dispose();
  const x = tf.tensor(r.floats(9 * 24 * 24 * 3), [9, 24, 24, 3]);
  const y = tf.tensor(r.floats(9 * 3), [9, 3]);
  const weightsAfterTraining = async (fusion: boolean) => {
    setBatchNormConvFusion(fusion);
    const {weights, counted} = await trainTwoSteps(buildModel(24, 8, false, masks, init), x, y,
                                                   (step) => countReluApplies(step));
    return {w: weights, through: counted.through};
  };
  const plain = await weightsAfterTraining(false);
  const fused = await weightsAfterTraining(true);
  expect(plain.through).toBe(0);
  expect(fused.through).toBe(4);  // s2 and s3: forward and backward-filter
  expect(fused.w.length).toBe(plain.w.length);
  fused.w.forEach((w, i) => expect([i, same(w, plain.w[i])]).toEqual([i, true]));
  tf.dispose([x, y, ...init]);
});
