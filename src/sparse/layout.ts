/**
 * A compiled pattern-sparse 3x3 layer (native FKW-like layout: reordered filters, kept kernels
 * grouped by pattern, non-zero values only). Built once from kernel masks; refreshing its values
 * from a dense weight costs O(non-zeros).
 *
 * Masks: Uint16Array of length inC*outC, index ic*outC + oc (the order of a [3,3,inC,outC] weight's
 * inner dims), bit kh*3+kw set = tap kept, 0 = kernel removed.
 */
import {addon, BatchNormFold, ConvGeometry, InputBatchNorm, OutputBatchNormGrad} from '../native/addon';

export interface LayoutStats {
  inC: number;
  outC: number;
  totalKernels: number;
  keptKernels: number;
  keptWeights: number;
  denseWeights: number;
  emptyFilters: number;
  /** FLOPs for the batch/output size the stats were asked for. */
  denseFlops: number;
  sparseFlops: number;
  /** 9*inC*outC / kept weights (0 when nothing is kept). */
  theoreticalRatio: number;
  /** The layer's pattern library (9-bit masks) and how many kernels use each. */
  patterns: number[];
  histogram: number[];
  /** Packed filter slot -> original output channel (the filter reordering). */
  filterOrder: number[];
}

type Handle = object;

interface SparseAddon {
  sparseCompile(masks: Uint16Array, inC: number, outC: number): Handle;
  sparseMasksFromDense(dense: Float32Array, inC: number, outC: number): Uint16Array;
  sparseRefresh(h: Handle, dense: Float32Array): boolean;
  sparseUnpack(h: Handle): Float32Array;
  sparseSupported(g: ConvGeometry): boolean;
  sparseForward(h: Handle, g: ConvGeometry, x: Float32Array, y: Float32Array,
                bias: Float32Array | null, activation: number, leakyAlpha: number,
                prelu: Float32Array | null, batchNorm?: BatchNormFold | null,
                inputBatchNorm?: InputBatchNorm | null): void;
  sparseForwardMaxPool(h: Handle, g: ConvGeometry, pool: ConvGeometry, x: Float32Array, y: Float32Array,
                       bias: Float32Array | null, activation: number, leakyAlpha: number,
                       prelu: Float32Array | null, batchNorm?: BatchNormFold | null): void;
  /** dy null: dy is the input gradient of the batch norm this conv feeds (dyBatchNormGrad). */
  sparseBackpropInput(h: Handle, g: ConvGeometry, dy: Float32Array | null, dx: Float32Array,
                      dyBatchNormGrad?: OutputBatchNormGrad | null): void;
  sparseBackpropFilter(h: Handle, g: ConvGeometry, x: Float32Array, dy: Float32Array | null,
                       dfilter: Float32Array | null, packed?: Float32Array | null,
                       inputBatchNorm?: InputBatchNorm | null, dyBatchNormGrad?: OutputBatchNormGrad | null): void;
  /** Whether both backward passes read a batch-norm-gradient dy's rows as they go. */
  sparseReadsDyRows(h: Handle, g: ConvGeometry): boolean;
  sparseGatherPacked(h: Handle, dense: Float32Array, packed: Float32Array): void;
  sparseScatterPacked(h: Handle, packed: Float32Array, dense: Float32Array): void;
  sparseFrozenSgd(h: Handle, gradPacked: Float32Array, c: number, valueOut: Float32Array): void;
  sparseFrozenMomentum(h: Handle, accumIn: Float32Array, gradPacked: Float32Array, c: number,
                       momentum: number, nesterov: boolean, accumOut: Float32Array,
                       valueOut: Float32Array): void;
  sparseStats(h: Handle, batch: number, outH: number, outW: number): LayoutStats;
}

export function sparseAddon(): SparseAddon {
  return addon() as unknown as SparseAddon;
}

/** A deferred result computed from a layout's current values (see SparseLayout.whenValuesChange). */
export interface LayoutReader {
  /** Computes the result now (a no-op once computed or freed). */
  materialize(): void;
  /** Whether it still waits to be computed. */
  pending(): boolean;
}

export class SparseLayout {
  /** Number of kept weights (the length of packed arrays in layout order). */
  readonly keptWeights: number;
  private readers: LayoutReader[] = [];

  private constructor(
      readonly handle: Handle, readonly inC: number, readonly outC: number,
      readonly masks: Uint16Array) {
    this.keptWeights = this.stats().keptWeights;
  }

  /** Compiles masks into a layout (values zero until refresh). */
  static compile(masks: Uint16Array, inC: number, outC: number): SparseLayout {
    const copy = Uint16Array.from(masks);
    return new SparseLayout(sparseAddon().sparseCompile(copy, inC, outC), inC, outC, copy);
  }

  /** Compiles the zero structure of a dense [3,3,inC,outC] weight and loads its values. */
  static fromDense(dense: Float32Array, inC: number, outC: number): SparseLayout {
    const layout = SparseLayout.compile(masksFromDense(dense, inC, outC), inC, outC);
    layout.refresh(dense);
    return layout;
  }

  /** Loads the kept values of a dense weight (O(nnz)); false when a pruned position is non-zero,
   * i.e. the weight no longer has this layout's sparsity (the caller must then run dense). */
  refresh(dense: Float32Array): boolean {
    this.valuesWillChange();
    return sparseAddon().sparseRefresh(this.handle, dense);
  }

  /** Registers a deferred result that reads the current values: it is computed before they change. */
  whenValuesChange(reader: LayoutReader): void {
    // Results that were freed or read meanwhile need nothing; drop them now and then so a layout
    // used only for inference does not collect one entry per call.
    if (this.readers.length >= 64) this.readers = this.readers.filter((r) => r.pending());
    this.readers.push(reader);
  }

  /** Call before changing the values in place (refresh, the frozen optimiser steps). */
  valuesWillChange(): void {
    if (this.readers.length === 0) return;
    const readers = this.readers;
    this.readers = [];
    for (const r of readers) r.materialize();
  }

  /** The dense [3,3,inC,outC] weight the layout holds, zeros at pruned positions. */
  unpack(): Float32Array {
    return sparseAddon().sparseUnpack(this.handle);
  }

  stats(batch = 1, outH = 1, outW = 1): LayoutStats {
    return sparseAddon().sparseStats(this.handle, batch, outH, outW);
  }
}

/** Kernel masks from the zero structure of a dense [3,3,inC,outC] weight. */
export function masksFromDense(dense: Float32Array, inC: number, outC: number): Uint16Array {
  return sparseAddon().sparseMasksFromDense(dense, inC, outC);
}
