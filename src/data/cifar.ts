/**
 * Readers for the standard CIFAR-10 / CIFAR-100 binary files.
 *
 * CIFAR-10 record: 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, row-major 32x32);
 * files data_batch_1..5.bin (train) and test_batch.bin (test).
 * CIFAR-100 record: coarse label byte + fine label byte + 3072 pixel bytes; files train.bin, test.bin.
 *
 * Records are read on demand with positioned reads, so no more than one
 * mini-batch of images is in memory; every file is checked when opened (missing,
 * empty, size not a whole number of records, labels out of range) and errors name the file.
 */
import * as fs from 'fs';
import * as path from 'path';
import {ImageSource} from './images';

export type CifarVariant = 'cifar10' | 'cifar100';

export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD = [0.2470, 0.2435, 0.2616];
export const CIFAR100_MEAN = [0.5071, 0.4865, 0.4409];
export const CIFAR100_STD = [0.2673, 0.2564, 0.2762];

const PIXELS = 32 * 32 * 3;

export interface CifarOptions {
  /** Folder with the binary files (e.g. cifar-10-batches-bin). */
  dir: string;
  variant?: CifarVariant;
  split?: 'train' | 'test';
  /** Explicit file names inside `dir` (default: the standard names for the split). */
  files?: string[];
  /** CIFAR-100 label: 'fine' (100 classes, default) or 'coarse' (20). */
  label?: 'fine' | 'coarse';
  /** Normalisation statistics (default: the dataset's standard per-channel mean/std). */
  mean?: number[];
  std?: number[];
  /** Scan all labels when opening (default true). */
  validate?: boolean;
}

export function cifarFileNames(variant: CifarVariant, split: 'train' | 'test'): string[] {
  if (variant === 'cifar10') {
    return split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  }
  return [split === 'train' ? 'train.bin' : 'test.bin'];
}

interface CifarFile {
  file: string;
  fd: number;
  records: number;
  first: number;
}

export class CifarDataset implements ImageSource {
  readonly height = 32;
  readonly width = 32;
  readonly channels = 3;
  readonly numClasses: number;
  readonly size: number;
  readonly mean: number[];
  readonly std: number[];
  readonly variant: CifarVariant;
  readonly recordBytes: number;
  readonly files: string[];
  private readonly parts: CifarFile[] = [];
  private readonly labelByte: number;
  private readonly rec: Uint8Array;
  private closed = false;

  constructor(o: CifarOptions) {
    this.variant = o.variant ?? 'cifar10';
    if (this.variant !== 'cifar10' && this.variant !== 'cifar100') {
      throw new Error(`unknown CIFAR variant '${o.variant as string}' (use cifar10 or cifar100)`);
    }
    const split = o.split ?? 'train';
    if (split !== 'train' && split !== 'test') throw new Error(`unknown split '${split as string}' (use train or test)`);
    const labelBytes = this.variant === 'cifar10' ? 1 : 2;
    this.recordBytes = labelBytes + PIXELS;
    this.labelByte = this.variant === 'cifar10' ? 0 : (o.label === 'coarse' ? 0 : 1);
    this.numClasses = this.variant === 'cifar10' ? 10 : (o.label === 'coarse' ? 20 : 100);
    const std = this.variant === 'cifar10' ? CIFAR10_STD : CIFAR100_STD;
    this.mean = o.mean ?? (this.variant === 'cifar10' ? CIFAR10_MEAN : CIFAR100_MEAN);
    this.std = o.std ?? std;
    if (this.mean.length !== 3 || this.std.length !== 3 || this.std.some((s) => !(s > 0))) {
      throw new Error('CIFAR normalisation needs 3 means and 3 positive stds');
    }
    this.rec = new Uint8Array(this.recordBytes);
    const names = o.files ?? cifarFileNames(this.variant, split);
    this.files = names.map((n) => path.resolve(o.dir, n));
    let first = 0;
    try {
      for (const file of this.files) {
        if (!fs.existsSync(file)) {
          throw new Error(`${this.variant} ${split} file not found: ${file} (expected the standard binary files in ${o.dir})`);
        }
        const st = fs.statSync(file);
        if (!st.isFile()) throw new Error(`${this.variant} data file is not a regular file: ${file}`);
        if (st.size === 0) throw new Error(`${this.variant} data file is empty: ${file}`);
        if (st.size % this.recordBytes !== 0) {
          throw new Error(
              `${this.variant} data file is truncated or corrupt: ${file} has ${st.size} bytes, ` +
              `not a whole number of ${this.recordBytes}-byte records`);
        }
        const fd = fs.openSync(file, 'r');
        const part = {file, fd, records: st.size / this.recordBytes, first};
        this.parts.push(part);
        first += part.records;
        if (o.validate !== false) this.validateLabels(part);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.size = first;
  }

  private validateLabels(p: CifarFile): void {
    const chunkRecords = 1024;
    const buf = Buffer.alloc(chunkRecords * this.recordBytes);
    for (let r = 0; r < p.records; r += chunkRecords) {
      const c = Math.min(chunkRecords, p.records - r);
      const got = fs.readSync(p.fd, buf, 0, c * this.recordBytes, r * this.recordBytes);
      if (got !== c * this.recordBytes) throw new Error(`${this.variant} data file ${p.file}: short read at record ${r}`);
      for (let i = 0; i < c; i++) this.checkLabels(buf, i * this.recordBytes, p.file, r + i);
    }
  }

  private checkLabels(buf: Uint8Array, off: number, file: string, record: number): void {
    const fine = buf[off + this.labelByte];
    if (fine >= this.numClasses) {
      throw new Error(`${this.variant} data file is corrupt: ${file} record ${record} has label ${fine}, outside 0..${this.numClasses - 1}`);
    }
    if (this.variant === 'cifar100') {
      const coarse = buf[off];
      if (coarse >= 20) throw new Error(`cifar100 data file is corrupt: ${file} record ${record} has coarse label ${coarse}, outside 0..19`);
    }
  }

  /** Reads examples by global index into HWC bytes and labels. */
  read(indices: ArrayLike<number>, out: Uint8Array, labels: Int32Array): void {
    if (this.closed) throw new Error('CIFAR dataset is closed');
    const rb = this.recordBytes;
    const lb = rb - PIXELS;
    const rec = this.rec;
    for (let b = 0; b < indices.length; b++) {
      const idx = indices[b];
      if (!(idx >= 0 && idx < this.size)) throw new Error(`example index ${idx} outside 0..${this.size - 1}`);
      let p = this.parts[0];
      for (const q of this.parts) if (idx >= q.first) p = q;
      const r = idx - p.first;
      const got = fs.readSync(p.fd, rec, 0, rb, r * rb);
      if (got !== rb) throw new Error(`${this.variant} data file ${p.file} is truncated: short read at record ${r}`);
      this.checkLabels(rec, 0, p.file, r);
      labels[b] = rec[this.labelByte];
      const o = b * PIXELS;
      for (let i = 0; i < 1024; i++) {
        out[o + 3 * i] = rec[lb + i];
        out[o + 3 * i + 1] = rec[lb + 1024 + i];
        out[o + 3 * i + 2] = rec[lb + 2048 + i];
      }
    }
  }

  /** Closes the file descriptors. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.parts) fs.closeSync(p.fd);
  }
}

/** Opens a CIFAR split (see {@link CifarOptions}). */
export function openCifar(o: CifarOptions): CifarDataset {
  return new CifarDataset(o);
}

/** Writes records in the CIFAR binary format (used by tests and tools). Images are HWC uint8. */
export function encodeCifarRecords(
    variant: CifarVariant, images: Uint8Array, labels: ArrayLike<number>, coarse?: ArrayLike<number>): Uint8Array {
  const n = labels.length;
  if (images.length !== n * PIXELS) throw new Error(`expected ${n * PIXELS} image bytes, got ${images.length}`);
  const lb = variant === 'cifar10' ? 1 : 2;
  const rb = lb + PIXELS;
  const out = new Uint8Array(n * rb);
  for (let k = 0; k < n; k++) {
    const o = k * rb;
    if (variant === 'cifar10') {
      out[o] = labels[k];
    } else {
      out[o] = coarse ? coarse[k] : 0;
      out[o + 1] = labels[k];
    }
    for (let i = 0; i < 1024; i++) {
      for (let c = 0; c < 3; c++) out[o + lb + c * 1024 + i] = images[k * PIXELS + 3 * i + c];
    }
  }
  return out;
}
