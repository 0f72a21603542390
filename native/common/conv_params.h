// Geometry of a 2-D convolution or pooling window in NHWC, as tfjs's computeConv2DInfo gives it.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace clicktrain {

struct Conv2DParams {
  int64_t batch = 0;
  int64_t in_h = 0, in_w = 0, in_c = 0;
  int64_t out_h = 0, out_w = 0, out_c = 0;
  int64_t filter_h = 0, filter_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;

  int64_t InputSize() const { return batch * in_h * in_w * in_c; }
  int64_t OutputSize() const { return batch * out_h * out_w * out_c; }
  // Filter [filter_h, filter_w, in_c, out_c] (tfjs/TF HWIO layout).
  int64_t FilterSize() const { return filter_h * filter_w * in_c * out_c; }
  // Multiply-adds of one pass, times two.
  double Flops() const {
    return 2.0 * static_cast<double>(batch) * out_h * out_w * out_c * filter_h * filter_w * in_c;
  }
};

// Depthwise convolution: filter [filter_h, filter_w, in_c, multiplier], out_c = in_c * multiplier.
struct DepthwiseParams {
  Conv2DParams conv;
  int64_t multiplier = 1;
};

// Throws std::invalid_argument naming the first inconsistent field (negative or zero sizes where
// not allowed, strides/dilations < 1, output sizes that do not follow from the geometry).
void ValidateConv2DParams(const Conv2DParams& p);

}  // namespace clicktrain
