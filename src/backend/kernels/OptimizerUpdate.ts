/**
 * Fused optimiser updates, one native pass per variable (see ../optimizers.ts, which routes tfjs's
 * SGD and Momentum optimisers here on this backend). Inputs must be float32 of one shape. A frozen
 * layer's step with its sparse gradient runs packed (../../sparse/frozen_update.ts).
 */
import {KernelConfig, TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {frozenMomentumStep, frozenSgdStep} from '../../sparse/frozen_update';
import {f32, KernelArgs, output} from '../kernel_utils';

export const SGD_UPDATE = 'ClickTrainSgdUpdate';
export const MOMENTUM_UPDATE = 'ClickTrainMomentumUpdate';

function sameFloat32(name: string, ...ts: Array<TensorInfo | null | undefined>): TensorInfo[] {
  const ok = ts.every((t) => t && t.dtype === 'float32' && util.arraysEqual(t.shape, ts[0]!.shape));
  if (!ok) throw new Error(`clicktrain: ${name} needs float32 inputs of one shape`);
  return ts as TensorInfo[];
}

function data(backend: KernelArgs['backend'], name: string, t: TensorInfo): Float32Array {
  const v = f32(backend, t);
  if (!v) throw new Error(`clicktrain: ${name} got non-float32 data`);
  return v;
}

function sgdUpdate({inputs, backend, attrs}: KernelArgs): TensorInfo {
  const [value, gradient] = sameFloat32(SGD_UPDATE, inputs.value, inputs.gradient);
  const c = (attrs as {c: number}).c;
  const frozen = frozenSgdStep(backend, value, gradient, c);
  if (frozen) return frozen;
  const out = output(backend, value.shape);
  addon().sgdUpdate(data(backend, SGD_UPDATE, value), data(backend, SGD_UPDATE, gradient), out.values, c);
  return out.info();
}

function momentumUpdate({inputs, backend, attrs}: KernelArgs): TensorInfo[] {
  const [value, accumulation, gradient] =
      sameFloat32(MOMENTUM_UPDATE, inputs.value, inputs.accumulation, inputs.gradient);
  const {c, momentum, nesterov} = attrs as {c: number, momentum: number, nesterov: boolean};
  const frozen = frozenMomentumStep(backend, value, accumulation, gradient, c, momentum, nesterov);
  if (frozen) return frozen;
  const newValue = output(backend, value.shape), newAccumulation = output(backend, value.shape);
  addon().momentumUpdate(data(backend, MOMENTUM_UPDATE, value), data(backend, MOMENTUM_UPDATE, accumulation),
      data(backend, MOMENTUM_UPDATE, gradient), newValue.values, newAccumulation.values, c, momentum, nesterov);
  return [newValue.info(), newAccumulation.info()];
}

export const sgdUpdateConfig: KernelConfig = {
  kernelName: SGD_UPDATE,
  backendName: 'clicktrain',
  kernelFunc: sgdUpdate as unknown as KernelConfig['kernelFunc'],
};

export const momentumUpdateConfig: KernelConfig = {
  kernelName: MOMENTUM_UPDATE,
  backendName: 'clicktrain',
  kernelFunc: momentumUpdate as unknown as KernelConfig['kernelFunc'],
};
