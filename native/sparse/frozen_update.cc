#include "sparse/frozen_update.h"

#include <algorithm>

#include "common/thread_pool.h"

namespace clicktrain {
namespace {

constexpr int64_t kGrain = int64_t(1) << 15;

// Runs step(i) -> new value for every packed index, then syncs the transposed copy.
template <typename Step>
void UpdatePacked(PatternLayout& L, float* value_out, Step step) {
  float* values = L.values.data();
  ParallelFor(L.NumValues(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float w = step(i, values[i]);
      values[i] = w;
      if (value_out) value_out[i] = w;
    }
  });
  if (!L.transposed) return;
  PatternLayout& T = *L.transposed;
  const int32_t* src = L.transposed_value_src.data();
  ParallelFor(T.NumValues(), kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) T.values[i] = values[src[i]];
  });
}

}  // namespace

void GatherDenseToPacked(PatternLayout& L, const float* dense, float* packed) {
  EnsureRefreshOrder(L);
  const int32_t* di = L.refresh_dense_index.data();
  const int32_t* vi = L.refresh_value.data();
  ForEachRefreshBlock(L, [&](int64_t, int64_t, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) packed[vi[j]] = dense[di[j]];
  });
}

void StreamPackedToDense(PatternLayout& L, const float* packed, float* dense) {
  EnsureRefreshOrder(L);
  const int32_t* di = L.refresh_dense_index.data();
  const int32_t* vi = L.refresh_value.data();
  // Clear a block, then write its kept entries while it is still in cache.
  ForEachRefreshBlock(L, [&](int64_t d0, int64_t d1, int64_t j0, int64_t j1) {
    std::fill(dense + d0, dense + d1, 0.f);
    for (int64_t j = j0; j < j1; ++j) dense[di[j]] = packed[vi[j]];
  });
}

void FrozenSgdStep(PatternLayout& L, const float* g, float c, float* value_out) {
  UpdatePacked(L, value_out, [&](int64_t i, float w) { return w + c * g[i]; });
}

void FrozenMomentumStep(PatternLayout& L, const float* accum_in, const float* g, float c, float m,
                        bool nesterov, float* accum_out, float* value_out) {
  if (nesterov) {
    UpdatePacked(L, value_out, [&](int64_t i, float w) {
      const float a = m * accum_in[i] + g[i];
      accum_out[i] = a;
      return w + c * (g[i] + m * a);
    });
  } else {
    UpdatePacked(L, value_out, [&](int64_t i, float w) {
      const float a = m * accum_in[i] + g[i];
      accum_out[i] = a;
      return w + c * a;
    });
  }
}

}  // namespace clicktrain
