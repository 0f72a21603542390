// Internal: the per-ISA row kernels of the small-channel direct convolution
// (conv2d_small_channels.h). The same code (conv2d_small_channels_kernels.inc) is compiled once
// per ISA with its vector width; conv2d_small_channels.cc picks one set by ActiveIsa().
//
// Both kernels see one output row segment of n pixels through a zero-padded input slab: output
// pixel o reads tap k (a (kh, kw, ic) triple, HWIO order) at x[o * step + koff[k]].
#pragma once
#include <cstdint>

namespace clicktrain {
namespace small_channels_internal {

struct RowKernels {
  int lanes;  // output channels per vector: filters are packed with out_c padded to a multiple
  // y[o * out_c + oc] = act(sum_k x[o * step + koff[k]] * w[k * ocp + oc] + bias[oc]), o < n,
  // oc < out_c (w: [K][ocp], zero past out_c; bias: ocp floats or nullptr; act: relu or none).
  void (*forward)(const float* x, const int32_t* koff, int64_t K, int64_t step, const float* w,
                  const float* bias, bool relu, int64_t ocp, int64_t out_c, int64_t n, float* y);
  // acc[k * ocp + oc] += sum_{o < n} x[o * step + koff[k]] * dy[o * out_c + oc], oc < out_c
  // (acc past out_c untouched or zero-summed).
  void (*backprop_filter)(const float* x, const int32_t* koff, int64_t K, int64_t step,
                          const float* dy, int64_t out_c, int64_t n, int64_t ocp, float* acc);
};

const RowKernels& GenericRowKernels();
const RowKernels& Avx2RowKernels();    // only after CPUID says AVX2 + FMA
const RowKernels& Avx512RowKernels();  // only after CPUID says AVX-512

}  // namespace small_channels_internal
}  // namespace clicktrain
