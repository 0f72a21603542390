/** Conv2D (NHWC, float32): pattern-sparse kernels for sparse 3x3 weights, dense otherwise. */
import {backend_util, Conv2D, Conv2DAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {sparseConvForward} from '../../sparse/conv_kernels';
import {convGeometry} from '../conv_geometry';
import {tryCuda} from '../cuda_route';
import {f32, f32Later, nativeKernel, output} from '../kernel_utils';

export const conv2DConfig = nativeKernel(Conv2D, ({inputs, backend, attrs}) => {
  const {x, filter} = inputs;
  const {strides, pad, dataFormat, dilations, dimRoundingMode} = attrs as unknown as Conv2DAttrs;
  const xv = f32(backend, x);
  if (!x || !filter || !xv || filter.dtype !== 'float32' || dataFormat === 'NCHW') return null;
  const wv = f32Later(backend, filter);
  const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number], strides, dilations, pad,
      dimRoundingMode, false, 'channelsLast');
  const g = convGeometry(info);
  const y = output(backend, info.outShape);
  if (!tryCuda('cudaConv2dForward', g, xv, wv, y.values) &&
      !sparseConvForward(backend, x, filter, g, xv, y.values, null)) {
    addon().conv2dForward(g, xv, wv(), y.values, null, 0, 0, null);
  }
  return y.info();
});
