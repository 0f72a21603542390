/** Models, outputs, gradients and training steps of tfjs-layers models for fused-vs-unfused tests. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {freezeSparsity} from '../../src';

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

/** Trains `model` two momentum steps on (x, y) (mean squared error), the first inside `first` (to
 * count what it runs), and checks the second leaks no tensors; returns the trained weights and
 * `first`'s result, and disposes the model. */
export async function trainTwoSteps<T>(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor,
                                       first: (step: () => Promise<unknown>) => Promise<T>):
    Promise<{weights: Float32Array[], counted: T}> {
  model.compile({optimizer: tf.train.momentum(0.05, 0.9), loss: 'meanSquaredError'});
  const counted = await first(() => model.trainOnBatch(x, y) as Promise<unknown>);
  const before = tf.memory().numTensors;
  await model.trainOnBatch(x, y);
  expect(tf.memory().numTensors).toBe(before);
  const weights = model.getWeights().map((t) => t.dataSync() as Float32Array);
  model.dispose();
  return {weights, counted};
}

/** conv s1 (dense, on RGB) -> BN -> relu -> conv s2 -> BN -> relu -> conv s3 -> BN -> relu -> dense
 * head, s2 and s3 frozen onto the sparse kernels with `masks`; with exposeRelu, s1's relu output is a
 * second model output. `init`: the weights to start from (another such model's), set before the
 * freeze. */
export function frozenBlocksModel(size: number, channels: number, masks: {s2: Uint16Array, s3: Uint16Array},
                                  opts: {init?: tf.Tensor[], exposeRelu?: boolean} = {}): tfl.LayersModel {
  const input = tfl.input({shape: [size, size, 3]});
  const block = (x: tfl.SymbolicTensor, name: string) => {
    const c = tfl.layers.conv2d({filters: channels, kernelSize: 3, padding: 'same', useBias: false, name,
                                 kernelInitializer: 'glorotNormal'}).apply(x) as tfl.SymbolicTensor;
    const b = tfl.layers.batchNormalization({gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal'})
        .apply(c) as tfl.SymbolicTensor;
    return tfl.layers.reLU().apply(b) as tfl.SymbolicTensor;
  };
  const a = block(input, 's1');
  const c = block(block(a, 's2'), 's3');
  const head = tfl.layers.dense({units: 3}).apply(tfl.layers.flatten().apply(c)) as tfl.SymbolicTensor;
  const model = tfl.model({inputs: input, outputs: opts.exposeRelu ? [head, a] : head});
  if (opts.init) model.setWeights(opts.init);
  freezeSparsity(model, {masks: {...masks}, layers: ['s2', 's3']});
  return model;
}
