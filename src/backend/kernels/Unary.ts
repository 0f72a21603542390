/** Element-wise float32 unary ops that a training step runs on whole activations. */
import {Abs, Elu, Exp, KernelConfig, Log, Neg, Reciprocal, Relu, Relu6, Rsqrt, Sigmoid, Sqrt, Square, Step, StepAttrs, Tanh, TensorInfo} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {f32, KernelArgs, nativeKernel, output} from '../kernel_utils';

import {reluOfBatchNorm} from './batch_norm_relu';
import {reluOfConvBatchNorm} from './conv_batch_norm';

// Order matches clicktrain::UnaryOp (native/elementwise/broadcast.h).
const OPS = [Relu, Step, Neg, Square, Sqrt, Rsqrt, Exp, Log, Abs, Sigmoid, Tanh, Reciprocal, Relu6, Elu];

function unary(op: number) {
  return ({inputs, backend, attrs}: KernelArgs): TensorInfo | null => {
    const {x} = inputs;
    // Relu of a batch norm's (deferred) output: one pass from the batch norm's input, or the conv
    // that feeds the batch norm with both folded in.
    const fused = OPS[op] === Relu && x ? reluOfConvBatchNorm(backend, x) ?? reluOfBatchNorm(backend, x) : null;
    if (fused) return fused;
    const xv = f32(backend, x);
    if (!x || !xv) return null;
    const alpha = OPS[op] === Step ? ((attrs as unknown as StepAttrs)?.alpha ?? 0) : 0;
    const out = output(backend, x.shape);
    addon().unary(op, xv, alpha, out.values);
    return out.info();
  };
}

export const unaryConfigs: KernelConfig[] = OPS.map((name, op) => nativeKernel(name, unary(op)));
