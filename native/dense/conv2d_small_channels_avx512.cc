// The small-channel direct convolution's row kernels, AVX-512 build (16-float vectors, 32 registers).
#include <algorithm>
#include <cstring>
#include <utility>

#include "dense/conv2d_small_channels_kernels.h"

namespace clicktrain {
namespace small_channels_internal {
namespace {
constexpr int kLanes = 16;
constexpr int kFwdPixels = 6;
constexpr int kFwdVecs = 4;
constexpr int kBwdTaps = 14;
constexpr int kBwdVecs = 2;
#include "dense/conv2d_small_channels_kernels.inc"
}  // namespace

const RowKernels& Avx512RowKernels() {
  static const RowKernels k{kLanes, &ForwardRow, &BackpropFilterRow};
  return k;
}

}  // namespace small_channels_internal
}  // namespace clicktrain
