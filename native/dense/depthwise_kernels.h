// Internal: depthwise conv row kernels. The same loop code (depthwise_impl.inc) is compiled twice,
// once for the x86-64 baseline (depthwise_conv2d.cc) and once with AVX2 flags
// (depthwise_conv2d_avx2.cc); the public functions pick one set by ActiveIsa().
#pragma once
#include <cstdint>

#include "common/conv_params.h"

namespace clicktrain {
namespace dw_internal {

struct RowFns {
  // y rows g in [g0, g1) (g = b*out_h + oh), overwritten, no epilogue.
  void (*forward)(const DepthwiseParams& p, const float* x, const float* w, float* y, int64_t g0,
                  int64_t g1);
  // dx rows q in [q0, q1) (q = b*in_h + ih), overwritten.
  void (*backprop_input)(const DepthwiseParams& p, const float* dy, const float* w, float* dx,
                         int64_t q0, int64_t q1);
  // acc[fh, fw, in_c, mult] += contributions of output rows g in [g0, g1).
  void (*backprop_filter)(const DepthwiseParams& p, const float* x, const float* dy, float* acc,
                          int64_t g0, int64_t g1);
};

const RowFns& GenericRowFns();
const RowFns& Avx2RowFns();

}  // namespace dw_internal
}  // namespace clicktrain
