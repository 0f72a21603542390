// Sparse kernel bench: pattern-sparse forward, backward-data and backward-filter against the dense
// path of this backend (same kernels with the sparse ones switched off), on CIFAR layer shapes with
// 4-entry patterns (8-pattern library) and 0/50/75% connectivity pruning, side by side in one run.
'use strict';
const {loadClicktrain, runMaterialized, timeMedian, sgemmRate, machine, printTable} = require('./lib');

const SHAPES = [[32, 64], [16, 128], [8, 256], [4, 512]];
const PRUNE = [0, 0.5, 0.75];

/** Deterministic PRNG so every run benches the same masks. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6D2B79F5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 4-entry pattern masks drawn from an 8-pattern library, `prune` of the kernels removed. */
function patternMasks(inC, outC, prune, rand) {
  const lib = [];
  while (lib.length < 8) {
    const taps = new Set();
    while (taps.size < 4) taps.add(Math.floor(rand() * 9));
    const m = [...taps].reduce((a, t) => a | (1 << t), 0);
    if (!lib.includes(m)) lib.push(m);
  }
  const masks = new Uint16Array(inC * outC);
  // Exactly round(prune * n) kernels removed, chosen at random.
  const order = Array.from(masks.keys()).sort(() => rand() - 0.5);
  const removed = Math.round(prune * masks.length);
  order.forEach((idx, rank) => { masks[idx] = rank < removed ? 0 : lib[Math.floor(rand() * 8)]; });
  return masks;
}

async function run(opts) {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const {addon} = require('../dist/src/native/addon');
  if (opts.threads) ct.setNumThreads(opts.threads);
  await tf.setBackend('clicktrain');
  const info = ct.info();
  const sgemm = await sgemmRate(addon());
  console.log(`clicktrain ${info.isa}, ${info.threads} threads, dense GEMM ${info.gemm}; sgemm 1024^3: ${sgemm.toFixed(1)} GFLOP/s\n`);
  const rand = rng(1234);
  const rows = [];
  const batches = opts.quick ? [32] : [32, 128];
  for (const batch of batches) {
    for (const [hw, c] of SHAPES) {
      for (const prune of PRUNE) {
        const masks = patternMasks(c, c, prune, rand);
        const w = tf.tidy(() => tf.mul(tf.randomNormal([3, 3, c, c], 0, 0.05), ct.sparse.maskTensor(masks, c, c)));
        const variable = tf.variable(w);
        const layer = {name: `bench_${hw}_${c}`, getClassName: () => 'Conv2D', kernel: {val: variable}, kernelSize: [3, 3]};
        const x = tf.randomNormal([batch, hw, hw, c]);
        const dy = tf.randomNormal([batch, hw, hw, c]);
        const attrs = {strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1};
        const reps = opts.quick ? 3 : 5;
        const run = (name, inputs, a) => runMaterialized(tf, () => tf.engine().runKernel(name, inputs, a));
        // Backward-filter is timed as a training step consumes it: a frozen layer's result is its
        // packed gradient (computed in the call) behind a deferred dense tensor that the frozen
        // optimiser step never densifies; the dense kernel writes its dense result in the call.
        // bwdFilterDensified times the sparse call with the dense tensor written out too.
        const bwdFilterCall = () => tf.engine().runKernel('Conv2DBackpropFilter', {x: xTied, dy}, {...attrs, filterShape: [3, 3, c, c]});
        const passes = {
          fwd: () => run('Conv2D', {x, filter: variable}, attrs),
          bwdIn: () => run('Conv2DBackpropInput', {dy, filter: variable}, {...attrs, inputShape: x.shape}),
          bwdFilter: () => tf.dispose(bwdFilterCall()),
        };
        // Backward-filter reads the input of the forward pass it belongs to; x itself was read by
        // the dense passes too, which makes the tie ambiguous (and the kernel then runs dense, by
        // design). A fresh copy, read only by the frozen layer, is what a training step has.
        let xTied = x;
        const counter = {fwd: 'forward', bwdIn: 'backpropInput', bwdFilter: 'backpropFilter'};
        const kept = masks.reduce((n, m) => n + popcount(m), 0);
        const theoretical = (9 * c * c) / kept;
        const flops = 2 * batch * hw * hw * c * c * 9;
        const row = {shape: `${hw}x${hw}x${c} b${batch}`, prune: `${prune * 100}%`, theoretical};
        for (const [name, fn] of Object.entries(passes)) {
          ct.setSparseKernelsEnabled(false);
          const dense = await timeMedian(fn, {reps});
          ct.setSparseKernelsEnabled(true);
          ct.freezeSparsity([layer], {masks: {[layer.name]: masks}});
          // One forward pass ties x to the frozen layer (as in a training step), so the timed
          // Conv2DBackpropFilter calls alone run the sparse kernel.
          if (name === 'bwdFilter') {
            xTied = tf.add(x, 0);
            tf.dispose(tf.engine().runKernel('Conv2D', {x: xTied, filter: variable}, attrs));
          }
          const calls0 = ct.sparse.sparseCallCounts[counter[name]];
          const sparseMs = await timeMedian(fn, {reps});
          const sparseCalls = ct.sparse.sparseCallCounts[counter[name]] - calls0;
          if (name === 'bwdFilter') {
            row.bwdFilterDensified = await timeMedian(() => runMaterialized(tf, bwdFilterCall), {reps});
            row.bwdFilterDensifiedSpeedup = dense / row.bwdFilterDensified;
          }
          ct.unfreezeSparsity([layer]);
          if (xTied !== x) tf.dispose(xTied);
          xTied = x;
          row[`${name}SparseCalls`] = sparseCalls;
          row[`${name}Dense`] = dense;
          row[`${name}Sparse`] = sparseMs;
          row[`${name}Speedup`] = dense / sparseMs;
          row[`${name}Ratio`] = dense / sparseMs / theoretical;
          row[`${name}EffGflops`] = flops / sparseMs / 1e6;
        }
        if (!(row.fwdSparseCalls > 0 && row.bwdInSparseCalls > 0 && row.bwdFilterSparseCalls > 0)) {
          console.log(`  (${row.shape} pruned ${row.prune}: a pass did not reach the sparse kernels: ` +
            `${row.fwdSparseCalls}/${row.bwdInSparseCalls}/${row.bwdFilterSparseCalls} calls)`);
        }
        tf.dispose([w, variable, x, dy]);
        rows.push(row);
        console.log(`  ${row.shape} pruned ${row.prune}: fwd x${row.fwdSpeedup.toFixed(2)}, bwdIn x${row.bwdInSpeedup.toFixed(2)}, bwdFilter x${row.bwdFilterSpeedup.toFixed(2)} (theory x${theoretical.toFixed(2)})`);
      }
    }
  }
  console.log();
  printTable(rows, [
    ['shape', 'shape'], ['prune', 'conn.pruned'], ['theoretical', 'theory x', 2],
    ['fwdSpeedup', 'fwd x', 2], ['fwdRatio', 'fwd /theory', 2], ['fwdEffGflops', 'fwd effGF/s', 0],
    ['bwdInSpeedup', 'bwdIn x', 2], ['bwdInRatio', 'bwdIn /theory', 2],
    ['bwdFilterSpeedup', 'bwdFilt x', 2], ['bwdFilterRatio', 'bwdFilt /theory', 2],
    ['bwdFilterDensifiedSpeedup', 'bwdFilt x densified', 2],
  ]);
  console.log(`\nDense baseline: this backend's dense kernels (${info.gemm}); effective GF/s = dense-equivalent FLOPs / sparse time; sgemm ceiling ${sgemm.toFixed(1)} GFLOP/s.`);
  console.log('bwdFilt: the packed gradient a training step uses; "densified": also written out as the dense [3,3,C,C] tensor.');
  return {suite: 'sparse', machine: machine(), info, sgemmGflops: sgemm, rows};
}

function popcount(m) {
  let c = 0;
  for (; m; m &= m - 1) c++;
  return c;
}

module.exports = {run, patternMasks, rng};
