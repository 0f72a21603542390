/**
 * Deferred outputs (ClickTrainBackend.deferOutput): values computed on first read, once, by any
 * reader (data/dataSync, cpu and native kernels, views, a move to another backend), and never
 * when the tensor is disposed unread.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../src';
import {ClickTrainBackend} from '../src/backend/backend';

function backend(): ClickTrainBackend {
  return tf.backend() as ClickTrainBackend;
}

/** A deferred [rows, cols] tensor of 0, 1, 2, ... and a count of its fills. */
function deferred(rows: number, cols: number) {
  const calls = {n: 0};
  const info = backend().deferOutput([rows, cols], (v) => {
    calls.n++;
    for (let i = 0; i < v.length; i++) v[i] = i;
  });
  const t = tf.engine().makeTensorFromTensorInfo(info);
  return {t, calls};
}

const iota = (n: number) => Float32Array.from({length: n}, (_, i) => i);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
});

test('computed on first read, once', async () => {
  const {t, calls} = deferred(3, 5);
  expect(calls.n).toBe(0);
  expect(backend().isDeferred(t.dataId)).toBe(true);
  expect(await t.data()).toEqual(iota(15));
  expect(t.dataSync()).toEqual(iota(15));
  expect(calls.n).toBe(1);
  expect(backend().isDeferred(t.dataId)).toBe(false);
  t.dispose();
});

test('kernels and views read the computed values', () => {
  const {t, calls} = deferred(64, 70);  // above the buffer pool's threshold
  const view = tf.reshape(t, [70, 64]);  // shares the dataId
  expect(calls.n).toBe(0);
  const sum = tf.sum(tf.add(view, 1)).dataSync()[0];
  const n = 64 * 70;
  expect(sum).toBe((n * (n - 1)) / 2 + n);
  expect(tf.relu(t).dataSync()).toEqual(iota(n));
  expect(calls.n).toBe(1);
  tf.dispose([t, view]);
});

test('disposed unread: never computed; a view keeps it pending', () => {
  const {t, calls} = deferred(4, 4);
  const view = tf.reshape(t, [16]);
  t.dispose();
  expect(backend().isDeferred(view.dataId)).toBe(true);
  expect(view.dataSync()).toEqual(iota(16));
  view.dispose();
  const other = deferred(8, 8);
  other.t.dispose();
  expect(other.calls.n).toBe(0);
  expect(backend().isDeferred(other.t.dataId)).toBe(false);
  expect(calls.n).toBe(1);
});

test('materialize() computes a pending tensor now', () => {
  const {t, calls} = deferred(2, 3);
  backend().materialize(t.dataId);
  expect(calls.n).toBe(1);
  expect(t.dataSync()).toEqual(iota(6));
  expect(calls.n).toBe(1);
  t.dispose();
});

test('moved to another backend with its values', async () => {
  const {t} = deferred(3, 3);
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);  // "use tfjs-node"
  await tf.setBackend('cpu');
  try {
    expect(tf.add(t, 0).dataSync()).toEqual(iota(9));
  } finally {
    await tf.setBackend('clicktrain');
    warn.mockRestore();
  }
  t.dispose();
});
