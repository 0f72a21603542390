/** Outputs and gradients of a tfjs-layers model in training mode, for fused-vs-unfused tests. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type Rng = ReturnType<typeof import('./reference').rng>;

/** One random tensor per model output, shaped like it at this batch size (the loss weights). */
export function randomOutputWeights(model: tfl.LayersModel, batch: number, r: Rng): tf.Tensor[] {
  return model.outputs.map((o) => {
    const shape = [batch, ...o.shape.slice(1)] as number[];
    return tf.tensor(r.floats(shape.reduce((p, d) => p * d, 1)), shape);
  });
}

/** Outputs and gradients (input and every weight) of sum(out_i * w_i) in training mode. */
export function outputsAndGradients(model: tfl.LayersModel, x: tf.Tensor, ws: tf.Tensor[]): Float32Array[] {
  return tf.tidy(() => {
    const vars = model.trainableWeights.map((v) => v.read());
    const outs = [model.apply(x, {training: true})].flat() as tf.Tensor[];
    const f = (xx: tf.Tensor) => tf.addN(([model.apply(xx, {training: true})].flat() as tf.Tensor[])
        .map((o, i) => tf.sum(tf.mul(o, ws[i]))));
    const grads = tf.grads((xx: tf.Tensor, ..._v: tf.Tensor[]) => f(xx))([x, ...vars]);
    return [...outs, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}
