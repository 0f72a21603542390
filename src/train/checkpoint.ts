/**
 * Checkpoints: model weights (standard tfjs files), optimiser state, ClickTrain
 * state and trainer position, written to a temporary folder and renamed into
 * place so a crash never leaves a half-written checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {saveModelToDir} from '../pruning/export';
import type {ClickTrainState} from '../pruning/controller';

export interface TrainerPosition {
  /** Epoch to run next (or the one in progress when `batchInEpoch > 0`). */
  epoch: number;
  /** Batches of `epoch` already done. */
  batchInEpoch: number;
  /** Optimiser steps so far. */
  step: number;
  seed: number;
  history: unknown[];
  baseLearningRate: number;
}

export interface Checkpoint {
  position: TrainerPosition;
  clickTrain: ClickTrainState | null;
  optimizerClass: string;
}

type NamedTensor = {name: string, tensor: tf.Tensor};

const CKPT = 'checkpoint';

/** tfjs 4.x's Adamax implements neither getWeights nor setWeights; its whole state is these
 * fields (slot i belongs to the i-th variable of the gradient list, a fixed order per model). */
interface AdamaxState {
  iteration: tf.Variable;
  accBeta1: tf.Variable;  // beta1^t, the bias correction
  iterations_: number;
  accumulatedFirstMoment: {originalName: string, variable: tf.Variable}[];
  accumulatedWeightedInfNorm: {originalName: string, variable: tf.Variable}[];
}

function isAdamax(opt: tf.Optimizer): boolean {
  return opt.getClassName() === 'Adamax';
}

/** The optimiser's state as named tensors; the first one (the step count) is a new tensor. */
async function optimizerWeights(opt: tf.Optimizer): Promise<NamedTensor[]> {
  if (!isAdamax(opt)) return opt.getWeights();
  const a = opt as unknown as AdamaxState;
  return [
    {name: 'iter', tensor: tf.clone(a.iteration)},
    {name: 'accBeta1', tensor: a.accBeta1 as tf.Tensor},
    ...a.accumulatedFirstMoment.map((v) => ({name: v.originalName, tensor: v.variable as tf.Tensor})),
    ...a.accumulatedWeightedInfNorm.map((v) => ({name: v.originalName, tensor: v.variable as tf.Tensor})),
  ];
}

async function setOptimizerWeights(opt: tf.Optimizer, named: NamedTensor[]): Promise<void> {
  if (!isAdamax(opt)) {
    await opt.setWeights(named);
    return;
  }
  const a = opt as unknown as AdamaxState;
  const slots = named.length - 2;
  if (slots < 0 || slots % 2 !== 0 || named[0].name !== 'iter' || named[1].name !== 'accBeta1') {
    throw new Error('the Adamax state in the checkpoint is malformed');
  }
  a.iteration.assign(named[0].tensor);
  a.accBeta1.assign(named[1].tensor);
  a.iterations_ = named[0].tensor.dataSync()[0];
  tf.dispose([...a.accumulatedFirstMoment, ...a.accumulatedWeightedInfNorm].map((v) => v.variable));
  const copy = (w: NamedTensor) => ({originalName: w.name, variable: w.tensor.variable(false)});
  a.accumulatedFirstMoment = named.slice(2, 2 + slots / 2).map(copy);
  a.accumulatedWeightedInfNorm = named.slice(2 + slots / 2).map(copy);
}

async function writeOptimizer(opt: tf.Optimizer, dir: string): Promise<void> {
  const named = await optimizerWeights(opt);
  const specs: {name: string; shape: number[]; dtype: string}[] = [];
  const bufs: Uint8Array[] = [];
  for (const nt of named) {
    const data = await nt.tensor.data();
    if (nt.tensor.dtype !== 'float32' && nt.tensor.dtype !== 'int32') throw new Error(`optimizer weight ${nt.name} has dtype ${nt.tensor.dtype}`);
    const arr = nt.tensor.dtype === 'int32' ? new Int32Array(data as Int32Array) : new Float32Array(data as Float32Array);
    bufs.push(new Uint8Array(arr.buffer));
    specs.push({name: nt.name, shape: nt.tensor.shape, dtype: nt.tensor.dtype});
  }
  // The iterations scalar is created by getWeights; the rest are live variables.
  if (named.length) named[0].tensor.dispose();
  const total = bufs.reduce((a, b) => a + b.length, 0);
  const bin = new Uint8Array(total);
  let o = 0;
  for (const b of bufs) {
    bin.set(b, o);
    o += b.length;
  }
  fs.writeFileSync(path.join(dir, 'optimizer.bin'), bin);
  fs.writeFileSync(path.join(dir, 'optimizer.json'), JSON.stringify({className: opt.getClassName(), weights: specs}));
}

async function readOptimizer(opt: tf.Optimizer, dir: string): Promise<void> {
  const jf = path.join(dir, 'optimizer.json');
  const json = JSON.parse(fs.readFileSync(jf, 'utf8')) as {className: string; weights: {name: string; shape: number[]; dtype: 'float32' | 'int32'}[]};
  if (json.className !== opt.getClassName()) {
    throw new Error(`checkpoint optimizer is ${json.className}, the trainer uses ${opt.getClassName()}`);
  }
  const buf = fs.readFileSync(path.join(dir, 'optimizer.bin'));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  let o = 0;
  const named: {name: string; tensor: tf.Tensor}[] = json.weights.map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    if (o + size * 4 > ab.byteLength) throw new Error(`${path.join(dir, 'optimizer.bin')} is truncated`);
    const arr = s.dtype === 'int32' ? new Int32Array(ab.slice(o, o + size * 4)) : new Float32Array(ab.slice(o, o + size * 4));
    o += size * 4;
    return {name: s.name, tensor: tf.tensor(arr, s.shape, s.dtype)};
  });
  if (named.length === 0) return;
  try {
    await setOptimizerWeights(opt, named);
  } catch (e) {
    throw new Error(`cannot restore the ${opt.getClassName()} optimizer state: ${(e as Error).message}`);
  } finally {
    // setWeights copies into new variables
    tf.dispose(named.map((n) => n.tensor));
  }
}

/** Writes a checkpoint into `dir/checkpoint` (atomically replacing the previous one). */
export async function saveCheckpoint(
    dir: string, model: tfl.LayersModel, optimizer: tf.Optimizer, ckpt: Checkpoint): Promise<string> {
  fs.mkdirSync(dir, {recursive: true});
  const final = path.join(dir, CKPT);
  const tmp = `${final}.tmp-${process.pid}`;
  fs.rmSync(tmp, {recursive: true, force: true});
  fs.mkdirSync(tmp);
  await saveModelToDir(model, tmp);
  await writeOptimizer(optimizer, tmp);
  fs.writeFileSync(path.join(tmp, 'trainer.json'), JSON.stringify(ckpt));
  const old = `${final}.old-${process.pid}`;
  if (fs.existsSync(final)) fs.renameSync(final, old);
  fs.renameSync(tmp, final);
  fs.rmSync(old, {recursive: true, force: true});
  return final;
}

export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, CKPT, 'trainer.json'));
}

/** Loads `dir/checkpoint` into `model` and `optimizer`; returns the trainer position and ClickTrain state. */
export async function loadCheckpoint(dir: string, model: tfl.LayersModel, optimizer: tf.Optimizer): Promise<Checkpoint> {
  const c = path.join(dir, CKPT);
  const tj = path.join(c, 'trainer.json');
  if (!fs.existsSync(tj)) throw new Error(`no checkpoint in ${dir} (missing ${tj})`);
  let ckpt: Checkpoint;
  try {
    ckpt = JSON.parse(fs.readFileSync(tj, 'utf8')) as Checkpoint;
  } catch (e) {
    throw new Error(`checkpoint file ${tj} is corrupt: ${(e as Error).message}`);
  }
  const mj = JSON.parse(fs.readFileSync(path.join(c, 'model.json'), 'utf8')) as {weightsManifest: {weights: tf.io.WeightsManifestEntry[]}[]};
  const specs = mj.weightsManifest.flatMap((g) => g.weights);
  const wb = fs.readFileSync(path.join(c, 'weights.bin'));
  const expected = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1) * 4, 0);
  if (wb.length !== expected) throw new Error(`${path.join(c, 'weights.bin')} has ${wb.length} bytes, expected ${expected} (truncated or corrupt)`);
  if (specs.length !== model.weights.length) {
    throw new Error(`checkpoint has ${specs.length} weights, the model has ${model.weights.length} (different architecture?)`);
  }
  let o = 0;
  const ab = wb.buffer.slice(wb.byteOffset, wb.byteOffset + wb.byteLength);
  const tensors = specs.map((s, i) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const w = model.weights[i];
    if (w.shape.join(',') !== s.shape.join(',')) {
      throw new Error(`checkpoint weight ${i} '${s.name}' has shape [${s.shape}], the model's '${w.name}' has [${w.shape}]`);
    }
    const t = tf.tensor(new Float32Array(ab.slice(o, o + size * 4)), s.shape);
    o += size * 4;
    return t;
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
  await readOptimizer(optimizer, c);
  return ckpt;
}
