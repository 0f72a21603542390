/** DepthwiseConv2dNativeBackpropInput: gradient of a depthwise convolution w.r.t. its input. */
import {backend_util, DepthwiseConv2dNativeBackpropInput, DepthwiseConv2dNativeBackpropInputAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {convGeometry} from '../conv_geometry';
import {f32, nativeKernel, output} from '../kernel_utils';

export const depthwiseConv2dNativeBackpropInputConfig =
    nativeKernel(DepthwiseConv2dNativeBackpropInput, ({inputs, backend, attrs}) => {
      const {dy, filter} = inputs;
      const {strides, dilations, pad, dimRoundingMode, inputShape} =
          attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
      const dyv = f32(backend, dy), wv = f32(backend, filter);
      if (!dy || !filter || !dyv || !wv) return null;
      const info = backend_util.computeConv2DInfo(
          inputShape, filter.shape as [number, number, number, number], strides, dilations, pad,
          dimRoundingMode, true);
      const dx = output(backend, info.inShape);
      addon().depthwiseBackpropInput(convGeometry(info), filter.shape[3], dyv, wv, dx.values);
      return dx.info();
    });
