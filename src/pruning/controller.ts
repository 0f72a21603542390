/**
 * The ClickTrain method on a tfjs-layers model: the state machine shared by the
 * `model.fit` callback (./callback.ts) and the trainer loop (../train).
 *
 * Phases (epoch granularity, see ./schedule.ts):
 *   dense    - warm-up, nothing touched;
 *   patterns - at the start of `patternEpoch` the Taylor importance (w * dL/dw)^2 is
 *              accumulated over `importanceWindow` sample batches, the least
 *              important kernels are chosen for removal (connectivity pruning),
 *              each kept kernel's top-k positions form a candidate, the K most
 *              frequent candidates form the library, and each kept kernel gets the
 *              library pattern keeping the most importance;
 *   soft     - from `softStartEpoch`: group lasso on the groups about to be removed
 *              (each pruned kernel; each kept kernel's non-pattern positions),
 *              applied after every optimiser step as a proximal step (default) or a
 *              subgradient step - see {@link ClickTrainController.groupLassoStep};
 *   hard     - from `hardPruneEpoch`: weights outside the masks are zeroed and the
 *              masks re-applied after every optimiser step (whatever the
 *              optimiser), sparsity is frozen and handed to the sparse kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {categoricalCrossentropy, LossFn} from '../train/losses';
import {checkRatio, connectivityPrune, kernelImportance, ratiosForTargetCompression, removeCountFor} from './connectivity';
import {findPrunableLayers, otherLayerFlops, PrunableLayer} from './layers';
import {expandMask, FULL_KERNEL_MASK, keptKernels, keptWeights, maskFromBase64, maskToBase64, popcount9} from './masks';
import {buildLibrary, candidatePatterns, FixedLibraryName, fixedLibrary, patternHistogram, selectPatterns} from './patterns';
import {ClickTrainSchedule, defaultSchedule, Phase, phaseAt, validateSchedule} from './schedule';
import {freezeForSparseKernels, frozenValueIsMasked} from './sparse_handoff';

export interface SampleBatch {
  xs: tf.Tensor;
  ys: tf.Tensor;
}
/** Returns the `index`-th sample batch (0..window-1) for importance measurement. */
export type SampleBatchProvider = (index: number) => SampleBatch | Promise<SampleBatch>;

export interface ClickTrainOptions {
  /** Total training epochs (the callback takes it from `model.fit` when omitted). */
  epochs?: number;
  /** Global conv compression target (dense / kept 3x3-conv weights), e.g. 8. */
  targetCompression?: number;
  /** Connectivity ratio (share of kernels removed) for every layer, or per layer name. Overrides targetCompression. */
  layerRatios?: number | Record<string, number>;
  /** Highest per-layer ratio `targetCompression` may use (default 0.99). */
  maxLayerRatio?: number;
  /** Pattern size k: kept weights per kernel, 1..9 (default 4). */
  patternSize?: number;
  /** Library size K (default 8; the paper uses 4, 8 or 12). */
  librarySize?: number;
  /** One library for the whole model (default) or one per layer. */
  libraryScope?: 'model' | 'layer';
  /** Use a fixed library instead of generating one (pattern size 4 only). */
  fixedLibrary?: FixedLibraryName;
  /** Mini-batches over which importance is accumulated (default 1 = the reference). */
  importanceWindow?: number;
  /** Group-lasso strength lambda (default 2e-4; 0 disables the soft phase penalty). */
  groupLassoLambda?: number;
  /** 'proximal' (default, exact shrinkage of each group's norm) or 'subgradient' (the gradient of the penalty). */
  groupLassoMode?: 'proximal' | 'subgradient';
  /** Schedule overrides; defaults scale the reference schedule to `epochs`. */
  schedule?: Partial<ClickTrainSchedule> & {softEpochs?: number};
  /** Sample-batch provider for importance (needed unless the trainer supplies batches). */
  sampleBatch?: SampleBatchProvider;
  /** Dispose the tensors returned by `sampleBatch` after use (default true). */
  disposeSampleBatches?: boolean;
  /** Loss for importance gradients; defaults to the compiled model's loss or categorical cross-entropy. */
  loss?: LossFn;
  /** Only these layers (names) are pruned. */
  layers?: string[];
  /** These layers are not pruned. */
  exclude?: string[];
  /** Also prune the first conv layer when it reads the image (<= 4 input channels); default false,
   * as in the reference. */
  pruneFirstLayer?: boolean;
  /** Learning rate used by the group-lasso step when the optimiser exposes none (default 0.1). */
  learningRate?: number;
  /** Hand frozen masks to the sparse kernels after the hard prune (default true). */
  sparseHandoff?: boolean;
  /** Called on every phase change. */
  onPhase?: (phase: Phase, epoch: number) => void;
}

export interface ResolvedOptions {
  patternSize: number;
  librarySize: number;
  libraryScope: 'model' | 'layer';
  fixedLibrary?: FixedLibraryName;
  importanceWindow: number;
  groupLassoLambda: number;
  groupLassoMode: 'proximal' | 'subgradient';
  targetCompression?: number;
  layerRatios?: number | Record<string, number>;
  maxLayerRatio: number;
}

/** JSON-serialisable ClickTrain state (for checkpoints). */
export interface ClickTrainState {
  format: 'clicktrain-state';
  version: 1;
  phase: Phase;
  epoch: number;
  step: number;
  hardPruned: boolean;
  schedule: ClickTrainSchedule;
  options: ResolvedOptions;
  /** Per layer: name, shape, base64 mask (absent before patterns are chosen), library, ratio. */
  layers: {name: string; cin: number; cout: number; ratio: number; mask?: string; library?: number[]}[];
}

export interface LayerSummary {
  name: string;
  cin: number;
  cout: number;
  kernels: number;
  keptKernels: number;
  weights: number;
  keptWeights: number;
  compression: number;
  library: number[];
  /** Kept kernels per library pattern, in library order; `other` counts non-library masks (e.g. full kernels). */
  histogram: {pattern: number; count: number}[];
  flopsDense: number;
  flopsPruned: number;
}

export interface ClickTrainSummary {
  phase: Phase;
  epoch: number;
  layers: LayerSummary[];
  library: number[];
  histogram: {pattern: number; count: number}[];
  totals: {
    kernels: number; keptKernels: number; weights: number; keptWeights: number; convCompression: number;
    flopsDense: number; flopsPruned: number; otherFlops: number; modelFlopsDense: number; modelFlopsPruned: number;
  };
}

export function resolveOptions(o: ClickTrainOptions): ResolvedOptions {
  const patternSize = o.patternSize ?? 4;
  if (!Number.isInteger(patternSize) || patternSize < 1 || patternSize > 9) {
    throw new Error(`pattern size must be an integer in 1..9, got ${patternSize}`);
  }
  const librarySize = o.librarySize ?? 8;
  if (!Number.isInteger(librarySize) || librarySize < 1) {
    throw new Error(`library size must be a positive integer, got ${librarySize}`);
  }
  const libraryScope = o.libraryScope ?? 'model';
  if (libraryScope !== 'model' && libraryScope !== 'layer') {
    throw new Error(`libraryScope must be 'model' or 'layer', got '${libraryScope as string}'`);
  }
  if (o.fixedLibrary !== undefined) {
    fixedLibrary(o.fixedLibrary); // validates the name
    if (patternSize !== 4) throw new Error(`fixed libraries have pattern size 4, but patternSize is ${patternSize}`);
  }
  const importanceWindow = o.importanceWindow ?? 1;
  if (!Number.isInteger(importanceWindow) || importanceWindow < 1) {
    throw new Error(`importance window must be a positive integer, got ${importanceWindow}`);
  }
  const groupLassoLambda = o.groupLassoLambda ?? 2e-4;
  if (!(groupLassoLambda >= 0) || !Number.isFinite(groupLassoLambda)) {
    throw new Error(`group-lasso lambda must be >= 0, got ${groupLassoLambda}`);
  }
  const groupLassoMode = o.groupLassoMode ?? 'proximal';
  if (groupLassoMode !== 'proximal' && groupLassoMode !== 'subgradient') {
    throw new Error(`groupLassoMode must be 'proximal' or 'subgradient', got '${groupLassoMode as string}'`);
  }
  if (o.layerRatios !== undefined) {
    if (typeof o.layerRatios === 'number') {
      checkRatio(o.layerRatios, 'connectivity ratio');
    } else {
      for (const [n, r] of Object.entries(o.layerRatios)) checkRatio(r, `connectivity ratio of layer '${n}'`);
    }
  }
  const maxLayerRatio = o.maxLayerRatio ?? 0.99;
  checkRatio(maxLayerRatio, 'maxLayerRatio');
  if (o.targetCompression !== undefined &&
      !(typeof o.targetCompression === 'number' && Number.isFinite(o.targetCompression) && o.targetCompression >= 1)) {
    throw new Error(`target compression must be a number >= 1, got ${o.targetCompression}`);
  }
  return {
    patternSize, librarySize, libraryScope, fixedLibrary: o.fixedLibrary, importanceWindow, groupLassoLambda,
    groupLassoMode, targetCompression: o.targetCompression, layerRatios: o.layerRatios, maxLayerRatio,
  };
}

function optimizerLearningRate(model: tfl.LayersModel): number | undefined {
  try {
    const opt = (model as unknown as {optimizer_?: {learningRate?: number}}).optimizer_;
    const lr = opt?.learningRate;
    return typeof lr === 'number' ? lr : undefined;
  } catch {
    return undefined;
  }
}

export class ClickTrainController {
  readonly model: tfl.LayersModel;
  readonly layers: PrunableLayer[];
  readonly options: ResolvedOptions;
  schedule: ClickTrainSchedule;
  /** Connectivity ratio per layer (same order as `layers`). */
  readonly ratios: number[];
  phase: Phase = 'dense';
  epoch = 0;
  /** Optimiser steps seen. */
  step = 0;
  hardPruned = false;
  /** Whether the sparse kernels took over (see ./sparse_handoff.ts). */
  sparseFrozen = false;
  /** Per-layer masks, set at pattern time. */
  masks: Uint16Array[] | null = null;
  /** Per-layer library (the same array for every layer with model scope). */
  libraries: number[][] | null = null;
  /** Importance measured at pattern time (per layer, HWIO); not part of the state. */
  lastImportance: Float32Array[] | null = null;

  private readonly userOptions: ClickTrainOptions;
  private keepTensors: tf.Tensor[] | null = null;
  private removeTensors: tf.Tensor[] | null = null;

  constructor(model: tfl.LayersModel, options: ClickTrainOptions = {}) {
    this.model = model;
    this.userOptions = options;
    this.options = resolveOptions(options);
    this.layers = findPrunableLayers(model, options.layers, options.exclude, options.pruneFirstLayer);
    const epochs = options.epochs ?? options.schedule?.totalEpochs;
    if (epochs === undefined) throw new Error('ClickTrain needs the number of training epochs (option `epochs`)');
    this.schedule = defaultSchedule(epochs, options.schedule);
    this.ratios = this.computeRatios();
  }

  private computeRatios(): number[] {
    const o = this.options;
    if (o.layerRatios !== undefined) {
      if (typeof o.layerRatios === 'number') return this.layers.map(() => o.layerRatios as number);
      const r = o.layerRatios;
      for (const name of Object.keys(r)) {
        if (!this.layers.some((l) => l.name === name)) throw new Error(`layerRatios names unknown or non-prunable layer '${name}'`);
      }
      return this.layers.map((l) => r[l.name] ?? 0);
    }
    if (o.targetCompression !== undefined) {
      return ratiosForTargetCompression(
          this.layers.map((l) => l.cin * l.cout), o.patternSize, o.targetCompression, o.maxLayerRatio);
    }
    return this.layers.map(() => 0);
  }

  /** Sets the total epochs (rescales the default schedule, keeping explicit overrides). */
  setEpochs(epochs: number): void {
    this.schedule = defaultSchedule(epochs, this.userOptions.schedule);
  }

  /** The importance loss function. */
  private lossFn(): LossFn {
    if (this.userOptions.loss) return this.userOptions.loss;
    const fns = (this.model as unknown as {lossFunctions?: LossFn[]}).lossFunctions;
    if (Array.isArray(fns) && fns.length === 1 && typeof fns[0] === 'function') return fns[0];
    return categoricalCrossentropy;
  }

  /**
   * Taylor importance (w * dL/dw)^2 per weight, summed over `window` batches from
   * `provider` (gradients with the model in training mode; batch-norm moving
   * statistics are restored afterwards so measuring has no side effect).
   */
  async measureImportance(provider?: SampleBatchProvider, window = this.options.importanceWindow): Promise<Float32Array[]> {
    const p = provider ?? this.userOptions.sampleBatch;
    if (!p) {
      throw new Error('ClickTrain needs sample batches to measure importance: pass the `sampleBatch` option');
    }
    const lossFn = this.lossFn();
    const vars = this.layers.map((l) => l.variable());
    const acc = this.layers.map((l) => new Float32Array(9 * l.cin * l.cout));
    const frozen = this.model.nonTrainableWeights.map((w) => w.read().clone());
    try {
      for (let b = 0; b < window; b++) {
        const batch = await p(b);
        try {
          const sq = tf.tidy(() => {
            const {grads} = tf.variableGrads(() => {
              const pred = this.model.apply(batch.xs, {training: true}) as tf.Tensor;
              return tf.mean(lossFn(batch.ys, pred)) as tf.Scalar;
            }, vars);
            return vars.map((v) => tf.square(tf.mul(v, grads[v.name])));
          });
          for (let i = 0; i < sq.length; i++) {
            const d = sq[i].dataSync() as Float32Array;
            const a = acc[i];
            for (let j = 0; j < a.length; j++) a[j] += d[j];
          }
          tf.dispose(sq);
        } finally {
          if (this.userOptions.disposeSampleBatches !== false) tf.dispose([batch.xs, batch.ys]);
        }
      }
    } finally {
      this.model.nonTrainableWeights.forEach((w, i) => w.write(frozen[i]));
      tf.dispose(frozen);
    }
    return acc;
  }

  /**
   * Connectivity pruning, pattern generation and selection from per-layer
   * importances; sets `masks` and `libraries` (nothing is applied to weights yet).
   */
  choosePatterns(importance: Float32Array[]): void {
    const o = this.options;
    if (importance.length !== this.layers.length) throw new Error('one importance array per prunable layer expected');
    const keeps = this.layers.map((l, i) => {
      const n = l.cin * l.cout;
      if (importance[i].length !== 9 * n) throw new Error(`importance of '${l.name}' has the wrong length`);
      return connectivityPrune(kernelImportance(importance[i], n), removeCountFor(this.ratios[i], n));
    });
    let libraries: number[][];
    if (o.fixedLibrary) {
      const lib = fixedLibrary(o.fixedLibrary);
      libraries = this.layers.map(() => lib);
    } else if (o.patternSize === 9) {
      libraries = this.layers.map(() => [FULL_KERNEL_MASK]);
    } else {
      const cands = this.layers.map((_, i) => candidatePatterns(importance[i], keeps[i], o.patternSize));
      if (o.libraryScope === 'model') {
        const lib = buildLibrary(cands.flat(), o.librarySize);
        libraries = this.layers.map(() => lib);
      } else {
        libraries = cands.map((c) => (c.length ? buildLibrary(c, o.librarySize) : [FULL_KERNEL_MASK >> (9 - o.patternSize)]));
      }
    }
    this.masks = this.layers.map((_, i) => selectPatterns(importance[i], keeps[i], libraries[i]));
    this.libraries = libraries;
    this.lastImportance = importance;
    this.buildMaskTensors();
  }

  private buildMaskTensors(): void {
    this.disposeMaskTensors();
    if (!this.masks) return;
    this.keepTensors = [];
    this.removeTensors = [];
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      const m = expandMask(this.masks[i], l.cin, l.cout);
      const keep = tf.keep(tf.tensor4d(m, [3, 3, l.cin, l.cout]));
      this.keepTensors.push(keep);
      this.removeTensors.push(tf.keep(tf.sub(1, keep)));
    }
  }

  private disposeMaskTensors(): void {
    if (this.keepTensors) tf.dispose(this.keepTensors);
    if (this.removeTensors) tf.dispose(this.removeTensors);
    this.keepTensors = this.removeTensors = null;
  }

  /** Masks by layer name (after pattern time). */
  masksByLayerName(): Map<string, Uint16Array> {
    const m = new Map<string, Uint16Array>();
    if (this.masks) this.layers.forEach((l, i) => m.set(l.name, this.masks![i]));
    return m;
  }

  /** Multiplies every pruned layer's kernel by its mask (zeroes the removed weights). */
  applyMasks(): void {
    if (!this.keepTensors) return;
    tf.tidy(() => {
      this.layers.forEach((l, i) => {
        const v = l.variable();
        // A frozen layer's weight written by a packed optimiser step already is its masked self.
        if (this.masks && frozenValueIsMasked(v, this.masks[i])) return;
        // `+ 0` turns the -0 of (negative weight * 0) into +0, so pruned weights are plain zeros
        v.assign(tf.add(tf.mul(v, this.keepTensors![i]), 0));
      });
    });
  }

  /**
   * One group-lasso step on the groups about to be removed. Per kernel the group is
   * its to-be-removed positions (all 9 for a pruned kernel, the non-pattern ones
   * for a kept kernel); the pattern positions are never touched.
   *
   * 'proximal' (default): w_g <- w_g * max(0, 1 - lr*lambda / ||w_g||), the exact
   * proximal operator of lr * lambda * ||w_g||_2 applied after the optimiser step
   * (equivalent to the reference's added loss term for plain SGD, but exact at 0
   * and usable from a model.fit callback, which cannot change the loss).
   * 'subgradient': w_g <- w_g - lr*lambda * w_g / ||w_g||, the gradient of the
   * penalty the reference adds to the loss, applied after the step.
   */
  groupLassoStep(lr: number): void {
    const lambda = this.options.groupLassoLambda;
    if (!this.removeTensors || lambda === 0 || !(lr > 0)) return;
    const t = lr * lambda;
    const proximal = this.options.groupLassoMode === 'proximal';
    tf.tidy(() => {
      this.layers.forEach((l, i) => {
        const v = l.variable();
        const n = l.cin * l.cout;
        const r = tf.reshape(tf.mul(v, this.removeTensors![i]), [9, n]);
        const norm = tf.sqrt(tf.sum(tf.square(r), 0, true));
        let shrunk: tf.Tensor;
        if (proximal) {
          const scale = tf.relu(tf.sub(1, tf.div(t, tf.maximum(norm, 1e-30))));
          shrunk = tf.mul(r, scale);
        } else {
          shrunk = tf.sub(r, tf.mul(t, tf.div(r, tf.maximum(norm, 1e-12))));
        }
        v.assign(tf.add(tf.add(tf.mul(v, this.keepTensors![i]), tf.reshape(shrunk, v.shape)), 0));
      });
    });
  }

  private setPhase(p: Phase, epoch: number): void {
    if (p !== this.phase) {
      this.phase = p;
      this.userOptions.onPhase?.(p, epoch);
    }
  }

  /** Zeroes the removed weights, enforces masks from now on and hands them to the sparse kernels. */
  hardPrune(): void {
    if (!this.masks) throw new Error('hard prune before patterns were chosen');
    this.applyMasks();
    this.hardPruned = true;
    if (this.userOptions.sparseHandoff !== false) {
      this.sparseFrozen = freezeForSparseKernels(this.model, this.masksByLayerName());
    }
  }

  /**
   * Call at the start of every epoch (0-based). Runs the phase transitions due at
   * this epoch; `provider` supplies importance batches (else the `sampleBatch` option).
   */
  async onEpochBegin(epoch: number, provider?: SampleBatchProvider): Promise<void> {
    this.epoch = epoch;
    const target = phaseAt(this.schedule, epoch);
    if (target !== 'dense' && !this.masks) {
      const imp = await this.measureImportance(provider);
      this.choosePatterns(imp);
    }
    if (target === 'hard' && !this.hardPruned) this.hardPrune();
    this.setPhase(target, epoch);
  }

  /**
   * Call after every optimiser step with the step's learning rate (defaults to the
   * compiled optimiser's). Soft phase: group-lasso step; hard phase: re-apply masks.
   */
  afterOptimizerStep(lr?: number): void {
    this.step++;
    if (this.phase === 'soft') {
      this.groupLassoStep(lr ?? optimizerLearningRate(this.model) ?? this.userOptions.learningRate ?? 0.1);
    } else if (this.phase === 'hard') {
      // Also when frozen: the sparse backward-filter gives pruned positions zero gradient, but an
      // optimiser's state from before the hard prune (momentum, Adam moments) would still move
      // them, and a frozen layer with non-zero pruned weights falls back to dense kernels.
      this.applyMasks();
    }
  }

  getState(): ClickTrainState {
    return {
      format: 'clicktrain-state',
      version: 1,
      phase: this.phase,
      epoch: this.epoch,
      step: this.step,
      hardPruned: this.hardPruned,
      schedule: {...this.schedule, lrDecayEpochs: [...this.schedule.lrDecayEpochs]},
      options: {...this.options},
      layers: this.layers.map((l, i) => ({
        name: l.name,
        cin: l.cin,
        cout: l.cout,
        ratio: this.ratios[i],
        ...(this.masks ? {mask: maskToBase64(this.masks[i]), library: [...this.libraries![i]]} : {}),
      })),
    };
  }

  /**
   * Restores a state from {@link getState} (the model's weights are restored
   * separately). The layers must match by name and shape.
   */
  setState(state: ClickTrainState): void {
    if (!state || state.format !== 'clicktrain-state' || state.version !== 1) {
      throw new Error('not a ClickTrain state (format/version mismatch)');
    }
    if (state.layers.length !== this.layers.length) {
      throw new Error(`state has ${state.layers.length} prunable layers, the model has ${this.layers.length}`);
    }
    validateSchedule(state.schedule);
    const hasMasks = state.layers.every((l) => l.mask !== undefined);
    if (!hasMasks && state.layers.some((l) => l.mask !== undefined)) throw new Error('state has masks for some layers only');
    const masks: Uint16Array[] = [];
    const libs: number[][] = [];
    state.layers.forEach((s, i) => {
      const l = this.layers[i];
      if (s.name !== l.name || s.cin !== l.cin || s.cout !== l.cout) {
        throw new Error(`state layer ${i} is '${s.name}' [${s.cin}x${s.cout}], the model has '${l.name}' [${l.cin}x${l.cout}]`);
      }
      if (hasMasks) {
        masks.push(maskFromBase64(s.mask!, l.cin * l.cout));
        libs.push([...(s.library ?? [])]);
      }
      this.ratios[i] = s.ratio;
    });
    this.schedule = {...state.schedule, lrDecayEpochs: [...state.schedule.lrDecayEpochs]};
    Object.assign(this.options, state.options);
    this.phase = state.phase;
    this.epoch = state.epoch;
    this.step = state.step;
    this.masks = hasMasks ? masks : null;
    this.libraries = hasMasks ? libs : null;
    this.buildMaskTensors();
    this.hardPruned = state.hardPruned;
    this.sparseFrozen = false;
    if (this.hardPruned) {
      this.applyMasks();
      if (this.userOptions.sparseHandoff !== false) {
        this.sparseFrozen = freezeForSparseKernels(this.model, this.masksByLayerName());
      }
    }
  }

  /** Per-layer and total kept kernels/weights, library, histogram, compression and FLOPs. */
  summary(): ClickTrainSummary {
    const layers: LayerSummary[] = this.layers.map((l, i) => {
      const n = l.cin * l.cout;
      const mask = this.masks ? this.masks[i] : new Uint16Array(n).fill(FULL_KERNEL_MASK);
      const library = this.libraries ? this.libraries[i] : [];
      const h = patternHistogram(Array.from(mask).filter((m) => m !== 0));
      const histogram = library.map((p) => ({pattern: p, count: h.get(p) ?? 0}));
      for (const [p, c] of h) if (!library.includes(p)) histogram.push({pattern: p, count: c});
      const kw = keptWeights(mask);
      const hw = l.outH * l.outW;
      return {
        name: l.name, cin: l.cin, cout: l.cout, kernels: n, keptKernels: keptKernels(mask), weights: 9 * n,
        keptWeights: kw, compression: kw > 0 ? (9 * n) / kw : Infinity, library: [...library], histogram,
        flopsDense: 2 * hw * 9 * n, flopsPruned: 2 * hw * kw,
      };
    });
    const sum = (f: (l: LayerSummary) => number) => layers.reduce((a, l) => a + f(l), 0);
    const other = otherLayerFlops(this.model, new Set(this.layers.map((l) => l.name)));
    const weights = sum((l) => l.weights);
    const kept = sum((l) => l.keptWeights);
    const modelLib = this.libraries && this.options.libraryScope === 'model' ? this.libraries[0] : [];
    const allHist = new Map<number, number>();
    for (const l of layers) for (const e of l.histogram) allHist.set(e.pattern, (allHist.get(e.pattern) ?? 0) + e.count);
    const histogram = [...allHist.entries()].map(([pattern, count]) => ({pattern, count}))
        .sort((a, b) => (b.count - a.count) || (a.pattern - b.pattern));
    return {
      phase: this.phase,
      epoch: this.epoch,
      layers,
      library: [...modelLib],
      histogram,
      totals: {
        kernels: sum((l) => l.kernels), keptKernels: sum((l) => l.keptKernels), weights, keptWeights: kept,
        convCompression: kept > 0 ? weights / kept : Infinity, flopsDense: sum((l) => l.flopsDense),
        flopsPruned: sum((l) => l.flopsPruned), otherFlops: other,
        modelFlopsDense: sum((l) => l.flopsDense) + other, modelFlopsPruned: sum((l) => l.flopsPruned) + other,
      },
    };
  }

  /** Frees the mask tensors. */
  dispose(): void {
    this.disposeMaskTensors();
  }
}

/** Kept weights a pattern size gives per kernel (helper for reports). */
export function patternWeights(mask: number): number {
  return popcount9(mask);
}
