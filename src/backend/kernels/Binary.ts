/** Broadcasting float32 binary ops (Add, Sub, Multiply, RealDiv, Maximum, Minimum,
 * SquaredDifference) in one native loop per output row, instead of per-element index math. */
import {Add, backend_util, KernelConfig, Maximum, Minimum, Multiply, RealDiv, SquaredDifference, Sub, TensorInfo} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, KernelArgs, nativeKernel, output} from '../kernel_utils';

const OPS: Array<[string, number]> = [
  [Add, 0], [Sub, 1], [Multiply, 2], [RealDiv, 3], [Maximum, 4], [Minimum, 5], [SquaredDifference, 6],
];

function binary(op: number) {
  return ({inputs, backend}: KernelArgs): TensorInfo | null => {
    const {a, b} = inputs;
    const av = f32(backend, a), bv = f32(backend, b);
    if (!a || !b || !av || !bv || a.shape.length > 8 || b.shape.length > 8) return null;
    let outShape: number[];
    try {
      outShape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    } catch {
      return null;  // the cpu kernel raises tfjs's own error
    }
    const out = output(backend, outShape);
    addon().binaryOp(op, a.shape, av, b.shape, bv, outShape, out.values);
    return out.info();
  };
}

export const binaryConfigs: KernelConfig[] = OPS.map(([name, op]) => nativeKernel(name, binary(op)));
