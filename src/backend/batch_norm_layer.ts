/**
 * tfjs-layers' BatchNormalization, while training on this backend, runs as one native kernel
 * (kernels/BatchNormTraining.ts) instead of moments + FusedBatchNorm and their autodiff chain.
 * tfjs-layers computes the training path inside the layer's `call` from module-private functions,
 * so the layer class's `call` is patched (as ./optimizers.ts patches the optimisers): the same
 * outputs and batch statistics up to float rounding, and moving-average updates with the bits of
 * tfjs-layers' ops (one kernel for both), with no change to the model. Inference, other backends,
 * a normalised axis other than the last, non-float32 inputs, and layers without scale or center
 * (which tfjs-layers itself cannot train) run tfjs-layers' own code. CLICKTRAIN_FUSED_BATCHNORM=0
 * leaves it untouched.
 */
import {engine, getBackend, mul, serialization, sub, Tensor, tidy, util} from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';

import {BACKEND_NAME} from './backend';
import {BATCH_NORM_TRAINING, MOVING_AVERAGES} from './kernels/BatchNormTraining';

/** The fields of tfjs-layers' BatchNormalization the fused path reads (not in its public typings). */
interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: {read(): Tensor} | null;
  beta: {read(): Tensor} | null;
  movingMean: {read(): Tensor, write(t: Tensor): void};
  movingVariance: {read(): Tensor, write(t: Tensor): void};
}

type Call = (this: unknown, inputs: Tensor | Tensor[], kwargs: {[k: string]: unknown}) => Tensor | Tensor[];

const PATCHED = Symbol('clicktrain fused batch norm');

function singleInput(inputs: Tensor | Tensor[]): Tensor | null {
  if (!Array.isArray(inputs)) return inputs;
  return inputs.length === 1 ? inputs[0] : null;
}

/** tfjs-layers' moving-average updates of mean and variance (moving - (moving - batch) *
 * (1 - momentum), the same bits) as one kernel instead of six ops. */
function movingAverages(layer: BatchNormLayer, mean: Tensor, variance: Tensor): void {
  tidy(() => {
    const [m, v] = [layer.movingMean.read(), layer.movingVariance.read()];
    if (!util.arraysEqual(m.shape, mean.shape) || !util.arraysEqual(v.shape, variance.shape) ||
        m.dtype !== 'float32' || v.dtype !== 'float32') {
      // Not this kernel's case: tfjs-layers' ops (which raise its errors).
      layer.movingMean.write(sub(m, mul(sub(m, mean), 1 - layer.momentum)));
      layer.movingVariance.write(sub(v, mul(sub(v, variance), 1 - layer.momentum)));
      return;
    }
    const [newMean, newVariance] = engine().runKernel(
        MOVING_AVERAGES, {mean: m, variance: v, batchMean: mean, batchVariance: variance},
        {decay: 1 - layer.momentum}) as Tensor[];
    layer.movingMean.write(newMean);
    layer.movingVariance.write(newVariance);
  });
}

function fusedCall(original: Call): Call {
  return function(this: unknown, inputs, kwargs) {
    const layer = this as BatchNormLayer;
    const input = singleInput(inputs);
    const training = kwargs?.['training'] === true;
    if (!training || getBackend() !== BACKEND_NAME || !input || input.dtype !== 'float32' || input.rank < 2 ||
        !layer.gamma || !layer.beta) {
      return original.call(this, inputs, kwargs);
    }
    const axis = layer.axis >= 0 ? layer.axis : layer.axis + input.rank;
    if (axis !== input.rank - 1) return original.call(this, inputs, kwargs);
    return tidy(() => {
      const [y, mean, variance] = engine().runKernel(
          BATCH_NORM_TRAINING, {x: input, scale: layer.gamma!.read(), offset: layer.beta!.read()},
          {varianceEpsilon: layer.epsilon}) as Tensor[];
      movingAverages(layer, mean, variance);
      return y;
    });
  };
}

/** Installs the fused training path on tfjs-layers' BatchNormalization (idempotent). */
export function registerFusedBatchNormTraining(): void {
  if (process.env.CLICKTRAIN_FUSED_BATCHNORM === '0') return;
  const entry = serialization.SerializationMap.getMap().classNameMap['BatchNormalization'];
  const proto = entry?.[0]?.prototype as {call?: Call & {[PATCHED]?: boolean}} | undefined;
  if (!proto || typeof proto.call !== 'function' || proto.call[PATCHED]) return;
  const fused = fusedCall(proto.call) as Call & {[PATCHED]?: boolean};
  fused[PATCHED] = true;
  proto.call = fused;
}
