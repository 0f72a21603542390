/**
 * Batch norm followed by a relu, in fewer passes (the conv -> batch norm -> relu block of VGG and
 * ResNet): the batch norms return y deferred (training: ./BatchNormTraining.ts; inference:
 * FusedBatchNorm), so
 * - Relu of that y is computed from x and the statistics in one pass (read x, write relu(y)) and y
 *   itself is never written;
 * - the relu gradient (ClickTrainReluGrad) of that y is returned deferred too, and the batch-norm
 *   gradient that receives it takes the relu gradient on the way in, recomputing y from x: the
 *   relu gradient's pass over three activation-sized arrays is gone.
 * - in training, relu(y) is itself returned deferred: a max pool of it reads it from x and the
 *   statistics row by row and records its argmaxes, and the pool's gradient scatters from those
 *   (./Pooling.ts), so relu(y) is never written, read by the pool, nor read again by its gradient.
 * - in training, a sparse conv of relu(y) (its forward and backward-filter) reads x through the
 *   batch norm as it converts x to its lane layout, so relu(y) is never written at all
 *   (convInputThroughBatchNorm; CLICKTRAIN_FUSED_BN_CONV=0 turns that part off).
 * All recompute y with the forward's own native code and arrays (pinned, see backend.ts), so every
 * result has the bits of the unfused ops. Any other reader of the deferred tensors gets their values
 * computed on first read. CLICKTRAIN_FUSED_BN_RELU=0 turns the fusion off (for comparisons),
 * CLICKTRAIN_FUSED_BN_POOL=0 only the max pool's part.
 */
import {TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon, InputBatchNorm} from '../../native/addon';
import type {ClickTrainBackend} from '../backend';
import {deferredOutput, f32, output} from '../kernel_utils';

import {PooledGradSource, pendingPooledGrad, pooledGradShape, scatterPooledGrad} from './max_pool_argmax';

let fusionEnabled = process.env.CLICKTRAIN_FUSED_BN_RELU !== '0';
let poolFusionEnabled = process.env.CLICKTRAIN_FUSED_BN_POOL !== '0';
let convFusionEnabled = process.env.CLICKTRAIN_FUSED_BN_CONV !== '0';

/** Turns the fusion on or off for the kernels that run from now on (tests and A/B benches). */
export function setBatchNormReluFusion(on: boolean): void {
  fusionEnabled = on;
}

/** The same for the max pool of a relu'd training batch norm only. */
export function setBatchNormPoolFusion(on: boolean): void {
  poolFusionEnabled = on;
}

/** The same for the sparse convs that read a relu'd training batch norm only. */
export function setBatchNormConvFusion(on: boolean): void {
  convFusionEnabled = on;
}

/** clicktrain::BinaryOp::kReluGrad (native/elementwise/broadcast.h): dy * step(x), NaN passed. */
export const BINARY_RELU_GRAD = 7;

/** How a deferred batch-norm output y is computed: training mode (per-channel arrays, batch
 * statistics) or FusedBatchNorm (each parameter per channel or one value). */
export interface BatchNormSource {
  kind: 'batchNormTraining' | 'batchNorm';
  rows: number;
  channels: number;
  x: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  scale: Float32Array | null;
  offset: Float32Array | null;
  epsilon: number;
}

/** A deferred relu gradient dy * step(y) of a batch-norm output y; dy null: it is the pending
 * max-pool gradient `pooled` (./max_pool_argmax.ts). */
export interface ReluGradSource {
  kind: 'reluGradOfBatchNorm';
  dy: Float32Array | null;
  pooled: PooledGradSource | null;
  bn: BatchNormSource;
}

/** A deferred relu(y) of a training batch-norm output y. */
interface ReluOfBatchNormSource {
  kind: 'reluOfBatchNorm';
  bn: BatchNormSource;
}

/** The arrays a batch-norm source reads (to pin while a tensor described by it lives). */
export function batchNormArrays(s: BatchNormSource): Float32Array[] {
  return [s.x, s.mean, s.variance, ...(s.scale ? [s.scale] : []), ...(s.offset ? [s.offset] : [])];
}

/** y (relu: relu(y)) of a batch-norm source into out. */
export function applyBatchNorm(s: BatchNormSource, relu: boolean, out: Float32Array): void {
  if (s.kind === 'batchNorm') {
    addon().batchNorm(s.rows, s.channels, s.x, out, s.mean, s.variance, s.scale, s.offset, s.epsilon, relu);
  } else {
    addon().batchNormTrainingApply(s.rows, s.channels, s.x, s.mean, s.variance, s.scale, s.offset, s.epsilon,
                                   relu, out);
  }
}

function batchNormSourceOf(backend: ClickTrainBackend, t: TensorInfo | null | undefined): BatchNormSource | null {
  if (!fusionEnabled || !t) return null;
  const s = backend.fusedSource(t.dataId) as BatchNormSource | undefined;
  return s?.kind === 'batchNormTraining' || s?.kind === 'batchNorm' ? s : null;
}

/** The relu-gradient source of dy, when dy is a deferred relu gradient of a batch-norm output. */
export function reluGradSourceOf(backend: ClickTrainBackend, dy: TensorInfo | null | undefined): ReluGradSource | null {
  if (!fusionEnabled || !dy) return null;
  const s = backend.fusedSource(dy.dataId) as ReluGradSource | undefined;
  return s?.kind === 'reluGradOfBatchNorm' ? s : null;
}

/** Relu of a deferred batch-norm output, in one pass from its source; null for any other x. In
 * training the result is deferred too (computed when read, unless a max pool reads it from its
 * source: pendingReluOfBatchNorm). */
export function reluOfBatchNorm(backend: ClickTrainBackend, x: TensorInfo): TensorInfo | null {
  const s = batchNormSourceOf(backend, x);
  if (!s) return null;
  if (s.kind === 'batchNormTraining' && poolFusionEnabled) {
    const source: ReluOfBatchNormSource = {kind: 'reluOfBatchNorm', bn: s};
    return deferredOutput(backend, x.shape, (values) => applyBatchNorm(s, true, values),
                          {pins: batchNormArrays(s), source});
  }
  const out = output(backend, x.shape);
  applyBatchNorm(s, true, out.values);
  return out.info();
}

/** The batch-norm source of x when x is a deferred relu of a training batch-norm output whose
 * values were not computed yet (and the pool fusion is on). */
export function pendingReluOfBatchNorm(backend: ClickTrainBackend, x: TensorInfo | null | undefined): BatchNormSource | null {
  if (!fusionEnabled || !poolFusionEnabled || !x || !backend.isDeferred(x.dataId)) return null;
  const s = backend.fusedSource(x.dataId) as ReluOfBatchNormSource | undefined;
  return s?.kind === 'reluOfBatchNorm' ? s.bn : null;
}

/** x as the input of the pending relu'd training batch norm that computes it, and that batch norm as
 * a sparse conv's input batch norm (the conv then reads x through it: relu(y) is never written, see
 * SparseConv2DForward in native/sparse/sparse_conv.h); null when x is anything else, or with the
 * fusion off. `pins`: the arrays the conv reads. */
export function convInputThroughBatchNorm(backend: ClickTrainBackend, x: TensorInfo | null | undefined):
    {x: Float32Array, bn: InputBatchNorm, pins: Float32Array[]} | null {
  const s = convFusionEnabled ? pendingReluOfBatchNorm(backend, x) : null;
  if (!s || !x || x.shape.length !== 4 || s.channels !== x.shape[3] ||
      s.rows * s.channels !== util.sizeFromShape(x.shape)) {
    return null;
  }
  const bn: InputBatchNorm = {mean: s.mean, variance: s.variance, scale: s.scale, offset: s.offset,
                              epsilon: s.epsilon, relu: true};
  return {x: s.x, bn, pins: batchNormArrays(s)};
}

/** The relu gradient dy * step(y) of a deferred batch-norm output y, deferred (the batch-norm
 * gradient folds it in); null for any other x. */
export function deferredReluGradOfBatchNorm(backend: ClickTrainBackend, dy: TensorInfo,
                                            x: TensorInfo): TensorInfo | null {
  const bn = batchNormSourceOf(backend, x);
  if (bn?.kind !== 'batchNormTraining' || !util.arraysEqual(dy.shape, x.shape)) return null;  // only that gradient folds it in
  const n = bn.rows * bn.channels;
  // A pending max-pool gradient stays pending: the batch-norm gradient reads it from its source.
  const pooled = pendingPooledGrad(backend, dy);
  const dyv = pooled ? null : f32(backend, dy);
  if (pooled) {
    const shape = pooledGradShape(pooled);
    if (shape.size !== n || shape.channels !== bn.channels) return null;
  } else if (!dyv || dyv.length !== n) {
    return null;
  }
  const source: ReluGradSource = {kind: 'reluGradOfBatchNorm', dy: dyv, pooled, bn};
  // Read unfolded (a residual sum, a gradient kept past the step): y as computed already, else from
  // the pinned source (the same bits; y's own tensor may be gone by then).
  return deferredOutput(backend, x.shape, (values) => {
    let y = backend.data.has(x.dataId) && !backend.isDeferred(x.dataId) ? f32(backend, x) : null;
    if (!y) applyBatchNorm(bn, false, y = new Float32Array(n));
    let d = dyv;
    if (!d) scatterPooledGrad(pooled!, d = new Float32Array(n));
    addon().binaryOp(BINARY_RELU_GRAD, [n], d, [n], y, [n], values);
  }, {pins: [dyv ?? pooled!.dy, ...batchNormArrays(bn)], source});
}
