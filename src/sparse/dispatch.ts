/**
 * Decides, per convolution call, whether the pattern-sparse kernels run, and runs them.
 *
 * Two ways a 3x3 weight gets the sparse kernels:
 *  - detected: the forward and backward-data passes are exact on any weight, so a weight whose
 *    zero structure is sparse enough is compiled on first sight and cached by its tensor's dataId
 *    (inference on a pruned model needs no code change);
 *  - frozen (freezeSparsity): a training variable is registered with its masks; each optimiser
 *    step gives the variable a new dataId, which is recognised by identity and refreshed in
 *    O(non-zeros), or, after a packed optimiser step (frozen_update.ts), is already what the
 *    layout holds. Only frozen layers also get the sparse backward-filter pass, which computes
 *    the gradient at kept positions only (zero elsewhere): that is what freezing means.
 * Fail-safe rules: a frozen weight whose pruned positions are no longer zero runs dense; a
 * backward-filter call that cannot be tied to exactly one frozen layer runs dense.
 */
import {Tensor, TensorInfo, Variable} from '@tensorflow/tfjs-core';

import type {ClickTrainBackend} from '../backend/backend';
import type {ConvGeometry} from '../native/addon';
import {SparseLayout, sparseAddon} from './layout';

/** A weight is run sparse when at most this share of its taps is non-zero. */
export const DETECT_MAX_DENSITY = 0.5;

export interface FrozenEntry {
  name: string;
  variable: Variable;
  layout: SparseLayout;
  /** dataId the layout's values were last refreshed from (or written to, by a frozen step). */
  refreshedFrom?: object;
  warned?: boolean;
  /** The latest sparse backward-filter result in layout order, and the (deferred) gradient
   * tensor whose values it holds. */
  packedGradient?: {dataId: object, values: Float32Array};
  /** Momentum accumulation in layout order, and the accumulation tensor it equals. */
  packedAccumulation?: {dataId: object, values: Float32Array};
  /** dataId of a weight written by a frozen optimiser step: exactly +0 at every pruned position. */
  maskedValue?: object;
}

const frozen = new Set<FrozenEntry>();
/** dataId -> what runs for it: a detected layout, a frozen entry, or dense. */
const byDataId = new WeakMap<object, SparseLayout | FrozenEntry | 'dense'>();
/** Forward input dataId -> the 3x3 convolutions that read it (frozen entry or 'other'). */
const readers = new WeakMap<object, Array<{filterShape: number[], entry: FrozenEntry | 'other'}>>();

/** How often each sparse kernel ran (for tests, the bench and the training report);
 * forwardMaxPool: forwards that ran with a max pool of their output (counted in forward too);
 * inputBatchNorm: forwards and backward-filters that read their input through a batch norm;
 * outputBatchNormGrad: backward passes that read dy as the gradient of the batch norm they feed. */
export const sparseCallCounts = {
  forward: 0, forwardMaxPool: 0, inputBatchNorm: 0, outputBatchNormGrad: 0, backpropInput: 0, backpropFilter: 0,
  optimizerStep: 0,
};

let detectionEnabled = process.env.CLICKTRAIN_SPARSE !== '0';
let kernelsEnabled = process.env.CLICKTRAIN_SPARSE !== '0';

/** Turns the sparse kernels off (everything dense; masks still apply) or on. */
export function setSparseKernelsEnabled(on: boolean): void {
  kernelsEnabled = on;
  detectionEnabled = on;
}

export function sparseKernelsEnabled(): boolean {
  return kernelsEnabled;
}

export function registerFrozen(entry: FrozenEntry): void {
  frozen.add(entry);
}

export function unregisterFrozen(entry: FrozenEntry): void {
  frozen.delete(entry);
}

export function frozenEntries(): FrozenEntry[] {
  return [...frozen];
}

function isLayout(v: unknown): v is SparseLayout {
  return v instanceof SparseLayout;
}

/** Cheap first look: a strided sample of the weight. Dense weights (the common case while
 * training unfrozen layers) are rejected here without scanning the whole tensor. */
function looksSparse(w: Float32Array): boolean {
  const samples = Math.min(w.length, 1024);
  const step = w.length / samples;
  let nz = 0;
  for (let i = 0; i < samples; i++) if (w[Math.floor(i * step)] !== 0) nz++;
  return nz <= samples * (DETECT_MAX_DENSITY + 0.1);
}

function frozenFor(dataId: object): FrozenEntry | undefined {
  for (const e of frozen) if ((e.variable as unknown as TensorInfo).dataId === dataId) return e;
  return undefined;
}

/** The layout to run a 3x3 filter with, or null for dense. */
export function layoutForFilter(
    backend: ClickTrainBackend, filter: TensorInfo, g: ConvGeometry): SparseLayout | FrozenEntry | null {
  // Empty tensors (any zero size in the geometry) are left to the dense kernels.
  if (!kernelsEnabled || filter.shape[0] !== 3 || filter.shape[1] !== 3 ||
      g.slice(0, 9).some((v) => v === 0) || !sparseAddon().sparseSupported(g)) {
    return null;
  }
  const cached = byDataId.get(filter.dataId);
  if (cached === 'dense') return null;
  if (isLayout(cached)) return cached;
  // A cached entry may have been unfrozen since; then look again.
  const entry = cached && frozen.has(cached) ? cached : frozenFor(filter.dataId);
  // A frozen layout holds the values of one dataId at a time (the variable's latest, normally);
  // then the weight's own values are not read (they may be a deferred tensor, frozen_update.ts).
  if (entry && entry.refreshedFrom === filter.dataId) return entry;
  const values = backend.data.get(filter.dataId).values as Float32Array;
  const inC = filter.shape[2], outC = filter.shape[3];
  if (entry) {
    if (entry.layout.refresh(values)) {
      entry.refreshedFrom = filter.dataId;
      byDataId.set(filter.dataId, entry);
      return entry;
    }
    if (!entry.warned) {
      entry.warned = true;
      // eslint-disable-next-line no-console
      console.warn(`clicktrain: frozen layer ${entry.name} has non-zero pruned weights; ` +
                   'running it dense (re-apply its masks after each optimiser step)');
    }
    byDataId.set(filter.dataId, 'dense');
    return null;
  }
  if (!detectionEnabled || !looksSparse(values)) {
    byDataId.set(filter.dataId, 'dense');
    return null;
  }
  const layout = SparseLayout.fromDense(values, inC, outC);
  const st = layout.stats();
  const verdict = st.keptWeights <= DETECT_MAX_DENSITY * st.denseWeights ? layout : 'dense';
  byDataId.set(filter.dataId, verdict);
  return verdict === 'dense' ? null : verdict;
}

export function layoutOf(v: SparseLayout | FrozenEntry): SparseLayout {
  return isLayout(v) ? v : v.layout;
}

/** Notes that a 3x3 convolution read input x (for tying a later backward-filter call to it). */
export function noteForwardInput(x: TensorInfo, filterShape: number[],
                                 chosen: SparseLayout | FrozenEntry | null): void {
  const list = readers.get(x.dataId) ?? [];
  const entry = chosen && !isLayout(chosen) ? chosen : 'other';
  list.push({filterShape, entry});
  readers.set(x.dataId, list);
}

/** The frozen layer a backward-filter call on x belongs to, when that is certain. */
export function frozenForBackpropFilter(x: TensorInfo, filterShape: number[]): FrozenEntry | null {
  if (!kernelsEnabled) return null;
  const list = readers.get(x.dataId);
  if (!list) return null;
  const same = list.filter(
      (r) => r.filterShape.length === filterShape.length &&
          r.filterShape.every((d, i) => d === filterShape[i]));
  if (same.length === 0) return null;
  const first = same[0].entry;
  if (first === 'other' || same.some((r) => r.entry !== first) || !frozen.has(first)) return null;
  // The layout must still hold this variable's current values (it does unless the variable
  // changed since the forward pass that produced x's gradient).
  if (first.refreshedFrom !== (first.variable as unknown as Tensor).dataId) return null;
  return first;
}

/** The frozen layer whose layout holds exactly the values of weight `dataId`, if any. */
export function frozenHolding(dataId: object): FrozenEntry | null {
  if (!kernelsEnabled) return null;
  for (const e of frozen) if (e.refreshedFrom === dataId) return e;
  return null;
}

/** Records that the layout of `entry` now holds the values of weight `dataId` (written by a frozen
 * optimiser step, so its pruned positions are exactly +0). */
export function noteFrozenStep(entry: FrozenEntry, dataId: object): void {
  entry.refreshedFrom = dataId;
  entry.maskedValue = dataId;
  byDataId.set(dataId, entry);
}

const sameMasks = new WeakMap<Uint16Array, SparseLayout>();

/** True when `variable` is frozen, its current value was written by a frozen optimiser step (so
 * it is exactly zero, +0, at every pruned position), and `masks` (when given) are the masks it
 * was frozen with: re-applying those masks would not change it. */
export function frozenValueIsMasked(variable: Variable, masks?: Uint16Array): boolean {
  for (const e of frozen) {
    if (e.variable !== variable) continue;
    if (e.maskedValue === undefined || e.maskedValue !== (variable as unknown as Tensor).dataId) return false;
    if (!masks || sameMasks.get(masks) === e.layout) return true;
    const own = e.layout.masks;
    if (masks.length !== own.length || masks.some((m, i) => m !== own[i])) return false;
    sameMasks.set(masks, e.layout);
    return true;
  }
  return false;
}
