/** The single list of kernels the clicktrain backend runs natively; every other kernel is the
 * cpu backend's, registered for clicktrain as is. */
import {KernelConfig} from '@tensorflow/tfjs-core';

import {batchMatMulConfig, fusedMatMulConfig} from './BatchMatMul';
import {binaryConfigs} from './Binary';
import {conv2DConfig} from './Conv2D';
import {conv2DBackpropFilterConfig} from './Conv2DBackpropFilter';
import {conv2DBackpropInputConfig} from './Conv2DBackpropInput';
import {depthwiseConv2dNativeConfig, fusedDepthwiseConv2DConfig} from './DepthwiseConv2dNative';
import {depthwiseConv2dNativeBackpropFilterConfig} from './DepthwiseConv2dNativeBackpropFilter';
import {depthwiseConv2dNativeBackpropInputConfig} from './DepthwiseConv2dNativeBackpropInput';
import {fusedBatchNormConfig} from './FusedBatchNorm';
import {fusedConv2DConfig} from './FusedConv2D';
import {avgPoolConfig, avgPoolGradConfig, maxPoolConfig, maxPoolGradConfig} from './Pooling';
import {reduceConfigs} from './Reduce';
import {padV2Config, sliceConfig} from './SlicePad';
import {tileConfig, transposeConfig} from './Transpose';
import {unaryConfigs} from './Unary';

export const nativeKernelConfigs: KernelConfig[] = [
  conv2DConfig,
  fusedConv2DConfig,
  conv2DBackpropInputConfig,
  conv2DBackpropFilterConfig,
  depthwiseConv2dNativeConfig,
  fusedDepthwiseConv2DConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  maxPoolConfig,
  maxPoolGradConfig,
  avgPoolConfig,
  avgPoolGradConfig,
  fusedBatchNormConfig,
  ...binaryConfigs,
  ...reduceConfigs,
  ...unaryConfigs,
  transposeConfig,
  tileConfig,
  sliceConfig,
  padV2Config,
];
