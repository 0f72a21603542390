/** Conv2DBackpropInput: gradient of a convolution w.r.t. its input (training). Sparse 3x3
 * weights take the transposed pattern-sparse kernel (exact on any weight). */
import {backend_util, Conv2DBackpropInput, Conv2DBackpropInputAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {sparseConvBackpropInput} from '../../sparse/conv_kernels';
import {convGeometry} from '../conv_geometry';
import {tryCuda} from '../cuda_route';
import {f32, f32Later, nativeKernel, output} from '../kernel_utils';

export const conv2DBackpropInputConfig =
    nativeKernel(Conv2DBackpropInput, ({inputs, backend, attrs}) => {
      const {dy, filter} = inputs;
      const {inputShape, strides, pad, dataFormat, dimRoundingMode} =
          attrs as unknown as Conv2DBackpropInputAttrs;
      const dyv = f32(backend, dy);
      if (!dy || !filter || !dyv || filter.dtype !== 'float32' || dataFormat === 'NCHW') return null;
      const wv = f32Later(backend, filter);
      const info = backend_util.computeConv2DInfo(
          inputShape, filter.shape as [number, number, number, number], strides, 1, pad,
          dimRoundingMode, false, 'channelsLast');
      const g = convGeometry(info);
      const dx = output(backend, info.inShape);
      if (!tryCuda('cudaConv2dBackpropInput', g, dyv, wv, dx.values) &&
          !sparseConvBackpropInput(backend, filter, g, dyv, dx.values)) {
        addon().conv2dBackpropInput(g, dyv, wv(), dx.values);
      }
      return dx.info();
    });
