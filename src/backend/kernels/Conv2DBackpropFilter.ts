/** Conv2DBackpropFilter: gradient of a convolution w.r.t. its filter (training). Layers frozen
 * with freezeSparsity get the sparse kernel (kept positions only, zero elsewhere). */
import {backend_util, Conv2DBackpropFilter, Conv2DBackpropFilterAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {sparseConvBackpropFilter} from '../../sparse/conv_kernels';
import {convGeometry} from '../conv_geometry';
import {tryCuda} from '../cuda_route';
import {f32, nativeKernel, output} from '../kernel_utils';

export const conv2DBackpropFilterConfig =
    nativeKernel(Conv2DBackpropFilter, ({inputs, backend, attrs}) => {
      const {x, dy} = inputs;
      const {strides, pad, dataFormat, dimRoundingMode, filterShape} =
          attrs as unknown as Conv2DBackpropFilterAttrs;
      const xv = f32(backend, x), dyv = f32(backend, dy);
      if (!x || !dy || !xv || !dyv || dataFormat === 'NCHW') return null;
      const info = backend_util.computeConv2DInfo(
          x.shape as [number, number, number, number], filterShape, strides, 1, pad,
          dimRoundingMode, false, 'channelsLast');
      const g = convGeometry(info);
      // A frozen layer's gradient must be zero at pruned positions: the CPU sparse kernel gives
      // that; the dense GPU kernel would not, so frozen layers never take the GPU route here.
      const frozen = sparseConvBackpropFilter(backend, x, filterShape, g, xv, dyv);
      if (frozen) return frozen;
      const dw = output(backend, filterShape);
      if (!tryCuda('cudaConv2dBackpropFilter', g, xv, dyv, dw.values)) {
        addon().conv2dBackpropFilter(g, xv, dyv, dw.values);
      }
      return dw.info();
    });
