// Float64 reference kernels and random geometry for the dense tests (test_dense_*.cc).
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/conv_params.h"
#include "common/cpu_features.h"
#include "dense/epilogue.h"

#include "test_isas.h"
#include "test_util.h"

namespace clicktrain_test {

using clicktrain::Conv2DParams;

inline std::string Describe(const Conv2DParams& p) {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "b%lld in%lldx%lldx%lld out%lldx%lldx%lld f%lldx%lld s%lld,%lld d%lld,%lld p%lld,%lld",
                (long long)p.batch, (long long)p.in_h, (long long)p.in_w, (long long)p.in_c,
                (long long)p.out_h, (long long)p.out_w, (long long)p.out_c, (long long)p.filter_h,
                (long long)p.filter_w, (long long)p.stride_h, (long long)p.stride_w,
                (long long)p.dilation_h, (long long)p.dilation_w, (long long)p.pad_top,
                (long long)p.pad_left);
  return buf;
}

// One spatial dimension: 0 = valid, 1 = same, 2 = explicit asymmetric padding.
inline bool PickDim(int mode, int64_t in, int64_t f, int64_t s, int64_t d, int64_t* out,
                    int64_t* pad_before) {
  const int64_t eff = (f - 1) * d + 1;
  if (mode == 0) {
    *pad_before = 0;
    *out = in >= eff ? (in - eff) / s + 1 : 0;
  } else if (mode == 1) {
    *out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((*out - 1) * s + eff - in, 0);
    *pad_before = total / 2;
  } else {
    const int64_t pb = RandInt(0, 3), pa = RandInt(0, 3);
    *pad_before = pb;
    const int64_t span = in + pb + pa;
    *out = span >= eff ? (span - eff) / s + 1 : 0;
  }
  return *out > 0;
}

// Random geometry with odd sizes, strides/dilations 1..2 (not both > 1 on one axis, as tfjs),
// 1x1 / 3x3 / 5x5 / non-square filters and valid / same / asymmetric explicit padding.
inline Conv2DParams RandomConvParams(int max_hw = 11, int max_c = 19) {
  for (;;) {
    Conv2DParams p;
    p.batch = RandInt(1, 3);
    p.in_h = RandInt(1, max_hw);
    p.in_w = RandInt(1, max_hw);
    p.in_c = RandInt(1, max_c);
    p.out_c = RandInt(1, max_c + 2);
    static const int kFilters[][2] = {{1, 1}, {3, 3}, {5, 5}, {2, 3}, {3, 1}, {1, 4}, {3, 3}};
    const auto& f = kFilters[RandInt(0, 6)];
    p.filter_h = f[0];
    p.filter_w = f[1];
    p.stride_h = RandInt(1, 2);
    p.stride_w = RandInt(1, 2);
    p.dilation_h = p.stride_h == 1 ? RandInt(1, 2) : 1;
    p.dilation_w = p.stride_w == 1 ? RandInt(1, 2) : 1;
    const int mode = RandInt(0, 2);
    if (!PickDim(mode, p.in_h, p.filter_h, p.stride_h, p.dilation_h, &p.out_h, &p.pad_top)) continue;
    if (!PickDim(mode, p.in_w, p.filter_w, p.stride_w, p.dilation_w, &p.out_w, &p.pad_left)) continue;
    return p;
  }
}

// Visits every (output, tap) pair of a conv/pool geometry whose tap is inside the input.
template <typename F>
void ForEachTap(const Conv2DParams& p, F f) {
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t kh = 0; kh < p.filter_h; ++kh) {
          const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
          if (ih < 0 || ih >= p.in_h) continue;
          for (int64_t kw = 0; kw < p.filter_w; ++kw) {
            const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
            if (iw < 0 || iw >= p.in_w) continue;
            f(b, oh, ow, kh, kw, ih, iw);
          }
        }
}

inline std::vector<double> RefConvForward(const Conv2DParams& p, const std::vector<float>& x,
                                          const std::vector<float>& w) {
  std::vector<double> y(static_cast<size_t>(p.OutputSize()), 0.0);
  ForEachTap(p, [&](int64_t b, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
    double* yo = &y[((b * p.out_h + oh) * p.out_w + ow) * p.out_c];
    const float* xi = &x[((b * p.in_h + ih) * p.in_w + iw) * p.in_c];
    for (int64_t ic = 0; ic < p.in_c; ++ic) {
      const float* wr = &w[((kh * p.filter_w + kw) * p.in_c + ic) * p.out_c];
      for (int64_t oc = 0; oc < p.out_c; ++oc) yo[oc] += double(xi[ic]) * wr[oc];
    }
  });
  return y;
}

inline std::vector<double> RefConvBackpropInput(const Conv2DParams& p, const std::vector<float>& dy,
                                                const std::vector<float>& w) {
  std::vector<double> dx(static_cast<size_t>(p.InputSize()), 0.0);
  ForEachTap(p, [&](int64_t b, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
    const float* dyo = &dy[((b * p.out_h + oh) * p.out_w + ow) * p.out_c];
    double* dxi = &dx[((b * p.in_h + ih) * p.in_w + iw) * p.in_c];
    for (int64_t ic = 0; ic < p.in_c; ++ic) {
      const float* wr = &w[((kh * p.filter_w + kw) * p.in_c + ic) * p.out_c];
      double s = 0;
      for (int64_t oc = 0; oc < p.out_c; ++oc) s += double(dyo[oc]) * wr[oc];
      dxi[ic] += s;
    }
  });
  return dx;
}

inline std::vector<double> RefConvBackpropFilter(const Conv2DParams& p, const std::vector<float>& x,
                                                 const std::vector<float>& dy) {
  std::vector<double> dw(static_cast<size_t>(p.FilterSize()), 0.0);
  ForEachTap(p, [&](int64_t b, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
    const float* dyo = &dy[((b * p.out_h + oh) * p.out_w + ow) * p.out_c];
    const float* xi = &x[((b * p.in_h + ih) * p.in_w + iw) * p.in_c];
    for (int64_t ic = 0; ic < p.in_c; ++ic) {
      double* wr = &dw[((kh * p.filter_w + kw) * p.in_c + ic) * p.out_c];
      for (int64_t oc = 0; oc < p.out_c; ++oc) wr[oc] += double(xi[ic]) * dyo[oc];
    }
  });
  return dw;
}

// tfjs formulas in double.
inline void RefEpilogue(const clicktrain::Epilogue& ep, int64_t rows, int64_t channels,
                        std::vector<double>* data) {
  using clicktrain::Activation;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      double& v = (*data)[r * channels + c];
      if (ep.bias) v += ep.bias_scalar ? ep.bias[0] : ep.bias[c];
      switch (ep.activation) {
        case Activation::kLinear: break;
        case Activation::kRelu: v = std::max(0.0, v); break;
        case Activation::kRelu6: v = std::min(std::max(v, 0.0), 6.0); break;
        case Activation::kElu: v = v >= 0 ? v : std::exp(v) - 1; break;
        case Activation::kSigmoid: v = 1 / (1 + std::exp(-v)); break;
        case Activation::kLeakyRelu: v = v < 0 ? ep.leaky_alpha * v : v; break;
        case Activation::kPrelu: {
          const double w = ep.prelu_scalar ? ep.prelu[0] : ep.prelu[c];
          v = v < 0 ? w * v : v;
          break;
        }
      }
    }
}

// Turns the summed-term magnitudes of a pre-epilogue output into those of the epilogue's output
// (see MaxErrorVsMagnitude): adds |bias|; every activation is 1-Lipschitz, so it cannot grow an
// error, but elu and sigmoid go through exp(v), whose float rounding is of the order of exp(v) ~ 1
// whatever the size of v, so their magnitude is at least 1.
inline void EpilogueMagnitude(const clicktrain::Epilogue& ep, int64_t rows, int64_t channels,
                              std::vector<double>* mag) {
  using clicktrain::Activation;
  const bool via_exp = ep.activation == Activation::kElu || ep.activation == Activation::kSigmoid;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c) {
      double& m = (*mag)[r * channels + c];
      if (ep.bias) m += std::fabs(ep.bias_scalar ? ep.bias[0] : ep.bias[c]);
      if (via_exp) m = std::max(m, 1.0);
    }
}

// A random epilogue over `channels`; the storage lives in *bias / *prelu.
inline clicktrain::Epilogue RandomEpilogue(int64_t channels, std::vector<float>* bias,
                                           std::vector<float>* prelu) {
  clicktrain::Epilogue ep;
  const int bias_mode = RandInt(0, 2);
  if (bias_mode > 0) {
    *bias = RandomVector(static_cast<size_t>(bias_mode == 1 ? std::max<int64_t>(channels, 1) : 1));
    ep.bias = bias->data();
    ep.bias_scalar = bias_mode == 2;
  }
  ep.activation = static_cast<clicktrain::Activation>(RandInt(0, 6));
  ep.leaky_alpha = 0.1f + 0.3f * static_cast<float>(RandInt(0, 3));
  if (ep.activation == clicktrain::Activation::kPrelu) {
    const bool scalar = RandInt(0, 1) == 1;
    *prelu = RandomVector(static_cast<size_t>(scalar ? 1 : std::max<int64_t>(channels, 1)), 0.f, 0.5f);
    ep.prelu = prelu->data();
    ep.prelu_scalar = scalar;
  }
  return ep;
}

// Tolerance for float sums of `terms` products of values in [-1, 1], relative to max|ref|:
// rounding error grows like sqrt(terms) * 2^-24 in the worst realistic case, so 1e-5 holds up to a
// few hundred terms and the bound widens slowly beyond (e.g. 4.6e-5 for 20000 terms).
inline double SumTolerance(int64_t terms) {
  return std::max(1e-5, 3.3e-7 * std::sqrt(static_cast<double>(std::max<int64_t>(terms, 1))));
}

}  // namespace clicktrain_test
