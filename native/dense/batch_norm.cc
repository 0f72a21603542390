#include "dense/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <vector>

#include "common/cpu_features.h"
#include "common/float4.h"
#include "common/thread_pool.h"
#include "dense/batch_norm_kernels.h"

namespace clicktrain {
namespace {

float Param(const float* v, int64_t len, int64_t c, float dflt) {
  if (!v || len <= 0) return dflt;
  return len == 1 ? v[0] : v[c];
}

// tfjs's y = offset + (x - mean) * scale / sqrt(var + eps) as add + (x - mean) * mul per channel
// (the factor hoisted). BatchNormInference, the training forward and the relu-folded gradient all
// compute y from these arrays with the same kernel arithmetic, so they agree to the bit.
struct BatchNormAffine {
  std::vector<float> sub, mul, add;
  BatchNormAffine(const BatchNormArgs& a, int64_t channels)
      : sub(static_cast<size_t>(channels)), mul(static_cast<size_t>(channels)),
        add(static_cast<size_t>(channels)) {
    for (int64_t c = 0; c < channels; ++c) {
      const float mean = Param(a.mean, a.mean_len, c, 0.f);
      const float var = Param(a.variance, a.variance_len, c, 1.f);
      const float scale = Param(a.scale, a.scale_len, c, 1.f);
      const float offset = Param(a.offset, a.offset_len, c, 0.f);
      mul[c] = static_cast<float>(static_cast<double>(scale) / std::sqrt(static_cast<double>(var) + a.epsilon));
      add[c] = offset;
      sub[c] = mean;
    }
  }
  batch_norm_kernels::Affine Kernel() const { return {mul.data(), add.data()}; }
};

const batch_norm_kernels::Kernels& Kernels() {
  return ActiveIsa() == Isa::kGeneric ? batch_norm_kernels::GenericKernels() : batch_norm_kernels::Avx2Kernels();
}

// Rows per float-accumulated block of ChannelSums (and so the most rows a gradient kernel call
// reads at once from a filled dy block, DyRows).
constexpr int64_t kSumBlockRows = 64;

// Per-channel sums over the rows of two row functions, in double: contiguous row ranges, one
// partial per range, combined in a fixed order (deterministic). block(r0, n, fa, fb) adds rows
// [r0, r0 + n) to the float accumulators fa/fb (zeroed per block of 64 rows, so the float sums stay
// short); the block sums go to double so long reductions stay accurate.
template <typename Block>
void ChannelSums(int64_t rows, int64_t channels, Block block, double* sum_a, double* sum_b) {
  const size_t C = static_cast<size_t>(channels);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 14) / channels);
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(NumThreads(), rows / grain));
  std::vector<double> partial(static_cast<size_t>(parts) * 2 * C, 0.0);
  ParallelTasks(parts, [&](int64_t part, int) {
    double* pa = partial.data() + part * 2 * C;
    double* pb = pa + C;
    const int64_t b = rows * part / parts, e = rows * (part + 1) / parts;
    constexpr int64_t kBlock = kSumBlockRows;
    std::vector<float> fa(C), fb(C);
    for (int64_t r0 = b; r0 < e; r0 += kBlock) {
      std::fill(fa.begin(), fa.end(), 0.f);
      std::fill(fb.begin(), fb.end(), 0.f);
      block(r0, std::min(e, r0 + kBlock) - r0, fa.data(), fb.data());
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

// dy rows for the gradient kernels: straight from an array, or written on demand by a row function
// into a caller's buffer (blocks of at most kDyBlock rows).
constexpr int64_t kDyBlock = kSumBlockRows;
struct DyRows {
  const float* dy = nullptr;            // the whole dy, or
  const BatchNormDyRows* fill = nullptr;  // its rows on demand
  int64_t channels = 0;
  // Rows [r0, r0 + n): a pointer into dy, or buf after filling it (n <= kDyBlock then).
  const float* Get(int64_t r0, int64_t n, std::vector<float>& buf) const {
    if (dy) return dy + r0 * channels;
    if (n > kDyBlock) throw std::logic_error("batch norm: a filled dy block of more than kDyBlock rows");
    buf.resize(static_cast<size_t>(kDyBlock * channels));
    (*fill)(r0, n, buf.data());
    return buf.data();
  }
};

// sum(dy) and sum(dy * (x - mean)) per channel. With `relu` set, dy is the gradient at relu(y),
// y = relu's affine of x: each element takes tfjs's relu gradient on the way in.
void DyAndDyXSums(int64_t rows, int64_t channels, const float* x, const DyRows& dy, const float* mean,
                  const batch_norm_kernels::Affine* relu, double* sdy, double* sdyx) {
  const auto& k = Kernels();
  ChannelSums(
      rows, channels,
      [&](int64_t r0, int64_t n, float* fa, float* fb) {
        thread_local std::vector<float> buf;
        k.grad_sums(x + r0 * channels, dy.Get(r0, n, buf), n, channels, mean, relu, fa, fb);
      },
      sdy, sdyx);
}

// The FusedBatchNorm gradient's sums, with dx = dy * dx_mul written in the same pass.
void DyAndDyXSumsWithDx(int64_t rows, int64_t channels, const float* x, const float* dy,
                        const float* mean, const float* dx_mul, float* dx, double* sdy, double* sdyx) {
  ChannelSums(
      rows, channels,
      [&](int64_t r0, int64_t n, float* sa, float* sb) {
        for (int64_t row = r0; row < r0 + n; ++row) {
          int64_t c = 0;
          for (; c + 4 <= channels; c += 4) {
            const int64_t o = row * channels + c;
            const Float4 d = Load4(dy + o);
            Store4(sa + c, Load4(sa + c) + d);
            Store4(sb + c, Load4(sb + c) + d * (Load4(x + o) - Load4(mean + c)));
            Store4(dx + o, d * Load4(dx_mul + c));
          }
          for (; c < channels; ++c) {
            const int64_t o = row * channels + c;
            sa[c] += dy[o];
            sb[c] += dy[o] * (x[o] - mean[c]);
            dx[o] = dy[o] * dx_mul[c];
          }
        }
      },
      sdy, sdyx);
}

// The forward's parameters as FusedBatchNorm arguments (every array per channel or absent).
BatchNormArgs TrainingArgs(int64_t channels, const float* mean, const float* variance, const float* scale,
                           const float* offset, float epsilon) {
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
  return a;
}

}  // namespace

void BatchNormInference(const BatchNormArgs& a, int64_t rows, int64_t channels, const float* x,
                        float* y, bool relu) {
  if (rows <= 0 || channels <= 0) return;
  const BatchNormAffine f(a, channels);
  const batch_norm_kernels::Affine fk = f.Kernel();
  const auto& k = Kernels();
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / channels);
  ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) {
    k.apply(x + r0 * channels, r1 - r0, channels, f.sub.data(), fk, relu, y + r0 * channels);
  });
}

BatchNormFold::BatchNormFold(const BatchNormArgs& a, int64_t channels, bool relu) {
  BatchNormAffine f(a, channels);
  sub_ = std::move(f.sub);
  mul_ = std::move(f.mul);
  add_ = std::move(f.add);
  ep_ = {sub_.data(), mul_.data(), add_.data(), relu};
}

void ApplyEpilogueBatchNorm(const EpilogueBatchNorm& bn, int64_t rows, int64_t channels, int64_t c0,
                            int64_t c1, float* data) {
  const auto& k = Kernels();
  const batch_norm_kernels::Affine f{bn.mul + c0, bn.add + c0};
  if (c0 == 0 && c1 == channels) {
    k.apply(data, rows, channels, bn.sub, f, bn.relu, data);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* row = data + r * channels + c0;
    k.apply(row, 1, c1 - c0, bn.sub + c0, f, bn.relu, row);
  }
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
  DyAndDyXSumsWithDx(rows, channels, x, dy, mean, dx_mul.data(), g.dx, sdy.data(), sdyx.data());
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
  const auto& k = Kernels();
  std::vector<double> s1(C), s2(C);
  ChannelSums(
      rows, channels,
      [&](int64_t r0, int64_t n, float* fa, float* fb) { k.stats(x + r0 * channels, n, channels, sh, fa, fb); },
      s1.data(), s2.data());
  const double n = static_cast<double>(rows);  // rows = 0: NaN statistics, as tfjs's mean of nothing
  for (size_t c = 0; c < C; ++c) {
    const double d = s1[c] / n;
    mean[c] = static_cast<float>(sh[c] + d);
    variance[c] = static_cast<float>(std::max(0.0, s2[c] / n - d * d));
  }
  if (y) BatchNormInference(TrainingArgs(channels, mean, variance, scale, offset, epsilon), rows, channels, x, y);
}

void BatchNormTrainingApply(int64_t rows, int64_t channels, const float* x, const float* mean,
                            const float* variance, const float* scale, const float* offset,
                            float epsilon, bool relu, float* y) {
  if (channels <= 0) return;
  BatchNormInference(TrainingArgs(channels, mean, variance, scale, offset, epsilon), rows, channels, x, y, relu);
}

BatchNormRows::BatchNormRows(int64_t channels, const float* mean, const float* variance, const float* scale,
                             const float* offset, float epsilon, bool relu)
    : channels_(channels), relu_(relu) {
  const BatchNormAffine f(TrainingArgs(channels, mean, variance, scale, offset, epsilon), channels);
  sub_ = f.sub;
  mul_ = f.mul;
  add_ = f.add;
}

void BatchNormRows::Apply(const float* x, int64_t rows, float* y) const {
  if (rows <= 0 || channels_ <= 0) return;
  Kernels().apply(x, rows, channels_, sub_.data(), {mul_.data(), add_.data()}, relu_, y);
}

namespace {

// The relu's input y as the forward computed it (its affine's sub is this mean, to the bit), kept
// for a gradient that takes the relu gradient on the way in.
struct ReluAffine {
  std::optional<BatchNormAffine> forward;
  batch_norm_kernels::Affine kernel{};
  ReluAffine(int64_t channels, const float* mean, const float* variance, const float* scale, float epsilon,
             const BatchNormFollowingRelu* relu) {
    if (relu)
      kernel = forward.emplace(TrainingArgs(channels, mean, variance, scale, relu->offset, epsilon), channels).Kernel();
  }
  const batch_norm_kernels::Affine* get() const { return forward ? &kernel : nullptr; }
};

// The sums pass: dscale, doffset, and dx = k_dy * dy + k_x * (x - mean) + k_1 per channel
// (coefficients: k_dy, k_x, k_1, channels floats each).
void TrainingGradSums(int64_t rows, int64_t channels, const float* x, const DyRows& dy, const float* mean,
                      const float* variance, const float* scale, float epsilon, const ReluAffine& relu,
                      float* dscale, float* doffset, float* coefficients) {
  const size_t C = static_cast<size_t>(channels);
  std::vector<double> sdy(C), sdyx(C);
  DyAndDyXSums(rows, channels, x, dy, mean, relu.get(), sdy.data(), sdyx.data());
  float* k_dy = coefficients;
  float* k_x = coefficients + C;
  float* k_1 = coefficients + 2 * C;
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
}

void TrainingBackward(int64_t rows, int64_t channels, const float* x, const DyRows& dy, const float* mean,
                      const float* variance, const float* scale, float epsilon, float* dx, float* dscale,
                      float* doffset, const BatchNormFollowingRelu* relu) {
  if (channels <= 0) return;
  const ReluAffine ra(channels, mean, variance, scale, epsilon, relu);
  std::vector<float> coef(static_cast<size_t>(3 * channels));
  TrainingGradSums(rows, channels, x, dy, mean, variance, scale, epsilon, ra, dscale, doffset, coef.data());
  const float* k = coef.data();
  const auto& kern = Kernels();
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / channels);
  ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) {
    // Element by element: blocks of filled rows give the bits of one call over the range.
    const int64_t step = dy.dy ? r1 - r0 : kDyBlock;
    std::vector<float> buf;
    for (int64_t b = r0; b < r1; b += step) {
      const int64_t n = std::min(step, r1 - b), o = b * channels;
      kern.grad_dx(x + o, dy.Get(b, n, buf), n, channels, mean, k, k + channels, k + 2 * channels, ra.get(),
                   dx + o);
    }
  });
}

}  // namespace

void BatchNormTrainingBackward(int64_t rows, int64_t channels, const float* x, const float* dy,
                               const float* mean, const float* variance, const float* scale,
                               float epsilon, float* dx, float* dscale, float* doffset,
                               const BatchNormFollowingRelu* relu) {
  DyRows d;
  d.dy = dy;
  d.channels = channels;
  TrainingBackward(rows, channels, x, d, mean, variance, scale, epsilon, dx, dscale, doffset, relu);
}

void BatchNormTrainingBackwardRows(int64_t rows, int64_t channels, const float* x, const BatchNormDyRows& dy,
                                   const float* mean, const float* variance, const float* scale, float epsilon,
                                   float* dx, float* dscale, float* doffset, const BatchNormFollowingRelu* relu) {
  DyRows d;
  d.fill = &dy;
  d.channels = channels;
  TrainingBackward(rows, channels, x, d, mean, variance, scale, epsilon, dx, dscale, doffset, relu);
}

void BatchNormTrainingGradSums(int64_t rows, int64_t channels, const float* x, const float* dy,
                               const float* mean, const float* variance, const float* scale, float epsilon,
                               float* dscale, float* doffset, float* coefficients,
                               const BatchNormFollowingRelu* relu) {
  if (channels <= 0) return;
  DyRows d;
  d.dy = dy;
  d.channels = channels;
  TrainingGradSums(rows, channels, x, d, mean, variance, scale, epsilon,
                   ReluAffine(channels, mean, variance, scale, epsilon, relu), dscale, doffset, coefficients);
}

struct BatchNormGradDx::Relu {
  ReluAffine affine;
};

BatchNormGradDx::BatchNormGradDx(int64_t channels, const float* x, const float* dy, const float* mean,
                                 const float* variance, const float* scale, float epsilon,
                                 const float* coefficients, const BatchNormFollowingRelu* relu)
    : channels_(channels), x_(x), dy_(dy), mean_(mean), k_(coefficients),
      relu_(std::make_shared<Relu>(Relu{ReluAffine(channels, mean, variance, scale, epsilon, relu)})) {}

void BatchNormGradDx::Rows(int64_t first, int64_t n, float* dx) const {
  if (n <= 0 || channels_ <= 0) return;
  const int64_t o = first * channels_;
  Kernels().grad_dx(x_ + o, dy_ + o, n, channels_, mean_, k_, k_ + channels_, k_ + 2 * channels_,
                    relu_->affine.get(), dx);
}

void BatchNormGradDx::All(int64_t rows, float* dx) const {
  if (rows <= 0 || channels_ <= 0) return;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / channels_);
  ParallelFor(rows, grain, [&](int64_t r0, int64_t r1) { Rows(r0, r1 - r0, dx + r0 * channels_); });
}

}  // namespace clicktrain
