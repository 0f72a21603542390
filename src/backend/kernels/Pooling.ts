/**
 * MaxPool, AvgPool and their gradients on the native pooling kernels. A max pool of a deferred
 * relu'd training batch norm (./batch_norm_relu.ts) with disjoint windows tiling its input (VGG's
 * 2x2/2) pools straight from the batch norm's input and statistics and keeps each window's argmax
 * on its output; its gradient then scatters dy by those argmaxes without reading the pool's input,
 * which is never computed (native/dense/max_pool_argmax.h), and is itself deferred: the batch-norm
 * gradient below reads it block by block (./max_pool_argmax.ts). At inference, a max pool of a sparse
 * conv's deferred result (with its batch norm and relu folded in) runs inside the conv. The same bits
 * as the unfused kernels.
 */
import {AvgPool, AvgPoolAttrs, AvgPoolGrad, AvgPoolGradAttrs, backend_util, MaxPool, MaxPoolAttrs, MaxPoolGrad, MaxPoolGradAttrs, TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import type {ClickTrainBackend} from '../backend';
import {convGeometry} from '../conv_geometry';
import {deferredOutput, f32, KernelArgs, nativeKernel, output} from '../kernel_utils';
import {pendingReluOfBatchNorm} from './batch_norm_relu';
import {pendingConvResult} from './conv_batch_norm';
import {MaxPoolArgmaxSource, PooledGradSource, scatterPooledGrad} from './max_pool_argmax';

/** The max pool of x from its batch-norm source, with argmaxes; null unless x is a pending relu'd
 * training batch norm and the windows tile it. */
function maxPoolOfBatchNorm(backend: ClickTrainBackend, x: TensorInfo,
                            info: backend_util.Conv2DInfo): TensorInfo | null {
  const bn = pendingReluOfBatchNorm(backend, x);
  const g = convGeometry(info);
  if (!bn || bn.rows * bn.channels !== util.sizeFromShape(x.shape) || bn.channels !== x.shape[3] ||
      !addon().maxPoolArgmaxSupported(g)) {
    return null;
  }
  const y = output(backend, info.outShape);
  const argmax = new Uint8Array(y.values.length);
  addon().maxPoolOfBatchNorm(g, bn.x, bn.mean, bn.variance, bn.scale, bn.offset, bn.epsilon, true, y.values, argmax);
  const out = y.info();
  const source: MaxPoolArgmaxSource = {kind: 'maxPoolArgmax', input: x.dataId, geometry: g, argmax};
  backend.attachSource(out.dataId, source);
  return out;
}

// CLICKTRAIN_FUSED_CONV_POOL=0: inference max pools of sparse convs run after them (comparisons).
const convPoolFusionEnabled = process.env.CLICKTRAIN_FUSED_CONV_POOL !== '0';

/** The max pool of a sparse conv's result not computed yet (inference conv -> batch norm -> relu ->
 * pool): one native call that pools each band of conv output rows while it is in cache, so the
 * conv output is never written (sparse_conv.h: SparseConv2DForwardMaxPool). Null otherwise. */
function maxPoolOfConv(backend: ClickTrainBackend, x: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo | null {
  const c = convPoolFusionEnabled ? pendingConvResult(backend, x) : null;
  if (!c?.conv.runMaxPool) return null;
  const y = output(backend, info.outShape);
  c.conv.runMaxPool(y.values, c.fold, convGeometry(info));
  return y.info();
}

function poolForward(isMax: boolean) {
  return ({inputs, backend, attrs}: KernelArgs) => {
    const {x} = inputs;
    const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as MaxPoolAttrs & AvgPoolAttrs;
    if (!x || x.dtype !== 'float32' || x.shape.length !== 4) return null;
    const info = backend_util.computePool2DInfo(
        x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
    const fused = isMax ? maxPoolOfBatchNorm(backend, x, info) ?? maxPoolOfConv(backend, x, info) : null;
    if (fused) return fused;
    const xv = f32(backend, x);  // (computes x if it is deferred)
    if (!xv) return null;
    const y = output(backend, info.outShape);
    addon().poolForward(convGeometry(info), isMax, xv, y.values);
    return y.info();
  };
}

export const maxPoolConfig = nativeKernel(MaxPool, poolForward(true));
export const avgPoolConfig = nativeKernel(AvgPool, poolForward(false));

export const maxPoolGradConfig = nativeKernel(MaxPoolGrad, ({inputs, backend, attrs}) => {
  const {dy, input, output: y} = inputs;
  const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as MaxPoolGradAttrs;
  const dyv = f32(backend, dy);
  if (!dy || !input || !dyv || input.dtype !== 'float32' || input.shape.length !== 4) return null;
  const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number], filterSize, strides, 1, pad,
      dimRoundingMode);
  const g = convGeometry(info);
  // The forward's argmaxes when it pooled this very input with this geometry: input is not read,
  // and dx is deferred (a batch-norm gradient below reads it from dy and the argmaxes).
  const s = backend.fusedSource(y?.dataId) as MaxPoolArgmaxSource | undefined;
  if (s?.kind === 'maxPoolArgmax' && s.input === input.dataId && util.arraysEqual(s.geometry, g) &&
      dyv.length === s.argmax.length) {
    const source: PooledGradSource = {kind: 'maxPoolGradArgmax', geometry: g, argmax: s.argmax, dy: dyv};
    return deferredOutput(backend, input.shape, (values) => scatterPooledGrad(source, values), {pins: [dyv], source});
  }
  const xv = f32(backend, input);
  if (!xv) return null;
  const dx = output(backend, input.shape);
  addon().maxPoolBackward(g, xv, dyv, dx.values);
  return dx.info();
});

export const avgPoolGradConfig = nativeKernel(AvgPoolGrad, ({inputs, backend, attrs}) => {
  const {dy, input} = inputs;
  const {filterSize, strides, pad} = attrs as unknown as AvgPoolGradAttrs;
  const dyv = f32(backend, dy);
  if (!dy || !input || !dyv || input.shape.length !== 4) return null;
  const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number], filterSize, strides, 1, pad);
  const dx = output(backend, input.shape);
  addon().avgPoolBackward(convGeometry(info), dyv, dx.values);
  return dx.info();
});
