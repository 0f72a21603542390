/** MaxPool, AvgPool and their gradients on the native pooling kernels. */
import {AvgPool, AvgPoolAttrs, AvgPoolGrad, AvgPoolGradAttrs, backend_util, MaxPool, MaxPoolAttrs, MaxPoolGrad, MaxPoolGradAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {convGeometry} from '../conv_geometry';
import {f32, KernelArgs, nativeKernel, output} from '../kernel_utils';

function poolForward(isMax: boolean) {
  return ({inputs, backend, attrs}: KernelArgs) => {
    const {x} = inputs;
    const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as MaxPoolAttrs & AvgPoolAttrs;
    const xv = f32(backend, x);
    if (!x || !xv || x.shape.length !== 4) return null;
    const info = backend_util.computePool2DInfo(
        x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
    const y = output(backend, info.outShape);
    addon().poolForward(convGeometry(info), isMax, xv, y.values);
    return y.info();
  };
}

export const maxPoolConfig = nativeKernel(MaxPool, poolForward(true));
export const avgPoolConfig = nativeKernel(AvgPool, poolForward(false));

export const maxPoolGradConfig = nativeKernel(MaxPoolGrad, ({inputs, backend, attrs}) => {
  const {dy, input} = inputs;
  const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as MaxPoolGradAttrs;
  const dyv = f32(backend, dy), xv = f32(backend, input);
  if (!dy || !input || !dyv || !xv || input.shape.length !== 4) return null;
  const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number], filterSize, strides, 1, pad,
      dimRoundingMode);
  const dx = output(backend, input.shape);
  addon().maxPoolBackward(convGeometry(info), xv, dyv, dx.values);
  return dx.info();
});

export const avgPoolGradConfig = nativeKernel(AvgPoolGrad, ({inputs, backend, attrs}) => {
  const {dy, input} = inputs;
  const {filterSize, strides, pad} = attrs as unknown as AvgPoolGradAttrs;
  const dyv = f32(backend, dy);
  if (!dy || !input || !dyv || input.shape.length !== 4) return null;
  const info = backend_util.computePool2DInfo(
      input.shape as [number, number, number, number], filterSize, strides, 1, pad);
  const dx = output(backend, input.shape);
  addon().avgPoolBackward(convGeometry(info), dyv, dx.values);
  return dx.info();
});
