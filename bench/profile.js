#!/usr/bin/env node
// Kernel profile of one training step: `node bench/profile.js [resnet20|vgg16|fmnist-cnn] [batch]`.
// Prints the kernels that take the most time (tf.profile), to find what still runs slowly in JS.
'use strict';
const {loadClicktrain} = require('./lib');

async function main() {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const name = process.argv[2] || 'resnet20';
  const batch = Number(process.argv[3] || 32);
  // tf.profile otherwise reads every kernel's output to check it for NaN: that adds a copy per
  // kernel and, on clicktrain, keeps read-out buffers from being recycled, inflating every time.
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  await tf.setBackend(process.env.PROFILE_BACKEND || 'clicktrain');
  const model = ct.models.buildModel(name, {seed: 1});
  const shape = model.inputs[0].shape.slice(1);
  model.compile({optimizer: tf.train.momentum(0.01, 0.9), loss: 'categoricalCrossentropy'});
  const x = tf.randomNormal([batch, ...shape]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  await model.trainOnBatch(x, y);  // warm-up
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
  console.log(`${name} batch ${batch} on ${tf.getBackend()}: step ${wall} ms (profiled), kernels ${total.toFixed(0)} ms`);
  for (const [k, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) {
    console.log(`${k.padEnd(28)} ${e.ms.toFixed(1).padStart(9)} ms ${(100 * e.ms / total).toFixed(1).padStart(5)}%  ${e.calls} calls`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
