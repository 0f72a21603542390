/**
 * Fused optimiser updates for tfjs's own SGD and Momentum optimisers on this backend. tfjs builds
 * each update from whole-tensor ops: momentum is mul, add, mul, add — four passes over the
 * variable and four temporaries per variable per step (~45-50 ms of a ~540 ms pruned VGG-16 step).
 * On `clicktrain` the patched `applyGradients` runs one native pass per variable instead
 * (kernels/OptimizerUpdate.ts), so `tf.train.sgd(...)`, `tf.train.momentum(...)` and
 * `model.compile({optimizer: 'sgd'})` get faster with no change to the program. Same formulas and
 * state (accumulation variables, iterations, getWeights/setWeights) as tfjs, equal up to float
 * rounding. Any other backend, or any variable or gradient that is not float32 of the variable's
 * shape, runs tfjs's own method for the whole call. CLICKTRAIN_FUSED_OPTIMIZERS=0 leaves tfjs's
 * optimisers untouched (for comparisons).
 */
import {engine, getBackend, MomentumOptimizer, NamedTensorMap, SGDOptimizer, Tensor, tidy, util, Variable, zerosLike} from '@tensorflow/tfjs-core';

import {BACKEND_NAME} from './backend';
import {MOMENTUM_UPDATE, SGD_UPDATE} from './kernels/OptimizerUpdate';

type Gradients = Array<{name: string, tensor: Tensor}> | NamedTensorMap;
type ApplyGradients = (this: unknown, grads: Gradients) => void;

/** The fields of tfjs's optimisers the fused path reads (not public in tfjs's typings). */
interface SgdState {
  c: Tensor;
  incrementIterations(): void;
}
interface MomentumState extends SgdState {
  m: Tensor;
  useNesterov: boolean;
  accumulations: Array<{originalName: string, variable: Variable}>;
}

const PATCHED = Symbol('clicktrain fused optimiser');

/** (variable, gradient) pairs in tfjs's order, or null when one is not fusable. */
function pairs(grads: Gradients): Array<{name: string, value: Variable, grad: Tensor | null}> | null {
  const names = Array.isArray(grads) ? grads.map((g) => g.name) : Object.keys(grads);
  const out = [];
  for (const [i, name] of names.entries()) {
    const value = engine().registeredVariables[name];
    const grad = (Array.isArray(grads) ? grads[i].tensor : grads[name]) ?? null;
    if (!value || value.dtype !== 'float32') return null;
    if (grad && (grad.dtype !== 'float32' || !util.arraysEqual(grad.shape, value.shape))) return null;
    out.push({name, value, grad});
  }
  return out;
}

/** A scalar hyper-parameter tensor's value (tfjs keeps them as float32 scalars). */
function scalarValue(t: Tensor): number {
  return t.dataSync()[0];
}

function fusedSgd(original: ApplyGradients): ApplyGradients {
  return function(this: unknown, grads: Gradients) {
    const items = getBackend() === BACKEND_NAME ? pairs(grads) : null;
    if (!items) return original.call(this, grads);
    const self = this as SgdState;
    const c = scalarValue(self.c);
    for (const {value, grad} of items) {
      if (!grad) continue;
      tidy(() => {
        value.assign(engine().runKernel(SGD_UPDATE, {value, gradient: grad}, {c}) as Tensor);
      });
    }
    self.incrementIterations();
  };
}

function fusedMomentum(original: ApplyGradients): ApplyGradients {
  return function(this: unknown, grads: Gradients) {
    const items = getBackend() === BACKEND_NAME ? pairs(grads) : null;
    const self = this as MomentumState;
    if (!items || self.accumulations.some((a) => a && a.variable.dtype !== 'float32')) {
      return original.call(this, grads);
    }
    const c = scalarValue(self.c), momentum = scalarValue(self.m);
    items.forEach(({name, value, grad}, i) => {
      if (self.accumulations[i] == null) {
        self.accumulations[i] = {originalName: `${name}/momentum`, variable: tidy(() => zerosLike(value).variable(false))};
      }
      if (!grad) return;
      const accumulation = self.accumulations[i].variable;
      tidy(() => {
        const [newValue, newAccumulation] = engine().runKernel(
            MOMENTUM_UPDATE, {value, accumulation, gradient: grad},
            {c, momentum, nesterov: self.useNesterov}) as Tensor[];
        accumulation.assign(newAccumulation);
        value.assign(newValue);
      });
    });
    self.incrementIterations();
  };
}

function patch(proto: object, make: (original: ApplyGradients) => ApplyGradients): void {
  const p = proto as {applyGradients: ApplyGradients & {[PATCHED]?: boolean}};
  if (!Object.prototype.hasOwnProperty.call(p, 'applyGradients') || p.applyGradients[PATCHED]) return;
  const fused = make(p.applyGradients) as ApplyGradients & {[PATCHED]?: boolean};
  fused[PATCHED] = true;
  p.applyGradients = fused;
}

/** Installs the fused paths (idempotent). */
export function registerFusedOptimizers(): void {
  if (process.env.CLICKTRAIN_FUSED_OPTIMIZERS === '0') return;
  patch(SGDOptimizer.prototype, fusedSgd);
  patch(MomentumOptimizer.prototype, fusedMomentum);
}
