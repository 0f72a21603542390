/** The sparse halves of the conv kernels: each returns false when the dense kernel must run. */
import {TensorInfo} from '@tensorflow/tfjs-core';

import type {ClickTrainBackend} from '../backend/backend';
import {f32, NativeEpilogue} from '../backend/kernel_utils';
import {pendingBatchNormGradRows} from '../backend/kernels/batch_norm_grad_dy';
import type {BatchNormFold, ConvGeometry, InputBatchNorm, OutputBatchNormGrad} from '../native/addon';
import {FrozenEntry, frozenForBackpropFilter, layoutForFilter, layoutOf, noteForwardInput, sparseCallCounts} from './dispatch';
import {deferredDense} from './frozen_update';
import {SparseLayout, sparseAddon} from './layout';
import {PackedSlots} from './packed_slots';

/** Runs a forward convolution into y, with an inference batch norm folded in when given. */
export type ConvRunner = (y: Float32Array, batchNorm: BatchNormFold | null) => void;
/** The same, max-pooled by `pool` (a pool geometry of the conv's output) into y. */
export type ConvMaxPoolRunner = (y: Float32Array, batchNorm: BatchNormFold | null, pool: ConvGeometry) => void;

/** The sparse forward for this call (its layout chosen now, run later with the layout's values
 * at that time), or null when the dense kernel must run. xbn: xv is the input of this batch norm,
 * which the conv reads x through (convInputThroughBatchNorm); no max pool runner then. */
export function sparseForwardRunner(
    backend: ClickTrainBackend, x: TensorInfo, filter: TensorInfo, g: ConvGeometry,
    xv: Float32Array, ep: NativeEpilogue | null, xbn: InputBatchNorm | null = null):
    {run: ConvRunner, runMaxPool?: ConvMaxPoolRunner, layout: SparseLayout} | null {
  if (filter.shape[0] !== 3 || filter.shape[1] !== 3) return null;
  const chosen = layoutForFilter(backend, filter, g);
  noteForwardInput(x, filter.shape, chosen);
  if (!chosen) return null;
  const layout = layoutOf(chosen);
  const run: ConvRunner = (y, batchNorm) => {
    sparseAddon().sparseForward(layout.handle, g, xv, y, ep?.bias ?? null, ep?.activation ?? 0,
                                ep?.leakyAlpha ?? 0, ep?.prelu ?? null, batchNorm, xbn);
    sparseCallCounts.forward++;
    if (xbn) sparseCallCounts.inputBatchNorm++;
  };
  if (xbn) return {run, layout};
  const runMaxPool: ConvMaxPoolRunner = (y, batchNorm, pool) => {
    sparseAddon().sparseForwardMaxPool(layout.handle, g, pool, xv, y, ep?.bias ?? null, ep?.activation ?? 0,
                                       ep?.leakyAlpha ?? 0, ep?.prelu ?? null, batchNorm);
    sparseCallCounts.forward++;
    sparseCallCounts.forwardMaxPool++;
  };
  return {run, runMaxPool, layout};
}

export function sparseConvForward(
    backend: ClickTrainBackend, x: TensorInfo, filter: TensorInfo, g: ConvGeometry,
    xv: Float32Array, y: Float32Array, ep: NativeEpilogue | null): boolean {
  const sparse = sparseForwardRunner(backend, x, filter, g, xv, ep);
  sparse?.run(y, null);
  return sparse !== null;
}

/** dy still pending as the gradient of the batch norm this conv feeds, when the layout's kernels
 * read dy's rows as they go (the tiny-image kernels; ../backend/kernels/batch_norm_grad_dy.ts); null
 * otherwise (then read dy's values). */
function pendingGradRows(backend: ClickTrainBackend, dy: TensorInfo, layout: SparseLayout,
                         g: ConvGeometry): OutputBatchNormGrad | null {
  return pendingBatchNormGradRows(backend, dy, () => sparseAddon().sparseReadsDyRows(layout.handle, g));
}

/** Backward-data on the layout layoutForFilter chose for the call's filter; false when dy is not
 * float32 data. */
export function sparseConvBackpropInput(backend: ClickTrainBackend, chosen: SparseLayout | FrozenEntry,
                                        g: ConvGeometry, dy: TensorInfo, dx: Float32Array): boolean {
  const layout = layoutOf(chosen);
  const grad = pendingGradRows(backend, dy, layout, g);
  const dyv = grad ? null : f32(backend, dy);
  if (!grad && !dyv) return false;
  sparseAddon().sparseBackpropInput(layout.handle, g, dyv, dx, grad);
  sparseCallCounts.backpropInput++;
  if (grad) sparseCallCounts.outputBatchNormGrad++;
  return true;
}

const gradientSlots = new WeakMap<FrozenEntry, PackedSlots>();

/** A frozen layer's backward-filter: the gradient at kept positions, packed (for the frozen
 * optimiser step, frozen_update.ts) behind a deferred dense tensor (zeros elsewhere). Null when
 * the dense kernel must run. xbn: as in sparseForwardRunner. */
export function sparseConvBackpropFilter(
    backend: ClickTrainBackend, x: TensorInfo, filterShape: number[], g: ConvGeometry,
    xv: Float32Array, dy: TensorInfo, xbn: InputBatchNorm | null = null): TensorInfo | null {
  if (filterShape[0] !== 3 || filterShape[1] !== 3) return null;
  const entry = frozenForBackpropFilter(x, filterShape);
  if (!entry || !sparseAddon().sparseSupported(g)) return null;
  const grad = pendingGradRows(backend, dy, entry.layout, g);
  const dyv = grad ? null : f32(backend, dy);  // (computes dy when it is still deferred)
  if (!grad && !dyv) return null;
  let slots = gradientSlots.get(entry);
  if (!slots || slots.length !== entry.layout.keptWeights) {
    gradientSlots.set(entry, slots = new PackedSlots(entry.layout.keptWeights));
  }
  const slot = slots.take(backend);
  sparseAddon().sparseBackpropFilter(entry.layout.handle, g, xv, dyv, null, slot.values, xbn, grad);
  if (xbn) sparseCallCounts.inputBatchNorm++;
  if (grad) sparseCallCounts.outputBatchNormGrad++;
  const info = deferredDense(backend, entry, filterShape, slot);
  entry.packedGradient = {dataId: info.dataId, values: slot.values};
  sparseCallCounts.backpropFilter++;
  return info;
}
