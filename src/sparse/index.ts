/** Pattern-sparse convolution from TypeScript: layouts, freezing, and the kernel switch. */
export {freezeSparsity, unfreezeSparsity, frozenLayers, isFreezable, maskTensor} from './freeze';
export type {FreezeOptions, FrozenLayerInfo} from './freeze';
export {SparseLayout, masksFromDense} from './layout';
export type {LayoutStats} from './layout';
export {setSparseKernelsEnabled, sparseKernelsEnabled, sparseCallCounts, DETECT_MAX_DENSITY, frozenValueIsMasked} from './dispatch';
