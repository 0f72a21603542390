/** Batch sources accepted by the trainer. */
import * as tf from '@tensorflow/tfjs-core';
import {mixSeed, Rng} from '../data/rng';

export interface TrainBatch {
  xs: tf.Tensor;
  ys: tf.Tensor;
}

/** A source with deterministic per-epoch batches (e.g. `batchSource(...)` from src/data); its batches are disposed after use. */
export interface EpochBatchSource {
  batches(epoch: number): Iterable<TrainBatch> | AsyncIterable<TrainBatch>;
}

/** A tf.data.Dataset-like object (`dataset.iterator()`); its elements are disposed after use. */
export interface DatasetLike {
  iterator(): Promise<{next(): Promise<IteratorResult<TrainBatch>>}>;
}

/** Plain tensors split into batches (shuffled per epoch with the trainer seed unless `shuffle: false`). */
export interface TensorData {
  xs: tf.Tensor;
  ys: tf.Tensor;
  batchSize: number;
  shuffle?: boolean;
}

/** An array of batches is used as is every epoch (and never disposed). */
export type BatchSource = EpochBatchSource | DatasetLike | TensorData | TrainBatch[];

function isTensorData(s: BatchSource): s is TensorData {
  return !Array.isArray(s) && (s as TensorData).xs instanceof tf.Tensor && typeof (s as TensorData).batchSize === 'number';
}

/** One epoch of batches; `owned` tells whether the consumer must dispose them. */
export async function* epochBatches(
    source: BatchSource, epoch: number, seed = 0): AsyncGenerator<{batch: TrainBatch; owned: boolean}> {
  if (Array.isArray(source)) {
    for (const b of source) yield {batch: b, owned: false};
    return;
  }
  if (isTensorData(source)) {
    const n = source.xs.shape[0];
    if (source.ys.shape[0] !== n) throw new Error(`xs has ${n} examples but ys has ${source.ys.shape[0]}`);
    if (!Number.isInteger(source.batchSize) || source.batchSize < 1) throw new Error(`batch size must be a positive integer, got ${source.batchSize}`);
    const order = Int32Array.from({length: n}, (_, i) => i);
    if (source.shuffle !== false) new Rng(mixSeed(seed, epoch, 3)).shuffle(order);
    for (let s = 0; s < n; s += source.batchSize) {
      const idx = order.slice(s, Math.min(n, s + source.batchSize));
      const batch = tf.tidy(() => {
        const it = tf.tensor1d(idx, 'int32');
        return {xs: tf.gather(source.xs, it), ys: tf.gather(source.ys, it)};
      });
      yield {batch, owned: true};
    }
    return;
  }
  if (typeof (source as EpochBatchSource).batches === 'function') {
    for await (const b of (source as EpochBatchSource).batches(epoch)) yield {batch: b, owned: true};
    return;
  }
  if (typeof (source as DatasetLike).iterator === 'function') {
    const it = await (source as DatasetLike).iterator();
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield {batch: r.value, owned: true};
    }
  }
  throw new Error('unsupported batch source: give batches(epoch), a tf.data-like dataset, {xs, ys, batchSize} or an array of {xs, ys}');
}
