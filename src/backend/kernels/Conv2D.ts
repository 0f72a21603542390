/** Conv2D (NHWC, float32) on the native dense convolution. */
import {backend_util, Conv2D, Conv2DAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {convGeometry} from '../conv_geometry';
import {f32, nativeKernel, output} from '../kernel_utils';

export const conv2DConfig = nativeKernel(Conv2D, ({inputs, backend, attrs}) => {
  const {x, filter} = inputs;
  const {strides, pad, dataFormat, dilations, dimRoundingMode} = attrs as unknown as Conv2DAttrs;
  const xv = f32(backend, x), wv = f32(backend, filter);
  if (!x || !filter || !xv || !wv || dataFormat === 'NCHW') return null;
  const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number], strides, dilations, pad,
      dimRoundingMode, false, 'channelsLast');
  const y = output(backend, info.outShape);
  addon().conv2dForward(convGeometry(info), xv, wv, y.values, null, 0, 0, null);
  return y.info();
});
