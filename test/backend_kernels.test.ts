/**
 * Every native kernel against a float64 reference on fresh random inputs and random attributes
 * (odd sizes, batch 1, stride 2, dilation, same/valid/explicit padding), outputs poisoned with NaN.
 */
process.env.CLICKTRAIN_POISON_OUTPUTS = '1';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';  // registers the gradients tf.grad needs
import '../src';
import * as ref from './helpers/reference';

const seed = ref.testSeed();
const r = ref.rng(seed);
const TOL = 2e-5;

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`kernel tests: seed ${seed} (replay with CLICKTRAIN_TEST_SEED=${seed})`);
});

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function randomConvCase(depthwise = false) {
  const fh = r.pick([1, 2, 3, 3, 5]), fw = r.pick([1, 3, 3, 4]);
  const stride = r.pick([1, 1, 2, 3]);
  const dilation = stride === 1 ? r.pick([1, 1, 2]) : 1;
  const inH = r.int(Math.max(1, (fh - 1) * dilation + 1), 13);
  const inW = r.int(Math.max(1, (fw - 1) * dilation + 1), 13);
  const inC = r.pick([1, 3, 5, 8, 17]);
  const outC = depthwise ? inC * r.pick([1, 2]) : r.pick([1, 4, 7, 16, 33]);
  const batch = r.pick([1, 2, 3]);
  const padKind = r.int(0, 2);
  const pad: Pad = padKind === 0 ? 'same' : padKind === 1 ? 'valid' :
      [[0, 0], [r.int(0, 2), r.int(0, 2)], [r.int(0, 2), r.int(0, 2)], [0, 0]];
  return {fh, fw, stride, dilation, inH, inW, inC, outC, batch, pad};
}

function describeCase(c: object) {
  return JSON.stringify(c);
}

async function values(t: tf.TensorInfo | tf.Tensor) {
  const tensor = t instanceof tf.Tensor ? t : tf.engine().makeTensorFromTensorInfo(t);
  const v = await tensor.data();
  tensor.dispose();
  return v as Float32Array;
}

describe('dense convolution kernels vs float64 reference', () => {
  test.each(Array.from({length: 24}, (_, i) => i))('Conv2D and both backprops, case %i', async () => {
    const c = randomConvCase();
    const xShape: [number, number, number, number] = [c.batch, c.inH, c.inW, c.inC];
    const wShape: [number, number, number, number] = [c.fh, c.fw, c.inC, c.outC];
    const info = tf.backend_util.computeConv2DInfo(xShape, wShape, c.stride, c.dilation, c.pad);
    const g = ref.geometryFromInfo(info);
    const xv = r.floats(tf.util.sizeFromShape(xShape)), wv = r.floats(tf.util.sizeFromShape(wShape));
    const dyv = r.floats(tf.util.sizeFromShape(info.outShape));
    const x = tf.tensor4d(xv, xShape), w = tf.tensor4d(wv, wShape), dy = tf.tensor(dyv, info.outShape);
    const attrs = {strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilation,
                   dimRoundingMode: undefined};
    const y = tf.engine().runKernel('Conv2D', {x, filter: w}, attrs as never) as tf.Tensor;
    expect(ref.maxErrorVsMagnitude(await values(y), ref.conv2d(g, xv, wv), ref.conv2d(g, ref.abs(xv), ref.abs(wv))))
        .toBeLessThan(TOL);
    if (c.dilation === 1) {
      const dx = tf.engine().runKernel('Conv2DBackpropInput', {dy, filter: w},
          {...attrs, inputShape: xShape} as never) as tf.Tensor;
      expect(ref.maxErrorVsMagnitude(await values(dx), ref.conv2dBackpropInput(g, dyv, wv),
                                     ref.conv2dBackpropInput(g, ref.abs(dyv), ref.abs(wv)))).toBeLessThan(TOL);
      const dw = tf.engine().runKernel('Conv2DBackpropFilter', {x, dy},
          {...attrs, filterShape: wShape} as never) as tf.Tensor;
      expect(ref.maxErrorVsMagnitude(await values(dw), ref.conv2dBackpropFilter(g, xv, dyv),
                                     ref.conv2dBackpropFilter(g, ref.abs(xv), ref.abs(dyv)))).toBeLessThan(TOL);
    }
    tf.dispose([x, w, dy]);
  });

  test.each(['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'])(
      'FusedConv2D with bias and %s', async (act) => {
        const c = randomConvCase();
        const xShape: [number, number, number, number] = [c.batch, c.inH, c.inW, c.inC];
        const wShape: [number, number, number, number] = [c.fh, c.fw, c.inC, c.outC];
        const info = tf.backend_util.computeConv2DInfo(xShape, wShape, c.stride, c.dilation, c.pad);
        const g = ref.geometryFromInfo(info);
        const xv = r.floats(tf.util.sizeFromShape(xShape)), wv = r.floats(tf.util.sizeFromShape(wShape));
        const bv = r.floats(c.outC), pv = r.floats(c.outC);
        const y = tf.fused.conv2d({
          x: tf.tensor4d(xv, xShape), filter: tf.tensor4d(wv, wShape), strides: c.stride,
          pad: c.pad, dilations: c.dilation, bias: tf.tensor1d(bv), activation: act as never,
          preluActivationWeights: act === 'prelu' ? tf.tensor1d(pv) : undefined,
          leakyreluAlpha: 0.3
        });
        const preact = ref.conv2d(g, xv, wv).map((v, i) => v + bv[i % c.outC]);
        const expected = preact.map((v, i) => ref.activation(v, act, 0.3, pv[i % c.outC]));
        const mag = ref.epilogueMagnitude(ref.conv2d(g, ref.abs(xv), ref.abs(wv)), bv, act);
        expect(ref.maxErrorVsMagnitude(await values(y), expected, mag)).toBeLessThan(TOL);
      });

  test('NCHW convolution falls back to the cpu kernel and stays correct', async () => {
    const x = tf.randomNormal([2, 3, 7, 6]) as tf.Tensor4D, w = tf.randomNormal([3, 3, 3, 5]) as tf.Tensor4D;
    const got = tf.conv2d(x, w, 1, 'same', 'NCHW');
    const nhwc = tf.conv2d(tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D, w, 1, 'same');
    expect(ref.maxRelError(await values(got), await values(tf.transpose(nhwc, [0, 3, 1, 2]))))
        .toBeLessThan(TOL);
  });
});

describe('depthwise, matmul, pooling and batch norm vs float64 reference', () => {
  test.each(Array.from({length: 10}, (_, i) => i))('DepthwiseConv2dNative and backprops, case %i',
      async () => {
        const c = randomConvCase(true);
        const mult = c.outC / c.inC;
        const xShape: [number, number, number, number] = [c.batch, c.inH, c.inW, c.inC];
        const wShape: [number, number, number, number] = [c.fh, c.fw, c.inC, mult];
        const info = tf.backend_util.computeConv2DInfo(xShape, wShape, c.stride, c.dilation, c.pad,
                                                       undefined, true);
        const g = ref.geometryFromInfo(info);
        const xv = r.floats(tf.util.sizeFromShape(xShape)), wv = r.floats(tf.util.sizeFromShape(wShape));
        const dyv = r.floats(tf.util.sizeFromShape(info.outShape));
        const x = tf.tensor4d(xv, xShape), w = tf.tensor4d(wv, wShape), dy = tf.tensor(dyv, info.outShape);
        const attrs = {strides: c.stride, pad: c.pad, dilations: c.dilation, dataFormat: 'NHWC'};
        const y = tf.engine().runKernel('DepthwiseConv2dNative', {x, filter: w}, attrs as never);
        expect(ref.maxErrorVsMagnitude(await values(y as tf.Tensor), ref.depthwise(g, mult, xv, wv),
                                       ref.depthwise(g, mult, ref.abs(xv), ref.abs(wv)))).toBeLessThan(TOL);
        const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', {dy, filter: w},
            {...attrs, inputShape: xShape} as never);
        expect(ref.maxErrorVsMagnitude(await values(dx as tf.Tensor), ref.depthwiseBackpropInput(g, mult, dyv, wv),
                                       ref.depthwiseBackpropInput(g, mult, ref.abs(dyv), ref.abs(wv))))
            .toBeLessThan(TOL);
        const dw = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', {x, dy},
            {...attrs, filterShape: wShape} as never);
        expect(ref.maxErrorVsMagnitude(await values(dw as tf.Tensor), ref.depthwiseBackpropFilter(g, mult, xv, dyv),
                                       ref.depthwiseBackpropFilter(g, mult, ref.abs(xv), ref.abs(dyv))))
            .toBeLessThan(TOL);
      });

  test.each(Array.from({length: 10}, (_, i) => i))('BatchMatMul / _FusedMatMul, case %i', async () => {
    const m = r.int(1, 40), n = r.int(1, 40), k = r.int(1, 70);
    const batchA = r.pick([1, 3]), batchB = r.pick([1, batchA]);
    const ta = r.next() < 0.5, tb = r.next() < 0.5;
    const av = r.floats(batchA * m * k), bv = r.floats(batchB * k * n), bias = r.floats(n);
    const a = tf.tensor3d(av, ta ? [batchA, k, m] : [batchA, m, k]);
    const b = tf.tensor3d(bv, tb ? [batchB, n, k] : [batchB, k, n]);
    const expected = ref.batchMatMul(av, bv, batchA, batchB, m, n, k, ta, tb);
    const mag = ref.batchMatMul(ref.abs(av), ref.abs(bv), batchA, batchB, m, n, k, ta, tb);
    expect(ref.maxErrorVsMagnitude(await values(tf.matMul(a, b, ta, tb)), expected, mag)).toBeLessThan(TOL);
    const fused = tf.fused.matMul({a, b, transposeA: ta, transposeB: tb, bias: tf.tensor1d(bias),
                                   activation: 'relu'});
    const fusedRef = expected.map((v, i) => Math.max(0, v + bias[i % n]));
    expect(ref.maxErrorVsMagnitude(await values(fused), fusedRef, ref.epilogueMagnitude(mag, bias)))
        .toBeLessThan(TOL);
  });

  test.each(Array.from({length: 10}, (_, i) => i))('pooling and gradients match the cpu backend, case %i',
      async () => {
        const win = r.pick([1, 2, 3]), stride = r.pick([1, 2, 3]);
        const shape: [number, number, number, number] = [r.int(1, 3), r.int(win, 11), r.int(win, 11), r.pick([1, 3, 9])];
        const pad = r.pick(['same', 'valid'] as const);
        // Small integers make ties common, which exercises the first-maximum rule.
        const xv = Float32Array.from(r.floats(tf.util.sizeFromShape(shape)), (v) => Math.round(v * 3));
        const run = async (backend: string) => {
          await tf.setBackend(backend);
          const x = tf.tensor4d(xv, shape);
          const f = (t: tf.Tensor4D) => tf.add(tf.sum(tf.mul(tf.maxPool(t, win, stride, pad), 1.5)),
                                              tf.sum(tf.avgPool(t, win, stride, pad)));
          const [val, grad] = [await values(f(x)), await values(tf.grad(f)(x))];
          const mp = await values(tf.maxPool(x, win, stride, pad));
          const ap = await values(tf.avgPool(x, win, stride, pad));
          return {val, grad, mp, ap};
        };
        const cpu = await run('cpu');
        const ours = await run('clicktrain');
        expect(ref.maxRelError(ours.mp, cpu.mp)).toBe(0);
        expect(ref.maxRelError(ours.ap, cpu.ap)).toBeLessThan(1e-6);
        expect(ref.maxRelError(ours.grad, cpu.grad)).toBeLessThan(1e-6);
        // The scalar is a sum that may cancel: judged against the sum of the terms' magnitudes.
        const valMag = 1.5 * cpu.mp.reduce((a, v) => a + Math.abs(v), 0) + cpu.ap.reduce((a, v) => a + Math.abs(v), 0);
        expect(ref.maxErrorVsMagnitude(ours.val, cpu.val, [valMag])).toBeLessThan(1e-6);
      });

  test('FusedBatchNorm with per-channel and scalar parameters', async () => {
    const shape = [3, 5, 4, 7];
    const xv = r.floats(tf.util.sizeFromShape(shape));
    const mean = r.floats(7), variance = Float32Array.from(r.floats(7), (v) => v * v + 0.1);
    const scale = r.floats(7), offset = r.floats(1);
    const y = tf.batchNorm(tf.tensor(xv, shape), tf.tensor1d(mean), tf.tensor1d(variance),
                           tf.tensor1d(offset), tf.tensor1d(scale), 1e-3);
    const expected = Float64Array.from(xv, (v, i) => {
      const c = i % 7;
      return (v - mean[c]) * scale[c] / Math.sqrt(variance[c] + 1e-3) + offset[0];
    });
    expect(ref.maxRelError(await values(y), expected)).toBeLessThan(TOL);
  });
});
