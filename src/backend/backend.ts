/**
 * The `clicktrain` backend: tfjs-backend-cpu's MathBackendCPU (tensors live in JS typed arrays)
 * with the heavy kernels replaced by native ones that read those arrays zero-copy.
 */
import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu';

export const BACKEND_NAME = 'clicktrain';

export class ClickTrainBackend extends MathBackendCPU {
  constructor() {
    super();
    // MathBackendCPU's first write warns that Node should use tfjs-node; this backend is the
    // native answer to that, so the warning would only mislead.
    (this as unknown as {firstUse: boolean}).firstUse = false;
  }
}
