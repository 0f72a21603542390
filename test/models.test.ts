import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {buildModel, resnet, resnet20, smallCnn, vgg16, vgg11} from '../src/models';
import {findPrunableLayers} from '../src/pruning';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('ResNet-20/32/56 (option A shortcuts) have the paper parameter counts and output shapes', () => {
  const r20 = resnet20({seed: 1});
  expect(r20.countParams()).toBeGreaterThan(0.26e6);
  expect(r20.countParams()).toBeLessThan(0.28e6);
  // 19 3x3 convs; the first (on the image) stays dense unless asked.
  expect(findPrunableLayers(r20)).toHaveLength(18);
  expect(findPrunableLayers(r20, undefined, undefined, true)).toHaveLength(19);
  const y = r20.predict(tf.zeros([2, 32, 32, 3])) as tf.Tensor;
  expect(y.shape).toEqual([2, 10]);
  expect(Math.abs(tf.sum(y).dataSync()[0] - 2)).toBeLessThan(1e-4);
  const r32 = resnet(32);
  expect(r32.countParams()).toBeGreaterThan(0.45e6);
  expect(r32.countParams()).toBeLessThan(0.48e6);
  const r56 = buildModel('resnet56', {numClasses: 100});
  expect(r56.countParams()).toBeGreaterThan(0.85e6);
  expect(r56.countParams()).toBeLessThan(0.87e6);
  expect(r56.outputs[0].shape).toEqual([null, 100]);
  expect(() => resnet(21)).toThrow(/6n\+2/);
});

test('VGG-BN builders: VGG-16 ~15M parameters, VGG-11 output shape', () => {
  const v16 = vgg16();
  expect(v16.countParams()).toBeGreaterThan(14.7e6);
  expect(v16.countParams()).toBeLessThan(15.1e6);
  expect(findPrunableLayers(v16)).toHaveLength(12);
  expect(findPrunableLayers(v16, undefined, undefined, true)).toHaveLength(13);
  const v11 = vgg11({numClasses: 100, logits: true});
  expect(v11.outputs[0].shape).toEqual([null, 100]);
  expect(findPrunableLayers(v11)).toHaveLength(7);
  expect(buildModel('vgg13').countParams()).toBeGreaterThan(9.4e6);
  expect(() => buildModel('lenet')).toThrow(/unknown model 'lenet'/);
});

test('small Fashion-MNIST CNN predicts 10 classes on 28x28x1; saved models reload with the custom shortcut layer', async () => {
  const m = smallCnn({seed: 2});
  const y = m.predict(tf.ones([3, 28, 28, 1])) as tf.Tensor;
  expect(y.shape).toEqual([3, 10]);
  expect(m.countParams()).toBeLessThan(40000);
  const r = resnet(8, {seed: 3});
  let saved: tf.io.ModelArtifacts | null = null;
  await r.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  const back = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
  const x = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 1);
  expect(Array.from((back.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((r.predict(x) as tf.Tensor).dataSync()));
});
