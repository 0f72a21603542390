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

// Per-channel sums over the rows of a = f(row values) and b, in double: contiguous row ranges,
// one partial per range, combined in a fixed order (deterministic). Float accumulators per block
// of rows keep the inner loop vectorised (4 channels at a time as vector types: the plain loop
// stayed scalar); the block sums go to double so long reductions stay accurate. row(ri, c0, sa, sb)
// adds channels [c0, c0+4) of row ri to sa/sb as Float4 (c0 = -1: the scalar tail, all channels
// from `tail`).
template <typename Row4, typename RowTail>
void ChannelSums(int64_t rows, int64_t channels, Row4 row4, RowTail row_tail, double* sum_a,
                 double* sum_b) {
  const size_t C = static_cast<size_t>(channels);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / channels);
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(NumThreads(), rows / grain));
  std::vector<double> partial(static_cast<size_t>(parts) * 2 * C, 0.0);
  ParallelTasks(parts, [&](int64_t part, int) {
    double* pa = partial.data() + part * 2 * C;
    double* pb = pa + C;
    const int64_t b = rows * part / parts, e = rows * (part + 1) / parts;
    constexpr int64_t kBlock = 64;
    std::vector<float> fa(C), fb(C);
    for (int64_t r0 = b; r0 < e; r0 += kBlock) {
      std::fill(fa.begin(), fa.end(), 0.f);
      std::fill(fb.begin(), fb.end(), 0.f);
      const int64_t r1 = std::min(e, r0 + kBlock);
      for (int64_t row = r0; row < r1; ++row) {
        int64_t c = 0;
        for (; c + 4 <= channels; c += 4) row4(row, c, fa.data() + c, fb.data() + c);
        row_tail(row, c, fa.data(), fb.data());
      }
      for (size_t c = 0; c < C; ++c) {
        pa[c] += fa[c];
        pb[c] += fb[c];
      }
    }
  });
  for (size_t c = 0; c < C; ++c) {
    double sa = 0, sb = 0;
    for (int64_t part = 0; part < parts; ++part) {
      sa += partial[part * 2 * C + c];
      sb += partial[part * 2 * C + C + c];
    }
    sum_a[c] = sa;
    sum_b[c] = sb;
  }
}

// sum(dy) and sum(dy * (x - mean)) per channel; dx = dy * dx_mul too when dx is given.
void DyAndDyXSums(int64_t rows, int64_t channels, const float* x, const float* dy, const float* mean,
                  const float* dx_mul, float* dx, double* sdy, double* sdyx) {
  ChannelSums(
      rows, channels,
      [&](int64_t row, int64_t c, float* sa, float* sb) {
        const int64_t o = row * channels + c;
        const Float4 d = Load4(dy + o);
        Store4(sa, Load4(sa) + d);
        Store4(sb, Load4(sb) + d * (Load4(x + o) - Load4(mean + c)));
        if (dx) Store4(dx + o, d * Load4(dx_mul + c));
      },
      [&](int64_t row, int64_t c0, float* sa, float* sb) {
        for (int64_t c = c0; c < channels; ++c) {
          const int64_t o = row * channels + c;
          sa[c] += dy[o];
          sb[c] += dy[o] * (x[o] - mean[c]);
          if (dx) dx[o] = dy[o] * dx_mul[c];
        }
      },
      sdy, sdyx);
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
  std::vector<double> r(C), sdy(C), sdyx(C);
  std::vector<float> dx_mul(C);
  for (size_t c = 0; c < C; ++c) {
    r[c] = 1.0 / std::sqrt(static_cast<double>(variance[c]) + epsilon);
    dx_mul[c] = static_cast<float>(r[c] * (scale ? scale[c] : 1.f));
  }
  DyAndDyXSums(rows, channels, x, dy, mean, dx_mul.data(), g.dx, sdy.data(), sdyx.data());
  for (size_t c = 0; c < C; ++c) {
    const double s = scale ? scale[c] : 1.0;
    g.dmean[c] = static_cast<float>(-r[c] * s * sdy[c]);
    g.dvariance[c] = static_cast<float>(-0.5 * r[c] * r[c] * r[c] * s * sdyx[c]);
    g.dscale[c] = static_cast<float>(r[c] * sdyx[c]);
    g.doffset[c] = static_cast<float>(sdy[c]);
  }
}

void BatchNormTrainingForward(int64_t rows, int64_t channels, const float* x, const float* scale,
                              const float* offset, float epsilon, float* y, float* mean,
                              float* variance) {
  if (channels <= 0) return;
  const size_t C = static_cast<size_t>(channels);
  // Sums of (x - shift) and (x - shift)^2 with shift = the first row: the variance then comes from
  // numbers of the size of the spread, not of the mean.
  std::vector<float> shift(C, 0.f);
  if (rows > 0) std::copy(x, x + channels, shift.begin());
  const float* sh = shift.data();
  std::vector<double> s1(C), s2(C);
  ChannelSums(
      rows, channels,
      [&](int64_t row, int64_t c, float* sa, float* sb) {
        const Float4 d = Load4(x + row * channels + c) - Load4(sh + c);
        Store4(sa, Load4(sa) + d);
        Store4(sb, Load4(sb) + d * d);
      },
      [&](int64_t row, int64_t c0, float* sa, float* sb) {
        for (int64_t c = c0; c < channels; ++c) {
          const float d = x[row * channels + c] - sh[c];
          sa[c] += d;
          sb[c] += d * d;
        }
      },
      s1.data(), s2.data());
  const double n = static_cast<double>(rows);  // rows = 0: NaN statistics, as tfjs's mean of nothing
  for (size_t c = 0; c < C; ++c) {
    const double d = s1[c] / n;
    mean[c] = static_cast<float>(sh[c] + d);
    variance[c] = static_cast<float>(std::max(0.0, s2[c] / n - d * d));
  }
  BatchNormArgs a;
  a.mean = mean;
  a.mean_len = channels;
  a.variance = variance;
  a.variance_len = channels;
  a.scale = scale;
  a.scale_len = scale ? channels : 0;
  a.offset = offset;
  a.offset_len = offset ? channels : 0;
  a.epsilon = epsilon;
  BatchNormInference(a, rows, channels, x, y);
}

void BatchNormTrainingBackward(int64_t rows, int64_t channels, const float* x, const float* dy,
                               const float* mean, const float* variance, const float* scale,
                               float epsilon, float* dx, float* dscale, float* doffset) {
  if (channels <= 0) return;
  const size_t C = static_cast<size_t>(channels);
  std::vector<double> sdy(C), sdyx(C);
  DyAndDyXSums(rows, channels, x, dy, mean, nullptr, nullptr, sdy.data(), sdyx.data());
  // dx = k_dy * dy + k_x * (x - mean) + k_1 per channel.
  std::vector<float> k_dy(C), k_x(C), k_1(C);
  const double n = static_cast<double>(rows);
  for (size_t c = 0; c < C; ++c) {
    const double r = 1.0 / std::sqrt(static_cast<double>(variance[c]) + epsilon);
    const double s = scale ? scale[c] : 1.0;
    k_dy[c] = static_cast<float>(s * r);
    k_x[c] = static_cast<float>(-s * r * r * r * sdyx[c] / n);
    k_1[c] = static_cast<float>(-s * r * sdy[c] / n);
    dscale[c] = static_cast<float>(r * sdyx[c]);
    doffset[c] = static_cast<float>(sdy[c]);
  }
  const float *a = k_dy.data(), *b = k_x.data(), *k = k_1.data();
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / channels);
  ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const float* xr = x + row * channels;
      const float* dyr = dy + row * channels;
      float* dxr = dx + row * channels;
      int64_t c = 0;
      for (; c + 4 <= channels; c += 4)
        Store4(dxr + c, Load4(a + c) * Load4(dyr + c) + Load4(b + c) * (Load4(xr + c) - Load4(mean + c)) +
                            Load4(k + c));
      for (; c < channels; ++c) dxr[c] = a[c] * dyr[c] + b[c] * (xr[c] - mean[c]) + k[c];
    }
  });
}

}  // namespace clicktrain
