/**
 * Inference max pool of a sparse conv's deferred result, run inside the conv
 * (src/backend/kernels/Pooling.ts, native SparseConv2DForwardMaxPool): the same bits as the conv,
 * batch norm, relu and pool run one by one, on the fused native paths (lane strips: batch >= 8 on
 * 24x24 images; tiny-image kernels: 8x8 and 4x4) and the fallbacks (12x12 at batch 9, batch 1,
 * overlapping windows); the pool
 * really runs inside the conv; a deferred relu that something else reads as well stays right.
 */
process.env.CLICKTRAIN_POISON_OUTPUTS = '1';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {freezeSparsity} from '../src';
import {setBatchNormReluFusion} from '../src/backend/kernels/batch_norm_relu';
import {setConvBatchNormFusion} from '../src/backend/kernels/conv_batch_norm';
import {sparseCallCounts} from '../src/sparse';
import * as ref from './helpers/reference';
import * as masksHelper from './helpers/sparse_masks';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`conv + max pool tests: seed ${seed}`);
});

afterEach(() => {
  setConvBatchNormFusion(true);
  setBatchNormReluFusion(true);
});

function fusion(on: boolean): void {
  setConvBatchNormFusion(on);
  setBatchNormReluFusion(on);
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    .equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** conv (dense) -> BN -> relu -> [conv s2 (sparse) -> BN -> relu -> pool] -> [conv s3 (sparse,
 * relu activation, no BN) -> pool], pools of `poolSize` with `strides`, then a dense head. With
 * `branch`, the relu before the first pool is also read by a global max pool (another reader). */
function model(size: number, channels: number, poolSize: number, strides: number, branch: boolean) {
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
])('batch %i, %i-pixel images, %i channels, pool %i / stride %i, second reader %s: the same bits as unfused',
   (batch, size, channels, poolSize, strides, branch) => {
     const m = model(size, channels, poolSize, strides, branch);
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
  const m = model(24, 8, 2, 2, false);
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
