/**
 * Where ClickTrain hands hard-pruned layers to the pattern-sparse convolution kernels (src/sparse).
 *
 * After the hard prune ClickTrain calls {@link freezeForSparseKernels} with the model and the final
 * masks of every pruned 3x3 conv layer (keyed by layer name; layout in ./masks.ts). On the
 * `clicktrain` backend the layers are frozen: forward, backward-data and backward-filter then run on
 * the sparse kernels. On any other backend (or if the native addon is missing) nothing is frozen
 * and `false` is returned: the masks stay on dense kernels, which ClickTrain keeps re-applying after
 * every optimiser step, so training results are the same, only without the sparse speed-up.
 * Frozen layers' optimiser steps run packed (src/sparse/frozen_update.ts), and their weights then
 * need no re-masking.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import {freezeSparsity, unfreezeSparsity} from '../sparse/freeze';

/** Whether re-applying a layer's masks can be skipped (its weight came from a packed frozen step). */
export {frozenValueIsMasked} from '../sparse/dispatch';

type FreezeTarget = Parameters<typeof freezeSparsity>[0];

export function freezeForSparseKernels(
    model: tfl.LayersModel, masksByLayerName: ReadonlyMap<string, Uint16Array>): boolean {
  if (tf.getBackend() !== 'clicktrain' || masksByLayerName.size === 0) return false;
  const frozen = freezeSparsity(model as unknown as FreezeTarget, {
    masks: new Map(masksByLayerName),
    layers: [...masksByLayerName.keys()],
  });
  return frozen.length > 0;
}

export function unfreezeSparseKernels(model: tfl.LayersModel): boolean {
  if (tf.getBackend() !== 'clicktrain') return false;
  unfreezeSparsity(model as unknown as FreezeTarget);
  return true;
}
