/** DepthwiseConv2dNative and FusedDepthwiseConv2D on the native depthwise kernel. */
import {backend_util, DepthwiseConv2dNative, FusedDepthwiseConv2D, FusedDepthwiseConv2DAttrs, TensorInfo} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {convGeometry} from '../conv_geometry';
import {f32, KernelArgs, nativeEpilogue, nativeKernel, output} from '../kernel_utils';

function depthwise({inputs, backend, attrs}: KernelArgs): TensorInfo | null {
  const {x, filter, bias, preluActivationWeights} = inputs;
  const {strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha} =
      attrs as unknown as FusedDepthwiseConv2DAttrs;
  const xv = f32(backend, x), wv = f32(backend, filter);
  if (!x || !filter || !xv || !wv || dataFormat === 'NCHW') return null;
  const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number], strides, dilations ?? [1, 1], pad,
      dimRoundingMode, true, 'channelsLast');
  const ep = nativeEpilogue(
      backend, info.outShape, bias, preluActivationWeights, activation, leakyreluAlpha);
  if (!ep) return null;
  const y = output(backend, info.outShape);
  addon().depthwiseForward(
      convGeometry(info), filter.shape[3], xv, wv, y.values, ep.bias, ep.activation,
      ep.leakyAlpha, ep.prelu);
  return y.info();
}

export const depthwiseConv2dNativeConfig = nativeKernel(DepthwiseConv2dNative, depthwise);
export const fusedDepthwiseConv2DConfig = nativeKernel(FusedDepthwiseConv2D, depthwise);
