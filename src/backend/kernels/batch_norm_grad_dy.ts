/**
 * A training batch norm's input gradient dx, read by the conv that fed the batch norm without being
 * written out. The batch-norm gradient (./BatchNormTraining.ts) runs its sums pass at once (dscale,
 * doffset and dx's per-channel coefficients) and returns dx deferred; then
 * - the backward-filter of a conv with few input channels (a CNN's first conv, RGB in), when it runs
 *   the direct small-channel kernels (native Conv2DReadsDyRows), and
 * - both backward passes of a frozen sparse conv on the tiny-image kernels (native
 *   SparseReadsDyRows, ../../sparse/conv_kernels.ts)
 * compute dx's rows from the batch norm's x and output gradient as they read them. That saves a
 * pass that reads x and dy and writes dx (three activation-sized arrays; 8 MiB each at 32x32x64,
 * batch 32). The rows have the bits of the unfused gradient (the same native code); any other
 * reader of dx gets it computed on first read. The lane-strip kernels read it whole: computing the
 * rows there cost as much as it saved (bench/RESULTS.md, session 16). Batch norms below a max pool
 * keep their one-call gradient (./batch_norm_relu.ts). CLICKTRAIN_FUSED_BN_GRAD_CONV=0 turns it off
 * (for comparisons).
 */
import {TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon, ConvGeometry, OutputBatchNormGrad} from '../../native/addon';
import type {ClickTrainBackend} from '../backend';
import {cudaRoutes} from '../cuda_route';
import {deferredOutput} from '../kernel_utils';

let fusionEnabled = process.env.CLICKTRAIN_FUSED_BN_GRAD_CONV !== '0';

/** Turns the fusion on or off for the gradients computed from now on (tests and A/B benches). */
export function setBatchNormGradConvFusion(on: boolean): void {
  fusionEnabled = on;
}

export function batchNormGradConvFusion(): boolean {
  return fusionEnabled;
}

/** Backward-filter calls that read a batch norm's gradient as their dy (tests read it). */
export const batchNormGradConvCounts = {fused: 0};

interface BatchNormGradSource extends OutputBatchNormGrad {
  kind: 'batchNormTrainingGrad';
  rows: number;
  channels: number;
}

/** The arrays a batch-norm gradient's dx is computed from (pinned while a deferred result needs them). */
export function batchNormGradArrays(grad: OutputBatchNormGrad): Float32Array[] {
  const pins = [grad.x, grad.dy, grad.mean, grad.variance, grad.coefficients];
  if (grad.scale) pins.push(grad.scale);
  if (grad.offset) pins.push(grad.offset);
  return pins;
}

/** Writes the batch norm's dx (the bits of the unfused gradient). */
export function computeBatchNormGradDx(grad: OutputBatchNormGrad, out: Float32Array): void {
  const channels = grad.mean.length, rows = channels === 0 ? 0 : grad.x.length / channels;
  addon().batchNormTrainingGradDx(rows, channels, grad.x, grad.dy, grad.mean, grad.variance, grad.scale,
                                  grad.epsilon, grad.coefficients, grad.relu, grad.offset, out);
}

/** dx of a training batch norm from its coefficients (batchNormTrainingGradSums ran already),
 * computed on first read. */
export function deferredBatchNormGradDx(backend: ClickTrainBackend, shape: number[],
                                        grad: OutputBatchNormGrad): TensorInfo {
  const channels = grad.mean.length, rows = channels === 0 ? 0 : grad.x.length / channels;
  const source: BatchNormGradSource = {kind: 'batchNormTrainingGrad', rows, channels, ...grad};
  return deferredOutput(backend, shape, (values) => computeBatchNormGradDx(grad, values),
                        {pins: batchNormGradArrays(grad), source});
}

/** dy as the pending batch-norm gradient that computes it (not computed yet); null for anything
 * else. */
export function pendingBatchNormGrad(backend: ClickTrainBackend, dy: TensorInfo): OutputBatchNormGrad | null {
  if (!backend.isDeferred(dy.dataId)) return null;
  const s = backend.fusedSource(dy.dataId) as BatchNormGradSource | undefined;
  if (s?.kind !== 'batchNormTrainingGrad' || dy.shape.length < 1 || s.channels !== dy.shape[dy.shape.length - 1] ||
      s.rows * s.channels !== util.sizeFromShape(dy.shape)) {
    return null;
  }
  return s;
}

/** The same, when the fusion is on and the conv reading dy (a 4-D dy) computes its rows as it goes
 * (`readsRows`, asked last: a native query); null otherwise (then read dy's values). */
export function pendingBatchNormGradRows(backend: ClickTrainBackend, dy: TensorInfo,
                                         readsRows: () => boolean): OutputBatchNormGrad | null {
  if (!fusionEnabled || dy.shape.length !== 4) return null;
  const grad = pendingBatchNormGrad(backend, dy);
  return grad && readsRows() ? grad : null;
}

/** pendingBatchNormGradRows for a dense conv with geometry g (its direct kernels, on the CPU). */
export function pendingBatchNormGradOf(backend: ClickTrainBackend, dy: TensorInfo,
                                       g: ConvGeometry): OutputBatchNormGrad | null {
  return pendingBatchNormGradRows(backend, dy, () => !cudaRoutes() && addon().conv2dReadsDyRows(g));
}
