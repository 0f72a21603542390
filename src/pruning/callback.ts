/**
 * ClickTrain as a tfjs-layers callback:
 *
 *   model.fit(x, y, {epochs, callbacks: [clickTrain({targetCompression: 8, sampleBatch})]})
 *
 * The user keeps their own model, optimiser and loss. Phase changes run in
 * `onEpochBegin`; the group-lasso step (soft phase) and the mask re-application
 * (hard phase) run in `onBatchEnd`, i.e. right after each optimiser step.
 * Importance needs gradients, so give `sampleBatch` (a provider of training
 * batches), or `sampleData` (tensors sliced into `sampleBatchSize` batches).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {ClickTrainController, ClickTrainOptions, ClickTrainState, ClickTrainSummary, SampleBatchProvider} from './controller';
import {learningRateAt} from './schedule';
import {formatSummary} from './summary';

export interface ClickTrainCallbackOptions extends ClickTrainOptions {
  /** Training tensors to slice importance batches from (alternative to `sampleBatch`). */
  sampleData?: {xs: tf.Tensor; ys: tf.Tensor};
  /** Batch size for `sampleData` (default 64). */
  sampleBatchSize?: number;
  /** When set, the callback also drives the learning rate: base LR stepped by the schedule. */
  baseLearningRate?: number;
  /** A state from `getState()` to resume from (use with model.fit's `initialEpoch`). */
  resumeState?: ClickTrainState;
}

/** Slices consecutive batches (wrapping around) from fixed tensors. */
export function sliceProvider(xs: tf.Tensor, ys: tf.Tensor, batchSize = 64): SampleBatchProvider {
  const n = xs.shape[0];
  if (ys.shape[0] !== n) throw new Error(`sampleData xs has ${n} examples but ys has ${ys.shape[0]}`);
  const b = Math.max(1, Math.min(batchSize, n));
  return (i: number) => {
    const start = (i * b) % n;
    const size = Math.min(b, n - start);
    return {xs: tf.slice(xs, start, size), ys: tf.slice(ys, start, size)};
  };
}

/** Sets an optimiser's learning rate (SGD/momentum via setLearningRate, others via the field). */
export function setOptimizerLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as {setLearningRate?: (lr: number) => void; learningRate?: number};
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

export function getOptimizerLearningRate(opt: tf.Optimizer): number | undefined {
  const lr = (opt as unknown as {learningRate?: number}).learningRate;
  return typeof lr === 'number' ? lr : undefined;
}

export class ClickTrainCallback extends tfl.Callback {
  controller: ClickTrainController | null = null;
  private readonly opts: ClickTrainCallbackOptions;

  constructor(options: ClickTrainCallbackOptions = {}) {
    super();
    this.opts = options;
  }

  /** Creates the controller for `model` now (the callback does it itself in onTrainBegin). */
  attach(model: tfl.LayersModel, epochs?: number): ClickTrainController {
    if (this.controller && this.controller.model === model) return this.controller;
    const e = this.opts.epochs ?? epochs;
    const sampleBatch = this.opts.sampleBatch ??
        (this.opts.sampleData ? sliceProvider(this.opts.sampleData.xs, this.opts.sampleData.ys, this.opts.sampleBatchSize) :
                                undefined);
    this.controller = new ClickTrainController(model, {
      ...this.opts,
      epochs: e,
      sampleBatch,
      // sampleData slices are ours to dispose; a user's provider follows its option
      disposeSampleBatches: this.opts.sampleBatch ? this.opts.disposeSampleBatches : true,
    });
    if (this.opts.resumeState) this.controller.setState(this.opts.resumeState);
    return this.controller;
  }

  override async onTrainBegin(): Promise<void> {
    const epochs = (this.params?.epochs as number | undefined);
    if (!this.controller) this.attach(this.model, epochs);
  }

  override async onEpochBegin(epoch: number): Promise<void> {
    const c = this.controller ?? this.attach(this.model, this.params?.epochs as number | undefined);
    if (this.opts.baseLearningRate !== undefined) {
      setOptimizerLearningRate(this.model.optimizer, learningRateAt(c.schedule, this.opts.baseLearningRate, epoch));
    }
    await c.onEpochBegin(epoch);
  }

  override async onBatchEnd(): Promise<void> {
    this.controller?.afterOptimizerStep(getOptimizerLearningRate(this.model.optimizer));
  }

  summary(): ClickTrainSummary {
    if (!this.controller) throw new Error('clickTrain callback is not attached to a model yet');
    return this.controller.summary();
  }

  formatSummary(): string {
    return formatSummary(this.summary());
  }

  getState(): ClickTrainState {
    if (!this.controller) throw new Error('clickTrain callback is not attached to a model yet');
    return this.controller.getState();
  }

  setState(state: ClickTrainState): void {
    if (!this.controller) throw new Error('clickTrain callback is not attached to a model yet (call attach(model))');
    this.controller.setState(state);
  }
}

/** The ClickTrain callback for `model.fit`. */
export function clickTrain(options: ClickTrainCallbackOptions = {}): ClickTrainCallback {
  return new ClickTrainCallback(options);
}
