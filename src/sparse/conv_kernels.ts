/** The sparse halves of the conv kernels: each returns false when the dense kernel must run. */
import {TensorInfo} from '@tensorflow/tfjs-core';

import type {ClickTrainBackend} from '../backend/backend';
import type {NativeEpilogue} from '../backend/kernel_utils';
import type {BatchNormFold, ConvGeometry, InputBatchNorm} from '../native/addon';
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

/** Backward-data on the layout layoutForFilter chose for the call's filter. */
export function sparseConvBackpropInput(chosen: SparseLayout | FrozenEntry, g: ConvGeometry,
                                        dy: Float32Array, dx: Float32Array): void {
  sparseAddon().sparseBackpropInput(layoutOf(chosen).handle, g, dy, dx);
  sparseCallCounts.backpropInput++;
}

const gradientSlots = new WeakMap<FrozenEntry, PackedSlots>();

/** A frozen layer's backward-filter: the gradient at kept positions, packed (for the frozen
 * optimiser step, frozen_update.ts) behind a deferred dense tensor (zeros elsewhere). Null when
 * the dense kernel must run. xbn: as in sparseForwardRunner. */
export function sparseConvBackpropFilter(
    backend: ClickTrainBackend, x: TensorInfo, filterShape: number[], g: ConvGeometry,
    xv: Float32Array, dyValues: () => Float32Array | null, xbn: InputBatchNorm | null = null): TensorInfo | null {
  if (filterShape[0] !== 3 || filterShape[1] !== 3) return null;
  const entry = frozenForBackpropFilter(x, filterShape);
  if (!entry || !sparseAddon().sparseSupported(g)) return null;
  const dy = dyValues();
  if (!dy) return null;
  let slots = gradientSlots.get(entry);
  if (!slots || slots.length !== entry.layout.keptWeights) {
    gradientSlots.set(entry, slots = new PackedSlots(entry.layout.keptWeights));
  }
  const slot = slots.take(backend);
  sparseAddon().sparseBackpropFilter(entry.layout.handle, g, xv, dy, null, slot.values, xbn);
  if (xbn) sparseCallCounts.inputBatchNorm++;
  const info = deferredDense(backend, entry, filterShape, slot);
  entry.packedGradient = {dataId: info.dataId, values: slot.values};
  sparseCallCounts.backpropFilter++;
  return info;
}
