/** Broadcasting float32 binary ops (Add, Sub, Multiply, RealDiv, Maximum, Minimum,
 * SquaredDifference) in one native loop per output row, instead of per-element index math. */
import {Add, backend_util, KernelConfig, Maximum, Minimum, Multiply, RealDiv, SquaredDifference, Sub, TensorInfo} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, KernelArgs, nativeKernel, output} from '../kernel_utils';

import {BINARY_RELU_GRAD, deferredReluGradOfBatchNorm} from './batch_norm_relu';

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

/** Fused Relu and Square gradients (inputs dy, x), run only through the gradient overrides in
 * ../gradients.ts: dy * step(x) and dy * (x * 2) in one pass, bit for bit tfjs's results. */
export const RELU_GRAD = 'ClickTrainReluGrad';
export const SQUARE_GRAD = 'ClickTrainSquareGrad';

function gradKernel(kernelName: string, op: number): KernelConfig {
  const run = binary(op);
  return {
    kernelName,
    backendName: 'clicktrain',
    kernelFunc: ((args: KernelArgs) => {
      const {dy, x} = args.inputs;
      // The relu gradient of a batch norm's output: deferred, for the batch-norm gradient to fold in.
      const folded = op === BINARY_RELU_GRAD && dy && x && deferredReluGradOfBatchNorm(args.backend, dy, x);
      if (folded) return folded;
      const out = run({...args, inputs: {a: dy, b: x}});
      if (!out) throw new Error(`clicktrain: ${kernelName} needs float32 dy and x that broadcast`);
      return out;
    }) as unknown as KernelConfig['kernelFunc'],
  };
}

export const gradientBinaryConfigs: KernelConfig[] = [gradKernel(RELU_GRAD, BINARY_RELU_GRAD), gradKernel(SQUARE_GRAD, 8)];
