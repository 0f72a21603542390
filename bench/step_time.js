// Median time of a VGG-16 (CIFAR) training step or predict in the checkout this file is in, for
// before/after comparisons of two builds on a noisy machine: run each checkout's copy in turn,
// alternating (bench/RESULTS.md, "Session 16"). The four-model bench (benchmark.js train) times the
// models interleaved step by step; alone, a build's step time moves less between runs.
//
//   node bench/step_time.js [prune=0.75|dense] [reps=25] [step|predict] [batch=32]
//
// prune: connectivity pruning of every 3x3 conv but the first, with 4-entry patterns, frozen onto
// the sparse kernels (as bench/train.js); prints the median in ms.
'use strict';
const {loadClicktrain} = require('./lib');
const {compiledVgg, prunedVgg} = require('./train');

async function main() {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const [prune = '0.75', repsArg = '25', what = 'step', batchArg = '32'] = process.argv.slice(2);
  const reps = Number(repsArg), batch = Number(batchArg);
  await tf.setBackend('clicktrain');
  const model = prune === 'dense' ? compiledVgg(ct, tf) : prunedVgg(ct, tf, Number(prune)).model;
  const x = tf.randomNormal([batch, 32, 32, 3]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  const run = what === 'step' ? () => model.trainOnBatch(x, y) : async () => tf.dispose(model.predict(x));
  for (let i = 0; i < 4; ++i) await run();
  const times = [];
  for (let i = 0; i < reps; ++i) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(times[times.length >> 1].toFixed(2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
