/**
 * Gradient overrides for kernels whose tfjs gradient is a long chain of whole-tensor ops that one
 * native kernel does in a pass. tfjs keeps one gradient registry for all backends, so each
 * override checks that it runs on `clicktrain` with a case the native kernel handles, and
 * otherwise calls the gradient tfjs registered (also when the tape is recording, i.e. for
 * higher-order gradients, since the native kernel has no gradient of its own).
 * CLICKTRAIN_NATIVE_GRADIENTS=0 leaves tfjs's gradients alone (for comparisons).
 *
 * tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers all of them when
 * it loads, replacing whatever was there. So tfjs-layers is loaded first, and the overrides are
 * applied again when the backend is created (in case something registered tfjs's set since).
 */
import '@tensorflow/tfjs-layers';

import {engine, FusedBatchNorm, FusedBatchNormAttrs, getBackend, getGradient, GradConfig, NamedTensorMap, registerGradient, Tensor} from '@tensorflow/tfjs-core';

import {BACKEND_NAME} from './backend';
import {FUSED_BATCH_NORM_GRAD, nativeBatchNormGradApplies} from './kernels/FusedBatchNormGrad';

const OVERRIDDEN = Symbol('clicktrain native gradient');

function onNativePath(): boolean {
  return getBackend() === BACKEND_NAME && !engine().isTapeOn();
}

function overrideFusedBatchNorm(): void {
  const original = getGradient(FusedBatchNorm);
  if (!original || (original as unknown as {[OVERRIDDEN]?: boolean})[OVERRIDDEN]) return;
  const config: GradConfig & {[OVERRIDDEN]: boolean} = {
    kernelName: FusedBatchNorm,
    inputsToSave: original.inputsToSave,
    outputsToSave: original.outputsToSave,
    [OVERRIDDEN]: true,
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as Tensor[];
      const dyt = dy as Tensor;
      if (!onNativePath() || !nativeBatchNormGradApplies(x, dyt, mean, variance, scale)) {
        return original.gradFunc(dy, saved, attrs);
      }
      const inputs: NamedTensorMap = {x, dy: dyt, mean, variance};
      if (scale) inputs.scale = scale;
      const eps = (attrs as unknown as FusedBatchNormAttrs).varianceEpsilon;
      const [dx, dmean, dvariance, dscale, doffset] =
          engine().runKernel(FUSED_BATCH_NORM_GRAD, inputs, {varianceEpsilon: eps}) as Tensor[];
      return {x: () => dx, mean: () => dmean, variance: () => dvariance, scale: () => dscale, offset: () => doffset};
    },
  };
  registerGradient(config);
}

/** Installs the overrides (idempotent). */
export function registerNativeGradients(): void {
  if (process.env.CLICKTRAIN_NATIVE_GRADIENTS === '0') return;
  overrideFusedBatchNorm();
}
