/**
 * clicktrain: pattern-based pruning while training for TensorFlow.js, on a native backend.
 *
 *   import * as tf from '@tensorflow/tfjs-core';
 *   import 'clicktrain';
 *   await tf.setBackend('clicktrain');
 */
import {registerClickTrainBackend} from './backend/register';
import {addon, AddonInfo} from './native/addon';

registerClickTrainBackend();

export {BACKEND_NAME, ClickTrainBackend} from './backend/backend';
export {registerClickTrainBackend};

/** Which ISA path, thread count and optional libraries the native backend uses. */
export function info(): AddonInfo {
  return addon().info();
}

/** Sets the number of threads native kernels use (default: all cores, or
 * CLICKTRAIN_NUM_THREADS). Returns the count now in force. */
export function setNumThreads(n: number): number {
  return addon().setNumThreads(n);
}

export function getNumThreads(): number {
  return addon().info().threads;
}

export * as sparse from './sparse';
export {freezeSparsity, unfreezeSparsity, setSparseKernelsEnabled} from './sparse';
export {setConvDevice, lastCudaTiming} from './backend/cuda_route';
export type {CudaTiming} from './backend/cuda_route';

// The ClickTrain method and what it trains on.
export * as pruning from './pruning';
export * as models from './models';
export * as data from './data';
export * as training from './train';
export {clickTrain, ClickTrainController} from './pruning';
export type {ClickTrainOptions, ClickTrainSummary} from './pruning';
