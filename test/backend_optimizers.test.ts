/** tfjs's SGD and Momentum optimisers run one fused native pass per variable on clicktrain
 * (src/backend/optimizers.ts) and give tfjs's own results: same values, accumulations and
 * iteration count as on the cpu backend, over several steps with fresh random gradients. */
import * as tf from '@tensorflow/tfjs-core';
import '../src';
import {addon} from '../src/native/addon';

const SHAPES = [[3, 3, 5, 7], [17], [], [2, 65537]];  // odd sizes; the last spans both threads

type MakeOptimizer = () => tf.Optimizer;

async function run(backend: string, make: MakeOptimizer, steps: number) {
  await tf.setBackend(backend);
  const vars = SHAPES.map((s, i) => tf.variable(tf.randomUniform(s, -1, 1, 'float32', 3 + i), true, `v${backend}${i}${Math.random()}`));
  const opt = make();
  for (let step = 0; step < steps; step++) {
    const grads = vars.map((v, i) => ({name: v.name, tensor: tf.randomUniform(v.shape, -1, 1, 'float32', 100 * step + i)}));
    opt.applyGradients(grads);
    tf.dispose(grads.map((g) => g.tensor));
  }
  const values = vars.map((v) => v.dataSync().slice());
  const state = await opt.getWeights();
  const slots = state.slice(1).map((w) => w.tensor.dataSync().slice());
  const iterations = opt.iterations;
  opt.dispose();
  tf.dispose(vars);
  return {values, slots, iterations};
}

function expectClose(a: Float32Array[], b: Float32Array[]) {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    expect(a[i].length).toBe(b[i].length);
    let worst = 0;
    for (let k = 0; k < a[i].length; k++) worst = Math.max(worst, Math.abs(a[i][k] - b[i][k]) / Math.max(1, Math.abs(b[i][k])));
    expect(worst).toBeLessThan(1e-5);
  }
}

describe.each([
  ['sgd', () => tf.train.sgd(0.1), 'ClickTrainSgdUpdate'],
  ['momentum', () => tf.train.momentum(0.05, 0.9), 'ClickTrainMomentumUpdate'],
  ['nesterov momentum', () => tf.train.momentum(0.05, 0.8, true), 'ClickTrainMomentumUpdate'],
])('%s', (_name, make: MakeOptimizer, kernel: string) => {
  test('matches tfjs on the cpu backend over 4 steps', async () => {
    const cpu = await run('cpu', make, 4);
    const ours = await run('clicktrain', make, 4);
    expectClose(ours.values, cpu.values);
    expectClose(ours.slots, cpu.slots);
    expect(ours.iterations).toBe(4);
    expect(cpu.iterations).toBe(4);
  });

  test('runs the fused kernel, not tfjs element-wise ops', async () => {
    await tf.setBackend('clicktrain');
    const v = tf.variable(tf.randomUniform([5, 6]), true, `p${kernel}${Math.random()}`);
    const g = tf.randomUniform([5, 6]);
    const opt = make();
    const info = await tf.profile(() => opt.applyGradients([{name: v.name, tensor: g}]));
    const names = info.kernels.map((k) => k.name);
    expect(names).toContain(kernel);
    expect(names).not.toContain('Multiply');
    opt.dispose();
    tf.dispose([v, g]);
  });
});

test('a setMomentum call is honoured as tfjs honours it', async () => {
  // tfjs's Momentum keeps the momentum it was built with in a scalar tensor; the fused path reads
  // that same tensor, so both backends agree whatever setMomentum did.
  const make = () => {
    const o = tf.train.momentum(0.05, 0.9);
    o.setMomentum(0.5);
    return o;
  };
  const cpu = await run('cpu', make, 3);
  const ours = await run('clicktrain', make, 3);
  expectClose(ours.values, cpu.values);
});

test('the addon checks every length', () => {
  const a = new Float32Array(4), b = new Float32Array(3);
  expect(() => addon().momentumUpdate(a, a, b, a, a, -0.1, 0.9, false)).toThrow(/grad/);
  expect(() => addon().momentumUpdate(a, a, a, a, b, -0.1, 0.9, false)).toThrow(/outAccum/);
  expect(() => addon().sgdUpdate(a, a, b, -0.1)).toThrow(/outValue/);
});
