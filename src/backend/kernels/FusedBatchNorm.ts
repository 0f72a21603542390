/** FusedBatchNorm: normalisation with given moments along the last axis (tfjs-layers' inference
 * path). The result is deferred: a Relu that reads it computes relu(y) from x in one pass
 * (./batch_norm_relu.ts) and y itself is never written; when x is itself a deferred conv output,
 * the batch norm folds into the conv (./conv_batch_norm.ts) and x is never written either. */
import {FusedBatchNorm, FusedBatchNormAttrs, TensorInfo, util} from '@tensorflow/tfjs-core';

import {deferredOutput, f32, nativeKernel} from '../kernel_utils';

import {applyBatchNorm, BatchNormSource, batchNormArrays} from './batch_norm_relu';
import {deferredConv, pendingConvSource} from './conv_batch_norm';

export const fusedBatchNormConfig = nativeKernel(FusedBatchNorm, ({inputs, backend, attrs}) => {
  const {x, mean, variance, scale, offset} = inputs;
  const {varianceEpsilon} = attrs as unknown as FusedBatchNormAttrs;
  const mv = f32(backend, mean), vv = f32(backend, variance);
  if (!x || !mean || !variance || !mv || !vv || x.shape.length === 0 || x.dtype !== 'float32') return null;
  // Rank mismatches get the cpu kernel's own assertion messages.
  const rank = mean.shape.length;
  if (variance.shape.length !== rank || (scale && scale.shape.length !== rank) ||
      (offset && offset.shape.length !== rank)) {
    return null;
  }
  const channels = x.shape[x.shape.length - 1];
  // tfjs cycles each parameter over the flat x; that is per-channel exactly when a parameter has
  // one value or `channels` values. Anything else goes to the cpu kernel.
  const ok = (t: TensorInfo) => {
    const n = util.sizeFromShape(t.shape);
    return n === 1 || n === channels;
  };
  let sv: Float32Array | null = null, ov: Float32Array | null = null;
  if (scale) {
    sv = f32(backend, scale);
    if (!sv || !ok(scale)) return null;
  }
  if (offset) {
    ov = f32(backend, offset);
    if (!ov || !ok(offset)) return null;
  }
  if (!ok(mean) || !ok(variance)) return null;
  const epsilon = varianceEpsilon ?? 0.001;
  const conv = pendingConvSource(backend, x);
  if (conv) {
    return deferredConv(backend, x.shape, conv,
                        {mean: mv, variance: vv, scale: sv, offset: ov, epsilon, relu: false});
  }
  const xv = f32(backend, x);
  if (!xv) return null;
  const rows = channels === 0 ? 0 : util.sizeFromShape(x.shape) / channels;
  const source: BatchNormSource = {
    kind: 'batchNorm', rows, channels, x: xv, mean: mv, variance: vv, scale: sv, offset: ov,
    epsilon,
  };
  return deferredOutput(backend, x.shape, (y) => applyBatchNorm(source, false, y),
                        {pins: batchNormArrays(source), source});
});
