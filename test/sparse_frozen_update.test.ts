/**
 * Optimiser steps on frozen layers (src/sparse/frozen_update.ts): with the sparse backward-filter's
 * gradient, SGD and momentum update the packed weights. The kept weights and accumulations must
 * equal the dense optimiser with masks re-applied after each step; pruned weights and
 * accumulations must be exactly +0 with no re-masking; anything else must take the dense path.
 */
process.env.CLICKTRAIN_POISON_OUTPUTS = '1';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {freezeSparsity, sparse, unfreezeSparsity} from '../src';
import * as ref from './helpers/reference';
import {isKept, randomMasks} from './helpers/sparse_masks';
import {addon} from '../src/native/addon';
import {sparseAddon} from '../src/sparse/layout';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`frozen update tests: seed ${seed}`);
});

afterEach(() => unfreezeSparsity());

type Kind = 'sgd' | 'momentum' | 'nesterov';

function optimizer(kind: Kind): tf.Optimizer {
  if (kind === 'sgd') return tf.train.sgd(0.05);
  return tf.train.momentum(0.05, 0.9, kind === 'nesterov');
}

const C1 = {inC: 3, outC: 13}, C2 = {inC: 13, outC: 10};

function build(kind: Kind, weights: tf.Tensor[] | null) {
  const m = tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [7, 7, C1.inC], filters: C1.outC, kernelSize: 3, padding: 'same',
                       useBias: false, name: 'c1'}),
    tfl.layers.conv2d({filters: C2.outC, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c2'}),
    tfl.layers.flatten(), tfl.layers.dense({units: 3}),
  ]});
  if (weights) m.setWeights(weights);
  m.compile({optimizer: optimizer(kind), loss: 'meanSquaredError'});
  return m;
}

function kernel(m: tfl.LayersModel, name: string): tf.Variable {
  return (m.getLayer(name) as unknown as {kernel: {val: tf.Variable}}).kernel.val;
}

function accumulation(m: tfl.LayersModel, v: tf.Variable): tf.Tensor | null {
  const acc = (m.optimizer as unknown as {accumulations?: Array<{originalName: string, variable: tf.Variable}>}).accumulations;
  return acc?.find((a) => a && a.originalName === `${v.name}/momentum`)?.variable ?? null;
}

describe.each(['sgd', 'momentum', 'nesterov'] as Kind[])('frozen %s steps', (kind) => {
  test('equal the dense optimiser with masks re-applied, and need no re-masking', async () => {
    const masks = {c1: randomMasks(r, C1.inC, C1.outC, 0.5), c2: randomMasks(r, C2.inC, C2.outC, 0.75)};
    const dims = {c1: C1, c2: C2};
    const init = build(kind, null).getWeights().map((w) => w.clone());
    const x = tf.randomNormal([5, 7, 7, C1.inC]), y = tf.randomNormal([5, 3]);

    // Reference: dense kernels, masks re-applied after every step (as ClickTrain does unfrozen).
    sparse.setSparseKernelsEnabled(false);
    const dense = build(kind, init);
    const keep = Object.fromEntries(Object.entries(masks).map(([n, mk]) =>
      [n, sparse.maskTensor(mk, dims[n as 'c1'].inC, dims[n as 'c1'].outC)]));
    const remask = () => tf.tidy(() => {
      for (const n of ['c1', 'c2']) kernel(dense, n).assign(tf.mul(kernel(dense, n), keep[n]));
    });
    remask();
    for (let s = 0; s < 4; s++) {
      await dense.trainOnBatch(x, y);
      remask();
    }
    sparse.setSparseKernelsEnabled(true);

    // One masked dense step before freezing, so the optimiser state (momentum) is non-zero at
    // kept and pruned positions when the packed steps take over.
    const frozen = build(kind, init);
    tf.tidy(() => {
      for (const n of ['c1', 'c2']) kernel(frozen, n).assign(tf.mul(kernel(frozen, n), keep[n]));
    });
    sparse.setSparseKernelsEnabled(false);
    await frozen.trainOnBatch(x, y);
    sparse.setSparseKernelsEnabled(true);
    freezeSparsity(frozen, {masks});
    // Its own input tensor: a backward-filter call is tied to a frozen layer only when no other
    // convolution of that filter shape read the same input (here: the reference model's).
    const xs = tf.tensor(await x.data(), x.shape);
    const before = sparse.sparseCallCounts.optimizerStep;
    for (let s = 0; s < 3; s++) await frozen.trainOnBatch(xs, y);
    // Two frozen layers, three steps; the first step already runs packed.
    expect(sparse.sparseCallCounts.optimizerStep - before).toBe(6);

    for (const n of ['c1', 'c2'] as const) {
      const {inC, outC} = dims[n];
      const got = await kernel(frozen, n).data(), want = await kernel(dense, n).data();
      got.forEach((v, i) => {
        if (!isKept(masks[n], inC, outC, i)) expect(Object.is(v, 0)).toBe(true);  // +0, not -0
      });
      expect(ref.maxRelError(got, want)).toBeLessThan(1e-5);
      expect(sparse.frozenValueIsMasked(kernel(frozen, n), masks[n])).toBe(true);
      if (kind !== 'sgd') {
        const a = await accumulation(frozen, kernel(frozen, n))!.data();
        const aRef = await accumulation(dense, kernel(dense, n))!.data();
        // Pruned positions: zero in the frozen state (dropped); the dense reference's accumulation
        // there is not part of the trained model (its weights are re-masked).
        const expected = Float64Array.from(aRef, (v, i) => (isKept(masks[n], inC, outC, i) ? v : 0));
        expect(ref.maxRelError(a, expected)).toBeLessThan(1e-5);
        a.forEach((v, i) => {
          if (!isKept(masks[n], inC, outC, i)) expect(Object.is(v, 0)).toBe(true);
        });
      }
    }
    // The rest of the model (dense layer, bias) trained the same way.
    const fw = frozen.getWeights(), dw = dense.getWeights();
    for (let i = 0; i < fw.length; i++) expect(ref.maxRelError(await fw[i].data(), await dw[i].data())).toBeLessThan(1e-5);
    tf.dispose([...init, ...Object.values(keep), x, xs, y]);
  });
});

describe('deferred dense tensors of frozen layers', () => {
  test('a training step leaves them uncomputed; an old weight kept alive keeps its values', async () => {
    const init = build('momentum', null).getWeights().map((w) => w.clone());
    const masks = {c1: randomMasks(r, C1.inC, C1.outC, 0.5), c2: randomMasks(r, C2.inC, C2.outC, 0.75)};
    const x = tf.randomNormal([3, 7, 7, C1.inC]), y = tf.randomNormal([3, 3]);
    const a = build('momentum', init), b = build('momentum', init);
    freezeSparsity(a, {masks});
    freezeSparsity(b, {masks});
    const xb = tf.tensor(await x.data(), x.shape);
    await a.trainOnBatch(x, y);
    await b.trainOnBatch(xb, y);
    const backend = tf.backend() as unknown as {isDeferred(id: object): boolean};
    const v = kernel(a, 'c2');
    expect(backend.isDeferred(v.dataId)).toBe(true);
    expect(backend.isDeferred(accumulation(a, v)!.dataId)).toBe(true);
    const kept = tf.clone(v);  // unread: its values come from a packed slot the next steps reuse
    const expected = await kernel(b, 'c2').data();
    for (let s = 0; s < 3; s++) await a.trainOnBatch(x, y);
    expect(backend.isDeferred(kept.dataId)).toBe(false);  // computed before its slot was reused
    expect(await kept.data()).toEqual(expected);
    tf.dispose([...init, kept, x, xb, y]);
  });
});

describe('the dense path runs whenever the packed one is not certain', () => {
  test('a gradient that is not the sparse backward-filter result', async () => {
    const m = build('momentum', null);
    const masks = randomMasks(r, C1.inC, C1.outC, 0.5);
    freezeSparsity(m, {masks: {c1: masks}, layers: ['c1']});
    const x = tf.randomNormal([2, 7, 7, C1.inC]), y = tf.randomNormal([2, 3]);
    await m.trainOnBatch(x, y);  // refreshes the layout; this step runs packed
    const v = kernel(m, 'c1');
    const w0 = await v.data(), a0 = await accumulation(m, v)!.data();
    const g = tf.randomNormal(v.shape);  // pruned positions non-zero: only the dense path can apply it
    const before = sparse.sparseCallCounts.optimizerStep;
    m.optimizer.applyGradients({[v.name]: g});
    expect(sparse.sparseCallCounts.optimizerStep).toBe(before);
    const gv = await g.data(), w1 = await v.data();
    const expected = Float64Array.from(w0, (w, i) => w - 0.05 * (0.9 * a0[i] + gv[i]));
    expect(ref.maxRelError(w1, expected)).toBeLessThan(1e-5);
    expect(sparse.frozenValueIsMasked(v, masks)).toBe(false);
  });

  test('a weight assigned by the user is not reported as masked', async () => {
    const m = build('sgd', null);
    const masks = randomMasks(r, C1.inC, C1.outC, 0.5);
    freezeSparsity(m, {masks: {c1: masks}, layers: ['c1']});
    await m.trainOnBatch(tf.randomNormal([2, 7, 7, C1.inC]), tf.randomNormal([2, 3]));
    const v = kernel(m, 'c1');
    expect(sparse.frozenValueIsMasked(v, masks)).toBe(true);
    const other = masks.map((mk) => (mk === 0 ? 0x1ff : 0));
    expect(sparse.frozenValueIsMasked(v, other)).toBe(false);  // not the masks it was frozen with
    v.assign(tf.randomNormal(v.shape));
    expect(sparse.frozenValueIsMasked(v, masks)).toBe(false);
  });
});

test('the packed-step and batch-norm bindings check every length', () => {
  const layout = sparse.SparseLayout.compile(randomMasks(r, 3, 5, 0.5), 3, 5);
  const a = sparseAddon(), n = layout.keptWeights, dense = 9 * 3 * 5;
  const f = (k: number) => new Float32Array(k);
  expect(() => a.sparseFrozenMomentum(layout.handle, f(n + 1), f(n), -0.1, 0.9, false, f(n), f(n))).toThrow(/accumIn/);
  expect(() => a.sparseFrozenMomentum(layout.handle, f(n), f(n), -0.1, 0.9, false, f(n), f(n - 1))).toThrow(/valueOut/);
  expect(() => a.sparseFrozenSgd(layout.handle, f(n - 1), -0.1, f(n))).toThrow(/gradPacked/);
  expect(() => a.sparseScatterPacked(layout.handle, f(n), f(dense - 1))).toThrow(/dense/);
  expect(() => a.sparseGatherPacked(layout.handle, f(dense), f(n + 2))).toThrow(/packed/);
  expect(() => a.sparseFrozenSgd({} as never, f(n), -0.1, f(n))).toThrow(/layout/);
  const g = [2, 4, 4, 3, 4, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1];
  expect(() => a.sparseBackpropFilter(layout.handle, g, f(96), f(160), null)).toThrow(/dfilter' or 'packed/);
  expect(() => a.sparseBackpropFilter(layout.handle, g, f(96), f(160), null, f(n - 1))).toThrow(/packed/);
  const bn = addon() as unknown as {batchNormTraining: (...args: unknown[]) => void,
                                    batchNormTrainingGrad: (...args: unknown[]) => void};
  expect(() => bn.batchNormTraining(4, 3, f(11), null, null, 1e-3, f(12), f(3), f(3))).toThrow(/'x'/);
  expect(() => bn.batchNormTraining(4, 3, f(12), f(2), null, 1e-3, f(12), f(3), f(3))).toThrow(/scale/);
  expect(() => bn.batchNormTrainingGrad(4, 3, f(12), f(12), f(3), f(3), null, 1e-3, f(12), f(3), f(2))).toThrow(/doffset/);
});
