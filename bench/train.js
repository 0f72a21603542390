// Whole-model bench: one training step (forward, backward, SGD) and inference of VGG-16-BN for
// CIFAR at batch 32 on clicktrain, dense and pruned (every 3x3 conv but the first: 4-entry patterns
// from an 8-pattern library + 50% / 75% connectivity pruning, frozen onto the sparse kernels),
// next to the sgemm ceiling and tfjs-backend-cpu (timed at a small batch and scaled).
'use strict';
const {loadClicktrain, timeMedian, sgemmRate, machine, printTable} = require('./lib');
const {patternMasks, rng} = require('./sparse');

/** Dense-equivalent FLOPs of one forward pass (conv + dense layers). */
function forwardFlops(model, batch) {
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'Conv2D') {
      const [, oh, ow, oc] = layer.outputShape;
      const [kh, kw, ic] = layer.kernel.shape;
      flops += 2 * batch * oh * ow * oc * kh * kw * ic;
    } else if (cls === 'Dense') {
      const [inF, outF] = layer.kernel.shape;
      flops += 2 * batch * inF * outF;
    }
  }
  return flops;
}

function convLayers(model) {
  return model.layers.filter((l) => l.getClassName() === 'Conv2D' && l.kernel.shape[0] === 3);
}

async function stepTimer(tf, model, batch, reps, afterStep = () => {}) {
  const x = tf.randomNormal([batch, 32, 32, 3]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  // afterStep re-applies the masks, as ClickTrain does after every optimiser step (the optimiser's
  // momentum from the dense steps would otherwise move pruned weights); its cost is timed too.
  const step = async () => {
    await model.trainOnBatch(x, y);
    afterStep();
  };
  const ms = await timeMedian(step, {warmup: 1, reps, budgetMs: 20000});
  const predict = (b) => {
    const xb = b === batch ? x : tf.slice(x, 0, b);
    return timeMedian(() => tf.dispose(model.predict(xb)), {warmup: 1, reps: reps + 2, budgetMs: 10000});
  };
  const predictBatch = await predict(batch);
  const predict1 = await predict(1);
  tf.dispose([x, y]);
  return {ms, predictBatch, predict1};
}

async function run(opts) {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const {addon} = require('../dist/src/native/addon');
  const {vgg} = require('../dist/src/models');
  if (opts.threads) ct.setNumThreads(opts.threads);
  const info = ct.info();
  const sgemm = await sgemmRate(addon());
  const batch = 32;
  const reps = opts.quick ? 2 : 4;
  console.log(`VGG-16-BN CIFAR, batch ${batch}; clicktrain ${info.isa}, ${info.threads} threads, ${info.gemm}; sgemm ${sgemm.toFixed(1)} GFLOP/s\n`);
  await tf.setBackend('clicktrain');
  const rows = [];
  const build = () => {
    const m = vgg('vgg16', {seed: 1});
    m.compile({optimizer: tf.train.momentum(0.01, 0.9), loss: 'categoricalCrossentropy'});
    return m;
  };
  const model = build();
  const fwd = forwardFlops(model, batch);
  const stepFlops = 3 * fwd;  // forward + backward-data + backward-filter
  const dense = await stepTimer(tf, model, batch, reps);
  rows.push({model: 'dense', stepMs: dense.ms, effGflops: stepFlops / dense.ms / 1e6, pctSgemm: 100 * stepFlops / dense.ms / 1e6 / sgemm,
             predictBatchMs: dense.predictBatch, predict1Ms: dense.predict1});
  console.log(`  dense: step ${dense.ms.toFixed(0)} ms`);
  for (const prune of [0.5, 0.75]) {
    const rand = rng(7);
    const masks = {};
    let kept = 0, total = 0;
    for (const [i, layer] of convLayers(model).entries()) {
      const [, , ic, oc] = layer.kernel.shape;
      total += 9 * ic * oc;
      if (i === 0) { kept += 9 * ic * oc; continue; }  // the first conv stays dense, as in the paper
      masks[layer.name] = patternMasks(ic, oc, prune, rand);
      kept += masks[layer.name].reduce((n, m) => n + 4 * (m !== 0), 0);
    }
    ct.freezeSparsity(model, {masks, layers: Object.keys(masks)});
    const maskedNames = convLayers(model).filter((l) => masks[l.name]).map((l) => l.name);
    const maskTensors = convLayers(model).filter((l) => masks[l.name]).map((l) => {
      const [, , ic, oc] = l.kernel.shape;
      return [l.kernel.val, ct.sparse.maskTensor(masks[l.name], ic, oc)];
    });
    // As the ClickTrain controller does: a weight written by a packed frozen step is already masked.
    const reapply = () => tf.tidy(() => maskTensors.forEach(([v, m], i) => {
      if (!ct.sparse.frozenValueIsMasked(v, masks[maskedNames[i]])) v.assign(tf.mul(v, m));
    }));
    const t = await stepTimer(tf, model, batch, reps, reapply);
    tf.dispose(maskTensors.map(([, m]) => m));
    ct.unfreezeSparsity(model);
    rows.push({model: `4-entry + ${prune * 100}% conn. (${(total / kept).toFixed(1)}x conv)`, stepMs: t.ms,
               effGflops: stepFlops / t.ms / 1e6, speedup: dense.ms / t.ms,
               predictBatchMs: t.predictBatch, predict1Ms: t.predict1,
               predictBatchSpeedup: dense.predictBatch / t.predictBatch, predict1Speedup: dense.predict1 / t.predict1});
    console.log(`  pruned ${prune * 100}%: step ${t.ms.toFixed(0)} ms`);
  }
  // tfjs-backend-cpu at batch 2, scaled to 32 (a batch-32 step takes many minutes there).
  if (!opts.noCpu) {
    await tf.setBackend('cpu');
    const cpuModel = build();
    const small = 2;
    const x = tf.randomNormal([small, 32, 32, 3]);
    const y = tf.oneHot(tf.tensor1d([1, 2], 'int32'), 10);
    const ms = await timeMedian(() => cpuModel.trainOnBatch(x, y), {warmup: 0, reps: 1});
    const scaled = ms * batch / small;
    rows.push({model: `tfjs-backend-cpu (batch ${small}, x${batch / small})`, stepMs: scaled, effGflops: stepFlops / scaled / 1e6});
    rows[0].vsCpu = scaled / dense.ms;
    tf.dispose([x, y]);
    cpuModel.dispose();
    await tf.setBackend('clicktrain');
  }
  model.dispose();
  console.log();
  printTable(rows, [
    ['model', 'model'], ['stepMs', 'step ms', 0], ['effGflops', 'eff GF/s', 1], ['pctSgemm', '%sgemm', 0],
    ['speedup', 'step x', 2], ['vsCpu', 'x tfjs-cpu', 0], ['predictBatchMs', `predict b${batch} ms`, 0],
    ['predictBatchSpeedup', 'x', 2], ['predict1Ms', 'predict b1 ms', 1], ['predict1Speedup', 'x', 2],
  ]);
  console.log(`\nFLOPs: 3 x forward (${(fwd / 1e9).toFixed(2)} GFLOP at batch ${batch}) per step, dense-equivalent for the pruned rows.`);
  return {suite: 'train', machine: machine(), info, sgemmGflops: sgemm, forwardGflop: fwd / 1e9, rows};
}

module.exports = {run};
