/** Transpose and Tile (float32): row copies with precomputed strides. */
import {Tile, TileAttrs, Transpose, TransposeAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, nativeKernel, output} from '../kernel_utils';

export const transposeConfig = nativeKernel(Transpose, ({inputs, backend, attrs}) => {
  const {x} = inputs;
  const {perm} = attrs as unknown as TransposeAttrs;
  const xv = f32(backend, x);
  if (!x || !xv || x.shape.length > 8 || perm.length !== x.shape.length) return null;
  const out = output(backend, perm.map((p) => x.shape[p]));
  addon().transpose(x.shape, perm, xv, out.values);
  return out.info();
});

export const tileConfig = nativeKernel(Tile, ({inputs, backend, attrs}) => {
  const {x} = inputs;
  const {reps} = attrs as unknown as TileAttrs;
  const xv = f32(backend, x);
  if (!x || !xv || x.shape.length > 8 || reps.length !== x.shape.length) return null;
  const out = output(backend, x.shape.map((d, i) => d * reps[i]));
  addon().tile(x.shape, reps, xv, out.values);
  return out.info();
});
