/** FusedConv2D (conv + bias + activation in one native pass); tfjs-layers' inference path. The
 * result is deferred so that a batch norm and relu that follow fold into it (./conv_batch_norm.ts). */
import {backend_util, FusedConv2D, FusedConv2DAttrs} from '@tensorflow/tfjs-core';

import {addon} from '../../native/addon';
import {ConvRunner, sparseForwardRunner} from '../../sparse/conv_kernels';
import {convGeometry} from '../conv_geometry';
import {f32, nativeEpilogue, nativeKernel, output} from '../kernel_utils';

import {convInputThroughBatchNorm} from './batch_norm_relu';
import {convBatchNormFusionEnabled, deferredConv} from './conv_batch_norm';

export const fusedConv2DConfig = nativeKernel(FusedConv2D, ({inputs, backend, attrs}) => {
  const {x, filter, bias, preluActivationWeights} = inputs;
  const {strides, pad, dataFormat, dilations, dimRoundingMode, activation, leakyreluAlpha} =
      attrs as unknown as FusedConv2DAttrs;
  // A pending relu'd training batch norm is read through by a sparse conv (never written).
  const through = convInputThroughBatchNorm(backend, x);
  let xv = through ? through.x : f32(backend, x);
  if (!x || !filter || !xv || filter.dtype !== 'float32' || dataFormat === 'NCHW') return null;
  const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number], strides, dilations, pad,
      dimRoundingMode, false, 'channelsLast');
  const ep = nativeEpilogue(
      backend, info.outShape, bias, preluActivationWeights, activation, leakyreluAlpha);
  if (!ep) return null;
  const g = convGeometry(info);
  const sparse = sparseForwardRunner(backend, x, filter, g, xv, ep, through?.bn ?? null);
  if (through && !sparse) {
    xv = f32(backend, x);  // (computes x: the dense kernel reads it)
    if (!xv) return null;
  }
  const pins = [...(sparse && through ? through.pins : [xv]), ...(ep.bias ? [ep.bias] : []),
                ...(ep.prelu ? [ep.prelu] : [])];
  let run: ConvRunner;
  if (sparse) {
    run = sparse.run;
  } else {
    // A sparse layer runs from its layout; only the dense kernel reads the filter's values.
    const wv = f32(backend, filter);
    if (!wv) return null;
    pins.push(wv);
    run = (y, batchNorm) =>
        addon().conv2dForward(g, xv, wv, y, ep.bias, ep.activation, ep.leakyAlpha, ep.prelu, batchNorm);
  }
  if (convBatchNormFusionEnabled()) {
    return deferredConv(backend, info.outShape,
                        {kind: 'conv', run, runMaxPool: sparse?.runMaxPool, layout: sparse?.layout ?? null, pins}, null);
  }
  const y = output(backend, info.outShape);
  run(y.values, null);
  return y.info();
});
