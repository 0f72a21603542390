#include "elementwise/optimizer_update.h"

#include "common/thread_pool.h"

namespace clicktrain {
namespace {

// Memory-bound: a grain of 64K floats per task keeps the pool overhead small while both cores
// stream (each update reads 2-3 arrays and writes 1-2).
constexpr int64_t kGrain = 1 << 16;

}  // namespace

void SgdUpdate(int64_t n, const float* value, const float* grad, float c, float* out_value) {
  ParallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out_value[i] = value[i] + c * grad[i];
  });
}

void MomentumUpdate(int64_t n, const float* value, const float* accum, const float* grad, float c,
                    float m, bool nesterov, float* out_value, float* out_accum) {
  ParallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
    if (nesterov) {
      for (int64_t i = i0; i < i1; ++i) {
        const float g = grad[i];
        const float a = m * accum[i] + g;
        out_accum[i] = a;
        out_value[i] = value[i] + c * (g + m * a);
      }
    } else {
      for (int64_t i = i0; i < i1; ++i) {
        const float a = m * accum[i] + grad[i];
        out_accum[i] = a;
        out_value[i] = value[i] + c * a;
      }
    }
  });
}

}  // namespace clicktrain
