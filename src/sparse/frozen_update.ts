/**
 * Optimiser steps on frozen layers, in packed form (native/sparse/frozen_update.h).
 *
 * A frozen layer's weight lives twice: as the dense tfjs variable and as the layout's packed kept
 * values. The dense route of a training step touches the whole dense weight several times per
 * step (refresh check, gradient, momentum update of weight and accumulation, mask re-application)
 * although ~1/9 of it is kept at the paper's sparsity. When the fused SGD/momentum kernels
 * (backend/kernels/OptimizerUpdate.ts) see a frozen layer's weight together with the gradient
 * its sparse backward-filter just produced, they update the packed values instead: the layout
 * stays current (the next forward pass skips the refresh), and the new dense weight and
 * accumulation are each written once, with exact +0 at pruned positions (so re-applying the masks
 * can be skipped: frozenValueIsMasked). Momentum of pruned positions is dropped at the first such
 * step: frozen positions get zero gradient, and their weight is re-masked to zero anyway.
 * Any other case (another gradient tensor, a layout not holding this weight) returns null and the
 * dense kernel runs.
 */
import {TensorInfo} from '@tensorflow/tfjs-core';

import type {ClickTrainBackend} from '../backend/backend';
import {f32, output} from '../backend/kernel_utils';
import {FrozenEntry, frozenHolding, noteFrozenStep, sparseCallCounts} from './dispatch';
import {sparseAddon} from './layout';

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
  const newValue = output(backend, value.shape);
  sparseAddon().sparseFrozenSgd(entry.layout.handle, entry.packedGradient!.values, c, newValue.values);
  const info = newValue.info();
  noteFrozenStep(entry, info.dataId);
  sparseCallCounts.optimizerStep++;
  return info;
}

export function frozenMomentumStep(
    backend: ClickTrainBackend, value: TensorInfo, accumulation: TensorInfo, gradient: TensorInfo,
    c: number, momentum: number, nesterov: boolean): TensorInfo[] | null {
  const entry = frozenFor(value, gradient);
  const accumulationData = f32(backend, accumulation);
  if (!entry || !accumulationData) return null;
  const addon = sparseAddon(), handle = entry.layout.handle;
  let packed = entry.packedAccumulation;
  if (!packed || packed.dataId !== accumulation.dataId) {
    // First step after freezing (or someone replaced the accumulation): start from its kept part.
    const values = packed?.values.length === entry.layout.keptWeights ? packed.values :
                                                                        new Float32Array(entry.layout.keptWeights);
    addon.sparseGatherPacked(handle, accumulationData, values);
    packed = {dataId: accumulation.dataId, values};
  }
  const newValue = output(backend, value.shape), newAccumulation = output(backend, value.shape);
  entry.packedAccumulation = undefined;  // updated in place below: no tensor matches it meanwhile
  addon.sparseFrozenMomentum(handle, packed.values, entry.packedGradient!.values, c, momentum, nesterov,
                             newValue.values, newAccumulation.values);
  const valueInfo = newValue.info(), accumulationInfo = newAccumulation.info();
  entry.packedAccumulation = {dataId: accumulationInfo.dataId, values: packed.values};
  noteFrozenStep(entry, valueInfo.dataId);
  sparseCallCounts.optimizerStep++;
  return [valueInfo, accumulationInfo];
}
