// Test fixtures shared by the CUDA tests: a PatternLayout built by hand (independent of the sparse
// engineer's BuildPatternLayout, with a random filter reorder) and float64 reference convolutions.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/conv_params.h"
#include "sparse/pattern_layout.h"
#include "test_util.h"

namespace clicktrain_test {

// Random masks[ic * out_c + oc]: kept with probability keep, pattern drawn from a library of
// lib_size masks with `taps` entries (taps 0 = random sizes 1..9).
inline std::vector<uint16_t> RandomMasks(int in_c, int out_c, double keep, int lib_size, int taps) {
  std::vector<uint16_t> lib;
  while (int(lib.size()) < lib_size) {
    uint16_t m = 0;
    const int want = taps > 0 ? taps : RandInt(1, 9);
    while (__builtin_popcount(m) < want) m |= uint16_t(1u << RandInt(0, 8));
    if (std::find(lib.begin(), lib.end(), m) == lib.end()) lib.push_back(m);
  }
  std::vector<uint16_t> masks(size_t(in_c) * out_c, 0);
  std::uniform_real_distribution<double> u(0, 1);
  for (auto& m : masks)
    if (u(Rng()) < keep) m = lib[size_t(RandInt(0, lib_size - 1))];
  return masks;
}

// Layout fields filled from masks and random values; filter order = random permutation.
inline clicktrain::PatternLayout HandLayout(const std::vector<uint16_t>& masks, int in_c, int out_c) {
  clicktrain::PatternLayout l;
  l.in_c = in_c;
  l.out_c = out_c;
  for (uint16_t m : masks)
    if (m && std::find(l.patterns.begin(), l.patterns.end(), m) == l.patterns.end()) l.patterns.push_back(m);
  std::sort(l.patterns.begin(), l.patterns.end(), [](uint16_t a, uint16_t b) {
    const int pa = __builtin_popcount(a), pb = __builtin_popcount(b);
    return pa != pb ? pa < pb : a < b;
  });
  for (uint16_t m : l.patterns) l.pattern_size.push_back(__builtin_popcount(m));
  l.filter_order.resize(size_t(out_c));
  for (int i = 0; i < out_c; ++i) l.filter_order[size_t(i)] = i;
  std::shuffle(l.filter_order.begin(), l.filter_order.end(), Rng());
  l.filter_slot.resize(size_t(out_c));
  for (int s = 0; s < out_c; ++s) l.filter_slot[size_t(l.filter_order[size_t(s)])] = s;
  l.filter_kernel_begin.push_back(0);
  l.kernel_value_begin.push_back(0);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (int s = 0; s < out_c; ++s) {
    const int oc = l.filter_order[size_t(s)];
    for (int ic = 0; ic < in_c; ++ic) {
      const uint16_t m = masks[size_t(ic) * out_c + oc];
      if (!m) continue;
      const int p = int(std::find(l.patterns.begin(), l.patterns.end(), m) - l.patterns.begin());
      l.kernel_ic.push_back(ic);
      l.kernel_pattern.push_back(p);
      for (int bit = 0; bit < 9; ++bit)
        if (m & (1u << bit)) {
          l.values.push_back(d(Rng()));
          l.value_dense_index.push_back((bit * in_c + ic) * out_c + oc);
        }
      l.kernel_value_begin.push_back(int32_t(l.values.size()));
    }
    l.filter_kernel_begin.push_back(int32_t(l.kernel_ic.size()));
  }
  return l;
}

inline std::vector<float> DenseFromLayout(const clicktrain::PatternLayout& l) {
  std::vector<float> w(size_t(9) * l.in_c * l.out_c, 0.f);
  for (size_t i = 0; i < l.values.size(); ++i) w[size_t(l.value_dense_index[i])] = l.values[i];
  return w;
}

inline std::vector<double> RefForward(const clicktrain::Conv2DParams& p, const std::vector<float>& x,
                                      const std::vector<float>& w) {
  std::vector<double> y(size_t(p.OutputSize()), 0.0);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t kh = 0; kh < p.filter_h; ++kh)
          for (int64_t kw = 0; kw < p.filter_w; ++kw) {
            const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
            const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
            for (int64_t ic = 0; ic < p.in_c; ++ic) {
              const double xv = x[size_t(((b * p.in_h + ih) * p.in_w + iw) * p.in_c + ic)];
              for (int64_t oc = 0; oc < p.out_c; ++oc)
                y[size_t(((b * p.out_h + oh) * p.out_w + ow) * p.out_c + oc)] +=
                    xv * w[size_t(((kh * p.filter_w + kw) * p.in_c + ic) * p.out_c + oc)];
            }
          }
  return y;
}

inline std::vector<double> RefBackpropInput(const clicktrain::Conv2DParams& p, const std::vector<float>& dy,
                                            const std::vector<float>& w) {
  std::vector<double> dx(size_t(p.InputSize()), 0.0);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t kh = 0; kh < p.filter_h; ++kh)
          for (int64_t kw = 0; kw < p.filter_w; ++kw) {
            const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
            const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
            for (int64_t ic = 0; ic < p.in_c; ++ic)
              for (int64_t oc = 0; oc < p.out_c; ++oc)
                dx[size_t(((b * p.in_h + ih) * p.in_w + iw) * p.in_c + ic)] +=
                    double(dy[size_t(((b * p.out_h + oh) * p.out_w + ow) * p.out_c + oc)]) *
                    w[size_t(((kh * p.filter_w + kw) * p.in_c + ic) * p.out_c + oc)];
          }
  return dx;
}

inline std::vector<double> RefBackpropFilter(const clicktrain::Conv2DParams& p, const std::vector<float>& x,
                                             const std::vector<float>& dy) {
  std::vector<double> dw(size_t(p.FilterSize()), 0.0);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int64_t kh = 0; kh < p.filter_h; ++kh)
          for (int64_t kw = 0; kw < p.filter_w; ++kw) {
            const int64_t ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
            const int64_t iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
            for (int64_t ic = 0; ic < p.in_c; ++ic)
              for (int64_t oc = 0; oc < p.out_c; ++oc)
                dw[size_t(((kh * p.filter_w + kw) * p.in_c + ic) * p.out_c + oc)] +=
                    double(x[size_t(((b * p.in_h + ih) * p.in_w + iw) * p.in_c + ic)]) *
                    dy[size_t(((b * p.out_h + oh) * p.out_w + ow) * p.out_c + oc)];
          }
  return dw;
}

// Random conv geometry (3x3 unless fh/fw given), outputs per tfjs's explicit-padding rule.
inline clicktrain::Conv2DParams RandomParams(int fh = 3, int fw = 3) {
  clicktrain::Conv2DParams p;
  p.batch = RandInt(1, 3);
  p.in_h = RandInt(1, 12); p.in_w = RandInt(1, 12);
  p.in_c = RandInt(1, 19); p.out_c = RandInt(1, 37);
  p.filter_h = fh; p.filter_w = fw;
  p.stride_h = RandInt(1, 2); p.stride_w = RandInt(1, 2);
  p.dilation_h = RandInt(0, 3) == 0 ? 2 : 1; p.dilation_w = RandInt(0, 3) == 0 ? 2 : 1;
  p.pad_top = RandInt(0, 2); p.pad_left = RandInt(0, 2);
  const int64_t eh = (fh - 1) * p.dilation_h + 1, ew = (fw - 1) * p.dilation_w + 1;
  const int64_t pb = RandInt(0, 2), pr = RandInt(0, 2);
  p.in_h = std::max(p.in_h, eh - p.pad_top - pb); p.in_w = std::max(p.in_w, ew - p.pad_left - pr);
  p.out_h = (p.in_h + p.pad_top + pb - eh) / p.stride_h + 1;
  p.out_w = (p.in_w + p.pad_left + pr - ew) / p.stride_w + 1;
  return p;
}

}  // namespace clicktrain_test
