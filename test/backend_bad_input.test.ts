/** Bad input gets a clear error or the tfjs-correct result: never a crash or a wrong answer. */
import * as tf from '@tensorflow/tfjs-core';
import '../src';
import {addon} from '../src/native/addon';
import {SparseLayout, sparseAddon} from '../src/sparse/layout';

beforeAll(async () => {
  await tf.setBackend('clicktrain');
});

const geometry = [1, 4, 4, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1];

describe('the addon checks every buffer against its shape', () => {
  const a = addon();
  test('wrong buffer lengths throw RangeError', () => {
    expect(() => a.conv2dForward(geometry, new Float32Array(31), new Float32Array(54),
                                 new Float32Array(48), null, 0, 0, null)).toThrow(/x.*32/);
    expect(() => a.conv2dForward(geometry, new Float32Array(32), new Float32Array(54),
                                 new Float32Array(47), null, 0, 0, null)).toThrow(/'y' has 47 elements/);
    expect(() => a.conv2dBackpropFilter(geometry, new Float32Array(32), new Float32Array(48),
                                        new Float32Array(53))).toThrow(/dfilter/);
  });
  test('non-float32 arrays and bad geometry throw', () => {
    expect(() => a.conv2dForward(geometry, new Float64Array(32) as never, new Float32Array(54),
                                 new Float32Array(48), null, 0, 0, null)).toThrow(/must be a Float32Array/);
    expect(() => a.conv2dForward([1, 2, 3], new Float32Array(1), new Float32Array(1),
                                 new Float32Array(1), null, 0, 0, null)).toThrow(/15 entries/);
    const zeroStride = geometry.slice();
    zeroStride[9] = 0;
    expect(() => a.conv2dForward(zeroStride, new Float32Array(32), new Float32Array(54),
                                 new Float32Array(48), null, 0, 0, null)).toThrow(/stride/);
    const huge = geometry.slice();
    huge[0] = 1e11;
    huge[3] = 1e11;
    expect(() => a.conv2dForward(huge, new Float32Array(32), new Float32Array(54),
                                 new Float32Array(48), null, 0, 0, null)).toThrow(/out of range|overflow|absurd/);
    expect(() => a.conv2dForward(geometry, new Float32Array(32), new Float32Array(54),
                                 new Float32Array(48), new Float32Array(2), 0, 0, null)).toThrow(/bias/);
    expect(() => a.setNumThreads(0)).toThrow(/threads/);
    expect(() => a.batchMatMul(2, 3, 1, 1, 1, false, false, new Float32Array(2),
                               new Float32Array(3), new Float32Array(3), null, 0, 0, null))
        .toThrow(/batch/);
  });
});

describe('the batch-norm gradient read by a conv checks its arrays', () => {
  const a = addon();
  const f = (n: number) => new Float32Array(n);
  // geometry: 16 output rows of 3 channels; the batch norm's x and dy are [16, 3].
  const grad = (over: object) => ({x: f(48), dy: f(48), mean: f(3), variance: f(3).fill(1), scale: null, offset: null,
                                   epsilon: 1e-3, relu: false, coefficients: f(9), ...over});
  const bwdF = (dy: Float32Array | null, g: unknown) => a.conv2dBackpropFilter(geometry, f(32), dy, f(54), g as never);
  test('dy and a batch-norm gradient: exactly one of them', () => {
    expect(() => bwdF(f(48), grad({}))).toThrow(/dy or a batch norm gradient, not both/);
    expect(() => bwdF(null, null)).toThrow(/dy or a batch norm gradient, not both/);
  });
  test('wrong lengths or types throw', () => {
    expect(() => bwdF(null, grad({x: f(47)}))).toThrow(/'x' must have 48 elements/);
    expect(() => bwdF(null, grad({dy: f(96)}))).toThrow(/'dy' must have 48 elements/);
    expect(() => bwdF(null, grad({coefficients: f(3)}))).toThrow(/'coefficients' must have 9 elements/);
    expect(() => bwdF(null, grad({mean: f(2)}))).toThrow(/'mean' must have 3 elements/);
    expect(() => bwdF(null, grad({relu: 1}))).toThrow(/'relu' must be a boolean/);
    expect(() => bwdF(null, grad({x: new Float64Array(48)}))).toThrow(/'x' must be a Float32Array/);
    expect(() => a.batchNormTrainingGradSums(16, 3, f(48), f(48), f(3), f(3), null, 1e-3, f(3), f(3), f(8), false, null))
        .toThrow(/coefficients/);
    expect(() => a.batchNormTrainingGradDx(16, 3, f(48), f(48), f(3), f(3), null, 1e-3, f(9), false, null, f(47)))
        .toThrow(/'dx' has 47 elements/);
  });
  test('a good call equals the backward-filter of the written gradient', () => {
    const x = Float32Array.from({length: 32}, (_, i) => Math.sin(i));
    const bx = Float32Array.from({length: 48}, (_, i) => Math.cos(i)), dy = Float32Array.from({length: 48}, (_, i) => i % 5 - 2);
    const mean = f(3), variance = f(3);
    a.batchNormTraining(16, 3, bx, null, null, 1e-3, null, mean, variance);
    const dx = f(48), ds = f(3), dof = f(3), coefficients = f(9);
    a.batchNormTrainingGrad(16, 3, bx, dy, mean, variance, null, 1e-3, dx, ds, dof, true, null);
    a.batchNormTrainingGradSums(16, 3, bx, dy, mean, variance, null, 1e-3, ds, dof, coefficients, true, null);
    const want = f(54), got = f(54).fill(NaN);
    a.conv2dBackpropFilter(geometry, x, dx, want);
    a.conv2dBackpropFilter(geometry, x, null, got, {...grad({}), x: bx, dy, mean, variance, relu: true, coefficients});
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });
});

describe('the max pool with argmaxes checks its geometry and buffers', () => {
  const a = addon();
  // batch 1, 4x4x3 input, 2x2/2 windows: 2x2x3 output.
  const pool = [1, 4, 4, 3, 2, 2, 3, 2, 2, 2, 2, 1, 1, 0, 0];
  const f = (n: number) => new Float32Array(n);
  test('only disjoint windows tiling the input are taken', () => {
    expect(a.maxPoolArgmaxSupported(pool)).toBe(true);
    const overlapping = pool.slice();
    overlapping[9] = overlapping[10] = 1;  // stride 1
    overlapping[4] = overlapping[5] = 3;
    expect(a.maxPoolArgmaxSupported(overlapping)).toBe(false);
    expect(() => a.maxPoolArgmaxBackward(overlapping, new Uint8Array(27), f(27), f(48))).toThrow(/disjoint windows/);
    const one = [1, 4, 4, 3, 4, 4, 3, 1, 1, 1, 1, 1, 1, 0, 0];  // 1x1: tfjs's identity
    expect(a.maxPoolArgmaxSupported(one)).toBe(false);
  });
  test('wrong lengths and types throw', () => {
    const c = f(3);
    expect(() => a.maxPoolOfBatchNorm(pool, f(47), c, c, null, null, 1e-3, true, f(12), new Uint8Array(12)))
        .toThrow(/'x' has 47 elements/);
    expect(() => a.maxPoolOfBatchNorm(pool, f(48), c, c, null, null, 1e-3, true, f(12), new Uint8Array(11)))
        .toThrow(/'argmax' has 11 elements/);
    expect(() => a.maxPoolOfBatchNorm(pool, f(48), f(2), c, null, null, 1e-3, true, f(12), new Uint8Array(12)))
        .toThrow(/mean/);
    expect(() => a.maxPoolArgmaxBackward(pool, f(12) as never, f(12), f(48))).toThrow(/must be a Uint8Array/);
    expect(() => a.maxPoolArgmaxBackward(pool, new Uint8Array(12), f(12), f(47))).toThrow(/'dx' has 47/);
    expect(() => a.batchNormTrainingGradPooledDy(16, 3, f(48), pool, new Uint8Array(12), f(11), c, c, null, 1e-3,
                                                 f(48), c, c, false, null)).toThrow(/dyPooled/);
    const otherShape = pool.slice();
    otherShape[1] = otherShape[2] = 2;
    otherShape[4] = otherShape[5] = 1;
    expect(() => a.batchNormTrainingGradPooledDy(16, 3, f(48), otherShape, new Uint8Array(3), f(3), c, c, null, 1e-3,
                                                 f(48), c, c, false, null)).toThrow(/tile x's shape/);
  });
});

describe('the sparse forward with a max pool checks its geometries and buffers', () => {
  const f = (n: number) => new Float32Array(n);
  // batch 1, 4x4x2 -> 4x4x3 'same' conv on a layout keeping tap 4 of every kernel; 2x2/2 pool.
  const layout = SparseLayout.compile(new Uint16Array(6).fill(16), 2, 3);
  const conv = [1, 4, 4, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1];
  const pool = [1, 4, 4, 3, 2, 2, 3, 2, 2, 2, 2, 1, 1, 0, 0];
  const run = (g: number[], q: number[], x: Float32Array, y: Float32Array) =>
    sparseAddon().sparseForwardMaxPool(layout.handle, g, q, x, y, null, 0, 0, null, null);
  test('wrong lengths, a pool of another shape and a bad geometry throw', () => {
    expect(() => run(conv, pool, f(31), f(12))).toThrow(/'x' has 31 elements/);
    expect(() => run(conv, pool, f(32), f(48))).toThrow(/'y' has 48 elements/);
    const taller = pool.slice();
    taller[1] = 6;
    taller[4] = 3;
    expect(() => run(conv, taller, f(32), f(18))).toThrow(/pool's input must be the conv's output/);
    expect(() => run(conv, pool.slice(1), f(32), f(12))).toThrow(/15 entries/);
    const wider = conv.slice();
    wider[6] = 4;
    expect(() => run(wider, pool, f(32), f(12))).toThrow(/does not match the sparse layout/);
  });
  test('an input batch norm with wrong lengths or types throws', () => {
    const h = layout.handle;
    const bn = (over: object) => ({mean: f(2), variance: f(2), scale: null, offset: null, epsilon: 1e-3, relu: true, ...over});
    const fwd = (b: unknown) => sparseAddon().sparseForward(h, conv, f(32), f(48), null, 0, 0, null, null, b as never);
    const grad = (b: unknown) => sparseAddon().sparseBackpropFilter(h, conv, f(32), f(48), null, f(6), b as never);
    expect(() => fwd(bn({mean: f(3)}))).toThrow(/'mean' must have 2 elements/);
    expect(() => fwd(bn({offset: f(1)}))).toThrow(/'offset' must have 2 elements/);
    expect(() => fwd(bn({variance: new Float64Array(2)}))).toThrow(/'variance' must be a Float32Array/);
    expect(() => fwd(bn({epsilon: '1'}))).toThrow(/'epsilon' must be a number/);
    expect(() => fwd(bn({mean: undefined}))).toThrow(/'mean' is required/);
    expect(() => fwd(7)).toThrow(/must be an object/);
    expect(() => grad(bn({scale: f(5)}))).toThrow(/'scale' must have 2 elements/);
    // A good one: x = 2 through relu(batch norm) with mean 1, variance 1: 1 / sqrt(1 + 1e-3) into the
    // centre tap's weights w(ic, oc) = 1 + 3 ic + oc.
    layout.refresh(Float32Array.from({length: 54}, (_, i) => (Math.floor(i / 6) === 4 ? 1 + (i % 6) : 0)));
    const y = f(48).fill(NaN);
    sparseAddon().sparseForward(h, conv, f(32).fill(2), y, null, 0, 0, null, null,
                                bn({mean: f(2).fill(1), variance: f(2).fill(1)}));
    const v = 1 / Math.sqrt(1 + 1e-3);
    for (let i = 0; i < 48; i++) expect(y[i]).toBeCloseTo(v * ((1 + (i % 3)) + (4 + (i % 3))), 5);
  });
  test('the backward passes take dy or a batch-norm gradient, checked', () => {
    const h = layout.handle;
    const grad = (over: object) => ({x: f(48), dy: f(48), mean: f(3), variance: f(3).fill(1), scale: null,
                                     offset: null, epsilon: 1e-3, relu: true, coefficients: f(9), ...over});
    const bwdI = (dy: Float32Array | null, g: unknown) => sparseAddon().sparseBackpropInput(h, conv, dy, f(32), g as never);
    const bwdF = (dy: Float32Array | null, g: unknown) =>
      sparseAddon().sparseBackpropFilter(h, conv, f(32), dy, null, f(6), null, g as never);
    expect(() => bwdI(f(48), grad({}))).toThrow(/dy or a batch norm gradient, not both/);
    expect(() => bwdF(null, null)).toThrow(/dy or a batch norm gradient, not both/);
    expect(() => bwdI(null, grad({coefficients: f(6)}))).toThrow(/'coefficients' must have 9 elements/);
    expect(() => bwdF(null, grad({dy: f(32)}))).toThrow(/'dy' must have 48 elements/);
    expect(() => bwdF(null, grad({variance: f(2)}))).toThrow(/'variance' must have 3 elements/);
    expect(sparseAddon().sparseReadsDyRows(h, conv)).toBe(false);  // batch 1: not the tiny-image kernels
    // A good call (dy computed whole first here) equals the pass on the written gradient.
    const bx = Float32Array.from({length: 48}, (_, i) => Math.cos(i)), dy = Float32Array.from({length: 48}, (_, i) => i % 5 - 2);
    const mean = f(3), variance = f(3), coefficients = f(9), dx = f(48);
    addon().batchNormTraining(16, 3, bx, null, null, 1e-3, null, mean, variance);
    addon().batchNormTrainingGrad(16, 3, bx, dy, mean, variance, null, 1e-3, dx, f(3), f(3), true, null);
    addon().batchNormTrainingGradSums(16, 3, bx, dy, mean, variance, null, 1e-3, f(3), f(3), coefficients, true, null);
    layout.refresh(Float32Array.from({length: 54}, (_, i) => (Math.floor(i / 6) === 4 ? 1 + (i % 6) : 0)));
    const want = f(32), got = f(32).fill(NaN);
    sparseAddon().sparseBackpropInput(h, conv, dx, want);
    sparseAddon().sparseBackpropInput(h, conv, null, got, grad({x: bx, dy, mean, variance, coefficients}));
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });
  test('a good call pools the conv output', () => {
    const x = Float32Array.from({length: 32}, (_, i) => i % 7 - 3);
    const y = f(12);
    layout.refresh(Float32Array.from({length: 54}, (_, i) => (Math.floor(i / 6) === 4 ? 1 + (i % 6) : 0)));
    run(conv, pool, x, y);
    // Tap 4 is the centre: the conv output at (h, w, oc) is sum_ic x[h, w, ic] * w[ic, oc].
    const w = (ic: number, oc: number) => 1 + ic * 3 + oc;
    const out = (h: number, w0: number, oc: number) => x[(h * 4 + w0) * 2] * w(0, oc) + x[(h * 4 + w0) * 2 + 1] * w(1, oc);
    for (let ph = 0; ph < 2; ph++) {
      for (let pw = 0; pw < 2; pw++) {
        for (let oc = 0; oc < 3; oc++) {
          const window = [0, 1].flatMap((dh) => [0, 1].map((dw) => out(2 * ph + dh, 2 * pw + dw, oc)));
          expect(y[(ph * 2 + pw) * 3 + oc]).toBe(Math.max(...window));
        }
      }
    }
  });
});

describe('through tfjs', () => {
  test('shape mismatches get tfjs errors', () => {
    const x = tf.zeros([1, 5, 5, 3]) as tf.Tensor4D;
    expect(() => tf.conv2d(x, tf.zeros([3, 3, 4, 2]) as tf.Tensor4D, 1, 'same')).toThrow();
    expect(() => tf.conv2d(tf.zeros([5, 5]) as never, tf.zeros([3, 3, 3, 2]) as tf.Tensor4D, 1, 'same')).toThrow();
    expect(() => tf.matMul(tf.zeros([2, 3]), tf.zeros([4, 2]))).toThrow();
  });
  test('int32 inputs to the kernel get the cpu result', async () => {
    const x = tf.ones([1, 4, 4, 1], 'int32') as tf.Tensor4D;
    const w = tf.ones([2, 2, 1, 1], 'int32') as tf.Tensor4D;
    const y = tf.engine().runKernel('Conv2D', {x, filter: w},
        {strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1} as never) as tf.Tensor;
    expect(y.shape).toEqual([1, 3, 3, 1]);
    expect(Array.from(await y.data())).toEqual(new Array(9).fill(4));
  });
  test('NaN and Inf propagate as in IEEE arithmetic', async () => {
    const x = tf.tensor4d([NaN, 1, Infinity, 2], [1, 2, 2, 1]);
    const w = tf.ones([1, 1, 1, 2]) as tf.Tensor4D;
    const y = await tf.conv2d(x, w, 1, 'valid').data();
    expect(Number.isNaN(y[0])).toBe(true);
    expect(y[2]).toBe(1);
    expect(y[4]).toBe(Infinity);
  });
  test('zero-size dimensions give empty results', async () => {
    const y = tf.conv2d(tf.zeros([0, 4, 4, 3]) as tf.Tensor4D, tf.zeros([3, 3, 3, 2]) as tf.Tensor4D, 1, 'same');
    expect(y.shape).toEqual([0, 4, 4, 2]);
    const z = tf.conv2d(tf.zeros([1, 4, 4, 0]) as tf.Tensor4D, tf.zeros([3, 3, 0, 2]) as tf.Tensor4D, 1, 'same');
    expect(Array.from(await z.data())).toEqual(new Array(32).fill(0));
    expect(tf.matMul(tf.zeros([0, 3]), tf.zeros([3, 2])).shape).toEqual([0, 2]);
  });
});
