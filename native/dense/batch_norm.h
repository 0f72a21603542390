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

// Gradients of FusedBatchNorm with respect to each of its inputs, as tfjs defines them (mean and
// variance are inputs there: their gradients flow on to the moments that produced them). All
// parameters have `channels` values; scale may be nullptr (scale 1). One pass over x and dy:
//   dx = dy * scale * r                      (r = 1 / sqrt(variance + epsilon))
//   dmean = -r * scale * sum(dy)             dvariance = -r^3 / 2 * scale * sum(dy * (x - mean))
//   dscale = r * sum(dy * (x - mean))        doffset = sum(dy)
// Sums accumulate in double per thread and combine in a fixed order (deterministic).
struct BatchNormGrads {
  float* dx;         // rows * channels
  float* dmean;      // channels each
  float* dvariance;
  float* dscale;
  float* doffset;
};
void BatchNormBackward(int64_t rows, int64_t channels, const float* x, const float* dy,
                       const float* mean, const float* variance, const float* scale,
                       float epsilon, const BatchNormGrads& g);

}  // namespace clicktrain
