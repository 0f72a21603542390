/** A tfjs-layers CNN trained on clicktrain follows the cpu backend's loss curve from the same
 * initial weights, and training does not leak tensors. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src';

function buildModel(): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({inputShape: [12, 12, 3], filters: 8, kernelSize: 3, padding: 'same',
                               useBias: false}));
  model.add(tfl.layers.batchNormalization());
  model.add(tfl.layers.activation({activation: 'relu'}));
  model.add(tfl.layers.maxPooling2d({poolSize: 2}));
  model.add(tfl.layers.conv2d({filters: 12, kernelSize: 3, strides: 2, activation: 'relu'}));
  model.add(tfl.layers.depthwiseConv2d({kernelSize: 3, padding: 'same'}));
  model.add(tfl.layers.averagePooling2d({poolSize: 2, padding: 'same'}));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({units: 4, activation: 'softmax'}));
  model.compile({optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy'});
  return model;
}

function data() {
  const x = tf.randomUniform([32, 12, 12, 3], -1, 1, 'float32', 7);
  const labels = tf.randomUniform([32], 0, 4, 'int32', 11);
  return {x, y: tf.cast(tf.oneHot(labels, 4), 'float32')};
}

async function lossCurve(backend: string, weights: tf.Tensor[]): Promise<number[]> {
  await tf.setBackend(backend);
  const model = buildModel();
  model.setWeights(weights);
  const {x, y} = data();
  const history = await model.fit(x, y, {epochs: 6, batchSize: 8, shuffle: false, verbose: 0});
  tf.dispose([x, y]);
  model.dispose();
  return history.history.loss as number[];
}

test('clicktrain follows the cpu loss curve from the same initial weights', async () => {
  await tf.setBackend('cpu');
  const init = buildModel();
  const weights = init.getWeights().map((w) => w.clone());
  const cpu = await lossCurve('cpu', weights);
  const ours = await lossCurve('clicktrain', weights);
  expect(ours.length).toBe(cpu.length);
  for (let i = 0; i < cpu.length; i++) expect(Math.abs(ours[i] - cpu[i])).toBeLessThan(1e-3 * Math.max(1, cpu[i]));
  expect(ours[ours.length - 1]).toBeLessThan(ours[0]);
});

test('tf.memory() does not grow over 200 training steps', async () => {
  await tf.setBackend('clicktrain');
  const model = buildModel();
  const x = tf.randomUniform([4, 12, 12, 3]);
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4), 'float32');
  await model.trainOnBatch(x, y);  // first step creates optimiser slots
  const before = tf.memory().numTensors;
  for (let i = 0; i < 200; i++) await model.trainOnBatch(x, y);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([x, y]);
  model.dispose();
});

test('tf.grads through conv layers works on clicktrain', async () => {
  await tf.setBackend('clicktrain');
  const x = tf.randomNormal([2, 6, 6, 3]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 4]) as tf.Tensor4D;
  const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')));
  const [gx, gw] = tf.grads(f)([x, w]);
  await tf.setBackend('cpu');
  const [cx, cw] = tf.grads(f)([x, w]);
  expect(tf.max(tf.abs(tf.sub(gx, cx))).dataSync()[0]).toBeLessThan(1e-4);
  expect(tf.max(tf.abs(tf.sub(gw, cw))).dataSync()[0]).toBeLessThan(1e-4);
  await tf.setBackend('clicktrain');
});
