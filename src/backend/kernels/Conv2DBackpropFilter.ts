/** Conv2DBackpropFilter: gradient of a convolution w.r.t. its filter (training). Layers frozen
 * with freezeSparsity get the sparse kernel (kept positions only, zero elsewhere). */
import {backend_util, Conv2DBackpropFilter, Conv2DBackpropFilterAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {sparseConvBackpropFilter} from '../../sparse/conv_kernels';
import {convGeometry} from '../conv_geometry';
import {tryCuda} from '../cuda_route';
import {f32, nativeKernel, output} from '../kernel_utils';

import {batchNormGradConvCounts, pendingBatchNormGradOf} from './batch_norm_grad_dy';
import {convInputThroughBatchNorm} from './batch_norm_relu';

export const conv2DBackpropFilterConfig =
    nativeKernel(Conv2DBackpropFilter, ({inputs, backend, attrs}) => {
      const {x, dy} = inputs;
      const {strides, pad, dataFormat, dimRoundingMode, filterShape} =
          attrs as unknown as Conv2DBackpropFilterAttrs;
      if (!x || !dy || dy.dtype !== 'float32' || dataFormat === 'NCHW') return null;
      const info = backend_util.computeConv2DInfo(
          x.shape as [number, number, number, number], filterShape, strides, 1, pad,
          dimRoundingMode, false, 'channelsLast');
      const g = convGeometry(info);
      // A frozen layer's gradient must be zero at pruned positions: the CPU sparse kernel gives
      // that; the dense GPU kernel would not, so frozen layers never take the GPU route here. x
      // still pending as a relu'd training batch norm is read through it (never computed).
      const through = convInputThroughBatchNorm(backend, x);
      const xin = through ? through.x : f32(backend, x);
      if (!xin) return null;
      const frozen = sparseConvBackpropFilter(backend, x, filterShape, g, xin, dy, through?.bn ?? null);
      if (frozen) return frozen;
      const xv = through ? f32(backend, x) : xin;  // (computes x when it is still deferred)
      if (!xv) return null;
      // dy still pending as the gradient of the batch norm this conv feeds: its rows are computed
      // as the kernel reads them, and it is never written out (./batch_norm_grad_dy.ts).
      const bnGrad = pendingBatchNormGradOf(backend, dy, g);
      if (bnGrad) {
        const dw = output(backend, filterShape);
        addon().conv2dBackpropFilter(g, xv, null, dw.values, bnGrad);
        batchNormGradConvCounts.fused++;
        return dw.info();
      }
      const dyv = f32(backend, dy);  // (computes dy when it is still deferred)
      if (!dyv) return null;
      const dw = output(backend, filterShape);
      if (!tryCuda('cudaConv2dBackpropFilter', g, xv, dyv, dw.values)) {
        addon().conv2dBackpropFilter(g, xv, dyv, dw.values);
      }
      return dw.info();
    });
