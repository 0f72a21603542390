#!/usr/bin/env node
// Kernel profile of one training step: `node bench/profile.js [resnet20|vgg16|fmnist-cnn] [batch]
// [--prune P] [--calls N]`. Prints the kernels that take the most time (tf.profile), to find what
// still runs slowly in JS. --prune P: every 3x3 conv but the first frozen onto the sparse kernels
// with 4-entry patterns (8-pattern library) and P connectivity pruning, as bench/train.js's pruned
// rows. --calls N: instead, every kernel call of the step with its input shapes, the median of N
// profiled steps each (the machine's noise moves single steps by 10-20%).
'use strict';
const {loadClicktrain} = require('./lib');

async function main() {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const args = process.argv.slice(2);
  const pi = args.indexOf('--prune');
  const prune = pi >= 0 ? Number(args.splice(pi, 2)[1]) : null;
  const ci = args.indexOf('--calls');
  const calls = ci >= 0 ? Number(args.splice(ci, 2)[1]) : 0;
  const name = args[0] || 'resnet20';
  const batch = Number(args[1] || 32);
  // tf.profile otherwise reads every kernel's output to check it for NaN: that adds a copy per
  // kernel and, on clicktrain, keeps read-out buffers from being recycled, inflating every time.
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  await tf.setBackend(process.env.PROFILE_BACKEND || 'clicktrain');
  const model = ct.models.buildModel(name, {seed: 1});
  const shape = model.inputs[0].shape.slice(1);
  model.compile({optimizer: tf.train.momentum(0.01, 0.9), loss: 'categoricalCrossentropy'});
  if (prune !== null) {
    const {patternMasks, rng} = require('./sparse');
    const rand = rng(7);
    const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D' && l.kernel.shape[0] === 3);
    const masks = {};
    for (const layer of convs.slice(1)) {
      const [, , ic, oc] = layer.kernel.shape;
      masks[layer.name] = patternMasks(ic, oc, prune, rand);
    }
    ct.freezeSparsity(model, {masks, layers: Object.keys(masks)});
  }
  const x = tf.randomNormal([batch, ...shape]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  await model.trainOnBatch(x, y);  // warm-up
  if (calls > 0) {
    await model.trainOnBatch(x, y);
    const perCall = new Map();
    for (let r = 0; r < calls; ++r) {
      const info = await tf.profile(() => model.trainOnBatch(x, y));
      info.kernels.forEach((k, i) => {
        if (k.name.endsWith('__op')) return;
        const key = `${k.name} ${k.inputShapes.map((sh) => (sh ? sh.join('x') : '-')).join(' ')} #${i}`;
        if (!perCall.has(key)) perCall.set(key, []);
        perCall.get(key).push(typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0);
      });
    }
    const rows = [...perCall.entries()].map(([k, v]) => [k, v.sort((a, b) => a - b)[v.length >> 1]]);
    const total = rows.reduce((s, [, ms]) => s + ms, 0);
    console.log(`${name}${prune === null ? '' : ` (pruned ${prune})`} batch ${batch} on ${tf.getBackend()}: ` +
                `per-call medians of ${calls} profiled steps, sum ${total.toFixed(1)} ms`);
    for (const [k, ms] of rows.sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${ms.toFixed(3).padStart(8)} ms  ${k}`);
    return;
  }
  const t0 = Date.now();
  const info = await tf.profile(() => model.trainOnBatch(x, y));
  const wall = Date.now() - t0;
  const byKernel = new Map();
  for (const k of info.kernels) {
    // "<op>__op" entries (ops with a custom gradient) wrap kernels that are listed themselves.
    if (k.name.endsWith('__op')) continue;
    const e = byKernel.get(k.name) || {ms: 0, calls: 0};
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls++;
    byKernel.set(k.name, e);
  }
  const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
  console.log(`${name}${prune === null ? '' : ` (pruned ${prune})`} batch ${batch} on ${tf.getBackend()}: step ${wall} ms (profiled), kernels ${total.toFixed(0)} ms`);
  for (const [k, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
    console.log(`${k.padEnd(28)} ${e.ms.toFixed(1).padStart(9)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  ${e.calls} calls`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
