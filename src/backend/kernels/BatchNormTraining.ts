/**
 * Training-mode batch norm as one kernel, and its gradient as another (see ../batch_norm_layer.ts,
 * which routes tfjs-layers' BatchNormalization here while training on this backend).
 *
 * tfjs-layers trains batch norm as moments (Mean, Sub, Square, Mean) + FusedBatchNorm; autodiff
 * then runs each op's gradient (Tiles of the mean gradients, Square and Sub gradients, the adds
 * joining the three paths back to x): ~25 activation-sized passes per layer and step. Here the
 * forward is 3 passes (batch statistics, then y) and the backward 5 (two sums, then dx), with the
 * gradient through the batch statistics in closed form. Unless a max pool follows, dx is returned
 * deferred (computed when read): the conv that fed the batch norm may read its rows without it
 * being written (./batch_norm_grad_dy.ts).
 *
 * BATCH_NORM_TRAINING: inputs x [..., C] float32, scale and offset [C] (each optional), attr
 * varianceEpsilon; outputs y, and the batch mean and (biased) variance [C], as tf.moments gives.
 */
import {add, div, engine, GradConfig, KernelConfig, mean as meanOp, mul, NamedAttrMap, reshape, rsqrt, square, sub, sum, Tensor, TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {deferredOutput, f32, KernelArgs, output} from '../kernel_utils';

import {batchNormGradConvFusion, deferredBatchNormGradDx} from './batch_norm_grad_dy';
import {applyBatchNorm, BatchNormSource, batchNormArrays, reluGradSourceOf} from './batch_norm_relu';

export const BATCH_NORM_TRAINING = 'ClickTrainBatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'ClickTrainBatchNormTrainingGrad';
export const MOVING_AVERAGES = 'ClickTrainMovingAverages';

function channelsOf(x: TensorInfo): {rows: number, channels: number} {
  const channels = x.shape[x.shape.length - 1];
  return {rows: channels === 0 ? 0 : util.sizeFromShape(x.shape) / channels, channels};
}

/** Float32 data of a [channels] parameter, null when absent; throws on anything else. */
function param(backend: KernelArgs['backend'], t: TensorInfo | null | undefined, channels: number, name: string) {
  if (!t) return null;
  const v = f32(backend, t);
  if (!v || t.shape.length !== 1 || t.shape[0] !== channels) {
    throw new Error(`clicktrain: ${name} must be float32 [${channels}]`);
  }
  return v;
}

function data(backend: KernelArgs['backend'], t: TensorInfo | null | undefined, kernel: string): Float32Array {
  const v = f32(backend, t);
  if (!v || !t || t.shape.length < 1) throw new Error(`clicktrain: ${kernel} needs float32 tensors of rank >= 1`);
  return v;
}

function eps(attrs: NamedAttrMap | undefined): number {
  return (attrs as {varianceEpsilon?: number} | undefined)?.varianceEpsilon ?? 0.001;
}

function batchNormTraining({inputs, backend, attrs}: KernelArgs): TensorInfo[] {
  const {x, scale, offset} = inputs;
  const xv = data(backend, x, BATCH_NORM_TRAINING);
  const {rows, channels} = channelsOf(x!);
  const sv = param(backend, scale, channels, 'scale'), ov = param(backend, offset, channels, 'offset');
  const mean = output(backend, [channels]), variance = output(backend, [channels]);
  // The statistics now; y when first read, or never when a relu follows (./batch_norm_relu.ts).
  addon().batchNormTraining(rows, channels, xv, sv, ov, eps(attrs), null, mean.values, variance.values);
  const source: BatchNormSource = {
    kind: 'batchNormTraining', rows, channels, x: xv, mean: mean.values, variance: variance.values,
    scale: sv, offset: ov, epsilon: eps(attrs),
  };
  const y = deferredOutput(backend, x!.shape, (values) => applyBatchNorm(source, false, values),
                           {pins: batchNormArrays(source), source});
  return [y, mean.info(), variance.info()];
}

function batchNormTrainingGrad({inputs, backend, attrs}: KernelArgs): TensorInfo[] {
  const {x, dy, mean, variance, scale} = inputs;
  const xv = data(backend, x, BATCH_NORM_TRAINING_GRAD);
  if (!util.arraysEqual(x!.shape, dy!.shape)) throw new Error(`clicktrain: ${BATCH_NORM_TRAINING_GRAD}: dy must have x's shape`);
  const {rows, channels} = channelsOf(x!);
  const mv = param(backend, mean, channels, 'mean'), vv = param(backend, variance, channels, 'variance');
  if (!mv || !vv) throw new Error(`clicktrain: ${BATCH_NORM_TRAINING_GRAD} needs mean and variance`);
  const sv = param(backend, scale, channels, 'scale');
  // dy the deferred relu gradient of this very forward's y (same x, statistics, scale and epsilon):
  // take the relu gradient here instead (./batch_norm_relu.ts); dy's own values are never computed.
  const relu = reluGradSourceOf(backend, dy);
  const bn = relu?.bn;
  const folded = !!bn && bn.x === xv && bn.mean === mv && bn.variance === vv && bn.scale === sv &&
      bn.epsilon === eps(attrs) && bn.rows === rows && bn.channels === channels;
  const dscale = output(backend, [channels]), doffset = output(backend, [channels]);
  const pooled = folded ? relu!.pooled : null;
  if (!pooled && batchNormGradConvFusion()) {
    // The sums now, dx when read, or row by row inside the backward passes of the conv that fed
    // this batch norm (./batch_norm_grad_dy.ts).
    const dyv = folded ? relu!.dy! : data(backend, dy, BATCH_NORM_TRAINING_GRAD);
    const offset = folded ? bn!.offset : null;
    const coefficients = new Float32Array(3 * channels);
    addon().batchNormTrainingGradSums(rows, channels, xv, dyv, mv, vv, sv, eps(attrs), dscale.values, doffset.values,
                                      coefficients, folded, offset);
    const dx = deferredBatchNormGradDx(backend, x!.shape, {
      x: xv, dy: dyv, mean: mv, variance: vv, scale: sv, offset, epsilon: eps(attrs), relu: folded, coefficients,
    });
    return [dx, dscale.info(), doffset.info()];
  }
  const dx = output(backend, x!.shape);
  if (pooled) {
    // dy below a max pool: read from the pool's gradient and argmaxes (./max_pool_argmax.ts).
    addon().batchNormTrainingGradPooledDy(rows, channels, xv, pooled.geometry, pooled.argmax, pooled.dy, mv, vv, sv,
                                          eps(attrs), dx.values, dscale.values, doffset.values, true, bn!.offset);
  } else {
    const dyv = folded ? relu!.dy! : data(backend, dy, BATCH_NORM_TRAINING_GRAD);
    addon().batchNormTrainingGrad(rows, channels, xv, dyv, mv, vv, sv, eps(attrs), dx.values, dscale.values,
                                  doffset.values, folded, folded ? bn!.offset : null);
  }
  return [dx.info(), dscale.info(), doffset.info()];
}

/**
 * Both moving averages of a batch-norm layer in one kernel: tfjs-layers' update
 * moving - (moving - batch) * decay for mean and variance (decay = 1 - momentum) took three ops
 * each. Float32 rounding after every operation, as those ops (a double result of one float32
 * operation rounds to the float32 result). Inputs mean, variance, batchMean, batchVariance, all
 * [C] float32; outputs the new mean and variance.
 */
function movingAverages({inputs, backend, attrs}: KernelArgs): TensorInfo[] {
  const decay = Math.fround((attrs as {decay?: number} | undefined)?.decay ?? NaN);
  const names = ['mean', 'variance', 'batchMean', 'batchVariance'];
  const [m, v, bm, bv] = names.map((k) => data(backend, inputs[k], MOVING_AVERAGES));
  if (m.length !== bm.length || v.length !== bv.length) throw new Error(`clicktrain: ${MOVING_AVERAGES}: sizes differ`);
  const update = (moving: Float32Array, batch: Float32Array, shape: number[]) => {
    const out = output(backend, shape);
    for (let i = 0; i < moving.length; i++) {
      const o = moving[i];
      out.values[i] = o - Math.fround(Math.fround(o - batch[i]) * decay);
    }
    return out.info();
  };
  return [update(m, bm, inputs.mean!.shape), update(v, bv, inputs.variance!.shape)];
}

export const movingAveragesConfig: KernelConfig = {
  kernelName: MOVING_AVERAGES,
  backendName: 'clicktrain',
  kernelFunc: movingAverages as unknown as KernelConfig['kernelFunc'],
};

export const batchNormTrainingConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAINING,
  backendName: 'clicktrain',
  kernelFunc: batchNormTraining as unknown as KernelConfig['kernelFunc'],
};

export const batchNormTrainingGradConfig: KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: 'clicktrain',
  kernelFunc: batchNormTrainingGrad as unknown as KernelConfig['kernelFunc'],
};

/** The same gradient from differentiable ops (for gradients of gradients: the tape is on). The
 * statistics are recomputed from x: tfjs's tape records the saved copies of a kernel's outputs
 * before the kernel itself, so a second-order gradient through saved outputs would be lost. */
function gradientFromOps(x: Tensor, dy: Tensor, scale: Tensor | undefined, epsilon: number): Tensor[] {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const mean = meanOp(x, axes, true);
  const variance = meanOp(square(sub(x, mean)), axes, true);
  const r = rsqrt(add(variance, epsilon));
  const xhat = mul(sub(x, mean), r);
  const dyXhat = meanOp(mul(dy, xhat), axes);
  const centred = sub(sub(dy, meanOp(dy, axes)), mul(xhat, dyXhat));
  const dx = mul(scale ? mul(scale, r) : r, centred);
  return [dx, sum(mul(dy, xhat), axes), sum(dy, axes)];
}

/** Gradient w.r.t. x, scale and offset. The mean and variance outputs are statistics for the
 * moving averages; should a gradient reach them, it is added through dmean/n + dvar*2(x-mean)/n. */
export const batchNormTrainingGradient: GradConfig = {
  kernelName: BATCH_NORM_TRAINING,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dmean, dvariance] = dys as Tensor[];
    const [x, scale, mean, variance] = saved as Array<Tensor | undefined>;
    const epsilon = eps(attrs);
    const [dx0, dscale, doffset] = engine().isTapeOn() ?
        gradientFromOps(x!, dy, scale, epsilon) :
        engine().runKernel(BATCH_NORM_TRAINING_GRAD, scale ? {x: x!, dy, mean: mean!, variance: variance!, scale} :
                                                             {x: x!, dy, mean: mean!, variance: variance!},
                           {varianceEpsilon: epsilon}) as Tensor[];
    const n = x!.size / Math.max(1, x!.shape[x!.shape.length - 1]);
    const nonZero = (t: Tensor | undefined) => t && t.dataSync().some((v) => v !== 0);
    let dx = dx0;
    if (nonZero(dmean) || nonZero(dvariance)) {
      const bshape = x!.shape.map((d, i) => (i === x!.shape.length - 1 ? d : 1));
      dx = add(dx, add(reshape(div(dmean, n), bshape), mul(sub(x!, mean!), reshape(div(mul(dvariance, 2), n), bshape))));
    }
    return {x: () => dx, scale: () => dscale, offset: () => doffset};
  },
};
