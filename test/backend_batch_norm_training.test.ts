/**
 * tfjs-layers' BatchNormalization while training on clicktrain (src/backend/batch_norm_layer.ts):
 * output, gradients w.r.t. input, gamma and beta, moving statistics, and a gradient of a gradient
 * must equal tfjs's own path (run on the cpu backend) and a float64 reference of the output.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src';
import * as ref from './helpers/reference';

const seed = ref.testSeed();
const r = ref.rng(seed);

beforeAll(async () => {
  await tf.setBackend('clicktrain');
  // eslint-disable-next-line no-console
  console.log(`batch norm training tests: seed ${seed}`);
  jest.spyOn(console, 'warn').mockImplementation(() => undefined);  // the cpu backend's "use tfjs-node"
});

/** Runs fn, counting the fused batch-norm kernel's runs. */
function countFusedCalls<T>(fn: () => T): {result: T, calls: number} {
  let calls = 0;
  const eng = tf.engine() as unknown as {runKernel: (...args: unknown[]) => unknown};
  const runKernel = eng.runKernel;
  eng.runKernel = function(this: unknown, ...args: unknown[]) {
    if (args[0] === 'ClickTrainBatchNormTraining') calls++;
    return runKernel.apply(this, args);
  };
  try {
    return {result: fn(), calls};
  } finally {
    delete (eng as {runKernel?: unknown}).runKernel;  // back to the prototype's method
    if (eng.runKernel !== runKernel) eng.runKernel = runKernel;
  }
}

interface Result {y: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
                  movingMean: Float32Array, movingVariance: Float32Array, kernelCalls: number}

/** One training-mode call and its gradients on `backend`, from fixed data and weights. */
async function run(backend: string, shape: number[], axis: number, x: Float32Array, w: Float32Array,
                   params: Float32Array[]): Promise<Result> {
  await tf.setBackend(backend);
  const layer = tfl.layers.batchNormalization({axis, momentum: 0.8, epsilon: 1e-3});
  layer.build(shape);
  layer.setWeights(params.map((p) => tf.tensor1d(p)));
  const xt = tf.tensor(x, shape), wt = tf.tensor(w, shape);
  const [gamma, beta] = layer.trainableWeights.map((v) => v.read());
  // gamma and beta are the layer's own variables: the layer reads exactly these tensors.
  const f = (xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx, {training: true}) as tf.Tensor, wt));
  const {result: [y, dx, dgamma, dbeta], calls: kernelCalls} = countFusedCalls(() => [
    layer.apply(xt, {training: true}) as tf.Tensor,
    ...tf.grads((xx: tf.Tensor, _g: tf.Tensor, _b: tf.Tensor) => f(xx))([xt, gamma, beta]),
  ]);
  const [, , movingMean, movingVariance] = layer.getWeights();
  const out = {y: await y.data() as Float32Array, dx: await dx.data() as Float32Array,
               dgamma: await dgamma.data() as Float32Array, dbeta: await dbeta.data() as Float32Array,
               movingMean: await movingMean.data() as Float32Array,
               movingVariance: await movingVariance.data() as Float32Array, kernelCalls};
  await tf.setBackend('clicktrain');
  return out;
}

describe.each([
  {shape: [4, 5, 3, 7], axis: -1},
  {shape: [1, 2, 2, 13], axis: 3},
  {shape: [9, 6], axis: -1},
])('batch norm training $shape axis $axis', ({shape, axis}) => {
  test('equals tfjs on the cpu backend and a float64 reference', async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    const ax = axis < 0 ? axis + shape.length : axis;
    const c = shape[ax];
    const x = Float32Array.from(r.floats(n), (v) => 3 * v + 2);
    const w = r.floats(n);
    const params = [Float32Array.from(r.floats(c), (v) => v + 1.5), r.floats(c), r.floats(c),
                    Float32Array.from(r.floats(c), (v) => v + 1.5)];
    const got = await run('clicktrain', shape, axis, x, w, params);
    const want = await run('cpu', shape, axis, x, w, params);
    expect(got.kernelCalls).toBeGreaterThan(0);
    expect(want.kernelCalls).toBe(0);
    for (const k of ['y', 'dx', 'dgamma', 'dbeta', 'movingMean', 'movingVariance'] as const) {
      expect([k, ref.maxRelError(got[k], want[k]) < 1e-4]).toEqual([k, true]);
    }
    // Float64: y = beta + gamma * (x - mean) / sqrt(var + eps) with biased batch statistics.
    const stride = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
    const ch = (i: number) => Math.floor(i / stride) % c;
    const mean = new Float64Array(c), sq = new Float64Array(c), cnt = new Float64Array(c);
    x.forEach((v, i) => { mean[ch(i)] += v; cnt[ch(i)]++; });
    mean.forEach((_, k) => { mean[k] /= cnt[k]; });
    x.forEach((v, i) => { sq[ch(i)] += (v - mean[ch(i)]) ** 2; });
    const expected = Float64Array.from(x, (v, i) => {
      const k = ch(i);
      return params[1][k] + params[0][k] * (v - mean[k]) / Math.sqrt(sq[k] / cnt[k] + 1e-3);
    });
    expect(ref.maxRelError(got.y, expected)).toBeLessThan(1e-5);
  });
});

/** A fresh batch-norm layer for `shape` on clicktrain, then on cpu: fn's two results. */
async function onBothBackends(shape: number[], fn: (layer: tfl.layers.Layer) => Promise<Float32Array>) {
  const out: Float32Array[] = [];
  try {
    for (const backend of ['clicktrain', 'cpu']) {
      await tf.setBackend(backend);
      const layer = tfl.layers.batchNormalization({});
      layer.build(shape);
      out.push(await fn(layer));
    }
  } finally {
    await tf.setBackend('clicktrain');
  }
  return out;
}

test('a gradient of a gradient runs through differentiable ops', async () => {
  const shape = [3, 4, 4, 5];
  const x = r.floats(3 * 4 * 4 * 5);
  const [got, want] = await onBothBackends(shape, async (layer) => {
    const inner = (xx: tf.Tensor) => tf.sum(tf.pow(layer.apply(xx, {training: true}) as tf.Tensor, 3));
    const outer = (xx: tf.Tensor) => tf.sum(tf.square(tf.grad(inner)(xx)));
    return await tf.grad(outer)(tf.tensor(x, shape)).data() as Float32Array;
  });
  expect(ref.maxRelError(got, want)).toBeLessThan(1e-3);
});

test('inference runs tfjs-layers\' own code, with the same result', async () => {
  const shape = [2, 3, 3, 6];
  const x = r.floats(2 * 3 * 3 * 6);
  const [got, want] = await onBothBackends(shape, async (layer) => {
    const {result, calls} = countFusedCalls(() => layer.apply(tf.tensor(x, shape), {training: false}) as tf.Tensor);
    expect(calls).toBe(0);
    return await result.data() as Float32Array;
  });
  expect(ref.maxRelError(got, want)).toBeLessThan(1e-5);
});

test('the moving-average kernel has the bits of tfjs-layers\' ops', () => {
  const c = 37;
  for (const momentum of [0.99, 0.9, 0.1]) {
    const [m, v, bm, bv] = [0, 1, 2, 3].map(() => tf.tensor1d(Float32Array.from(r.floats(c), (x) => 100 * x)));
    const [gotMean, gotVar] = tf.engine().runKernel(
        'ClickTrainMovingAverages', {mean: m, variance: v, batchMean: bm, batchVariance: bv},
        {decay: 1 - momentum}) as tf.Tensor[];
    const want = (moving: tf.Tensor, batch: tf.Tensor) => tf.sub(moving, tf.mul(tf.sub(moving, batch), 1 - momentum));
    for (const [got, w] of [[gotMean, want(m, bm)], [gotVar, want(v, bv)]]) {
      expect(Buffer.from(got.dataSync().buffer).equals(Buffer.from(w.dataSync().buffer))).toBe(true);
    }
  }
});
