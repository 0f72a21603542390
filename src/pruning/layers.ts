/** Finding the prunable 3x3 conv layers of a tfjs-layers model. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

export interface PrunableLayer {
  /** Layer name (unique in the model). */
  name: string;
  layer: tfl.layers.Layer;
  cin: number;
  cout: number;
  /** Output spatial size (for FLOPs); 0 when unknown. */
  outH: number;
  outW: number;
  /** The kernel variable `[3, 3, Cin, Cout]`. */
  variable(): tf.Variable;
}

/** All layers, flattening nested models. */
export function allLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  const walk = (layers: tfl.layers.Layer[]) => {
    for (const l of layers) {
      const inner = (l as unknown as {layers?: tfl.layers.Layer[]}).layers;
      if (Array.isArray(inner)) walk(inner);
      else out.push(l);
    }
  };
  walk(model.layers);
  return out;
}

function kernelVariable(layer: tfl.layers.Layer): tf.Variable | null {
  const k = (layer as unknown as {kernel?: {read(): tf.Variable}}).kernel;
  return k && typeof k.read === 'function' ? k.read() : null;
}

/** Whether a layer is a plain 3x3 Conv2D (the layers ClickTrain prunes). */
export function isPrunable(layer: tfl.layers.Layer): boolean {
  if (layer.getClassName() !== 'Conv2D') return false;
  const v = kernelVariable(layer);
  return v !== null && v.shape.length === 4 && v.shape[0] === 3 && v.shape[1] === 3;
}

function outputHW(layer: tfl.layers.Layer): [number, number] {
  try {
    const s = layer.outputShape as (number | null)[];
    if (Array.isArray(s) && s.length === 4) return [s[1] ?? 0, s[2] ?? 0];
  } catch {
    // not built or multiple outputs
  }
  return [0, 0];
}

/**
 * The prunable layers, optionally restricted to `include` names and without
 * `exclude` names. Throws when a named layer is missing or not prunable, or when
 * nothing is left.
 */
export function findPrunableLayers(
    model: tfl.LayersModel, include?: string[], exclude?: string[],
    pruneFirstLayer = false): PrunableLayer[] {
  const layers = allLayers(model);
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (const n of [...(include ?? []), ...(exclude ?? [])]) {
    const l = byName.get(n);
    if (!l) throw new Error(`layer '${n}' not found in the model`);
    if (include?.includes(n) && !isPrunable(l)) throw new Error(`layer '${n}' is not a 3x3 Conv2D and cannot be pruned`);
  }
  let chosen = layers.filter((l) => isPrunable(l) && (!include || include.includes(l.name)) &&
      !(exclude ?? []).includes(l.name));
  // The reference keeps the first conv (on the image's 1-3 channels) dense: it holds few weights,
  // and pruning it costs accuracy for almost no FLOPs. Only when other layers remain to prune and
  // the caller did not name the layers explicitly.
  if (!pruneFirstLayer && !include && chosen.length > 1 && (kernelVariable(chosen[0])!.shape[2] as number) <= 4) {
    chosen = chosen.slice(1);
  }
  if (chosen.length === 0) {
    throw new Error('the model has no prunable layer (ClickTrain prunes 3x3 Conv2D layers)');
  }
  return chosen.map((layer) => {
    const v = kernelVariable(layer)!;
    const [outH, outW] = outputHW(layer);
    return {
      name: layer.name,
      layer,
      cin: v.shape[2] as number,
      cout: v.shape[3] as number,
      outH,
      outW,
      variable: () => kernelVariable(layer)!,
    };
  });
}

/** FLOPs (2 x multiply-adds) of the non-prunable Conv2D/Dense/DepthwiseConv2D layers of a model. */
export function otherLayerFlops(model: tfl.LayersModel, prunable: Set<string>): number {
  let f = 0;
  for (const l of allLayers(model)) {
    if (prunable.has(l.name)) continue;
    const cls = l.getClassName();
    const k = kernelVariable(l);
    if (!k) continue;
    if (cls === 'Dense') {
      f += 2 * k.size;
    } else if (cls === 'Conv2D' || cls === 'DepthwiseConv2D') {
      const [h, w] = outputHW(l);
      f += 2 * h * w * k.size;
    }
  }
  return f;
}
