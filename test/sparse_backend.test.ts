/**
 * Pattern-sparse kernels through tfjs: detected sparse weights and frozen layers give the dense
 * answer on the masked weights (float64 reference), frozen layers get zero gradient at pruned
 * positions, and every uncertain case runs dense.
 */
process.env.CLICKTRAIN_POISON_OUTPUTS = '1';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {freezeSparsity, sparse, unfreezeSparsity} from '../src';
import * as ref from './helpers/reference';
import * as masksHelper from './helpers/sparse_masks';

const seed = ref.testSeed();
const r = ref.rng(seed);
const TOL = 2e-5;

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`sparse tests: seed ${seed}`);
});

const randomMasks = (inC: number, outC: number, prune: number, libSize = 6, size = 4) =>
  masksHelper.randomMasks(r, inC, outC, prune, libSize, size);
const maskedWeights = (masks: Uint16Array, inC: number, outC: number) =>
  masksHelper.maskedWeights(r, masks, inC, outC);

function counts() {
  return {...sparse.sparseCallCounts};
}

describe('detected pattern-sparse weights', () => {
  test.each(Array.from({length: 12}, (_, i) => i))('forward and backward-data equal the reference, case %i', async () => {
    const inC = r.pick([1, 3, 8, 13, 32]), outC = r.pick([1, 5, 8, 19, 32]);
    const batch = r.pick([1, 2, 9]);
    const stride = r.pick([1, 2]);
    const pad = r.pick(['same', 'valid'] as const);
    const inH = r.int(3, 12), inW = r.int(3, 12);
    const masks = randomMasks(inC, outC, r.pick([0, 0.5, 0.75]), r.pick([4, 8]), r.pick([4, 4, 2, 1]));
    const wv = maskedWeights(masks, inC, outC);
    const xv = r.floats(batch * inH * inW * inC);
    const xShape: [number, number, number, number] = [batch, inH, inW, inC];
    const info = tf.backend_util.computeConv2DInfo(xShape, [3, 3, inC, outC], stride, 1, pad);
    const g = ref.geometryFromInfo(info);
    const dyv = r.floats(tf.util.sizeFromShape(info.outShape));
    const w = tf.tensor4d(wv, [3, 3, inC, outC]);
    const before = counts();
    const bias = r.floats(outC);
    const y = tf.fused.conv2d({x: tf.tensor4d(xv, xShape), filter: w, strides: stride, pad,
                              bias: tf.tensor1d(bias), activation: 'relu'});
    const preact = ref.conv2d(g, xv, wv).map((v, i) => v + bias[i % outC]);
    const expected = preact.map((v) => Math.max(0, v));
    const mag = ref.epilogueMagnitude(ref.conv2d(g, ref.abs(xv), ref.abs(wv)), bias);
    expect(ref.maxErrorVsMagnitude(await y.data(), expected, mag)).toBeLessThan(TOL);
    const dx = tf.engine().runKernel('Conv2DBackpropInput', {dy: tf.tensor(dyv, info.outShape), filter: w},
        {strides: stride, pad, dataFormat: 'NHWC', inputShape: xShape} as never) as tf.Tensor;
    expect(ref.maxErrorVsMagnitude(await dx.data(), ref.conv2dBackpropInput(g, dyv, wv),
                                   ref.conv2dBackpropInput(g, ref.abs(dyv), ref.abs(wv)))).toBeLessThan(TOL);
    // A weight with at most half its taps kept must have gone to the sparse kernels.
    const kept = wv.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
    if (kept <= 0.4 * wv.length) {
      expect(counts().forward).toBe(before.forward + 1);
      expect(counts().backpropInput).toBe(before.backpropInput + 1);
    }
  });

  test('dense weights stay on the dense kernels', () => {
    const before = counts();
    tf.conv2d(tf.randomNormal([1, 6, 6, 4]) as tf.Tensor4D, tf.randomNormal([3, 3, 4, 4]) as tf.Tensor4D, 1, 'same');
    expect(counts().forward).toBe(before.forward);
  });

  test('SparseLayout packs and unpacks exactly and reports its statistics', () => {
    const masks = randomMasks(7, 11, 0.5);
    const wv = maskedWeights(masks, 7, 11);
    const layout = sparse.SparseLayout.fromDense(wv, 7, 11);
    expect(Array.from(layout.unpack())).toEqual(Array.from(wv));
    const st = layout.stats(2, 5, 5);
    expect(st.keptKernels).toBe(masks.filter((m) => m !== 0).length);
    expect(st.keptWeights).toBe(wv.filter((v) => v !== 0).length);
    expect(st.histogram.reduce((a, b) => a + b, 0)).toBe(st.keptKernels);
    expect([...st.filterOrder].sort((a, b) => a - b)).toEqual(Array.from({length: 11}, (_, i) => i));
    expect(st.sparseFlops).toBeCloseTo(2 * 50 * st.keptWeights);
  });
});

describe('frozen layers in training', () => {
  function model(inC: number, outC: number) {
    const m = tfl.sequential({layers: [
      tfl.layers.conv2d({inputShape: [8, 8, inC], filters: outC, kernelSize: 3, padding: 'same',
                         useBias: false, name: 'c1'}),
      tfl.layers.conv2d({filters: outC, kernelSize: 3, strides: 2, padding: 'same', name: 'c2'}),
      tfl.layers.flatten(), tfl.layers.dense({units: 3}),
    ]});
    m.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
    return m;
  }

  test('backward-filter is the dense gradient at kept positions and zero elsewhere', async () => {
    const m = model(5, 12);
    const masks1 = randomMasks(5, 12, 0.5), masks2 = randomMasks(12, 12, 0.75);
    const frozen = freezeSparsity(m, {masks: {c1: masks1, c2: masks2}});
    expect(frozen.map((f) => f.name)).toEqual(['c1', 'c2']);
    const x = tf.randomNormal([3, 8, 8, 5]), y = tf.randomNormal([3, 3]);
    const lossFn = () => tf.losses.meanSquaredError(y, m.apply(x, {training: true}) as tf.Tensor) as tf.Scalar;
    const before = counts();
    const {grads} = tf.variableGrads(lossFn);
    expect(counts().backpropFilter - before.backpropFilter).toBe(2);
    unfreezeSparsity(m);
    const dense = tf.variableGrads(lossFn).grads;
    for (const [name, masks, inC] of [['c1', masks1, 5], ['c2', masks2, 12]] as const) {
      const key = Object.keys(grads).find((k) => k.includes(`${name}/kernel`))!;
      const got = await grads[key].data(), full = await dense[key].data();
      const expected = Float64Array.from(full, (v, i) => {
        const tap = Math.floor(i / (inC * 12));
        return (masks[i % (inC * 12)] >> tap) & 1 ? v : 0;
      });
      expect(ref.maxRelError(got, expected)).toBeLessThan(1e-5);
    }
  });

  test('a frozen layer whose pruned weights become non-zero runs dense (correct result)', async () => {
    const m = model(4, 8);
    freezeSparsity(m, {masks: {c1: randomMasks(4, 8, 0.5)}, layers: ['c1']});
    const layer = m.getLayer('c1') as unknown as {kernel: {val: tf.Variable}};
    layer.kernel.val.assign(tf.randomNormal([3, 3, 4, 8]));  // breaks the pattern
    const x = tf.randomNormal([2, 8, 8, 4]);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const got = await (m.getLayer('c1').apply(x) as tf.Tensor).data();
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
    const info = tf.backend_util.computeConv2DInfo([2, 8, 8, 4], [3, 3, 4, 8], 1, 1, 'same');
    const expected = ref.conv2d(ref.geometryFromInfo(info), await x.data(), await layer.kernel.val.data());
    expect(ref.maxRelError(got, expected)).toBeLessThan(TOL);
    unfreezeSparsity();
  });

  test('training a frozen model keeps pruned weights at zero and uses all three sparse kernels', async () => {
    const m = model(6, 16);
    freezeSparsity(m, {masks: {c1: randomMasks(6, 16, 0.5), c2: randomMasks(16, 16, 0.75)}});
    const x = tf.randomNormal([4, 8, 8, 6]), y = tf.randomNormal([4, 3]);
    const before = counts();
    await m.fit(x, y, {epochs: 2, batchSize: 2, verbose: 0});
    const after = counts();
    expect(after.forward).toBeGreaterThan(before.forward);
    expect(after.backpropInput).toBeGreaterThan(before.backpropInput);
    expect(after.backpropFilter).toBeGreaterThan(before.backpropFilter);
    // Plain SGD with zero gradient at pruned positions keeps them at exactly zero.
    for (const f of sparse.frozenLayers()) {
      const w = await f.entry.variable.data();
      const {masks, inC, outC} = f.entry.layout;
      let prunedNonZero = 0, keptNonZero = 0;
      w.forEach((v, i) => {
        const kept = (masks[i % (inC * outC)] >> Math.floor(i / (inC * outC))) & 1;
        if (!kept && v !== 0) prunedNonZero++;
        if (kept && v !== 0) keptNonZero++;
      });
      expect(prunedNonZero).toBe(0);
      expect(keptNonZero).toBeGreaterThan(0);
    }
    unfreezeSparsity();
  });
});
