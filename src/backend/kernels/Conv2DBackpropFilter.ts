/** Conv2DBackpropFilter: gradient of a convolution w.r.t. its filter (training). */
import {backend_util, Conv2DBackpropFilter, Conv2DBackpropFilterAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {convGeometry} from '../conv_geometry';
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
      const dw = output(backend, filterShape);
      addon().conv2dBackpropFilter(convGeometry(info), xv, dyv, dw.values);
      return dw.info();
    });
