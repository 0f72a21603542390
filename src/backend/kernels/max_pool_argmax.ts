/**
 * What a max pool with recorded argmaxes leaves for later kernels (./Pooling.ts): its output
 * carries the argmaxes (attachSource), and its gradient is deferred as "dy scattered by those
 * argmaxes", which the batch-norm gradient below the pool reads block by block without the
 * gradient ever being written out (./BatchNormTraining.ts, through ./batch_norm_relu.ts).
 */
import {DataId, TensorInfo} from '@tensorflow/tfjs-core';

import {addon, ConvGeometry} from '../../native/addon';
import type {ClickTrainBackend} from '../backend';

/** A max pool output's argmaxes (attached to it). */
export interface MaxPoolArgmaxSource {
  kind: 'maxPoolArgmax';
  input: DataId;
  geometry: ConvGeometry;
  argmax: Uint8Array;
}

/** A deferred max-pool gradient: dy (the pool output's gradient) at each window's argmax, 0 elsewhere. */
export interface PooledGradSource {
  kind: 'maxPoolGradArgmax';
  geometry: ConvGeometry;
  argmax: Uint8Array;
  dy: Float32Array;
}

/** The source of t when t is a deferred max-pool gradient not computed yet. */
export function pendingPooledGrad(backend: ClickTrainBackend, t: TensorInfo | null | undefined): PooledGradSource | null {
  if (!t || !backend.isDeferred(t.dataId)) return null;
  const s = backend.fusedSource(t.dataId) as PooledGradSource | undefined;
  return s?.kind === 'maxPoolGradArgmax' ? s : null;
}

/** Writes the gradient a pooled-gradient source describes (the pool input's size) into out. */
export function scatterPooledGrad(s: PooledGradSource, out: Float32Array): void {
  addon().maxPoolArgmaxBackward(s.geometry, s.argmax, s.dy, out);
}

/** Elements of the pool input (= of the gradient), and its channels. */
export function pooledGradShape(s: PooledGradSource): {size: number, channels: number} {
  const [batch, inH, inW, inC] = s.geometry;
  return {size: batch * inH * inW * inC, channels: inC};
}
