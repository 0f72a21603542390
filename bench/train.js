// Whole-model bench: one training step (forward, backward, SGD) and inference of VGG-16-BN for
// CIFAR at batch 32 on clicktrain, dense and pruned (every 3x3 conv but the first: 4-entry patterns
// from an 8-pattern library + 0% / 50% / 75% connectivity pruning, frozen onto the sparse kernels),
// next to the sgemm ceiling and tfjs-backend-cpu (timed at a small batch and scaled).
'use strict';
const {loadClicktrain, timeInterleaved, timeMedian, sgemmRate, machine, printTable} = require('./lib');
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

/** VGG-16 (CIFAR), compiled with momentum (every model the bench times). */
function compiledVgg(ct, tf) {
  const m = ct.models.vgg('vgg16', {seed: 1});
  m.compile({optimizer: tf.train.momentum(0.01, 0.9), loss: 'categoricalCrossentropy'});
  return m;
}

/** compiledVgg with its 3x3 convs but the first masked to 4-entry patterns
 * with `prune` connectivity pruning and frozen onto the sparse kernels; also the masks and the kept
 * / total weights of the 3x3 convs. */
function prunedVgg(ct, tf, prune) {
  const m = compiledVgg(ct, tf);
  const rand = rng(7);
  const masks = {};
  let kept = 0, total = 0;
  for (const [i, layer] of convLayers(m).entries()) {
    const [, , ic, oc] = layer.kernel.shape;
    total += 9 * ic * oc;
    if (i === 0) { kept += 9 * ic * oc; continue; }  // the first conv stays dense, as in the paper
    masks[layer.name] = patternMasks(ic, oc, prune, rand);
    kept += masks[layer.name].reduce((n, mask) => n + 4 * (mask !== 0), 0);
  }
  ct.freezeSparsity(m, {masks, layers: Object.keys(masks)});
  return {model: m, masks, kept, total};
}

/** One model's step, predict(batch) and predict(1), ready to time (afterStep runs after each step). */
function timedCalls(tf, model, batch, afterStep = () => {}) {
  const x = tf.randomNormal([batch, 32, 32, 3]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  const x1 = tf.slice(x, 0, 1);
  return {
    // afterStep re-applies the masks, as ClickTrain does after every optimiser step (the
    // optimiser's momentum would otherwise move pruned weights); its cost is timed too.
    step: async () => {
      await model.trainOnBatch(x, y);
      afterStep();
    },
    predictBatch: () => tf.dispose(model.predict(x)),
    predict1: () => tf.dispose(model.predict(x1)),
    dispose: () => tf.dispose([x, y, x1]),
  };
}

async function run(opts) {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const {addon} = require('../dist/src/native/addon');
  if (opts.threads) ct.setNumThreads(opts.threads);
  const info = ct.info();
  const sgemm = await sgemmRate(addon());
  const batch = 32;
  console.log(`VGG-16-BN CIFAR, batch ${batch}; clicktrain ${info.isa}, ${info.threads} threads, ${info.gemm}; sgemm ${sgemm.toFixed(1)} GFLOP/s\n`);
  await tf.setBackend('clicktrain');
  const rows = [];
  const build = () => compiledVgg(ct, tf);
  // Dense and both pruned models are built up front and timed side by side (each round runs one
  // step of each in turn): these machines' speed drifts within a run, and the ratios should not.
  const model = build();
  const fwd = forwardFlops(model, batch);
  const stepFlops = 3 * fwd;  // forward + backward-data + backward-filter
  const variants = [{label: 'dense', model, calls: timedCalls(tf, model, batch)}];
  const pruned = [];
  for (const prune of [0, 0.5, 0.75]) {
    const {model: m, masks, kept, total} = prunedVgg(ct, tf, prune);
    const maskedNames = convLayers(m).filter((l) => masks[l.name]).map((l) => l.name);
    const maskTensors = convLayers(m).filter((l) => masks[l.name]).map((l) => {
      const [, , ic, oc] = l.kernel.shape;
      return [l.kernel.val, ct.sparse.maskTensor(masks[l.name], ic, oc)];
    });
    // As the ClickTrain controller does: a weight written by a packed frozen step is already masked.
    const reapply = () => tf.tidy(() => maskTensors.forEach(([v, mt], i) => {
      if (!ct.sparse.frozenValueIsMasked(v, masks[maskedNames[i]])) v.assign(tf.mul(v, mt));
    }));
    pruned.push(maskTensors);
    variants.push({label: `4-entry + ${prune * 100}% conn. (${(total / kept).toFixed(1)}x conv)`, model: m,
                   calls: timedCalls(tf, m, batch, reapply)});
  }
  const steps = await timeInterleaved(variants.map((v) => v.calls.step), {warmup: 1, reps: opts.quick ? 3 : 7});
  const predictBatch = await timeInterleaved(variants.map((v) => v.calls.predictBatch), {warmup: 1, reps: opts.quick ? 4 : 9});
  const predict1 = await timeInterleaved(variants.map((v) => v.calls.predict1), {warmup: 1, reps: opts.quick ? 4 : 9});
  for (const [i, v] of variants.entries()) {
    const row = {model: v.label, stepMs: steps[i], effGflops: stepFlops / steps[i] / 1e6,
                 predictBatchMs: predictBatch[i], predict1Ms: predict1[i]};
    if (i === 0) {
      row.pctSgemm = 100 * stepFlops / steps[i] / 1e6 / sgemm;
    } else {
      Object.assign(row, {speedup: steps[0] / steps[i], predictBatchSpeedup: predictBatch[0] / predictBatch[i],
                          predict1Speedup: predict1[0] / predict1[i]});
    }
    rows.push(row);
    console.log(`  ${v.label}: step ${steps[i].toFixed(0)} ms`);
  }
  for (const v of variants.slice(1)) ct.unfreezeSparsity(v.model);
  for (const v of variants) {
    v.calls.dispose();
    if (v.model !== model) v.model.dispose();
  }
  tf.dispose(pruned.flat().map(([, mt]) => mt));
  const dense = {ms: steps[0]};
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

module.exports = {run, compiledVgg, prunedVgg};
