// Shared bench helpers: timing with medians, peers (tfjs cpu, tfjs wasm), the sgemm ceiling.
'use strict';
const path = require('path');
const fs = require('fs');

const root = path.join(__dirname, '..');

/** Loads the compiled package (dist/), failing with a hint when it is not built. */
function loadClicktrain() {
  const main = path.join(root, 'dist', 'src', 'index.js');
  if (!fs.existsSync(main)) throw new Error('bench: run `npm run build:ts` first (dist/ missing)');
  return require(main);
}

function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Runs fn (async allowed) `warmup` times, then `reps` times or until `budgetMs` is spent; returns
 * the median ms. Each fn call must finish its work (await data()). */
async function timeMedian(fn, {warmup = 1, reps = 5, budgetMs = 4000} = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  const start = nowMs();
  while (times.length < reps && (times.length < 2 || nowMs() - start < budgetMs)) {
    const t0 = nowMs();
    await fn();
    times.push(nowMs() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Median times of several functions measured side by side: every round runs each once, in turn,
 * so a machine that slows down or speeds up during the run affects them all alike. */
async function timeInterleaved(fns, {warmup = 1, reps = 5} = {}) {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn();
  const times = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, fn] of fns.entries()) {
      const t0 = nowMs();
      await fn();
      times[i].push(nowMs() - t0);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
}

/** GFLOP/s of sgemm n x n x n on the addon (OpenBLAS or built-in), median of a few runs. */
async function sgemmRate(addon, n = 1024) {
  const a = new Float32Array(n * n).fill(0.5), b = new Float32Array(n * n).fill(0.25);
  const c = new Float32Array(n * n);
  const ms = await timeMedian(() => addon.sgemm(false, false, n, n, n, a, b, c), {warmup: 2, reps: 7});
  return 2 * n * n * n / ms / 1e6;
}

let wasmReady;
/** Registers tfjs-backend-wasm (XNNPACK) for Node, once; resolves false if it is not installed. */
async function initWasm(tf) {
  if (wasmReady !== undefined) return wasmReady;
  try {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep);
    wasmReady = await tf.setBackend('wasm');
  } catch (e) {
    wasmReady = false;
  }
  return wasmReady;
}

function machine() {
  const os = require('os');
  return {
    cpu: os.cpus()[0] ? os.cpus()[0].model : 'unknown',
    cores: os.cpus().length,
    node: process.version,
    openblasCoretype: process.env.OPENBLAS_CORETYPE || '(unset)',
  };
}

function fmt(v, digits = 1) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  return typeof v === 'number' ? v.toFixed(digits) : String(v);
}

/** Prints rows (objects) as an aligned table with the given columns. */
function printTable(rows, columns) {
  const cells = rows.map((r) => columns.map(([key, , d]) => (typeof r[key] === 'number' ? fmt(r[key], d) : (r[key] ?? '-'))));
  const heads = columns.map(([, h]) => h);
  const widths = heads.map((h, i) => Math.max(h.length, ...cells.map((c) => String(c[i]).length)));
  const line = (vals) => vals.map((v, i) => String(v).padStart(widths[i])).join('  ');
  console.log(line(heads));
  for (const c of cells) console.log(line(c));
}

function writeJson(suite, payload) {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, {recursive: true});
  const file = path.join(dir, `${suite}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(payload, null, 2));
  console.log(`\nwrote ${path.relative(root, file)}`);
}

/** Runs a kernel and disposes its result after materialising it: clicktrain may return a deferred
 * tensor (its dense Conv2DBackpropInput does), and disposing that unread would time nothing. */
function runMaterialized(tf, fn) {
  const t = fn();
  tf.backend().materialize?.(t.dataId);
  tf.dispose(t);
}

module.exports = {runMaterialized, timeInterleaved, loadClicktrain, timeMedian, sgemmRate, initWasm, machine, printTable, writeJson, fmt, nowMs};
