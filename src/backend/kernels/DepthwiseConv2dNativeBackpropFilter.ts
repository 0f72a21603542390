/** DepthwiseConv2dNativeBackpropFilter: gradient of a depthwise convolution w.r.t. its filter. */
import {backend_util, DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropFilterAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {convGeometry} from '../conv_geometry';
import {f32, nativeKernel, output} from '../kernel_utils';

export const depthwiseConv2dNativeBackpropFilterConfig =
    nativeKernel(DepthwiseConv2dNativeBackpropFilter, ({inputs, backend, attrs}) => {
      const {x, dy} = inputs;
      const {strides, dilations, pad, dimRoundingMode, filterShape} =
          attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
      const xv = f32(backend, x), dyv = f32(backend, dy);
      if (!x || !dy || !xv || !dyv) return null;
      const info = backend_util.computeConv2DInfo(
          x.shape as [number, number, number, number], filterShape, strides, dilations, pad,
          dimRoundingMode, true);
      const dw = output(backend, filterShape);
      addon().depthwiseBackpropFilter(convGeometry(info), filterShape[3], xv, dyv, dw.values);
      return dw.info();
    });
