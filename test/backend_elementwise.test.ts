/**
 * Native element-wise, reduction and layout kernels against the cpu backend (whose JS loops are
 * the tfjs semantics) on random shapes with broadcasting, random axes and odd sizes.
 */
process.env.CLICKTRAIN_POISON_OUTPUTS = '1';

import * as tf from '@tensorflow/tfjs-core';
import '../src';
import * as ref from './helpers/reference';

const seed = ref.testSeed();
const r = ref.rng(seed);

// At most this many elements per tensor: rank-5 shapes of 16s and 17s (1.4M elements), tiled up
// to 3x per axis, reached 345M elements and ran a test worker out of heap.
const MAX_ELEMENTS = 50000;

function randomShape(rank: number) {
  for (;;) {
    const shape = Array.from({length: rank}, () => r.pick([1, 1, 2, 3, 5, 7, 16, 17]));
    if (tf.util.sizeFromShape(shape) <= MAX_ELEMENTS) return shape;
  }
}

async function onBoth(fn: () => tf.Tensor): Promise<[Float32Array, Float32Array, number[], number[]]> {
  await tf.setBackend('cpu');
  const c = fn();
  const cv = (await c.data()) as Float32Array;
  await tf.setBackend('clicktrain');
  const o = fn();
  const ov = (await o.data()) as Float32Array;
  return [ov, cv, o.shape, c.shape];
}

beforeAll(() => {
  // eslint-disable-next-line no-console
  console.log(`element-wise tests: seed ${seed}`);
});

test.each(Array.from({length: 30}, (_, i) => i))('broadcasting binary ops, case %i', async () => {
  const rank = r.int(0, 5);
  const out = randomShape(rank);
  const sub = (s: number[]) => s.slice(r.int(0, s.length)).map((d) => (r.next() < 0.3 ? 1 : d));
  const aShape = r.next() < 0.5 ? out : sub(out), bShape = r.next() < 0.5 ? out : sub(out);
  const av = r.floats(tf.util.sizeFromShape(aShape)), bv = r.floats(tf.util.sizeFromShape(bShape));
  for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'squaredDifference'] as const) {
    const [got, want, gs, ws] = await onBoth(() => tf[op](tf.tensor(av, aShape), tf.tensor(bv, bShape)));
    expect(gs).toEqual(ws);
    expect(ref.maxRelError(got, want)).toBeLessThan(1e-6);
  }
});

test.each(Array.from({length: 20}, (_, i) => i))('reductions over random axes, case %i', async () => {
  const shape = randomShape(r.int(1, 5));
  const xv = r.floats(tf.util.sizeFromShape(shape));
  const axes = shape.map((_, i) => i).filter(() => r.next() < 0.5);
  const keepDims = r.next() < 0.5;
  for (const op of ['sum', 'mean', 'max', 'min'] as const) {
    const [got, want, gs, ws] = await onBoth(() => tf[op](tf.tensor(xv, shape), axes, keepDims));
    expect(gs).toEqual(ws);
    // Sums may cancel: judged against the same reduction of |x| (max and min must agree exactly).
    const mag = op === 'sum' || op === 'mean' ?
        (await onBoth(() => tf[op](tf.abs(tf.tensor(xv, shape)), axes, keepDims)))[1] : want;
    expect(ref.maxErrorVsMagnitude(got, want, mag)).toBeLessThan(op === 'sum' || op === 'mean' ? 1e-5 : 1e-30);
  }
});

test.each(Array.from({length: 12}, (_, i) => i))('transpose, tile, slice and pad, case %i', async () => {
  const shape = randomShape(r.int(1, 5));
  const xv = r.floats(tf.util.sizeFromShape(shape));
  const x = () => tf.tensor(xv, shape);
  const perm = shape.map((_, i) => i).sort(() => r.next() - 0.5);
  const reps = shape.map(() => r.int(1, 3));
  while (tf.util.sizeFromShape(shape) * reps.reduce((a, b) => a * b, 1) > 4 * MAX_ELEMENTS) {
    reps[reps.findIndex((v) => v > 1)] = 1;
  }
  const begin = shape.map((d) => r.int(0, d - 1));
  const size = shape.map((d, i) => r.int(0, d - begin[i]));
  const pads = shape.map(() => [r.int(0, 2), r.int(0, 2)] as [number, number]);
  for (const fn of [() => tf.transpose(x(), perm), () => tf.tile(x(), reps),
                    () => tf.slice(x(), begin, size), () => tf.pad(x(), pads, 0.5)]) {
    const [got, want, gs, ws] = await onBoth(fn);
    expect(gs).toEqual(ws);
    expect(Array.from(got)).toEqual(Array.from(want));
  }
});

test('unary ops match the cpu kernels, NaN included', async () => {
  const xv = Float32Array.from([...r.floats(97), NaN, 0, -0, Infinity, -Infinity], (v) => v * 3);
  const ops: Array<(t: tf.Tensor) => tf.Tensor> = [
    tf.relu, (t) => tf.step(t, 0.1), tf.neg, tf.square, (t) => tf.sqrt(tf.abs(t)), (t) => tf.rsqrt(tf.abs(t)),
    tf.exp, (t) => tf.log(tf.abs(t)), tf.abs, tf.sigmoid, tf.tanh, tf.reciprocal, tf.relu6, tf.elu,
  ];
  for (const op of ops) {
    const [got, want] = await onBoth(() => op(tf.tensor(xv)));
    for (let i = 0; i < got.length; i++) {
      if (Number.isNaN(want[i])) expect(got[i]).toBeNaN();
      else if (!Number.isFinite(want[i])) expect(got[i]).toBe(want[i]);
      else expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(want[i])));
    }
  }
});

test('shape errors still come from tfjs', () => {
  expect(() => tf.add(tf.zeros([2, 3]), tf.zeros([4]))).toThrow();
  expect(() => tf.slice(tf.zeros([2, 3]), [0, 2], [1, 3])).toThrow();
});
