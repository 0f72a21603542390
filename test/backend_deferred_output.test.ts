/**
 * Deferred outputs (ClickTrainBackend.deferOutput): values computed on first read, once, by any
 * reader (data/dataSync, cpu and native kernels, views, a move to another backend), and never
 * when the tensor is disposed unread; the dense Conv2DBackpropInput as one (its inputs pinned).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src';
import {ClickTrainBackend} from '../src/backend/backend';
import {addon} from '../src/native/addon';

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

describe('dense Conv2DBackpropInput is deferred', () => {
  const addonCalls = () => {
    const a = addon() as unknown as {conv2dBackpropInput: (...args: unknown[]) => unknown};
    const original = a.conv2dBackpropInput;
    const calls = {n: 0};
    a.conv2dBackpropInput = (...args) => {
      calls.n++;
      return original(...args);
    };
    return {calls, restore: () => { a.conv2dBackpropInput = original; }};
  };

  test('a first conv\'s input gradient is never computed in a training step', async () => {
    const input = tfl.input({shape: [8, 8, 3]});
    const c1 = tfl.layers.conv2d({filters: 8, kernelSize: 3, padding: 'same'}).apply(input) as tfl.SymbolicTensor;
    const c2 = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same'}).apply(c1) as tfl.SymbolicTensor;
    const model = tfl.model({inputs: input, outputs: c2});
    model.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
    const x = tf.randomNormal([2, 8, 8, 3]), y = tf.randomNormal([2, 8, 8, 4]);
    const {calls, restore} = addonCalls();
    try {
      await model.trainOnBatch(x, y);
    } finally {
      restore();
    }
    expect(calls.n).toBe(1);  // the second conv's dx (the first conv's dy); not the first conv's
    model.dispose();
    tf.dispose([x, y]);
  });

  test('correct when read after dy and the filter were freed and their buffers offered for reuse', () => {
    const [n, h, w, ci, co] = [2, 9, 7, 5, 48];  // dy of 6048 floats: a pooled buffer
    const x = tf.randomNormal([n, h, w, ci]);
    const dyBase = tf.randomNormal([n, h, w, co]), filterBase = tf.randomNormal([3, 3, ci, co]);
    const dy = tf.mul(dyBase, 1), filter = tf.mul(filterBase, 1);  // native outputs, never read out
    const dx = tf.engine().runKernel('Conv2DBackpropInput', {dy, filter},
                                     {inputShape: [n, h, w, ci], strides: 1, pad: 'same', dataFormat: 'NHWC',
                                      dimRoundingMode: undefined}) as tf.Tensor;
    expect(backend().isDeferred(dx.dataId)).toBe(true);
    tf.dispose([dy, filter]);
    const reuse = [tf.mul(dyBase, 2), tf.mul(filterBase, 3), tf.mul(dyBase, 4)];  // same sizes
    // dx = d/dx of sum(conv(x, filter) * dyBase), by autodiff on fresh copies.
    const want = tf.grad((xx: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(xx, filterBase as tf.Tensor4D, 1, 'same'), dyBase)))(
        x as tf.Tensor4D);
    const got = dx.dataSync(), ref = want.dataSync();
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([x, dyBase, filterBase, dx, want, ...reuse]);
  });
});
