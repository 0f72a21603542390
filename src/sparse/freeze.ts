/**
 * freezeSparsity: hands pruned 3x3 conv layers of a tfjs-layers model to the pattern-sparse
 * kernels for the rest of training (forward, backward-data and backward-filter).
 *
 * Freezing fixes each layer's kernel masks; its weight is masked once here, and whoever trains it
 * must keep the pruned positions at zero (the ClickTrain callback re-applies masks after every
 * optimiser step, except to weights written by a packed frozen step, ./frozen_update.ts, which are
 * exactly masked). Frozen layers get zero gradient at pruned positions: the sparse backward-filter
 * kernel computes kept positions only. Unfrozen layers are never given that treatment.
 */
import * as tf from '@tensorflow/tfjs-core';

import {FrozenEntry, frozenEntries, registerFrozen, unregisterFrozen} from './dispatch';
import {LayoutStats, masksFromDense, SparseLayout} from './layout';

/** What freezeSparsity needs of a layer: tfjs-layers' Conv2D has all of it. */
interface ConvLike {
  name: string;
  getClassName(): string;
  kernel?: {val: tf.Variable};
  kernelSize?: number[];
  dilationRate?: number | number[];
  dataFormat?: string;
}

interface ModelLike {
  layers: ConvLike[];
}

export interface FreezeOptions {
  /** Kernel masks per layer name (Uint16Array, index ic*outC + oc, bit kh*3+kw); layers not
   * listed take their masks from the zero structure of their current weights. */
  masks?: Map<string, Uint16Array> | {[layerName: string]: Uint16Array};
  /** Only these layer names (default: every eligible 3x3 conv). */
  layers?: string[];
}

export interface FrozenLayerInfo {
  name: string;
  stats: LayoutStats;
}

/** A 3x3, NHWC, undilated Conv2D with a kernel variable. */
export function isFreezable(layer: ConvLike): boolean {
  if (layer.getClassName() !== 'Conv2D' || !layer.kernel) return false;
  const ks = layer.kernelSize ?? [];
  const dil = layer.dilationRate;
  const undilated = dil === undefined || (Array.isArray(dil) ? dil.every((d) => d === 1) : dil === 1);
  return ks.length === 2 && ks[0] === 3 && ks[1] === 3 && undilated &&
      (layer.dataFormat === undefined || layer.dataFormat === 'channelsLast');
}

function masksFor(opts: FreezeOptions, name: string): Uint16Array | undefined {
  const m = opts.masks;
  if (!m) return undefined;
  return m instanceof Map ? m.get(name) : m[name];
}

/** Expands kernel masks to a 0/1 tensor of the weight's shape [3,3,inC,outC]. */
export function maskTensor(masks: Uint16Array, inC: number, outC: number): tf.Tensor4D {
  const dense = new Float32Array(9 * inC * outC);
  for (let tap = 0; tap < 9; tap++) {
    const base = tap * inC * outC;
    for (let i = 0; i < inC * outC; i++) dense[base + i] = (masks[i] >> tap) & 1;
  }
  return tf.tensor4d(dense, [3, 3, inC, outC]);
}

/** Freezes the sparsity of a model's (or a list of layers') 3x3 conv layers. Layers already
 * frozen are re-frozen with the new masks. Returns what was frozen, with layout statistics. */
export function freezeSparsity(target: ModelLike | ConvLike[], opts: FreezeOptions = {}): FrozenLayerInfo[] {
  const layers = Array.isArray(target) ? target : target.layers;
  const out: FrozenLayerInfo[] = [];
  for (const layer of layers) {
    if (!isFreezable(layer) || (opts.layers && !opts.layers.includes(layer.name))) continue;
    const variable = layer.kernel!.val;
    const [, , inC, outC] = variable.shape;
    let masks = masksFor(opts, layer.name);
    if (masks && masks.length !== inC * outC) {
      throw new Error(`freezeSparsity: masks for ${layer.name} have ${masks.length} entries; ` +
                      `the layer needs inC*outC = ${inC * outC}`);
    }
    if (masks) {
      const m = masks;
      tf.tidy(() => variable.assign(tf.mul(variable, maskTensor(m, inC, outC))));
    } else {
      masks = masksFromDense(variable.dataSync() as Float32Array, inC, outC);
    }
    unfreezeSparsity([layer]);
    const layout = SparseLayout.compile(masks, inC, outC);
    registerFrozen({name: layer.name, variable, layout});
    out.push({name: layer.name, stats: layout.stats()});
  }
  return out;
}

/** Returns layers to dense training (all frozen layers when no target is given). */
export function unfreezeSparsity(target?: ModelLike | ConvLike[]): void {
  const layers = target === undefined ? undefined : Array.isArray(target) ? target : target.layers;
  const variables = layers?.map((l) => l.kernel?.val).filter((v) => v !== undefined);
  for (const e of frozenEntries()) {
    if (!variables || variables.includes(e.variable)) unregisterFrozen(e);
  }
}

/** The frozen layers and their layout statistics (per output pixel FLOPs). */
export function frozenLayers(): Array<{name: string, entry: FrozenEntry, stats: LayoutStats}> {
  return frozenEntries().map((e) => ({name: e.name, entry: e, stats: e.layout.stats()}));
}
