/** Sum, Mean, Max and Min over any axes (float32), without tfjs-cpu's transpose to the inner axes. */
import {backend_util, KernelConfig, Max, Mean, Min, Sum, TensorInfo, util} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, KernelArgs, nativeKernel, output} from '../kernel_utils';

function reduce(op: number) {
  return ({inputs, backend, attrs}: KernelArgs): TensorInfo | null => {
    const {x} = inputs;
    const a = attrs as {axis?: number | number[], reductionIndices?: number | number[], keepDims?: boolean};
    const xv = f32(backend, x);
    if (!x || !xv || x.shape.length > 8) return null;
    let axes: number[];
    try {
      axes = util.parseAxisParam((a.axis ?? a.reductionIndices ?? null) as number[], x.shape);
    } catch {
      return null;
    }
    // Max/Min of an empty window has no tfjs-defined value: leave those to the cpu kernel.
    if ((op === 2 || op === 3) && axes.some((ax) => x.shape[ax] === 0)) return null;
    let [outShape] = backend_util.computeOutAndReduceShapes(x.shape, axes);
    if (a.keepDims) outShape = backend_util.expandShapeToKeepDim(outShape, axes);
    const out = output(backend, outShape);
    addon().reduce(op, x.shape, axes, xv, out.values);
    return out.info();
  };
}

export const reduceConfigs: KernelConfig[] = [
  nativeKernel(Sum, reduce(0)), nativeKernel(Mean, reduce(1)), nativeKernel(Max, reduce(2)),
  nativeKernel(Min, reduce(3)),
];
