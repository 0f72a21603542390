/** The sparse halves of the conv kernels: each returns false when the dense kernel must run. */
import {TensorInfo} from '@tensorflow/tfjs-core';

import type {ClickTrainBackend} from '../backend/backend';
import type {NativeEpilogue} from '../backend/kernel_utils';
import type {ConvGeometry} from '../native/addon';
import {FrozenEntry, frozenForBackpropFilter, layoutForFilter, layoutOf, noteForwardInput, sparseCallCounts} from './dispatch';
import {sparseAddon} from './layout';

export function sparseConvForward(
    backend: ClickTrainBackend, x: TensorInfo, filter: TensorInfo, g: ConvGeometry,
    xv: Float32Array, y: Float32Array, ep: NativeEpilogue | null): boolean {
  if (filter.shape[0] !== 3 || filter.shape[1] !== 3) return false;
  const chosen = layoutForFilter(backend, filter, g);
  noteForwardInput(x, filter.shape, chosen);
  if (!chosen) return false;
  sparseAddon().sparseForward(layoutOf(chosen).handle, g, xv, y, ep?.bias ?? null,
                              ep?.activation ?? 0, ep?.leakyAlpha ?? 0, ep?.prelu ?? null);
  sparseCallCounts.forward++;
  return true;
}

export function sparseConvBackpropInput(
    backend: ClickTrainBackend, filter: TensorInfo, g: ConvGeometry, dy: Float32Array,
    dx: Float32Array): boolean {
  if (filter.shape[0] !== 3 || filter.shape[1] !== 3) return false;
  const chosen = layoutForFilter(backend, filter, g);
  if (!chosen) return false;
  sparseAddon().sparseBackpropInput(layoutOf(chosen).handle, g, dy, dx);
  sparseCallCounts.backpropInput++;
  return true;
}

/** Runs a frozen layer's backward-filter; returns the layer (call recordPackedGradient with the
 * gradient tensor's dataId once it exists) or null when the dense kernel must run. */
export function sparseConvBackpropFilter(
    x: TensorInfo, filterShape: number[], g: ConvGeometry, xv: Float32Array, dy: Float32Array,
    dw: Float32Array): FrozenEntry | null {
  if (filterShape[0] !== 3 || filterShape[1] !== 3) return null;
  const entry = frozenForBackpropFilter(x, filterShape);
  if (!entry || !sparseAddon().sparseSupported(g)) return null;
  // The packed copy feeds the frozen optimiser step (frozen_update.ts); its buffer is reused, so
  // only the latest gradient of a layer is ever recognised.
  let packed = entry.packedGradient?.values;
  if (!packed || packed.length !== entry.layout.keptWeights) packed = new Float32Array(entry.layout.keptWeights);
  entry.packedGradient = undefined;
  sparseAddon().sparseBackpropFilter(entry.layout.handle, g, xv, dy, dw, packed);
  entry.packedGradient = {dataId: PENDING, values: packed};
  sparseCallCounts.backpropFilter++;
  return entry;
}

const PENDING = {};

/** Ties a frozen layer's packed gradient to the tensor that holds its dense form. */
export function recordPackedGradient(entry: FrozenEntry, dataId: object): void {
  if (entry.packedGradient && entry.packedGradient.dataId === PENDING) entry.packedGradient.dataId = dataId;
}
