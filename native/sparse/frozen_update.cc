#include "sparse/frozen_update.h"

#include <algorithm>

namespace clicktrain {
namespace {

// Visits the kept positions in dense order, block by block: the dense outputs of a block are
// cleared, then its kept entries written while the block is still in cache. step(v) updates
// packed value index v and returns what the dense outputs get at its position.
template <typename Step>
void StreamStep(PatternLayout& L, float* dense_a, float* dense_b, Step step) {
  EnsureRefreshOrder(L);
  const int32_t* di = L.refresh_dense_index.data();
  const int32_t* vi = L.refresh_value.data();
  const int32_t* ti = L.transposed ? L.refresh_transposed_value.data() : nullptr;
  float* values = L.values.data();
  float* tvalues = L.transposed ? L.transposed->values.data() : nullptr;
  ForEachRefreshBlock(L, [&](int64_t d0, int64_t d1, int64_t j0, int64_t j1) {
    std::fill(dense_a + d0, dense_a + d1, 0.f);
    if (dense_b) std::fill(dense_b + d0, dense_b + d1, 0.f);
    for (int64_t j = j0; j < j1; ++j) {
      const int32_t v = vi[j];
      float b = 0.f;
      const float w = step(v, values[v], &b);
      values[v] = w;
      if (ti) tvalues[ti[j]] = w;
      dense_a[di[j]] = w;
      if (dense_b) dense_b[di[j]] = b;
    }
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

void FrozenSgdStep(PatternLayout& L, const float* g, float c, float* dense_value) {
  StreamStep(L, dense_value, nullptr, [&](int32_t v, float w, float*) { return w + c * g[v]; });
}

void FrozenMomentumStep(PatternLayout& L, float* accum, const float* g, float c, float m,
                        bool nesterov, float* dense_value, float* dense_accum) {
  if (nesterov) {
    StreamStep(L, dense_value, dense_accum, [&](int32_t v, float w, float* a_out) {
      const float a = m * accum[v] + g[v];
      accum[v] = *a_out = a;
      return w + c * (g[v] + m * a);
    });
  } else {
    StreamStep(L, dense_value, dense_accum, [&](int32_t v, float w, float* a_out) {
      const float a = m * accum[v] + g[v];
      accum[v] = *a_out = a;
      return w + c * a;
    });
  }
}

}  // namespace clicktrain
