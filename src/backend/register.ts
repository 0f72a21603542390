/**
 * Registers the `clicktrain` backend: every cpu kernel re-registered under our name, then the
 * native ones on top. Importing this module (or the package) is all a program needs before
 * `await tf.setBackend('clicktrain')`.
 */
import '@tensorflow/tfjs-backend-cpu';  // registers the cpu backend and its kernels

import {getKernelsForBackend, registerBackend, registerGradient, registerKernel} from '@tensorflow/tfjs-core';

import {addon} from '../native/addon';
import {BACKEND_NAME, ClickTrainBackend} from './backend';
import {registerFusedBatchNormTraining} from './batch_norm_layer';
import {registerNativeGradients} from './gradients';
import {nativeKernelConfigs} from './kernels';
import {batchNormTrainingConfig, batchNormTrainingGradConfig, batchNormTrainingGradient, movingAveragesConfig} from './kernels/BatchNormTraining';
import {gradientBinaryConfigs} from './kernels/Binary';
import {fusedBatchNormGradConfig} from './kernels/FusedBatchNormGrad';
import {momentumUpdateConfig, sgdUpdateConfig} from './kernels/OptimizerUpdate';
import {registerFusedOptimizers} from './optimizers';

let registered = false;

export function registerClickTrainBackend(priority = 3): void {
  if (registered) return;
  registered = true;
  const native = new Set(nativeKernelConfigs.map((k) => k.kernelName));
  for (const k of getKernelsForBackend('cpu')) {
    if (!native.has(k.kernelName)) registerKernel({...k, backendName: BACKEND_NAME});
  }
  for (const k of nativeKernelConfigs) registerKernel(k);
  registerKernel(fusedBatchNormGradConfig);  // these three only through the gradient overrides
  for (const k of gradientBinaryConfigs) registerKernel(k);
  registerKernel(sgdUpdateConfig);  // these two only through the optimiser patch
  registerKernel(momentumUpdateConfig);
  registerKernel(batchNormTrainingConfig);  // these three only through the batch-norm layer patch
  registerKernel(batchNormTrainingGradConfig);
  registerKernel(movingAveragesConfig);
  registerGradient(batchNormTrainingGradient);
  registerNativeGradients();
  registerFusedOptimizers();
  registerFusedBatchNormTraining();
  // The factory loads the addon, so a missing build surfaces as a clear error at setBackend.
  registerBackend(BACKEND_NAME, () => {
    addon();
    registerNativeGradients();
    return new ClickTrainBackend();
  }, priority);
}
