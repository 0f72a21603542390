/**
 * Streaming image batches shared by the CIFAR and Fashion-MNIST readers: only one
 * mini-batch at a time becomes a tensor (float32 NHWC, per-channel normalised,
 * one-hot labels); shuffling and augmentation are seeded per epoch.
 */
import * as tf from '@tensorflow/tfjs-core';
import {mixSeed, Rng} from './rng';

export interface Batch {
  xs: tf.Tensor4D;
  ys: tf.Tensor2D;
}

/** A random-access source of uint8 images (HWC interleaved) with integer labels. */
export interface ImageSource {
  readonly size: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
  /** Per-channel mean and std (on the 0..1 scale) used for normalisation. */
  readonly mean: number[];
  readonly std: number[];
  /** Reads examples `indices` into `out` (HWC, `indices.length * H * W * C` bytes) and `labels`. */
  read(indices: ArrayLike<number>, out: Uint8Array, labels: Int32Array): void;
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Random crop with `pad`-pixel zero padding + horizontal flip (default false). */
  augment?: boolean;
  /** Padding of the random crop (default 4). */
  pad?: number;
  /** Horizontal flips when augmenting (default true). */
  flip?: boolean;
  /** Seed (default 0); the order of epoch e depends only on (seed, e). */
  seed?: number;
  /** Drop a last partial batch (default false). */
  dropRemainder?: boolean;
  /** Use only the first `limit` examples (a fixed subset). */
  limit?: number;
}

/** Converts a batch of uint8 HWC images to a normalised float32 tensor, optionally augmented. */
export function toTensorBatch(
    src: ImageSource, raw: Uint8Array, labels: Int32Array, count: number, augment: boolean, rng: Rng | null,
    pad = 4, flip = true): Batch {
  const {height: H, width: W, channels: C} = src;
  const img = H * W * C;
  const out = new Float32Array(count * img);
  const scale = src.std.map((s) => 1 / (255 * s));
  const offs = src.mean.map((m, c) => -m / src.std[c]);
  for (let b = 0; b < count; b++) {
    const base = b * img;
    let dy = pad;
    let dx = pad;
    let f = false;
    if (augment && rng) {
      dy = rng.int(2 * pad + 1);
      dx = rng.int(2 * pad + 1);
      f = flip && rng.next() < 0.5;
    }
    for (let y = 0; y < H; y++) {
      const sy = y + dy - pad;
      for (let x = 0; x < W; x++) {
        const sx = (f ? W - 1 - x : x) + dx - pad;
        const o = base + (y * W + x) * C;
        if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
          for (let c = 0; c < C; c++) out[o + c] = offs[c]; // zero (black) padding, normalised
        } else {
          const s = base + (sy * W + sx) * C;
          for (let c = 0; c < C; c++) out[o + c] = raw[s + c] * scale[c] + offs[c];
        }
      }
    }
  }
  const oneHot = new Float32Array(count * src.numClasses);
  for (let b = 0; b < count; b++) oneHot[b * src.numClasses + labels[b]] = 1;
  return {xs: tf.tensor4d(out, [count, H, W, C]), ys: tf.tensor2d(oneHot, [count, src.numClasses])};
}

/** Number of batches an epoch yields. */
export function batchCount(src: ImageSource, o: BatchOptions): number {
  const n = Math.min(src.size, o.limit ?? src.size);
  return o.dropRemainder ? Math.floor(n / o.batchSize) : Math.ceil(n / o.batchSize);
}

/** Yields the batches of one epoch; the caller disposes each batch's tensors. */
export function* iterateBatches(src: ImageSource, o: BatchOptions, epoch = 0): Generator<Batch> {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`batch size must be a positive integer, got ${o.batchSize}`);
  const n = Math.min(src.size, o.limit ?? src.size);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const seed = o.seed ?? 0;
  if (o.shuffle !== false) new Rng(mixSeed(seed, epoch, 1)).shuffle(order);
  const augRng = o.augment ? new Rng(mixSeed(seed, epoch, 2)) : null;
  const img = src.height * src.width * src.channels;
  const raw = new Uint8Array(o.batchSize * img);
  const labels = new Int32Array(o.batchSize);
  for (let start = 0; start < n; start += o.batchSize) {
    const count = Math.min(o.batchSize, n - start);
    if (count < o.batchSize && o.dropRemainder) break;
    const idx = order.subarray(start, start + count);
    src.read(idx, raw, labels);
    yield toTensorBatch(src, raw, labels, count, !!o.augment, augRng, o.pad ?? 4, o.flip ?? true);
  }
}

/** A trainer-compatible source: `batches(epoch)` gives that epoch's (deterministic) batches. */
export function batchSource(src: ImageSource, o: BatchOptions): {batches(epoch: number): Iterable<Batch>; batchesPerEpoch: number; size: number} {
  return {
    batches: (epoch: number) => ({[Symbol.iterator]: () => iterateBatches(src, o, epoch)}),
    batchesPerEpoch: batchCount(src, o),
    size: Math.min(src.size, o.limit ?? src.size),
  };
}

/** Streams the per-channel mean/std (0..1 scale) of a source without materialising it. */
export function computeChannelStats(src: ImageSource, limit = src.size, chunk = 500): {mean: number[]; std: number[]} {
  const C = src.channels;
  const sum = new Float64Array(C);
  const sq = new Float64Array(C);
  const n = Math.min(limit, src.size);
  const img = src.height * src.width * C;
  const raw = new Uint8Array(chunk * img);
  const labels = new Int32Array(chunk);
  for (let s = 0; s < n; s += chunk) {
    const c = Math.min(chunk, n - s);
    const idx = Int32Array.from({length: c}, (_, i) => s + i);
    src.read(idx, raw, labels);
    for (let i = 0; i < c * img; i++) {
      const v = raw[i] / 255;
      sum[i % C] += v;
      sq[i % C] += v * v;
    }
  }
  const cnt = n * src.height * src.width;
  const mean = Array.from(sum, (v) => v / cnt);
  const std = Array.from(sq, (v, c) => Math.sqrt(Math.max(0, v / cnt - mean[c] * mean[c])));
  return {mean, std};
}
