/** Shared pieces of the native kernels: data access, fallback to the cpu kernels, epilogues. */
import {getKernel, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo, util} from '@tensorflow/tfjs-core';

import type {ClickTrainBackend} from './backend';

export type KernelArgs = {
  inputs: {[name: string]: TensorInfo | undefined | null},
  backend: ClickTrainBackend,
  attrs?: NamedAttrMap
};

/** The Float32Array behind a tensor, or null when it is not plain float32 data. */
export function f32(backend: ClickTrainBackend, t: TensorInfo | null | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : null;
}

/** The Float32Array behind a float32 tensor, read when called: a filter the sparse kernels run
 * from their own layout is never read (it may be a deferred tensor, see backend.ts). */
export function f32Later(backend: ClickTrainBackend, t: TensorInfo): () => Float32Array {
  return () => {
    const v = f32(backend, t);
    if (!v) throw new Error('clicktrain: float32 tensor without Float32Array data');
    return v;
  };
}

/** Runs the cpu backend's implementation of the same kernel: the correct answer for any case the
 * native kernel does not handle (NCHW, other dtypes, unusual broadcasts). */
export function cpuFallback(kernelName: string, args: KernelArgs): TensorInfo | TensorInfo[] {
  const cpu = getKernel(kernelName, 'cpu');
  if (!cpu) throw new Error(`clicktrain: no cpu kernel ${kernelName} to fall back to`);
  return cpu.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
}

/** Wraps a native implementation that returns null for cases it leaves to the cpu kernel. */
export function nativeKernel(
    kernelName: string,
    impl: (args: KernelArgs) => TensorInfo | TensorInfo[] | null): KernelConfig {
  return {
    kernelName,
    backendName: 'clicktrain',
    kernelFunc: ((args: KernelArgs) => impl(args) ?? cpuFallback(kernelName, args)) as unknown as
        KernelFunc,
  };
}

// Tests set CLICKTRAIN_POISON_OUTPUTS=1 so an element a native kernel fails to write shows as NaN.
const POISON = process.env.CLICKTRAIN_POISON_OUTPUTS === '1';

/** Output tensor: a Float32Array (possibly recycled, see backend.ts) the addon fills, then hands
 * to the backend. The kernel must write every element. */
export function output(backend: ClickTrainBackend, shape: number[]) {
  const values = backend.allocOutput(util.sizeFromShape(shape));
  if (POISON) values.fill(NaN);
  return {values, info: (): TensorInfo => backend.writeOutput(values, shape)};
}

/** A tensor computed on first read (see ClickTrainBackend.deferOutput); `fill` must write every
 * element. `hold`: the arrays fill reads (pinned while the tensor lives) and a source description
 * for kernels that fuse (backend.fusedSource). */
export function deferredOutput(backend: ClickTrainBackend, shape: number[],
                               fill: (values: Float32Array) => void,
                               hold?: {pins: Float32Array[], source?: unknown}): TensorInfo {
  return backend.deferOutput(shape, (values) => {
    if (POISON) values.fill(NaN);
    fill(values);
  }, hold);
}

const ACTIVATIONS: {[name: string]: number} = {
  linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5, prelu: 6
};

export interface NativeEpilogue {
  bias: Float32Array | null;
  activation: number;
  leakyAlpha: number;
  prelu: Float32Array | null;
}

/** Fused bias/activation the native kernels apply along the last (channel) axis, or null when
 * the bias or prelu weights broadcast some other way (then the cpu kernel runs). */
export function nativeEpilogue(
    backend: ClickTrainBackend, outShape: number[], bias: TensorInfo | null | undefined,
    prelu: TensorInfo | null | undefined, activation: string | undefined | null,
    leakyreluAlpha: number | undefined): NativeEpilogue | null {
  const act = ACTIVATIONS[activation ?? 'linear'];
  if (act === undefined) return null;
  const channels = outShape[outShape.length - 1];
  const alongChannels = (t: TensorInfo) => {
    if (t.shape.length > outShape.length) return false;  // would widen the result's rank
    const size = util.sizeFromShape(t.shape);
    if (size === 1) return true;
    // [C] or [1, ..., 1, C]: broadcasts along the last axis only.
    return size === channels && t.shape[t.shape.length - 1] === channels;
  };
  let biasData: Float32Array | null = null;
  if (bias) {
    biasData = f32(backend, bias);
    if (!biasData || !alongChannels(bias)) return null;
  }
  let preluData: Float32Array | null = null;
  if (act === ACTIVATIONS.prelu) {
    if (!prelu) return null;
    preluData = f32(backend, prelu);
    if (!preluData || !alongChannels(prelu)) return null;
  }
  return {bias: biasData, activation: act, leakyAlpha: leakyreluAlpha ?? 0.2, prelu: preluData};
}
