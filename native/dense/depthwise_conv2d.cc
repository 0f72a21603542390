#include "dense/depthwise_conv2d.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "dense/depthwise_kernels.h"

namespace clicktrain {
namespace dw_internal {
namespace {
#include "dense/depthwise_impl.inc"
}  // namespace

const RowFns& GenericRowFns() {
  static const RowFns fns{&DwForwardRows, &DwBackpropInputRows, &DwBackpropFilterRows};
  return fns;
}

}  // namespace dw_internal

namespace {

const dw_internal::RowFns& Fns() {
  return ActiveIsa() == Isa::kGeneric ? dw_internal::GenericRowFns() : dw_internal::Avx2RowFns();
}

void Validate(const DepthwiseParams& dp) {
  ValidateConv2DParams(dp.conv);
  if (dp.multiplier < 1) throw std::invalid_argument("depthwise conv2d: multiplier must be >= 1");
  if (dp.conv.out_c != dp.conv.in_c * dp.multiplier)
    throw std::invalid_argument("depthwise conv2d: out_c must equal in_c * multiplier");
}

int64_t Grain(int64_t row_work) { return std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(row_work, 1)); }

}  // namespace

void DepthwiseConv2DForward(const DepthwiseParams& dp, const float* x, const float* filter,
                            const Epilogue& ep, float* y) {
  Validate(dp);
  const Conv2DParams& p = dp.conv;
  const int64_t rows = p.batch * p.out_h;
  if (rows <= 0 || p.out_w <= 0 || p.out_c <= 0) return;
  const auto& fns = Fns();
  const int64_t row_work = p.out_w * p.out_c * p.filter_h * p.filter_w;
  ParallelFor(rows, Grain(row_work), [&](int64_t g0, int64_t g1) {
    fns.forward(dp, x, filter, y, g0, g1);
    ApplyEpilogue(ep, (g1 - g0) * p.out_w, p.out_c, y + g0 * p.out_w * p.out_c);
  });
}

void DepthwiseConv2DBackpropInput(const DepthwiseParams& dp, const float* dy, const float* filter,
                                  float* dx) {
  Validate(dp);
  const Conv2DParams& p = dp.conv;
  const int64_t rows = p.batch * p.in_h;
  if (rows <= 0 || p.in_w <= 0 || p.in_c <= 0) return;
  const auto& fns = Fns();
  const int64_t row_work = p.in_w * p.out_c * p.filter_h * p.filter_w;
  ParallelFor(rows, Grain(row_work),
              [&](int64_t q0, int64_t q1) { fns.backprop_input(dp, dy, filter, dx, q0, q1); });
}

void DepthwiseConv2DBackpropFilter(const DepthwiseParams& dp, const float* x, const float* dy,
                                   float* dfilter) {
  Validate(dp);
  const Conv2DParams& p = dp.conv;
  const int64_t fsize = p.filter_h * p.filter_w * p.out_c;
  if (fsize <= 0) return;
  std::memset(dfilter, 0, static_cast<size_t>(fsize) * sizeof(float));
  const int64_t rows = p.batch * p.out_h;
  if (rows <= 0 || p.out_w <= 0) return;
  const auto& fns = Fns();
  const int64_t row_work = p.out_w * p.out_c * p.filter_h * p.filter_w;
  const int64_t parts = std::min<int64_t>(
      NumThreads(), std::max<int64_t>(1, rows * row_work / (int64_t(1) << 15)));
  if (parts <= 1) {
    fns.backprop_filter(dp, x, dy, dfilter, 0, rows);
    return;
  }
  // One private accumulator per part (fixed split: deterministic), summed in order.
  std::vector<float> acc(static_cast<size_t>(parts * fsize), 0.f);
  ParallelTasks(parts, [&](int64_t t, int) {
    fns.backprop_filter(dp, x, dy, acc.data() + t * fsize, rows * t / parts, rows * (t + 1) / parts);
  });
  ParallelFor(fsize, 1024, [&](int64_t i0, int64_t i1) {
    for (int64_t t = 0; t < parts; ++t) {
      const float* a = acc.data() + t * fsize;
      for (int64_t i = i0; i < i1; ++i) dfilter[i] += a[i];
    }
  });
}

}  // namespace clicktrain
