// Dense kernel bench: Conv2D/FusedConv2D forward and both backprops on CIFAR layer shapes, side by
// side with tfjs-backend-wasm (XNNPACK), tfjs-backend-cpu and the sgemm ceiling of this run.
'use strict';
const {loadClicktrain, runMaterialized, timeMedian, sgemmRate, initWasm, machine, printTable, writeJson} = require('./lib');

const SHAPES = [[32, 64], [16, 128], [8, 256], [4, 512]];

async function run(opts) {
  const ct = loadClicktrain();
  const tf = require('@tensorflow/tfjs-core');
  const {addon} = require('../dist/src/native/addon');
  if (opts.threads) ct.setNumThreads(opts.threads);
  const info = ct.info();
  const batches = opts.quick ? [32] : [32, 128];
  const sgemm = await sgemmRate(addon());
  console.log(`clicktrain ${info.isa} path, ${info.threads} threads, dense GEMM: ${info.gemm}`);
  console.log(`sgemm 1024^3 ceiling in this run: ${sgemm.toFixed(1)} GFLOP/s (${info.threads} threads)\n`);
  const haveWasm = await initWasm(tf);
  const rows = [];
  for (const batch of batches) {
    for (const [hw, c] of SHAPES) {
      const flops = 2 * batch * hw * hw * c * c * 9;
      const shapeName = `${hw}x${hw}x${c} b${batch}`;
      const attrs = {strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1};
      const row = {shape: shapeName, gflop: flops / 1e9};
      // clicktrain
      await tf.setBackend('clicktrain');
      const x = tf.randomNormal([batch, hw, hw, c]);
      const w = tf.randomNormal([3, 3, c, c], 0, 0.05);
      const bias = tf.randomNormal([c]);
      const dy = tf.randomNormal([batch, hw, hw, c]);
      const timeKernel = (fn) => timeMedian(() => runMaterialized(tf, fn), {reps: opts.quick ? 3 : 7});
      const fwd = await timeKernel(() => tf.fused.conv2d({x, filter: w, bias, activation: 'relu', pad: 'same', strides: 1}));
      const bin = await timeKernel(() => tf.engine().runKernel('Conv2DBackpropInput', {dy, filter: w}, {...attrs, inputShape: x.shape}));
      const bfl = await timeKernel(() => tf.engine().runKernel('Conv2DBackpropFilter', {x, dy}, {...attrs, filterShape: w.shape}));
      row.fwdMs = fwd;
      row.fwdGflops = flops / fwd / 1e6;
      row.bwdInGflops = flops / bin / 1e6;
      row.bwdFilterGflops = flops / bfl / 1e6;
      row.fwdPctSgemm = 100 * row.fwdGflops / sgemm;
      row.bwdInPctSgemm = 100 * row.bwdInGflops / sgemm;
      row.bwdFilterPctSgemm = 100 * row.bwdFilterGflops / sgemm;
      const xv = await x.data(), wv = await w.data();
      tf.dispose([x, w, bias, dy]);
      // tfjs-backend-wasm (forward only: it has no Conv2DBackpropFilter)
      if (haveWasm) {
        await tf.setBackend('wasm');
        const xw = tf.tensor(xv, [batch, hw, hw, c]), ww = tf.tensor(wv, [3, 3, c, c]);
        const ms = await timeMedian(async () => {
          const y = tf.conv2d(xw, ww, 1, 'same');
          await y.data();
          y.dispose();
        }, {reps: 3, budgetMs: 8000});
        row.wasmGflops = flops / ms / 1e6;
        row.vsWasm = row.fwdGflops / row.wasmGflops;
        tf.dispose([xw, ww]);
      }
      // tfjs-backend-cpu: timed on batch 1 and scaled to this batch (it is too slow otherwise)
      if (!opts.noCpu && batch === batches[0]) {
        await tf.setBackend('cpu');
        const x1 = tf.tensor(xv.subarray(0, hw * hw * c), [1, hw, hw, c]), w1 = tf.tensor(wv, [3, 3, c, c]);
        const ms = await timeMedian(() => tf.dispose(tf.conv2d(x1, w1, 1, 'same')), {reps: 2, warmup: 0});
        row.cpuGflops = (flops / batch) / ms / 1e6;
        if (hw === SHAPES[0][0]) {
          const dy1 = tf.randomNormal([1, hw, hw, c]);
          const bms = await timeMedian(() => tf.dispose(tf.engine().runKernel('Conv2DBackpropFilter', {x: x1, dy: dy1}, {...attrs, filterShape: [3, 3, c, c]})), {reps: 1, warmup: 0});
          row.cpuBwdFilterGflops = (flops / batch) / bms / 1e6;
          dy1.dispose();
        }
        row.vsCpu = row.fwdGflops / row.cpuGflops;
        tf.dispose([x1, w1]);
      }
      rows.push(row);
      console.log(`  ${shapeName}: fwd ${row.fwdGflops.toFixed(1)} GFLOP/s`);
    }
  }
  console.log();
  printTable(rows, [
    ['shape', 'shape'], ['gflop', 'GFLOP', 2], ['fwdMs', 'fwd ms', 1], ['fwdGflops', 'fwd GF/s'],
    ['fwdPctSgemm', 'fwd %sgemm', 0], ['bwdInGflops', 'bwdIn GF/s'], ['bwdInPctSgemm', 'bwdIn %sgemm', 0],
    ['bwdFilterGflops', 'bwdFilt GF/s'], ['bwdFilterPctSgemm', 'bwdFilt %sgemm', 0],
    ['wasmGflops', 'wasm GF/s'], ['vsWasm', 'x wasm'], ['cpuGflops', 'cpu GF/s', 2], ['vsCpu', 'x cpu', 0],
    ['cpuBwdFilterGflops', 'cpu bwdFilt GF/s', 3],
  ]);
  console.log('\ncpu columns: tfjs-backend-cpu timed at batch 1 and scaled to the batch; wasm: tfjs-backend-wasm (XNNPACK, SIMD, 1 thread in Node).');
  return {suite: 'kernels', machine: machine(), info, sgemmGflops: sgemm, rows};
}

module.exports = {run};
