/** Slice and PadV2 (float32): row copies instead of per-element index arithmetic. */
import {PadV2, PadV2Attrs, Slice, slice_util, SliceAttrs, Tensor} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, nativeKernel, output} from '../kernel_utils';

export const sliceConfig = nativeKernel(Slice, ({inputs, backend, attrs}) => {
  const {x} = inputs;
  const {begin, size} = attrs as unknown as SliceAttrs;
  const xv = f32(backend, x);
  if (!x || !xv || x.shape.length > 8) return null;
  let b: number[], s: number[];
  try {
    [b, s] = slice_util.parseSliceParams(x as unknown as Tensor, begin, size);
    slice_util.assertParamsValid(x as unknown as Tensor, b, s);
  } catch {
    return null;  // the cpu kernel raises tfjs's own error
  }
  const out = output(backend, s);
  addon().slice(x.shape, b, s, xv, out.values);
  return out.info();
});

export const padV2Config = nativeKernel(PadV2, ({inputs, backend, attrs}) => {
  const {x} = inputs;
  const {paddings, constantValue} = attrs as unknown as PadV2Attrs;
  const xv = f32(backend, x);
  if (!x || !xv || x.shape.length > 8 || paddings.length !== x.shape.length ||
      paddings.some(([p0, p1]) => p0 < 0 || p1 < 0)) {
    return null;
  }
  const out = output(backend, x.shape.map((d, i) => d + paddings[i][0] + paddings[i][1]));
  addon().pad(x.shape, paddings.map((p) => p[0]), paddings.map((p) => p[1]), constantValue, xv,
              out.values);
  return out.info();
});
