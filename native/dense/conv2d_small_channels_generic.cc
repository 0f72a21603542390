// The small-channel direct convolution's row kernels, portable build (SSE on x86-64: 4-float vectors, 16 registers).
#include <algorithm>
#include <cstring>
#include <utility>

#include "dense/conv2d_small_channels_kernels.h"

namespace clicktrain {
namespace small_channels_internal {
namespace {
constexpr int kLanes = 4;
constexpr int kFwdPixels = 4;
constexpr int kFwdVecs = 2;
constexpr int kBwdTaps = 6;
constexpr int kBwdVecs = 2;
#include "dense/conv2d_small_channels_kernels.inc"
}  // namespace

const RowKernels& GenericRowKernels() {
  static const RowKernels k{kLanes, &ForwardRow, &BackpropFilterRow};
  return k;
}

}  // namespace small_channels_internal
}  // namespace clicktrain
