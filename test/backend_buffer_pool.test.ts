/**
 * Recycling of native output buffers (src/backend/backend.ts): a freed tensor's buffer is reused,
 * and never while anything can still see it (values read out, views held by other tensors).
 */
import * as tf from '@tensorflow/tfjs-core';
import '../src';
import {ClickTrainBackend} from '../src/backend/backend';

const N = 64 * 1024;  // above the pooling threshold

function backend(): ClickTrainBackend {
  return tf.backend() as ClickTrainBackend;
}

/** Count of differing elements (a plain number keeps a failure's report short). */
function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

function internalValues(t: tf.Tensor): Float32Array {
  return backend().data.get(t.dataId).values as Float32Array;
}

beforeAll(async () => {
  await tf.setBackend('clicktrain');
});

afterEach(() => backend().releasePooledBuffers());

test('a freed native output buffer is reused by the next output of the same size', () => {
  const x = tf.randomNormal([N]);
  const y = tf.relu(x);
  const first = internalValues(y);
  y.dispose();
  const z = tf.neg(x);
  expect(internalValues(z)).toBe(first);
  // And the reused buffer holds z's values, not y's.
  const xv = x.dataSync();
  const zv = z.dataSync();
  for (let i = 0; i < N; i += 997) expect(zv[i]).toBe(-xv[i]);
  tf.dispose([x, z]);
});

test('values read out with dataSync/data/arraySync stay intact after the tensor is freed', async () => {
  const x = tf.randomNormal([N]);
  const a = tf.relu(x);
  const b = tf.relu(x);
  const c = tf.relu(x);
  const av = a.dataSync();
  const bv = await b.data();
  const snapshotA = Float32Array.from(av);
  const snapshotB = Float32Array.from(bv as Float32Array);
  tf.dispose([a, b]);
  // Several same-size outputs: with a wrong reuse one of them would overwrite av or bv.
  const others = [tf.neg(x), tf.neg(x), tf.square(x), tf.exp(x)];
  expect(mismatches(av, snapshotA)).toBe(0);
  expect(mismatches(bv as Float32Array, snapshotB)).toBe(0);
  tf.dispose([x, c, ...others]);
});

test('a view another tensor holds (cpu split returns subarrays) keeps the buffer out of the pool', () => {
  const x = tf.randomNormal([2, N]);
  const a = tf.relu(x);
  const [top, bottom] = tf.split(a, 2, 0);
  const expectTop = Float32Array.from(tf.relu(x).dataSync().subarray(0, N));
  const owner = internalValues(a);
  a.dispose();
  const others = [tf.neg(x), tf.neg(x), tf.square(x)];
  for (const o of others) expect(internalValues(o)).not.toBe(owner);
  expect(mismatches(top.dataSync(), expectTop)).toBe(0);
  expect(bottom.shape).toEqual([1, N]);
  tf.dispose([x, top, bottom, ...others]);
});

test('a buffer shared through reshape is reused only when its last tensor is freed', () => {
  const x = tf.randomNormal([N]);
  const a = tf.relu(x);
  const r = tf.reshape(a, [256, N / 256]);
  const owner = internalValues(a);
  a.dispose();  // r still holds the data
  const b = tf.neg(x);
  expect(internalValues(b)).not.toBe(owner);
  const want = tf.tidy(() => tf.reshape(tf.relu(x), [256, N / 256]));
  expect(mismatches(r.dataSync(), want.dataSync())).toBe(0);
  tf.dispose([x, r, b, want]);
});

test('training with recycled buffers keeps tf.memory() flat and the pool bounded', async () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const tfl = require('@tensorflow/tfjs-layers');
  const m = tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [16, 16, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu'}),
    tfl.layers.flatten(), tfl.layers.dense({units: 4, activation: 'softmax'})]});
  m.compile({optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy'});
  const xs = tf.randomNormal([8, 16, 16, 3]);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4);
  await m.trainOnBatch(xs, ys);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 10; i++) await m.trainOnBatch(xs, ys);
  expect(tf.memory().numTensors).toBe(before);
  expect((backend() as unknown as {pooledBytes: number}).pooledBytes).toBeLessThanOrEqual(256 * 1024 * 1024);
  tf.dispose([xs, ys]);
  m.dispose();
});
