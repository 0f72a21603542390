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

import {backend_util, broadcastTo, div, engine, FusedBatchNorm, FusedBatchNormAttrs, getBackend, getGradient, GradConfig, Mean, MeanAttrs, NamedAttrMap, NamedTensorMap, registerGradient, Relu, reshape, Square, Tensor, util} from '@tensorflow/tfjs-core';

import {BACKEND_NAME} from './backend';
import {RELU_GRAD, SQUARE_GRAD} from './kernels/Binary';
import {FUSED_BATCH_NORM_GRAD, nativeBatchNormGradApplies} from './kernels/FusedBatchNormGrad';

const OVERRIDDEN = Symbol('clicktrain native gradient');

function onNativePath(): boolean {
  return getBackend() === BACKEND_NAME && !engine().isTapeOn();
}

/** The gradient thunks of a native override, or null to use tfjs's gradient for this call. */
type NativeGradient =
    (dy: Tensor, saved: Tensor[], attrs: NamedAttrMap) => {[input: string]: () => Tensor} | null;

/** Registers `native` as kernelName's gradient on the native path, falling back to the gradient
 * tfjs registered; once (the marker keeps a second call from wrapping the wrapper). */
function override(kernelName: string, native: NativeGradient): void {
  const original = getGradient(kernelName);
  if (!original || (original as unknown as {[OVERRIDDEN]?: boolean})[OVERRIDDEN]) return;
  const config: GradConfig & {[OVERRIDDEN]: boolean} = {
    kernelName,
    inputsToSave: original.inputsToSave,
    outputsToSave: original.outputsToSave,
    [OVERRIDDEN]: true,
    gradFunc: (dy, saved, attrs) =>
      (onNativePath() && native(dy as Tensor, saved as Tensor[], attrs)) || original.gradFunc(dy, saved, attrs),
  };
  registerGradient(config);
}

/** FusedBatchNorm: the gradient w.r.t. all five inputs in one native pass (per-channel params). */
function fusedBatchNormGradient(dy: Tensor, saved: Tensor[], attrs: NamedAttrMap) {
  const [x, mean, variance, scale] = saved;
  if (!nativeBatchNormGradApplies(x, dy, mean, variance, scale)) return null;
  const inputs: NamedTensorMap = {x, dy, mean, variance};
  if (scale) inputs.scale = scale;
  const eps = (attrs as unknown as FusedBatchNormAttrs).varianceEpsilon;
  const [dx, dmean, dvariance, dscale, doffset] =
      engine().runKernel(FUSED_BATCH_NORM_GRAD, inputs, {varianceEpsilon: eps}) as Tensor[];
  return {x: () => dx, mean: () => dmean, variance: () => dvariance, scale: () => dscale, offset: () => doffset};
}

/**
 * Mean: tfjs builds dx as div(mul(reshape(dy), ones(x.shape)), n): a ones tensor, a broadcast
 * multiply and a divide, three passes over an x-sized tensor. Batch-norm moments in tfjs-layers'
 * training path take two Means per layer, so that was six activation-sized passes per layer per
 * step. Here: the small dy / n, then one broadcast (Tile) to x's shape. The values are the same
 * bits (dy * 1 is exact).
 */
function meanGradient(dy: Tensor, saved: Tensor[], attrs: NamedAttrMap) {
  const [x] = saved;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const axes = util.parseAxisParam((attrs as unknown as MeanAttrs).axis, x.shape);
  const reduceSize = util.sizeFromShape(backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
  return {
    x: () => {
      const expanded = x.shape.slice();
      for (const a of axes) expanded[a] = 1;
      return broadcastTo(div(reshape(dy, expanded), reduceSize), x.shape);
    },
  };
}

/**
 * Relu and Square: tfjs's dx = mul(dy, cast(step(x))) and mul(dy, mul(x, 2)) are two passes and an
 * x-sized temporary each (every activation of a CNN for Relu, every batch-norm layer's variance
 * for Square). One fused native pass each here, same bits.
 */
function fusedElementwiseGradient(fused: string): NativeGradient {
  return (dy, saved) => {
    const [x] = saved;
    if (x.dtype !== 'float32' || dy.dtype !== 'float32' || !util.arraysEqual(x.shape, dy.shape)) return null;
    return {x: () => engine().runKernel(fused, {dy, x}) as Tensor};
  };
}

/** Installs the overrides (idempotent). */
export function registerNativeGradients(): void {
  if (process.env.CLICKTRAIN_NATIVE_GRADIENTS === '0') return;
  override(FusedBatchNorm, fusedBatchNormGradient);
  override(Mean, meanGradient);
  override(Relu, fusedElementwiseGradient(RELU_GRAD));
  override(Square, fusedElementwiseGradient(SQUARE_GRAD));
}
