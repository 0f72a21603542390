#include "common/conv_params.h"

namespace clicktrain {
namespace {

void Require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("conv2d: " + what);
}

}  // namespace

void ValidateConv2DParams(const Conv2DParams& p) {
  Require(p.batch >= 0 && p.in_h >= 0 && p.in_w >= 0 && p.in_c >= 0, "negative input size");
  Require(p.out_h >= 0 && p.out_w >= 0 && p.out_c >= 0, "negative output size");
  Require(p.filter_h >= 1 && p.filter_w >= 1, "filter size must be >= 1");
  Require(p.stride_h >= 1 && p.stride_w >= 1, "strides must be >= 1");
  Require(p.dilation_h >= 1 && p.dilation_w >= 1, "dilations must be >= 1");
  Require(p.pad_top >= 0 && p.pad_left >= 0, "padding must be >= 0");
  const int64_t kMax = int64_t(1) << 40;
  Require(p.batch < kMax && p.in_h < kMax && p.in_w < kMax && p.in_c < kMax && p.out_c < kMax &&
              p.filter_h < 4096 && p.filter_w < 4096 && p.pad_top < kMax && p.pad_left < kMax,
          "size out of range");
  // Any output extent is memory-safe: taps outside the input read as zero (explicit padding
  // can legitimately make the output larger than the input).
  Require(p.out_h < kMax && p.out_w < kMax, "output size out of range");
}

}  // namespace clicktrain
