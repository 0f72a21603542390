/**
 * Inference conv -> batch norm -> relu in one pass (the VGG/ResNet block at predict time).
 * FusedConv2D returns its result deferred, with a description of how to compute it; a
 * FusedBatchNorm of that still-uncomputed result returns its own result deferred, described as
 * "the conv with this batch norm folded into its epilogue"; the Relu of that is deferred again (the
 * conv with batch norm and relu), and when read runs the conv once with both applied as each output
 * row is written (native/dense/epilogue.h), or, read by a max pool, runs the conv with the pool too
 * (./Pooling.ts). The conv output and the batch-norm output are never written and read back: one
 * activation-sized pass per layer less. The folded epilogue uses the batch-norm kernel's own arithmetic, so the result has the
 * bits of the three kernels run one by one. Any other reader of a deferred result gets it computed
 * on first read, from pinned inputs.
 *
 * A sparse conv reads its layout's values when it runs: a deferred result registers with the layout
 * and is computed before those values next change (a refresh or a frozen optimiser step), so it
 * always sees the weights of the call that made it. CLICKTRAIN_FUSED_CONV_BN=0 turns the deferral
 * off (for comparisons).
 */
import {TensorInfo} from '@tensorflow/tfjs-core';

import type {BatchNormFold} from '../../native/addon';
import type {ConvMaxPoolRunner, ConvRunner} from '../../sparse/conv_kernels';
import type {SparseLayout} from '../../sparse/layout';
import type {ClickTrainBackend} from '../backend';
import {deferredOutput} from '../kernel_utils';

let fusionEnabled = process.env.CLICKTRAIN_FUSED_CONV_BN !== '0';

/** Turns the deferral on or off for the kernels that run from now on (tests and A/B benches). */
export function setConvBatchNormFusion(on: boolean): void {
  fusionEnabled = on;
}

export function convBatchNormFusionEnabled(): boolean {
  return fusionEnabled;
}

/** How a deferred conv output is computed. */
export interface ConvSource {
  kind: 'conv';
  run: ConvRunner;
  /** The result max-pooled, in one native call (sparse convs: fused where the kernels can). */
  runMaxPool?: ConvMaxPoolRunner;
  /** The sparse layout it reads, if any (dense convs read only pinned arrays). */
  layout: SparseLayout | null;
  /** The arrays run reads. */
  pins: Float32Array[];
}

/** A deferred batch norm of a deferred conv output, without its relu or (a Relu of that) with. */
interface ConvBatchNormSource {
  kind: 'convBatchNorm' | 'convBatchNormRelu';
  conv: ConvSource;
  fold: BatchNormFold;
}

function foldArrays(f: BatchNormFold): Float32Array[] {
  return [f.mean, f.variance, ...(f.scale ? [f.scale] : []), ...(f.offset ? [f.offset] : [])];
}

/** The conv's result (with `fold` applied when given), computed on first read. */
export function deferredConv(backend: ClickTrainBackend, shape: number[], conv: ConvSource,
                             fold: BatchNormFold | null): TensorInfo {
  const source = fold ? {kind: fold.relu ? 'convBatchNormRelu' : 'convBatchNorm', conv, fold} as ConvBatchNormSource : conv;
  const info = deferredOutput(backend, shape, (y) => conv.run(y, fold),
                              {pins: [...conv.pins, ...(fold ? foldArrays(fold) : [])], source});
  conv.layout?.whenValuesChange({
    materialize: () => backend.materialize(info.dataId),
    pending: () => backend.isDeferred(info.dataId),
  });
  return info;
}

/** The source of x when x is a deferred result of that kind not computed yet (and fusion is on). */
function pendingSource<S extends ConvSource | ConvBatchNormSource>(
    backend: ClickTrainBackend, x: TensorInfo | null | undefined, kind: S['kind']): S | null {
  if (!fusionEnabled || !x || !backend.isDeferred(x.dataId)) return null;
  const s = backend.fusedSource(x.dataId) as S | undefined;
  return s?.kind === kind ? s : null;
}

/** The source of x when x is a deferred conv output not computed yet (and fusion is on). */
export function pendingConvSource(backend: ClickTrainBackend, x: TensorInfo | null | undefined): ConvSource | null {
  return pendingSource<ConvSource>(backend, x, 'conv');
}

/** Relu of a deferred conv + batch norm not computed yet: deferred again, the conv to run once
 * with both folded in (or with a max pool too: pendingConvResult). */
export function reluOfConvBatchNorm(backend: ClickTrainBackend, x: TensorInfo): TensorInfo | null {
  const s = pendingSource<ConvBatchNormSource>(backend, x, 'convBatchNorm');
  return s ? deferredConv(backend, x.shape, s.conv, {...s.fold, relu: true}) : null;
}

/** x as the conv that computes it and the batch norm (+ relu) folded into that, when x is a
 * deferred conv result not computed yet (and fusion is on); else null. */
export function pendingConvResult(backend: ClickTrainBackend, x: TensorInfo | null | undefined):
    {conv: ConvSource, fold: BatchNormFold | null} | null {
  if (!fusionEnabled || !x || !backend.isDeferred(x.dataId)) return null;
  const s = backend.fusedSource(x.dataId) as ConvSource | ConvBatchNormSource | undefined;
  if (s?.kind === 'conv') return {conv: s, fold: null};
  if (s?.kind === 'convBatchNorm' || s?.kind === 'convBatchNormRelu') return {conv: s.conv, fold: s.fold};
  return null;
}
