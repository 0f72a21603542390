// Asynchronous global -> shared copies (cp.async, sm_80+): a staging loop issues all its copies
// without waiting on any, so a block's whole input window is in flight at once instead of one
// load latency per loop trip. Out-of-image positions are zero-filled by the copy itself.
#pragma once
#include <cuda_runtime.h>

namespace clicktrain {
namespace cuda {

// dst (shared) = valid ? *src : 0.f; src is not read when !valid (any address will do).
__device__ __forceinline__ void CopyAsync4(float* dst, const float* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned saddr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(saddr), "l"(src), "r"(valid ? 4 : 0));
#else
  *dst = valid ? __ldg(src) : 0.f;  // pre-sm_80 fallback
#endif
}

// 16-byte dst (shared) = *src, both 16-byte aligned; .cg: through L2 only (read once per block).
__device__ __forceinline__ void CopyAsync16(float* dst, const float* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned saddr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(saddr), "l"(src));
#else
  *reinterpret_cast<float4*>(dst) = __ldg(reinterpret_cast<const float4*>(src));
#endif
}

// Waits for this thread's outstanding CopyAsync4 / CopyAsync16; follow with __syncthreads() before reading.
__device__ __forceinline__ void CopyAsyncWaitAll() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::);
#endif
}

}  // namespace cuda
}  // namespace clicktrain
