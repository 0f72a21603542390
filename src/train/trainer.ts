/**
 * A training loop for tfjs-layers models with optional ClickTrain pruning:
 * LR schedule, any tfjs optimiser, label smoothing, mixup, validation,
 * checkpoint/resume (bit-identical to an uninterrupted run on the same backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {mixSeed, Rng} from '../data/rng';
import {getOptimizerLearningRate, setOptimizerLearningRate} from '../pruning/callback';
import {ClickTrainController, ClickTrainOptions, SampleBatchProvider} from '../pruning/controller';
import {defaultSchedule, learningRateAt, Phase} from '../pruning/schedule';
import {hasCheckpoint, loadCheckpoint, saveCheckpoint} from './checkpoint';
import {LossFn, resolveLoss, smoothLabels} from './losses';
import {BatchSource, epochBatches, TrainBatch} from './sources';

export type OptimizerName = 'sgd' | 'momentum' | 'adam' | 'adamax' | 'adagrad' | 'adadelta' | 'rmsprop';

/** Creates a tfjs optimiser by name (momentum 0.9 for 'momentum'). */
export function makeOptimizer(name: OptimizerName, learningRate: number, momentum = 0.9): tf.Optimizer {
  switch (name) {
    case 'sgd': return tf.train.sgd(learningRate);
    case 'momentum': return tf.train.momentum(learningRate, momentum);
    case 'adam': return tf.train.adam(learningRate);
    case 'adamax': return tf.train.adamax(learningRate);
    case 'adagrad': return tf.train.adagrad(learningRate);
    case 'adadelta': return tf.train.adadelta(learningRate);
    case 'rmsprop': return tf.train.rmsprop(learningRate);
    default: throw new Error(`unknown optimizer '${name as string}' (sgd, momentum, adam, adamax, adagrad, adadelta, rmsprop)`);
  }
}

export interface EpochRecord {
  epoch: number;
  phase: Phase;
  lr: number;
  loss: number;
  acc: number;
  valLoss?: number;
  valAcc?: number;
  seconds: number;
  images: number;
}

export interface BatchInfo {
  epoch: number;
  batch: number;
  step: number;
  loss: number;
  acc: number;
  lr: number;
  phase: Phase;
  images: number;
  controller: ClickTrainController | null;
}

export interface TrainerOptions {
  model: tfl.LayersModel;
  /** An optimiser instance or name (default 'momentum'). */
  optimizer?: tf.Optimizer | OptimizerName;
  /** Base learning rate (default 0.1; for named optimisers also the initial rate). */
  learningRate?: number;
  /** LR schedule: 'step' (reference: x0.1 at ~29% and ~69%, default), 'constant', 'cosine', or a function of the epoch. */
  lrSchedule?: 'step' | 'constant' | 'cosine' | ((epoch: number) => number);
  /** L2 weight decay added to the gradients of kernels (default 0). */
  weightDecay?: number;
  loss?: 'categoricalCrossentropy' | 'softmaxCrossentropy' | LossFn;
  epochs: number;
  train: BatchSource;
  validation?: BatchSource;
  /** ClickTrain options, or false for dense training (default: dense). */
  clickTrain?: ClickTrainOptions | false;
  /** Where importance batches come from (default: the training source). */
  importanceSource?: BatchSource;
  labelSmoothing?: number;
  /** Mixup alpha (Beta(alpha, alpha) mixing of each batch with a shuffled copy); 0/undefined = off. */
  mixupAlpha?: number;
  /** Seed for data order of tensor sources, mixup and importance batches. */
  seed?: number;
  /** Checkpoint folder; a checkpoint is written after every `checkpointEvery` epochs (default 1). */
  checkpointDir?: string;
  checkpointEvery?: number;
  /** Resume from `checkpointDir` when it holds a checkpoint (default true when checkpointDir is set). */
  resume?: boolean;
  /** Polled after every batch; when it returns true the trainer checkpoints (if configured) and returns. */
  shouldStop?: () => boolean;
  onBatchEnd?: (info: BatchInfo) => void | Promise<void>;
  onEpochEnd?: (rec: EpochRecord, controller: ClickTrainController | null) => void | Promise<void>;
  onPhase?: (phase: Phase, epoch: number) => void;
}

export interface TrainResult {
  history: EpochRecord[];
  controller: ClickTrainController | null;
  optimizer: tf.Optimizer;
  /** True when stopped early through `shouldStop`. */
  stopped: boolean;
  /** Seconds spent per phase. */
  phaseSeconds: Record<Phase, number>;
}

/** Mean loss and accuracy of `model` over a source (inference mode). */
export async function evaluate(
    model: tfl.LayersModel, source: BatchSource, loss: LossFn = resolveLoss(undefined)): Promise<{loss: number; acc: number; count: number}> {
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  for await (const {batch, owned} of epochBatches(source, 0)) {
    const [l, c] = tf.tidy(() => {
      const pred = model.apply(batch.xs, {training: false}) as tf.Tensor;
      const n = batch.xs.shape[0];
      const ls = tf.mul(tf.mean(loss(batch.ys, pred)), n);
      const cc = tf.sum(tf.cast(tf.equal(tf.argMax(pred, -1), tf.argMax(batch.ys, -1)), 'float32'));
      return [ls, cc];
    });
    lossSum += (await l.data())[0];
    correct += (await c.data())[0];
    count += batch.xs.shape[0];
    tf.dispose([l, c]);
    if (owned) tf.dispose([batch.xs, batch.ys]);
  }
  return {loss: count ? lossSum / count : NaN, acc: count ? correct / count : NaN, count};
}

function importanceProvider(source: BatchSource, epoch: number, seed: number): SampleBatchProvider {
  let it: AsyncGenerator<{batch: TrainBatch; owned: boolean}> | null = null;
  return async () => {
    if (!it) it = epochBatches(source, 1_000_000 + epoch, mixSeed(seed, 7));
    let r = await it.next();
    if (r.done) {
      it = epochBatches(source, 2_000_000 + epoch, mixSeed(seed, 8));
      r = await it.next();
      if (r.done) throw new Error('the importance source yields no batches');
    }
    const {batch, owned} = r.value;
    return owned ? batch : {xs: tf.clone(batch.xs), ys: tf.clone(batch.ys)};
  };
}

/** Trains `model`; see {@link TrainerOptions}. */
export async function train(o: TrainerOptions): Promise<TrainResult> {
  const {model} = o;
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new Error(`epochs must be a positive integer, got ${o.epochs}`);
  const baseLr = o.learningRate ?? 0.1;
  if (!(baseLr > 0)) throw new Error(`learning rate must be > 0, got ${baseLr}`);
  const optimizer = typeof o.optimizer === 'object' ? o.optimizer : makeOptimizer(o.optimizer ?? 'momentum', baseLr);
  const lossFn = resolveLoss(o.loss);
  const seed = o.seed ?? 0;
  const ls = o.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls < 1)) throw new Error(`label smoothing must be in [0, 1), got ${ls}`);
  const mixup = o.mixupAlpha ?? 0;
  if (!(mixup >= 0)) throw new Error(`mixup alpha must be >= 0, got ${mixup}`);
  const wd = o.weightDecay ?? 0;

  const controller = o.clickTrain ? new ClickTrainController(model, {...o.clickTrain, epochs: o.epochs, onPhase: o.onPhase ?? o.clickTrain.onPhase}) : null;
  const schedule = controller?.schedule ?? defaultSchedule(o.epochs);
  const lrAt = (epoch: number): number => {
    const s = o.lrSchedule ?? 'step';
    if (typeof s === 'function') return s(epoch);
    if (s === 'constant') return baseLr;
    if (s === 'cosine') return 0.5 * baseLr * (1 + Math.cos((Math.PI * epoch) / o.epochs));
    if (s === 'step') return learningRateAt(schedule, baseLr, epoch);
    throw new Error(`unknown lrSchedule '${s as string}' (step, constant, cosine or a function)`);
  };

  let startEpoch = 0;
  let skipBatches = 0;
  let step = 0;
  let history: EpochRecord[] = [];
  const resume = o.resume ?? true;
  if (o.checkpointDir && resume && hasCheckpoint(o.checkpointDir)) {
    const ckpt = await loadCheckpoint(o.checkpointDir, model, optimizer);
    startEpoch = ckpt.position.epoch;
    skipBatches = ckpt.position.batchInEpoch;
    step = ckpt.position.step;
    history = ckpt.position.history as EpochRecord[];
    if (controller) {
      if (!ckpt.clickTrain) throw new Error('the checkpoint was written by dense training, not ClickTrain');
      controller.setState(ckpt.clickTrain);
    }
  }

  const kernelNames = new Set(model.trainableWeights.filter((w) => w.shape.length >= 2).map((w) => (w.read() as tf.Variable).name));
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const phaseSeconds: Record<Phase, number> = {dense: 0, patterns: 0, soft: 0, hard: 0};
  let stopped = false;

  const checkpoint = async (epoch: number, batchInEpoch: number) => {
    if (!o.checkpointDir) return;
    await saveCheckpoint(o.checkpointDir, model, optimizer, {
      position: {epoch, batchInEpoch, step, seed, history, baseLearningRate: baseLr},
      clickTrain: controller ? controller.getState() : null,
      optimizerClass: optimizer.getClassName(),
    });
  };

  for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
    const t0 = Date.now();
    const lr = lrAt(epoch);
    setOptimizerLearningRate(optimizer, lr);
    if (controller) {
      await controller.onEpochBegin(epoch, importanceProvider(o.importanceSource ?? o.train, epoch, seed));
    }
    const phase: Phase = controller ? controller.phase : 'dense';
    let lossSum = 0;
    let accSum = 0;
    let images = 0;
    let b = 0;
    for await (const {batch, owned} of epochBatches(o.train, epoch, seed)) {
      if (b < skipBatches) {
        if (owned) tf.dispose([batch.xs, batch.ys]);
        b++;
        continue;
      }
      const n = batch.xs.shape[0];
      const [lossT, accT] = tf.tidy(() => {
        let xs = batch.xs;
        let ys = batch.ys;
        if (ls > 0) ys = smoothLabels(ys, ls);
        if (mixup > 0) {
          const rng = new Rng(mixSeed(seed, epoch, b, 5));
          const lam = rng.beta(mixup);
          const perm = Int32Array.from({length: n}, (_, i) => i);
          rng.shuffle(perm);
          const p = tf.tensor1d(perm, 'int32');
          xs = tf.add(tf.mul(xs, lam), tf.mul(tf.gather(xs, p), 1 - lam));
          ys = tf.add(tf.mul(ys, lam), tf.mul(tf.gather(ys, p), 1 - lam));
        }
        let pred: tf.Tensor | null = null;
        const {value, grads} = tf.variableGrads(() => {
          const out = model.apply(xs, {training: true}) as tf.Tensor;
          pred = tf.keep(out);
          let l = tf.mean(lossFn(ys, out)) as tf.Scalar;
          for (const r of model.calculateLosses()) l = tf.add(l, r);
          return l;
        }, trainable);
        if (wd > 0) {
          for (const v of trainable) if (kernelNames.has(v.name)) grads[v.name] = tf.add(grads[v.name], tf.mul(v, wd));
        }
        optimizer.applyGradients(grads);
        const acc = tf.mean(tf.cast(tf.equal(tf.argMax(pred!, -1), tf.argMax(batch.ys, -1)), 'float32'));
        tf.dispose(pred!);
        return [value, acc];
      });
      step++;
      controller?.afterOptimizerStep(getOptimizerLearningRate(optimizer) ?? lr);
      const lv = (await lossT.data())[0];
      const av = (await accT.data())[0];
      tf.dispose([lossT, accT]);
      if (owned) tf.dispose([batch.xs, batch.ys]);
      lossSum += lv * n;
      accSum += av * n;
      images += n;
      b++;
      await o.onBatchEnd?.({epoch, batch: b, step, loss: lv, acc: av, lr, phase, images, controller});
      if (o.shouldStop?.()) {
        stopped = true;
        break;
      }
    }
    skipBatches = 0;
    if (stopped) {
      await checkpoint(epoch, b);
      phaseSeconds[phase] += (Date.now() - t0) / 1000;
      break;
    }
    const rec: EpochRecord = {
      epoch, phase, lr, loss: images ? lossSum / images : NaN, acc: images ? accSum / images : NaN,
      seconds: (Date.now() - t0) / 1000, images,
    };
    if (o.validation) {
      const v = await evaluate(model, o.validation, lossFn);
      rec.valLoss = v.loss;
      rec.valAcc = v.acc;
    }
    history.push(rec);
    phaseSeconds[phase] += rec.seconds;
    if (o.checkpointDir && ((epoch + 1) % (o.checkpointEvery ?? 1) === 0 || epoch + 1 === o.epochs)) {
      await checkpoint(epoch + 1, 0);
    }
    await o.onEpochEnd?.(rec, controller);
  }
  return {history, controller, optimizer, stopped, phaseSeconds};
}
