/**
 * The native FusedBatchNorm gradient (src/backend/gradients.ts) against a float64 reference of
 * tfjs's gradient formulas, alone and through the moments tfjs-layers computes in training; and
 * the cases it leaves to tfjs's gradient.
 */
process.env.CLICKTRAIN_POISON_OUTPUTS = '1';

import * as tf from '@tensorflow/tfjs-core';
import '../src';
import {FUSED_BATCH_NORM_GRAD} from '../src/backend/kernels/FusedBatchNormGrad';
import * as ref from './helpers/reference';

const seed = ref.testSeed();
const r = ref.rng(seed);

function randomArray(n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({length: n}, () => lo + (hi - lo) * r.next());
}

/** float64 gradients of y = (x - mean) * scale / sqrt(var + eps) + offset, summed against dy. */
function referenceGrads(x: Float32Array, dy: Float32Array, mean: Float32Array, variance: Float32Array,
    scale: Float32Array | null, eps: number) {
  const C = mean.length, rows = x.length / C;
  const dx = new Float64Array(x.length);
  const dmean = new Float64Array(C), dvar = new Float64Array(C), dscale = new Float64Array(C), doffset = new Float64Array(C);
  const mag = {dmean: new Float64Array(C), dvar: new Float64Array(C), dscale: new Float64Array(C),
               doffset: new Float64Array(C)};
  for (let c = 0; c < C; c++) {
    const rs = 1 / Math.sqrt(variance[c] + eps), s = scale ? scale[c] : 1;
    let sdy = 0, sdyx = 0, ady = 0, adyx = 0;
    for (let i = 0; i < rows; i++) {
      const d = dy[i * C + c], dxm = d * (x[i * C + c] - mean[c]);
      sdy += d;
      sdyx += dxm;
      ady += Math.abs(d);
      adyx += Math.abs(dxm);
      dx[i * C + c] = d * s * rs;
    }
    dmean[c] = -rs * s * sdy;
    dvar[c] = -0.5 * rs * rs * rs * s * sdyx;
    dscale[c] = rs * sdyx;
    doffset[c] = sdy;
    // Magnitudes of the summed terms (the sums over rows may cancel).
    mag.dmean[c] = Math.abs(rs * s) * ady;
    mag.dvar[c] = Math.abs(0.5 * rs * rs * rs * s) * adyx;
    mag.dscale[c] = rs * adyx;
    mag.doffset[c] = ady;
  }
  return {dx, dmean, dvar, dscale, doffset, mag};
}

async function kernelNames(f: () => tf.TensorContainer): Promise<string[]> {
  const info = await tf.profile(() => f() as tf.Tensor[]);
  return info.kernels.map((k) => k.name);
}

beforeAll(async () => {
  // eslint-disable-next-line no-console
  console.log(`gradient tests: seed ${seed}`);
  await tf.setBackend('clicktrain');
});

// (tfjs 4.22 cannot differentiate batchNorm without scale or offset at all: it saves or walks the
// absent input. The native kernel's no-scale path is covered by the ctest.)
describe.each([
  {shape: [1, 1, 1, 3]},
  {shape: [2, 5, 7, 13]},
  {shape: [3, 4, 4, 17]},
  {shape: [37, 9]},
  {shape: [8, 16, 16, 64]},
])('FusedBatchNorm gradient $shape', ({shape}) => {
  test('matches the float64 reference for every input and uses the native kernel', async () => {
    const C = shape[shape.length - 1];
    const n = shape.reduce((a, b) => a * b, 1);
    const xv = randomArray(n, -3, 3), dyv = randomArray(n), mv = randomArray(C), vv = randomArray(C, 0.1, 2);
    const sv = randomArray(C, -2, 2), ov = randomArray(C);
    const eps = 0.001;
    const x = tf.tensor(xv, shape), dy = tf.tensor(dyv, shape), mean = tf.tensor1d(mv), variance = tf.tensor1d(vv);
    const scale = tf.tensor1d(sv), offset = tf.tensor1d(ov);
    const f = (xx: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
        tf.batchNorm(xx, m as tf.Tensor1D, v as tf.Tensor1D, o as tf.Tensor1D, s as tf.Tensor1D, eps);
    const grads = () => tf.grads(f)([x, mean, variance, scale, offset], dy);
    const names = await kernelNames(grads);
    expect(names).toContain(FUSED_BATCH_NORM_GRAD);
    const [gx, gm, gv, gs, go] = grads();
    const want = referenceGrads(xv, dyv, mv, vv, sv, eps);
    expect(ref.maxRelError(gx.dataSync(), want.dx)).toBeLessThan(1e-5);
    expect(ref.maxErrorVsMagnitude(gm.dataSync(), want.dmean, want.mag.dmean)).toBeLessThan(1e-5);
    expect(ref.maxErrorVsMagnitude(gv.dataSync(), want.dvar, want.mag.dvar)).toBeLessThan(1e-5);
    expect(ref.maxErrorVsMagnitude(gs.dataSync(), want.dscale, want.mag.dscale)).toBeLessThan(1e-5);
    expect(ref.maxErrorVsMagnitude(go.dataSync(), want.doffset, want.mag.doffset)).toBeLessThan(1e-5);
    tf.dispose([x, dy, mean, variance, scale, offset, gx, gm, gv, gs, go]);
  });
});

test('through batch moments (what tfjs-layers trains with) clicktrain matches the cpu backend', async () => {
  const shape = [4, 6, 6, 11];
  const n = shape.reduce((a, b) => a * b, 1);
  const xv = randomArray(n, -2, 3), dyv = randomArray(n), sv = randomArray(11, 0.5, 2), ov = randomArray(11);
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const x = tf.tensor(xv, shape), dy = tf.tensor(dyv, shape), s = tf.tensor1d(sv), o = tf.tensor1d(ov);
    const f = (xx: tf.Tensor, ss: tf.Tensor, oo: tf.Tensor) => {
      const {mean, variance} = tf.moments(xx, [0, 1, 2]);
      return tf.batchNorm(xx, mean, variance, oo as tf.Tensor1D, ss as tf.Tensor1D, 0.001);
    };
    const g = tf.grads(f)([x, s, o], dy);
    const out = g.map((t) => t.dataSync().slice());
    tf.dispose([x, dy, s, o, ...g]);
    return out;
  };
  const cpu = await run('cpu');
  const ours = await run('clicktrain');
  for (let i = 0; i < 3; i++) {
    // dx through the moments sums terms that cancel, in float32 on both sides.
    expect(ref.maxRelError(ours[i], cpu[i])).toBeLessThan(1e-3);
  }
});

test('parameters that are not [C] vectors, and higher-order gradients, use the tfjs gradient', async () => {
  await tf.setBackend('clicktrain');
  const x = tf.randomNormal([2, 3, 3, 4]);
  const m4 = tf.zeros([1, 1, 1, 4]), v4 = tf.ones([1, 1, 1, 4]), s4 = tf.ones([1, 1, 1, 4]), o4 = tf.zeros([1, 1, 1, 4]);
  const names = await kernelNames(() => tf.grad((xx: tf.Tensor) => tf.batchNorm(xx, m4, v4, o4, s4))(x));
  expect(names).not.toContain(FUSED_BATCH_NORM_GRAD);
  // Second derivative w.r.t. x of sum(batchNorm(x)^2) through a first tf.grad: tape on while backprop runs.
  const m = tf.zeros([4]), v = tf.ones([4]), s = tf.ones([4]), o = tf.zeros([4]);
  const f = (xx: tf.Tensor) => tf.sum(tf.square(tf.batchNorm(xx, m as tf.Tensor1D, v as tf.Tensor1D, o as tf.Tensor1D, s as tf.Tensor1D)));
  const g2 = tf.grad((xx: tf.Tensor) => tf.sum(tf.grad(f)(xx)))(x);
  // d/dx sum(2 * x / sqrt(1 + eps)) = 2 / (1 + eps)
  const want = 2 / (1 + 0.001);
  expect(Array.from(g2.dataSync()).every((g) => Math.abs(g - want) < 1e-4)).toBe(true);
  tf.dispose([x, m4, v4, s4, o4, m, v, s, o, g2]);
});

describe.each([
  {shape: [2, 3, 4, 5], axis: [0, 1, 2], keepDims: false},
  {shape: [2, 3, 4, 5], axis: [0, 1, 2], keepDims: true},
  {shape: [7, 9], axis: [1], keepDims: false},
  {shape: [7, 9], axis: [0, 1], keepDims: false},
  {shape: [3, 1, 17], axis: [-1], keepDims: true},
])('Mean gradient on $shape over $axis', ({shape, axis, keepDims}) => {
  test('equals tfjs (same bits) and runs one broadcast instead of ones/mul/div', async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    const xv = randomArray(n);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(xv, shape);
      const outShape = tf.mean(x, axis, keepDims).shape;
      const dy = tf.tensor(randomArrayFixed(outShape.reduce((a, b) => a * b, 1)), outShape);
      const g = tf.grad((xx: tf.Tensor) => tf.mean(xx, axis, keepDims))(x, dy);
      const info = await tf.profile(() => tf.grad((xx: tf.Tensor) => tf.mean(xx, axis, keepDims))(x, dy));
      // Element-wise ops over an x-sized output (the passes the override saves).
      const big = info.kernels.filter((k) => ['Multiply', 'RealDiv', 'Fill', 'OnesLike'].includes(k.name) &&
                                          k.outputShapes[0].reduce((a, b) => a * b, 1) === n).map((k) => k.name);
      const out = g.dataSync().slice();
      tf.dispose([x, dy, g]);
      return {out, big};
    };
    const cpu = await run('cpu');
    const ours = await run('clicktrain');
    expect(Array.from(ours.out)).toEqual(Array.from(cpu.out));
    expect(ours.big).toEqual([]);
    if (n > outSize(shape, axis)) expect(cpu.big.length).toBeGreaterThan(0);
  });
});

function outSize(shape: number[], axis: number[]): number {
  const axes = axis.map((a) => (a < 0 ? a + shape.length : a));
  return shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
}

/** Deterministic values for dy (the same on both backends). */
function randomArrayFixed(n: number): Float32Array {
  return Float32Array.from({length: n}, (_, i) => Math.sin(i + 1));
}

describe.each([
  {name: 'relu', f: (x: tf.Tensor) => tf.relu(x), kernel: 'ClickTrainReluGrad'},
  {name: 'square', f: (x: tf.Tensor) => tf.square(x), kernel: 'ClickTrainSquareGrad'},
])('$name gradient', ({f, kernel}) => {
  test('equals tfjs bit for bit (zeros, negatives, NaN, inf) in one fused kernel', async () => {
    const shape = [3, 5, 7, 11];
    const n = shape.reduce((a, b) => a * b, 1);
    const xv = randomArray(n, -2, 2), dyv = randomArray(n);
    xv[0] = 0; xv[1] = -0; xv[2] = NaN; xv[3] = Infinity; xv[4] = -Infinity;
    dyv[5] = Infinity; dyv[6] = NaN;  // at x < 0 (xv[5], xv[6] random): 0 * inf and 0 * NaN
    xv[5] = -1; xv[6] = -1;
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor(xv, shape), dy = tf.tensor(dyv, shape);
      const g = tf.grad(f)(x, dy);
      const info = await tf.profile(() => tf.grad(f)(x, dy));
      const out = g.dataSync().slice();
      tf.dispose([x, dy, g]);
      return {out, names: info.kernels.map((k) => k.name)};
    };
    const cpu = await run('cpu');
    const ours = await run('clicktrain');
    expect(Array.from(ours.out).map(String)).toEqual(Array.from(cpu.out).map(String));
    expect(ours.names).toContain(kernel);
    expect(ours.names).not.toContain('Multiply');
  });
});
