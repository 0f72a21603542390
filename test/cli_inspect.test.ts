import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {formatInspection, inspectDir} from '../src/cli/inspect';
import {saveCompact, saveModelToDir} from '../src/pruning';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({shape: [8, 8, 2]});
  let x = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c1'}).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c2'}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({units: 3, activation: 'softmax', name: 'fc'}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: x});
}

const CORNER = 0b000011011; // top-left 2x2
const CROSS = 0b010111010;

test('inspect shows per-layer layout, compression and the library of a saved pruned model', async () => {
  const m = tinyModel();
  // c1: 2x4 kernels, all CORNER; c2: 4x4 kernels, half removed, the rest CROSS
  const masks = new Map<string, Uint16Array>([
    ['c1', new Uint16Array(8).fill(CORNER)],
    ['c2', Uint16Array.from({length: 16}, (_, i) => (i % 2 ? 0 : CROSS))],
  ]);
  for (const [name, mask] of masks) {
    const layer = m.getLayer(name);
    const k = layer.getWeights()[0];
    const vals = k.dataSync().slice();
    const n = mask.length;
    for (let p = 0; p < 9; p++) for (let i = 0; i < n; i++) if (!(mask[i] & (1 << p))) vals[p * n + i] = 0; else if (vals[p * n + i] === 0) vals[p * n + i] = 0.5;
    layer.setWeights([tf.tensor(vals, k.shape)]);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-inspect-'));
  await saveCompact(m, masks, path.join(dir, 'model', 'compact'));
  await saveModelToDir(m, path.join(dir, 'model', 'dense'));
  const r = await inspectDir(dir);
  expect(r.format).toBe('compact');
  const c1 = r.layers.find((l) => l.name === 'c1')!.conv3x3!;
  const c2 = r.layers.find((l) => l.name === 'c2')!.conv3x3!;
  expect(c1).toMatchObject({cin: 2, cout: 4, kernels: 8, keptKernels: 8, keptWeights: 32});
  expect(c2).toMatchObject({cin: 4, cout: 4, kernels: 16, keptKernels: 8, keptWeights: 40});
  expect(r.totals.convCompression).toBeCloseTo((9 * 24) / 72, 6);
  expect(r.library.sort()).toEqual([CORNER, CROSS].sort());
  expect(r.layers.find((l) => l.name === 'fc')!.conv3x3).toBeUndefined();
  const text = formatInspection(r);
  expect(text).toContain('c2');
  expect(text).toContain('3.00x');
  expect(text).toContain('##.'); // CORNER grid row
  expect(text).toContain('.#.'); // CROSS grid row
  // the dense tfjs files alone give the same masks (from the zeros)
  fs.rmSync(path.join(dir, 'model', 'compact'), {recursive: true});
  const d = await inspectDir(dir);
  expect(d.format).toBe('tfjs');
  expect(d.totals.convKept).toBe(72);
});

test('inspect names a folder without a model', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ct-inspect-'));
  await expect(inspectDir(dir)).rejects.toThrow(/no saved model in/);
  fs.mkdirSync(path.join(dir, 'model', 'compact'), {recursive: true});
  fs.writeFileSync(path.join(dir, 'model', 'compact', 'compact.json'), '{broken');
  await expect(inspectDir(dir)).rejects.toThrow(/cannot load the model in .*compact.*not valid JSON/);
});
