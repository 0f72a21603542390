/**
 * Export of pruned models.
 *
 * - Standard tfjs format (`model.json` + `weights.bin`, zeros kept in the dense
 *   weights): {@link saveModelToDir} / {@link loadModelFromDir}; the files load in
 *   any tfjs runtime (`tf.loadLayersModel`).
 * - Compact format (`compact.json` + `compact.bin`): pruned 3x3 kernels store only
 *   their 9-bit masks (uint16, index ic*Cout+oc) and the kept values (float32,
 *   kernel by kernel, positions ascending); all other weights are stored densely.
 *   {@link loadCompact} rebuilds the model with bit-identical weights.
 * Both writers go through a temporary name and a rename, so a crash never leaves a
 * half-written export.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../models/custom_layers';
import {keptWeights, popcount9} from './masks';
import {allLayers} from './layers';

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function joinWeightData(d: ArrayBuffer | ArrayBuffer[] | undefined): ArrayBuffer {
  if (d === undefined) return new ArrayBuffer(0);
  if (Array.isArray(d)) return tf.io.concatenateArrayBuffers(d);
  return d;
}

export function bytesOnDisk(files: string[]): number {
  return files.reduce((a, f) => a + fs.statSync(f).size, 0);
}

/** Saves in the standard tfjs layers format; returns the files written and their bytes. */
export async function saveModelToDir(model: tfl.LayersModel, dir: string): Promise<{files: string[]; bytes: number}> {
  fs.mkdirSync(dir, {recursive: true});
  const files = [path.join(dir, 'model.json'), path.join(dir, 'weights.bin')];
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weightData = new Uint8Array(joinWeightData(artifacts.weightData as ArrayBuffer | ArrayBuffer[]));
    writeAtomic(files[1], weightData);
    const json = {
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
      convertedBy: 'clicktrain',
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs}],
      ...(artifacts.trainingConfig ? {trainingConfig: artifacts.trainingConfig} : {}),
    };
    writeAtomic(files[0], JSON.stringify(json));
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weightData.length}};
  }));
  return {files, bytes: bytesOnDisk(files)};
}

function readFileNamed(file: string, what: string): Buffer {
  if (!fs.existsSync(file)) throw new Error(`${what} not found: ${file}`);
  return fs.readFileSync(file);
}

function parseJsonFile<T>(file: string, what: string): T {
  const text = readFileNamed(file, what).toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Loads a model written by {@link saveModelToDir} (or any tfjs layers model.json + single weights file set). */
export async function loadModelFromDir(dir: string): Promise<tfl.LayersModel> {
  const jsonFile = path.join(dir, 'model.json');
  const json = parseJsonFile<{modelTopology: object; weightsManifest: {paths: string[]; weights: tf.io.WeightsManifestEntry[]}[]}>(
      jsonFile, 'model file');
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error(`${jsonFile} is not a tfjs layers model`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const b = readFileNamed(path.join(dir, p), 'weights file');
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
  }
  const weightData = tf.io.concatenateArrayBuffers(buffers);
  const expected = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1) * 4, 0);
  if (weightData.byteLength !== expected) {
    throw new Error(`weights in ${dir} have ${weightData.byteLength} bytes, the manifest needs ${expected} (truncated or corrupt)`);
  }
  return tfl.loadLayersModel(tf.io.fromMemory({modelTopology: json.modelTopology, weightSpecs: specs, weightData}));
}

interface CompactEntry {
  name: string;
  shape: number[];
  kind: 'dense' | 'pattern';
  /** Byte offset of the float32 values in compact.bin. */
  valuesOffset: number;
  valueCount: number;
  /** Byte offset of the uint16 masks (pattern entries). */
  masksOffset?: number;
  maskCount?: number;
}

interface CompactJson {
  format: 'clicktrain-compact';
  version: 1;
  modelTopology: object;
  weights: CompactEntry[];
  totalBytes: number;
}

/**
 * Writes the compact format. `masks` maps layer names to kernel masks; a layer
 * whose weights are non-zero outside its mask (not hard-pruned yet) is stored
 * densely so the round trip stays exact.
 */
export async function saveCompact(
    model: tfl.LayersModel, masks: ReadonlyMap<string, Uint16Array>, dir: string): Promise<{files: string[]; bytes: number}> {
  fs.mkdirSync(dir, {recursive: true});
  const byVar = new Map<unknown, Uint16Array>();
  for (const l of allLayers(model)) {
    const m = masks.get(l.name);
    const k = (l as unknown as {kernel?: unknown}).kernel;
    if (m && k) byVar.set(k, m);
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const push = (u: Uint8Array) => {
    chunks.push(u);
    offset += u.length;
    const pad = (4 - (offset % 4)) % 4;
    if (pad) {
      chunks.push(new Uint8Array(pad));
      offset += pad;
    }
  };
  const entries: CompactEntry[] = [];
  for (const w of model.weights) {
    const t = w.read();
    if (t.dtype !== 'float32') throw new Error(`compact export supports float32 weights, '${w.name}' is ${t.dtype}`);
    const values = t.dataSync() as Float32Array;
    const mask = byVar.get(w);
    let usePattern = false;
    if (mask && t.shape.length === 4 && t.shape[0] === 3 && t.shape[1] === 3 && mask.length === t.shape[2] * t.shape[3]) {
      const n = mask.length;
      usePattern = true;
      for (let p = 0; p < 9 && usePattern; p++) {
        const bit = 1 << p;
        for (let i = 0; i < n; i++) {
          if (!(mask[i] & bit) && values[p * n + i] !== 0) {
            usePattern = false;
            break;
          }
        }
      }
    }
    if (usePattern) {
      const n = mask!.length;
      const kept = new Float32Array(keptWeights(mask!));
      let j = 0;
      for (let i = 0; i < n; i++) {
        const m = mask![i];
        if (!m) continue;
        for (let p = 0; p < 9; p++) if (m & (1 << p)) kept[j++] = values[p * n + i];
      }
      const entry: CompactEntry = {name: w.name, shape: t.shape, kind: 'pattern', valuesOffset: 0, valueCount: kept.length};
      entry.masksOffset = offset;
      entry.maskCount = n;
      push(new Uint8Array(mask!.buffer.slice(mask!.byteOffset, mask!.byteOffset + mask!.byteLength)));
      entry.valuesOffset = offset;
      push(new Uint8Array(kept.buffer));
      entries.push(entry);
    } else {
      const copy = new Float32Array(values);
      entries.push({name: w.name, shape: t.shape, kind: 'dense', valuesOffset: offset, valueCount: copy.length});
      push(new Uint8Array(copy.buffer));
    }
  }
  const bin = new Uint8Array(offset);
  let o = 0;
  for (const c of chunks) {
    bin.set(c, o);
    o += c.length;
  }
  const topology = model.toJSON(null, false) as object;
  const json: CompactJson = {format: 'clicktrain-compact', version: 1, modelTopology: topology, weights: entries, totalBytes: offset};
  const files = [path.join(dir, 'compact.json'), path.join(dir, 'compact.bin')];
  writeAtomic(files[1], bin);
  writeAtomic(files[0], JSON.stringify(json));
  return {files, bytes: bytesOnDisk(files)};
}

/** Reads a compact export: the model with exact weights, and the masks by layer/weight name. */
export async function loadCompact(dir: string): Promise<{model: tfl.LayersModel; masks: Map<string, Uint16Array>}> {
  const jsonFile = path.join(dir, 'compact.json');
  const binFile = path.join(dir, 'compact.bin');
  const json = parseJsonFile<CompactJson>(jsonFile, 'compact model file');
  if (json.format !== 'clicktrain-compact' || json.version !== 1) throw new Error(`${jsonFile} is not a ClickTrain compact export`);
  const buf = readFileNamed(binFile, 'compact weights file');
  if (buf.length !== json.totalBytes) {
    throw new Error(`${binFile} has ${buf.length} bytes, expected ${json.totalBytes} (truncated or corrupt)`);
  }
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const model = await tfl.models.modelFromJSON({modelTopology: json.modelTopology} as unknown as tf.io.ModelJSON) as tfl.LayersModel;
  if (model.weights.length !== json.weights.length) {
    throw new Error(`${jsonFile}: topology has ${model.weights.length} weights, file lists ${json.weights.length}`);
  }
  const masks = new Map<string, Uint16Array>();
  const tensors: tf.Tensor[] = [];
  const layerOfKernel = new Map<unknown, string>();
  for (const l of allLayers(model)) {
    const k = (l as unknown as {kernel?: unknown}).kernel;
    if (k) layerOfKernel.set(k, l.name);
  }
  json.weights.forEach((e, idx) => {
    const size = e.shape.reduce((a, b) => a * b, 1);
    const check = (off: number, bytes: number) => {
      if (off < 0 || off + bytes > ab.byteLength || off % 2 !== 0) throw new Error(`${binFile}: entry '${e.name}' out of range (corrupt)`);
    };
    check(e.valuesOffset, e.valueCount * 4);
    const vals = new Float32Array(ab, e.valuesOffset, e.valueCount);
    if (e.kind === 'dense') {
      if (e.valueCount !== size) throw new Error(`${jsonFile}: entry '${e.name}' has ${e.valueCount} values for shape [${e.shape}]`);
      tensors.push(tf.tensor(new Float32Array(vals), e.shape));
      return;
    }
    const n = e.shape[2] * e.shape[3];
    if (e.maskCount !== n || e.masksOffset === undefined) throw new Error(`${jsonFile}: entry '${e.name}' has a bad mask count`);
    check(e.masksOffset, n * 2);
    const mask = new Uint16Array(ab.slice(e.masksOffset, e.masksOffset + n * 2));
    const full = new Float32Array(size);
    let j = 0;
    for (let i = 0; i < n; i++) {
      const m = mask[i];
      if (m > 0x1ff) throw new Error(`${binFile}: entry '${e.name}' mask ${i} is not a 9-bit mask (corrupt)`);
      if (!m) continue;
      if (j + popcount9(m) > e.valueCount) throw new Error(`${binFile}: entry '${e.name}' has too few values (corrupt)`);
      for (let p = 0; p < 9; p++) if (m & (1 << p)) full[p * n + i] = vals[j++];
    }
    if (j !== e.valueCount) throw new Error(`${binFile}: entry '${e.name}' value count does not match its masks (corrupt)`);
    tensors.push(tf.tensor(full, e.shape));
    masks.set(layerOfKernel.get(model.weights[idx]) ?? e.name, mask);
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
  return {model, masks};
}

/** Writes both formats under `dir/dense` and `dir/compact` and reports their bytes on disk. */
export async function exportPrunedModel(
    model: tfl.LayersModel, masks: ReadonlyMap<string, Uint16Array>, dir: string):
    Promise<{denseDir: string; compactDir: string; denseBytes: number; compactBytes: number; ratio: number}> {
  const denseDir = path.join(dir, 'dense');
  const compactDir = path.join(dir, 'compact');
  const d = await saveModelToDir(model, denseDir);
  const c = await saveCompact(model, masks, compactDir);
  return {denseDir, compactDir, denseBytes: d.bytes, compactBytes: c.bytes, ratio: d.bytes / c.bytes};
}
