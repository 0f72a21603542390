// tfjs FusedBatchNorm: y = (x - mean) * rsqrt(variance + epsilon) * scale + offset, where x is
// [rows, channels] (channels innermost) and each parameter has `channels` values, or one value
// (its *_len = 1) broadcast to all, or is absent (nullptr: scale 1, offset 0).
#pragma once
#include <cstdint>

namespace clicktrain {

struct BatchNormArgs {
  const float* mean = nullptr;
  int64_t mean_len = 0;
  const float* variance = nullptr;
  int64_t variance_len = 0;
  const float* scale = nullptr;
  int64_t scale_len = 0;
  const float* offset = nullptr;
  int64_t offset_len = 0;
  float epsilon = 1e-3f;
};

void BatchNormInference(const BatchNormArgs& a, int64_t rows, int64_t channels, const float* x,
                        float* y);

}  // namespace clicktrain
