/** Conv2DBackpropInput: gradient of a convolution w.r.t. its input (training). Sparse 3x3
 * weights take the transposed pattern-sparse kernel (exact on any weight). The dense result is
 * computed when first read: tfjs's conv gradients compute dx for every conv, and a network's first
 * conv reads data, so its dx is never read and then never computed (dy and the filter's arrays are
 * pinned until then, see backend.ts). */
import {backend_util, Conv2DBackpropInput, Conv2DBackpropInputAttrs, util} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {sparseConvBackpropInput} from '../../sparse/conv_kernels';
import {layoutForFilter} from '../../sparse/dispatch';
import {convGeometry} from '../conv_geometry';
import {cudaRoutes, tryCuda} from '../cuda_route';
import {deferredOutput, f32, f32Later, nativeKernel, output} from '../kernel_utils';

import {batchNormGradArrays, computeBatchNormGradDx, pendingBatchNormGrad} from './batch_norm_grad_dy';

export const conv2DBackpropInputConfig =
    nativeKernel(Conv2DBackpropInput, ({inputs, backend, attrs}) => {
      const {dy, filter} = inputs;
      const {inputShape, strides, pad, dataFormat, dimRoundingMode} =
          attrs as unknown as Conv2DBackpropInputAttrs;
      if (!dy || !filter || dy.dtype !== 'float32' || filter.dtype !== 'float32' || dataFormat === 'NCHW') {
        return null;
      }
      const wv = f32Later(backend, filter);
      const info = backend_util.computeConv2DInfo(
          inputShape, filter.shape as [number, number, number, number], strides, 1, pad,
          dimRoundingMode, false, 'channelsLast');
      const g = convGeometry(info);
      const dyValues = () => f32(backend, dy);  // (computes dy when it is still deferred)
      if (cudaRoutes()) {  // timed with its copies, as every routed call (cuda_route.ts)
        const dyv = dyValues();
        if (!dyv) return null;
        const dx = output(backend, info.inShape);
        tryCuda('cudaConv2dBackpropInput', g, dyv, wv, dx.values);
        return dx.info();
      }
      const chosen = layoutForFilter(backend, filter, g);  // null: dense
      if (chosen) {
        const dx = output(backend, info.inShape);
        return sparseConvBackpropInput(backend, chosen, g, dy, dx.values) ? dx.info() : null;
      }
      const w = wv();
      // dy still pending as a batch norm's gradient stays so until this dx is read (never, for a
      // first conv): computed then from the batch norm's pinned arrays (./batch_norm_grad_dy.ts).
      const grad = pendingBatchNormGrad(backend, dy);
      if (grad) {
        return deferredOutput(backend, info.inShape, (dx) => {
          // dy as computed already (another reader), else from the pinned source (the same bits).
          let d = backend.data.has(dy.dataId) && !backend.isDeferred(dy.dataId) ? dyValues() : null;
          if (!d) computeBatchNormGradDx(grad, d = new Float32Array(util.sizeFromShape(dy.shape)));
          addon().conv2dBackpropInput(g, d, w, dx);
        }, {pins: [...batchNormGradArrays(grad), w]});
      }
      const dyv = dyValues();
      if (!dyv) return null;
      return deferredOutput(backend, info.inShape, (dx) => addon().conv2dBackpropInput(g, dyv, w, dx),
                            {pins: [dyv, w]});
    });
