/** FusedConv2D (conv + bias + activation in one native pass); tfjs-layers' inference path. */
import {backend_util, FusedConv2D, FusedConv2DAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {sparseConvForward} from '../../sparse/conv_kernels';
import {convGeometry} from '../conv_geometry';
import {f32, f32Later, nativeEpilogue, nativeKernel, output} from '../kernel_utils';

export const fusedConv2DConfig = nativeKernel(FusedConv2D, ({inputs, backend, attrs}) => {
  const {x, filter, bias, preluActivationWeights} = inputs;
  const {strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha} =
      attrs as unknown as FusedConv2DAttrs;
  const xv = f32(backend, x);
  if (!x || !filter || !xv || filter.dtype !== 'float32' || dataFormat === 'NCHW') return null;
  const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number], strides, dilations, pad,
      dimRoundingMode, false, 'channelsLast');
  const ep = nativeEpilogue(
      backend, info.outShape, bias, preluActivationWeights, activation, leakyreluAlpha);
  if (!ep) return null;
  const g = convGeometry(info);
  const y = output(backend, info.outShape);
  if (!sparseConvForward(backend, x, filter, g, xv, y.values, ep)) {
    addon().conv2dForward(g, xv, f32Later(backend, filter)(), y.values, ep.bias, ep.activation, ep.leakyAlpha, ep.prelu);
  }
  return y.info();
});
