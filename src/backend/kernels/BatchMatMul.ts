/** BatchMatMul and _FusedMatMul (dense layers) on the native GEMM. */
import {_FusedMatMul, _FusedMatMulAttrs, BatchMatMul, broadcast_util, TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, KernelArgs, nativeEpilogue, nativeKernel, output} from '../kernel_utils';

function matMul({inputs, backend, attrs}: KernelArgs): TensorInfo | null {
  const {a, b, bias, preluActivationWeights} = inputs;
  const {transposeA, transposeB, activation, leakyreluAlpha} = attrs as unknown as _FusedMatMulAttrs;
  const av = f32(backend, a), bv = f32(backend, b);
  if (!a || !b || !av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length, rb = b.shape.length;
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) return null;  // the cpu kernel raises tfjs's own error message
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  const batchA = util.sizeFromShape(outerA), batchB = util.sizeFromShape(outerB);
  // Native handles equal batches or a batch of one on either side; other broadcasts go to cpu.
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  let outer: number[];
  try {
    outer = broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  if (util.sizeFromShape(outer) !== Math.max(batchA, batchB)) return null;
  const outShape = outer.concat([m, n]);
  const ep = nativeEpilogue(backend, outShape, bias, preluActivationWeights, activation,
                            leakyreluAlpha);
  if (!ep) return null;
  const c = output(backend, outShape);
  addon().batchMatMul(batchA, batchB, m, n, k, !!transposeA, !!transposeB, av, bv, c.values,
                      ep.bias, ep.activation, ep.leakyAlpha, ep.prelu);
  return c.info();
}

export const batchMatMulConfig = nativeKernel(BatchMatMul, matMul);
export const fusedMatMulConfig = nativeKernel(_FusedMatMul, matMul);
