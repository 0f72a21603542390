/**
 * Optimiser steps on frozen layers, in packed form (native/sparse/frozen_update.h).
 *
 * A frozen layer's weight lives twice: as the dense tfjs variable and as the layout's packed kept
 * values. The dense route of a training step touches the whole dense weight several times per
 * step (refresh check, gradient, momentum update of weight and accumulation, mask re-application)
 * although ~1/9 of it is kept at the paper's sparsity. When the fused SGD/momentum kernels
 * (backend/kernels/OptimizerUpdate.ts) see a frozen layer's weight together with the gradient
 * its sparse backward-filter just produced, they update the packed values instead, and the layout
 * stays current (the next forward pass skips the refresh). The new weight and accumulation are
 * deferred tensors: their dense form (exact +0 at pruned positions) is computed only if something
 * reads it, which a training step does not; re-applying the masks is skipped for such weights
 * (frozenValueIsMasked). Momentum of pruned positions is dropped at the first such step: frozen
 * positions get zero gradient, and their weight is re-masked to zero anyway.
 * Any other case (another gradient tensor, a layout not holding this weight) returns null and the
 * dense kernel runs.
 */
import {TensorInfo} from '@tensorflow/tfjs-core';

import type {ClickTrainBackend} from '../backend/backend';
import {deferredOutput, f32} from '../backend/kernel_utils';
import {FrozenEntry, frozenHolding, noteFrozenStep, sparseCallCounts} from './dispatch';
import {sparseAddon} from './layout';
import {PackedSlot, PackedSlots} from './packed_slots';

/** Per frozen layer: the slots behind its deferred weights and accumulations. */
const valueSlots = new WeakMap<FrozenEntry, PackedSlots>();
const accumulationSlots = new WeakMap<FrozenEntry, PackedSlots>();

function slotsOf(map: WeakMap<FrozenEntry, PackedSlots>, entry: FrozenEntry): PackedSlots {
  let s = map.get(entry);
  if (!s || s.length !== entry.layout.keptWeights) map.set(entry, s = new PackedSlots(entry.layout.keptWeights));
  return s;
}

/** A deferred dense [3,3,inC,outC] tensor of a packed slot (zeros at pruned positions). */
export function deferredDense(backend: ClickTrainBackend, entry: FrozenEntry, shape: number[],
                              slot: PackedSlot): TensorInfo {
  const handle = entry.layout.handle, packed = slot.values;
  const info = deferredOutput(backend, shape, (dense) => sparseAddon().sparseScatterPacked(handle, packed, dense));
  slot.reader = info.dataId;
  return info;
}

/** The frozen layer for (weight, gradient), when the gradient is its latest packed one. */
function frozenFor(value: TensorInfo, gradient: TensorInfo): FrozenEntry | null {
  const entry = frozenHolding(value.dataId);
  if (!entry || entry.packedGradient?.dataId !== gradient.dataId) return null;
  return entry.packedGradient.values.length === entry.layout.keptWeights ? entry : null;
}

export function frozenSgdStep(backend: ClickTrainBackend, value: TensorInfo, gradient: TensorInfo,
                              c: number): TensorInfo | null {
  const entry = frozenFor(value, gradient);
  if (!entry) return null;
  const valueSlot = slotsOf(valueSlots, entry).take(backend);
  entry.layout.valuesWillChange();
  sparseAddon().sparseFrozenSgd(entry.layout.handle, entry.packedGradient!.values, c, valueSlot.values);
  const info = deferredDense(backend, entry, value.shape, valueSlot);
  noteFrozenStep(entry, info.dataId);
  sparseCallCounts.optimizerStep++;
  return info;
}

export function frozenMomentumStep(
    backend: ClickTrainBackend, value: TensorInfo, accumulation: TensorInfo, gradient: TensorInfo,
    c: number, momentum: number, nesterov: boolean): TensorInfo[] | null {
  const entry = frozenFor(value, gradient);
  if (!entry) return null;
  const addon = sparseAddon(), handle = entry.layout.handle;
  const slots = slotsOf(accumulationSlots, entry);
  let input = entry.packedAccumulation?.dataId === accumulation.dataId ? entry.packedAccumulation.values : null;
  if (!input) {
    // First step after freezing (or the accumulation was replaced): start from its kept part.
    const dense = f32(backend, accumulation);
    if (!dense) return null;
    input = slots.take(backend).values;
    addon.sparseGatherPacked(handle, dense, input);
  }
  const out = slots.take(backend, input), valueSlot = slotsOf(valueSlots, entry).take(backend);
  entry.layout.valuesWillChange();
  addon.sparseFrozenMomentum(handle, input, entry.packedGradient!.values, c, momentum, nesterov,
                             out.values, valueSlot.values);
  const valueInfo = deferredDense(backend, entry, value.shape, valueSlot);
  const accumulationInfo = deferredDense(backend, entry, value.shape, out);
  entry.packedAccumulation = {dataId: accumulationInfo.dataId, values: out.values};
  noteFrozenStep(entry, valueInfo.dataId);
  sparseCallCounts.optimizerStep++;
  return [valueInfo, accumulationInfo];
}
