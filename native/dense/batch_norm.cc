#include "dense/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/thread_pool.h"

namespace clicktrain {
namespace {

float Param(const float* v, int64_t len, int64_t c, float dflt) {
  if (!v || len <= 0) return dflt;
  return len == 1 ? v[0] : v[c];
}

}  // namespace

void BatchNormInference(const BatchNormArgs& a, int64_t rows, int64_t channels, const float* x,
                        float* y) {
  if (rows <= 0 || channels <= 0) return;
  // tfjs: y = offset + (x - mean) * scale / sqrt(var + eps); the per-channel factor is hoisted.
  std::vector<float> mul(static_cast<size_t>(channels)), add(static_cast<size_t>(channels)),
      sub(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = Param(a.mean, a.mean_len, c, 0.f);
    const float var = Param(a.variance, a.variance_len, c, 1.f);
    const float scale = Param(a.scale, a.scale_len, c, 1.f);
    const float offset = Param(a.offset, a.offset_len, c, 0.f);
    mul[c] = static_cast<float>(static_cast<double>(scale) / std::sqrt(static_cast<double>(var) + a.epsilon));
    add[c] = offset;
    sub[c] = mean;
  }
  const float* m = mul.data();
  const float* ad = add.data();
  const float* sb = sub.data();
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / channels);
  ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * channels;
      float* yr = y + r * channels;
      for (int64_t c = 0; c < channels; ++c) yr[c] = ad[c] + (xr[c] - sb[c]) * m[c];
    }
  });
}

}  // namespace clicktrain
