import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {
  batchSource, CifarDataset, computeChannelStats, defaultFashionMnistDir, encodeCifarRecords, iterateBatches,
  loadFashionMnist, openCifar,
} from '../src/data';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-data-'));
});
afterEach(() => fs.rmSync(dir, {recursive: true, force: true}));

/** n synthetic images: pixel (y,x,c) of image k = (k*7 + y*3 + x*5 + c*11) % 256. */
function images(n: number, offset = 0): Uint8Array {
  const out = new Uint8Array(n * 3072);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) {
      out[k * 3072 + (y * 32 + x) * 3 + c] = ((k + offset) * 7 + y * 3 + x * 5 + c * 11) % 256;
    }
  }
  return out;
}

function writeCifar10(names = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'], per = 3) {
  names.forEach((n, f) => {
    const labels = Array.from({length: per}, (_, i) => (f * per + i) % 10);
    fs.writeFileSync(path.join(dir, n), encodeCifarRecords('cifar10', images(per, f * per), labels));
  });
}

test('CIFAR-10 binary reader: planar -> NHWC, per-channel normalisation, labels, all examples once per epoch', () => {
  writeCifar10();
  const ds = openCifar({dir, variant: 'cifar10', split: 'train'});
  expect(ds.size).toBe(15);
  const seen: number[] = [];
  for (const b of iterateBatches(ds, {batchSize: 4, shuffle: false})) {
    const xs = b.xs.arraySync() as number[][][][];
    const ys = b.ys.arraySync() as number[][];
    xs.forEach((img, j) => {
      const k = seen.length;
      expect(ys[j].indexOf(1)).toBe(k % 10);
      // pixel (y=2, x=5, c=1)
      const raw = (k * 7 + 2 * 3 + 5 * 5 + 11) % 256;
      expect(img[2][5][1]).toBeCloseTo((raw / 255 - ds.mean[1]) / ds.std[1], 4);
      seen.push(k);
    });
    tf.dispose([b.xs, b.ys]);
  }
  expect(seen).toHaveLength(15);
  // shuffled epochs are permutations, deterministic per (seed, epoch)
  const labelsOf = (epoch: number) => {
    const out: number[] = [];
    for (const b of batchSource(ds, {batchSize: 4, seed: 5}).batches(epoch)) {
      out.push(...(tf.argMax(b.ys, -1).arraySync() as number[]));
      tf.dispose([b.xs, b.ys]);
    }
    return out;
  };
  expect(labelsOf(1)).toEqual(labelsOf(1));
  expect([...labelsOf(2)].sort()).toEqual([...Array.from({length: 15}, (_, i) => i % 10)].sort());
  ds.close();
});

test('random crop with 4-pixel padding and horizontal flip keep pixels from the image or the zero padding', () => {
  writeCifar10(['data_batch_1.bin'], 2);
  const ds = openCifar({dir, files: ['data_batch_1.bin'], mean: [0, 0, 0], std: [1, 1, 1]});
  const raw = images(2);
  let b = iterateBatches(ds, {batchSize: 2, shuffle: false, augment: true, seed: 1}).next().value!;
  const aug = b.xs.arraySync() as number[][][][];
  let shifted = false;
  for (let k = 0; k < 2; k++) {
    // find (dy, dx, flip) reproducing the image
    let found = false;
    for (let dy = 0; dy <= 8 && !found; dy++) for (let dx = 0; dx <= 8 && !found; dx++) for (const f of [false, true]) {
      let ok = true;
      for (let y = 0; y < 32 && ok; y++) for (let x = 0; x < 32 && ok; x++) {
        const sy = y + dy - 4;
        const sx = (f ? 31 - x : x) + dx - 4;
        const expected = sy < 0 || sy >= 32 || sx < 0 || sx >= 32 ? 0 : raw[k * 3072 + (sy * 32 + sx) * 3] / 255;
        if (Math.abs(aug[k][y][x][0] - expected) > 1e-6) ok = false;
      }
      if (ok) {
        found = true;
        if (dy !== 4 || dx !== 4 || f) shifted = true;
        break;
      }
    }
    expect(found).toBe(true);
  }
  expect(shifted).toBe(true);
  tf.dispose([b.xs, b.ys]);
  b = iterateBatches(ds, {batchSize: 2, shuffle: false, augment: false}).next().value!;
  expect((b.xs.arraySync() as number[][][][])[1][3][4][2]).toBeCloseTo(raw[3072 + (3 * 32 + 4) * 3 + 2] / 255, 6);
  tf.dispose([b.xs, b.ys]);
  const stats = computeChannelStats(ds);
  expect(stats.mean).toHaveLength(3);
  ds.close();
});

test('CIFAR-100 reader: fine and coarse labels', () => {
  const fine = [5, 99, 42];
  const coarse = [1, 19, 7];
  fs.writeFileSync(path.join(dir, 'test.bin'), encodeCifarRecords('cifar100', images(3), fine, coarse));
  for (const [label, want, classes] of [['fine', fine, 100], ['coarse', coarse, 20]] as const) {
    const ds = new CifarDataset({dir, variant: 'cifar100', split: 'test', label});
    expect(ds.numClasses).toBe(classes);
    const b = iterateBatches(ds, {batchSize: 3, shuffle: false}).next().value!;
    expect(tf.argMax(b.ys, -1).arraySync()).toEqual([...want]);
    tf.dispose([b.xs, b.ys]);
    ds.close();
  }
});

test('missing, empty, truncated and corrupt CIFAR files give errors naming the file', () => {
  expect(() => openCifar({dir, split: 'test'})).toThrow(new RegExp(`file not found: .*test_batch\\.bin`));
  const f = path.join(dir, 'test_batch.bin');
  fs.writeFileSync(f, new Uint8Array(0));
  expect(() => openCifar({dir, split: 'test'})).toThrow(/empty: .*test_batch\.bin/);
  const good = encodeCifarRecords('cifar10', images(2), [1, 2]);
  fs.writeFileSync(f, good.subarray(0, good.length - 100));
  expect(() => openCifar({dir, split: 'test'})).toThrow(/truncated or corrupt: .*test_batch\.bin has 6046 bytes, not a whole number of 3073-byte records/);
  const bad = good.slice();
  bad[3073] = 17; // second record label
  fs.writeFileSync(f, bad);
  expect(() => openCifar({dir, split: 'test'})).toThrow(/corrupt: .*test_batch\.bin record 1 has label 17/);
  // CIFAR-100 file read as CIFAR-10 is caught by the record size
  fs.writeFileSync(f, encodeCifarRecords('cifar100', images(3), [1, 2, 3]));
  expect(() => openCifar({dir, split: 'test'})).toThrow(/not a whole number/);
});

function writeFmnist(perClass: number, corrupt?: (c: number) => string | null) {
  for (let c = 0; c < 10; c++) {
    const special = corrupt?.(c);
    if (special !== null && special !== undefined) {
      fs.writeFileSync(path.join(dir, `${c}.json`), special);
      continue;
    }
    const data = Array.from({length: perClass}, (_, j) => Array.from({length: 784}, (_, i) => (c * 20 + j + i) % 256));
    fs.writeFileSync(path.join(dir, `${c}.json`), JSON.stringify({data}));
  }
}

test('Fashion-MNIST loader: deterministic train/test split, balanced, normalised batches', () => {
  writeFmnist(5);
  const trainSet = loadFashionMnist({dir, split: 'train', testPerClass: 2});
  const testSet = loadFashionMnist({dir, split: 'test', testPerClass: 2});
  expect(trainSet.size).toBe(30);
  expect(testSet.size).toBe(20);
  expect(Array.from(trainSet.labels.subarray(0, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // first test image of class 3 is image j=3
  expect(testSet.images[3 * 784 + 0]).toBe((3 * 20 + 3) % 256);
  const b = iterateBatches(trainSet, {batchSize: 8}).next().value!;
  expect(b.xs.shape).toEqual([8, 28, 28, 1]);
  expect(b.ys.shape).toEqual([8, 10]);
  tf.dispose([b.xs, b.ys]);
  expect(loadFashionMnist({dir, split: 'all', maxPerClass: 1}).size).toBe(10);
  expect(fs.existsSync(path.join(defaultFashionMnistDir(), '0.json'))).toBe(true);
});

test('Fashion-MNIST missing / corrupt files name the file', () => {
  writeFmnist(3, (c) => (c === 4 ? '{"data": [[1,2,3' : null));
  expect(() => loadFashionMnist({dir, testPerClass: 1})).toThrow(/corrupt: .*4\.json is not valid JSON/);
  writeFmnist(3, (c) => (c === 2 ? JSON.stringify({data: [[1, 2, 3], [4], [5]]}) : null));
  expect(() => loadFashionMnist({dir, testPerClass: 1})).toThrow(/corrupt: .*2\.json image 0 has 3 values, expected 784/);
  writeFmnist(3);
  fs.rmSync(path.join(dir, '7.json'));
  expect(() => loadFashionMnist({dir, testPerClass: 1})).toThrow(/not found: .*7\.json/);
});
