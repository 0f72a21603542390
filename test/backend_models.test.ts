/** Existing tfjs programs run unchanged: layers models saved and loaded, graph models from
 * tfjs-converter, predict and evaluate. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfc from '@tensorflow/tfjs-converter';
import {info} from '../src';

beforeAll(async () => {
  expect(await tf.setBackend('clicktrain')).toBe(true);
});

test('backend info reports ISA, threads and GEMM library', () => {
  const i = info();
  expect(['generic', 'avx2', 'avx512']).toContain(i.isa);
  expect(i.threads).toBeGreaterThanOrEqual(1);
  expect(typeof i.gemm).toBe('string');
});

test('a layers model round-trips through save/loadLayersModel and predicts the same', async () => {
  const model = tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [8, 8, 2], filters: 4, kernelSize: 3, activation: 'relu'}),
    tfl.layers.flatten(), tfl.layers.dense({units: 3})
  ]});
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
  const x = tf.randomNormal([3, 8, 8, 2]);
  const a = model.predict(x) as tf.Tensor, b = loaded.predict(x) as tf.Tensor;
  expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
  loaded.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  const ev = loaded.evaluate(x, tf.zeros([3, 3])) as tf.Scalar;
  expect(Number.isFinite(ev.dataSync()[0])).toBe(true);
});

test('a graph model (tfjs-converter) with Conv2D + BiasAdd + Relu runs and matches cpu', async () => {
  const w = tf.randomNormal([3, 3, 2, 4]);
  const bias = tf.randomNormal([4]);
  const enc = (s: string) => Buffer.from(s).toString('base64');
  const modelTopology = {
    node: [
      {name: 'x', op: 'Placeholder', attr: {dtype: {type: 'DT_FLOAT'},
        shape: {shape: {dim: [{size: '-1'}, {size: '6'}, {size: '6'}, {size: '2'}]}}}},
      {name: 'w', op: 'Const', attr: {dtype: {type: 'DT_FLOAT'}, value: {tensor: {dtype: 'DT_FLOAT',
        tensorShape: {dim: [{size: '3'}, {size: '3'}, {size: '2'}, {size: '4'}]}}}}},
      {name: 'b', op: 'Const', attr: {dtype: {type: 'DT_FLOAT'}, value: {tensor: {dtype: 'DT_FLOAT',
        tensorShape: {dim: [{size: '4'}]}}}}},
      {name: 'conv', op: 'Conv2D', input: ['x', 'w'], attr: {
        T: {type: 'DT_FLOAT'}, strides: {list: {i: ['1', '1', '1', '1']}}, padding: {s: enc('SAME')},
        data_format: {s: enc('NHWC')}, dilations: {list: {i: ['1', '1', '1', '1']}}}},
      {name: 'bias', op: 'BiasAdd', input: ['conv', 'b'], attr: {T: {type: 'DT_FLOAT'},
        data_format: {s: enc('NHWC')}}},
      {name: 'out', op: 'Relu', input: ['bias'], attr: {T: {type: 'DT_FLOAT'}}},
    ],
    versions: {producer: 1},
  };
  const weightData = new Uint8Array([...new Uint8Array(w.dataSync().slice().buffer),
                                     ...new Uint8Array(bias.dataSync().slice().buffer)]).buffer;
  const graph = await tfc.loadGraphModel(tf.io.fromMemory({
    modelTopology, format: 'graph-model',
    weightSpecs: [{name: 'w', shape: [3, 3, 2, 4], dtype: 'float32'},
                  {name: 'b', shape: [4], dtype: 'float32'}],
    weightData,
  }));
  const x = tf.randomNormal([2, 6, 6, 2]);
  const got = graph.predict(x) as tf.Tensor;
  const expected = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), bias));
  expect(got.shape).toEqual([2, 6, 6, 4]);
  expect(tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]).toBeLessThan(1e-5);
});
