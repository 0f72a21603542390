#include "dense/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/float4.h"
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

void BatchNormBackward(int64_t rows, int64_t channels, const float* x, const float* dy,
                       const float* mean, const float* variance, const float* scale,
                       float epsilon, const BatchNormGrads& g) {
  if (channels <= 0) return;
  const size_t C = static_cast<size_t>(channels);
  std::vector<double> r(C);
  std::vector<float> dx_mul(C);
  for (size_t c = 0; c < C; ++c) {
    r[c] = 1.0 / std::sqrt(static_cast<double>(variance[c]) + epsilon);
    dx_mul[c] = static_cast<float>(r[c] * (scale ? scale[c] : 1.f));
  }
  // Contiguous row ranges, one partial (sum dy, sum dy*(x-mean)) per range.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / channels);
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(NumThreads(), rows / grain));
  std::vector<double> partial(static_cast<size_t>(parts) * 2 * C, 0.0);
  const float* dm = dx_mul.data();
  ParallelTasks(parts, [&](int64_t part, int) {
    double* sdy = partial.data() + part * 2 * C;
    double* sdyx = sdy + C;
    const int64_t b = rows * part / parts, e = rows * (part + 1) / parts;
    // Float accumulators per block of rows keep the inner loop vectorised; the block sums go to
    // double so long reductions stay accurate.
    constexpr int64_t kBlock = 64;
    std::vector<float> fdy(C), fdyx(C);
    for (int64_t r0 = b; r0 < e; r0 += kBlock) {
      std::fill(fdy.begin(), fdy.end(), 0.f);
      std::fill(fdyx.begin(), fdyx.end(), 0.f);
      const int64_t r1 = std::min(e, r0 + kBlock);
      // 4 channels at a time as vector types: the compiler kept the plain loop scalar (the sums
      // per channel are independent, so every channel keeps its summation order).
      float* sy = fdy.data();
      float* syx = fdyx.data();
      for (int64_t row = r0; row < r1; ++row) {
        const float* xr = x + row * channels;
        const float* dyr = dy + row * channels;
        float* dxr = g.dx + row * channels;
        int64_t c = 0;
        for (; c + 4 <= channels; c += 4) {
          const Float4 d = Load4(dyr + c);
          Store4(sy + c, Load4(sy + c) + d);
          Store4(syx + c, Load4(syx + c) + d * (Load4(xr + c) - Load4(mean + c)));
          Store4(dxr + c, d * Load4(dm + c));
        }
        for (; c < channels; ++c) {
          const float d = dyr[c];
          sy[c] += d;
          syx[c] += d * (xr[c] - mean[c]);
          dxr[c] = d * dm[c];
        }
      }
      for (size_t c = 0; c < C; ++c) {
        sdy[c] += fdy[c];
        sdyx[c] += fdyx[c];
      }
    }
  });
  for (size_t c = 0; c < C; ++c) {
    double sdy = 0, sdyx = 0;
    for (int64_t part = 0; part < parts; ++part) {
      sdy += partial[part * 2 * C + c];
      sdyx += partial[part * 2 * C + C + c];
    }
    const double s = scale ? scale[c] : 1.0;
    g.dmean[c] = static_cast<float>(-r[c] * s * sdy);
    g.dvariance[c] = static_cast<float>(-0.5 * r[c] * r[c] * r[c] * s * sdyx);
    g.dscale[c] = static_cast<float>(r[c] * sdyx);
    g.doffset[c] = static_cast<float>(sdy);
  }
}

}  // namespace clicktrain
