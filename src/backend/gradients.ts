/**
 * Gradient overrides for kernels whose tfjs gradient is a long chain of whole-tensor ops that one
 * native kernel (or fewer ops) does in a pass. tfjs keeps one gradient registry for all backends, so each
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

import {backend_util, broadcastTo, div, engine, FusedBatchNorm, FusedBatchNormAttrs, getBackend, getGradient, GradConfig, Mean, MeanAttrs, NamedTensorMap, registerGradient, Relu, reshape, Square, Tensor, util} from '@tensorflow/tfjs-core';

import {BACKEND_NAME} from './backend';
import {RELU_GRAD, SQUARE_GRAD} from './kernels/Binary';
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

/**
 * Mean: tfjs builds dx as div(mul(reshape(dy), ones(x.shape)), n): a ones tensor, a broadcast
 * multiply and a divide, three passes over an x-sized tensor. Batch-norm moments in tfjs-layers'
 * training path take two Means per layer, so that was six activation-sized passes per layer per
 * step. Here: the small dy / n, then one broadcast (Tile) to x's shape. The values are the same
 * bits (dy * 1 is exact).
 */
function overrideMean(): void {
  const original = getGradient(Mean);
  if (!original || (original as unknown as {[OVERRIDDEN]?: boolean})[OVERRIDDEN]) return;
  const config: GradConfig & {[OVERRIDDEN]: boolean} = {
    kernelName: Mean,
    inputsToSave: original.inputsToSave,
    outputsToSave: original.outputsToSave,
    [OVERRIDDEN]: true,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as Tensor[];
      const dyt = dy as Tensor;
      if (!onNativePath() || x.dtype !== 'float32' || dyt.dtype !== 'float32') {
        return original.gradFunc(dy, saved, attrs);
      }
      const axes = util.parseAxisParam((attrs as unknown as MeanAttrs).axis, x.shape);
      const reduceSize = util.sizeFromShape(backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
      return {
        x: () => {
          const expanded = x.shape.slice();
          for (const a of axes) expanded[a] = 1;
          return broadcastTo(div(reshape(dyt, expanded), reduceSize), x.shape);
        },
      };
    },
  };
  registerGradient(config);
}

/**
 * Relu and Square: tfjs's dx = mul(dy, cast(step(x))) and mul(dy, mul(x, 2)) are two passes and an
 * x-sized temporary each (every activation of a CNN for Relu, every batch-norm layer's variance
 * for Square). One fused native pass each here, same bits.
 */
function overrideElementwise(kernelName: string, fused: string): void {
  const original = getGradient(kernelName);
  if (!original || (original as unknown as {[OVERRIDDEN]?: boolean})[OVERRIDDEN]) return;
  const config: GradConfig & {[OVERRIDDEN]: boolean} = {
    kernelName,
    inputsToSave: original.inputsToSave,
    outputsToSave: original.outputsToSave,
    [OVERRIDDEN]: true,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as Tensor[];
      const dyt = dy as Tensor;
      if (!onNativePath() || x.dtype !== 'float32' || dyt.dtype !== 'float32' ||
          !util.arraysEqual(x.shape, dyt.shape)) {
        return original.gradFunc(dy, saved, attrs);
      }
      return {x: () => engine().runKernel(fused, {dy: dyt, x}) as Tensor};
    },
  };
  registerGradient(config);
}

/** Installs the overrides (idempotent). */
export function registerNativeGradients(): void {
  if (process.env.CLICKTRAIN_NATIVE_GRADIENTS === '0') return;
  overrideFusedBatchNorm();
  overrideMean();
  overrideElementwise(Relu, RELU_GRAD);
  overrideElementwise(Square, SQUARE_GRAD);
}
