#!/usr/bin/env node
// Bench entry point: `node bench/benchmark.js [kernels|train|sparse|all] [--quick] [--threads N]`.
// Prints a table per suite and writes JSON under bench/results/. Timings are medians; compare
// only numbers from one run (the machine is noisy). OPENBLAS_CORETYPE is left as the
// environment sets it unless the caller unsets it in the command (say so when reporting).
'use strict';
const {writeJson} = require('./lib');

const SUITES = {
  kernels: () => require('./kernels'),
  train: () => require('./train'),
  sparse: () => require('./sparse'),
  e2e: () => require('./e2e'),
};

function parseArgs(argv) {
  const opts = {suites: [], quick: false, threads: undefined, noCpu: false};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--no-cpu') opts.noCpu = true;
    else if (a === '--threads') opts.threads = Number(argv[++i]);
    else if (a === 'all') opts.suites.push(...Object.keys(SUITES));
    else if (SUITES[a]) opts.suites.push(a);
    else throw new Error(`bench: unknown argument '${a}' (suites: ${Object.keys(SUITES).join(', ')}, all)`);
  }
  if (opts.suites.length === 0) opts.suites = ['kernels'];
  if (opts.threads !== undefined && !(opts.threads >= 1)) throw new Error('bench: --threads needs a number >= 1');
  return opts;
}

async function main(argv) {
  const opts = parseArgs(argv);
  for (const name of opts.suites) {
    console.log(`\n##### bench: ${name}${opts.quick ? ' (quick)' : ''}`);
    const result = await SUITES[name]().run(opts);
    writeJson(name, {...result, command: `node bench/benchmark.js ${argv.join(' ')}`, date: new Date().toISOString()});
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e.message || e);
    process.exit(1);
  });
}

module.exports = {main};
