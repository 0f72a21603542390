/**
 * The gradient of FusedBatchNorm in one native pass over x and dy, with respect to all five
 * inputs. tfjs's own gradient builds it from ~14 whole-activation ops (a Tile of the inverse
 * deviation, several broadcast multiplies, four sums), which dominated the batch-norm share of a
 * training step. Registered as a gradient override that runs only on this backend and only for
 * per-channel parameters; anything else gets tfjs's gradient (see ../gradients.ts).
 */
import {KernelConfig, TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, KernelArgs, output} from '../kernel_utils';

export const FUSED_BATCH_NORM_GRAD = 'ClickTrainFusedBatchNormGrad';

/** Whether the native gradient applies: float32 x and dy of one shape, [C] parameters. */
export function nativeBatchNormGradApplies(
    x: TensorInfo, dy: TensorInfo, mean: TensorInfo, variance: TensorInfo, scale?: TensorInfo): boolean {
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || x.shape.length === 0) return false;
  if (!util.arraysEqual(x.shape, dy.shape)) return false;
  const channels = x.shape[x.shape.length - 1];
  const perChannel = (t: TensorInfo) => t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels;
  return perChannel(mean) && perChannel(variance) && (!scale || perChannel(scale));
}

function fusedBatchNormGrad({inputs, backend, attrs}: KernelArgs): TensorInfo[] {
  const {x, dy, mean, variance, scale} = inputs;
  if (!x || !dy || !mean || !variance || !nativeBatchNormGradApplies(x, dy, mean, variance, scale ?? undefined)) {
    throw new Error(`clicktrain: ${FUSED_BATCH_NORM_GRAD} needs float32 x and dy of one shape and [C] parameters`);
  }
  const xv = f32(backend, x), dyv = f32(backend, dy), mv = f32(backend, mean), vv = f32(backend, variance);
  const sv = scale ? f32(backend, scale) : null;
  if (!xv || !dyv || !mv || !vv || (scale && !sv)) throw new Error(`clicktrain: ${FUSED_BATCH_NORM_GRAD} got non-float32 data`);
  const channels = x.shape[x.shape.length - 1];
  const rows = channels === 0 ? 0 : util.sizeFromShape(x.shape) / channels;
  const eps = (attrs as {varianceEpsilon?: number} | undefined)?.varianceEpsilon ?? 0.001;
  const dx = output(backend, x.shape);
  const [dmean, dvariance, dscale, doffset] = [0, 1, 2, 3].map(() => output(backend, [channels]));
  addon().batchNormGrad(rows, channels, xv, dyv, mv, vv, sv, eps, dx.values, dmean.values, dvariance.values,
      dscale.values, doffset.values);
  return [dx.info(), dmean.info(), dvariance.info(), dscale.info(), doffset.info()];
}

export const fusedBatchNormGradConfig: KernelConfig = {
  kernelName: FUSED_BATCH_NORM_GRAD,
  backendName: 'clicktrain',
  kernelFunc: fusedBatchNormGrad as unknown as KernelConfig['kernelFunc'],
};
