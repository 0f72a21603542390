// Fused optimiser updates vs float64 evaluations of tfjs's formulas: random sizes (1 to past the
// thread grain, not multiples of any SIMD width), outputs poisoned with NaN, 1 and 2 threads,
// and the in-place form (outputs aliasing the inputs).
#include <cmath>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "elementwise/optimizer_update.h"
#include "test_util.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

int64_t RandomSize() {
  static const int64_t sizes[] = {1, 3, 7, 17, 1000, 65537, 200003};
  return sizes[RandInt(0, 6)];
}

void TestSgd(Runner& t) {
  const int64_t n = RandomSize();
  auto v = RandomVector(n), g = RandomVector(n);
  const float c = -0.05f * RandInt(1, 20);
  auto got = Poisoned(n);
  SgdUpdate(n, v.data(), g.data(), c, got.data());
  std::vector<double> ref(n), terms(n);
  for (int64_t i = 0; i < n; ++i) {
    ref[i] = v[i] + static_cast<double>(c) * g[i];
    terms[i] = std::fabs(v[i]) + std::fabs(static_cast<double>(c) * g[i]);
  }
  t.CheckClose(MaxErrorVsMagnitude(got, ref, terms), 1e-6, "sgd n " + std::to_string(n));
}

void TestMomentum(Runner& t, bool nesterov, bool in_place) {
  const int64_t n = RandomSize();
  auto v = RandomVector(n), a = RandomVector(n), g = RandomVector(n);
  const float c = -0.01f * RandInt(1, 50), m = 0.1f * RandInt(0, 9);
  std::vector<double> ref_a(n), ref_v(n), terms_a(n), terms_v(n);
  for (int64_t i = 0; i < n; ++i) {
    ref_a[i] = static_cast<double>(m) * a[i] + g[i];
    ref_v[i] = nesterov ? v[i] + static_cast<double>(c) * (g[i] + m * ref_a[i])
                        : v[i] + static_cast<double>(c) * ref_a[i];
    terms_a[i] = std::fabs(static_cast<double>(m) * a[i]) + std::fabs(g[i]);
    terms_v[i] = std::fabs(v[i]) + std::fabs(static_cast<double>(c)) *
                                       (nesterov ? std::fabs(g[i]) + m * terms_a[i] : terms_a[i]);
  }
  std::vector<float> out_v, out_a;
  if (in_place) {
    MomentumUpdate(n, v.data(), a.data(), g.data(), c, m, nesterov, v.data(), a.data());
    out_v = v;
    out_a = a;
  } else {
    out_v = Poisoned(n);
    out_a = Poisoned(n);
    MomentumUpdate(n, v.data(), a.data(), g.data(), c, m, nesterov, out_v.data(), out_a.data());
  }
  const std::string what = std::string("momentum") + (nesterov ? " nesterov" : "") +
                           (in_place ? " in place" : "") + " n " + std::to_string(n);
  t.CheckClose(MaxErrorVsMagnitude(out_a, ref_a, terms_a), 1e-6, what + " accumulation");
  t.CheckClose(MaxErrorVsMagnitude(out_v, ref_v, terms_v), 1e-6, what + " value");
}

}  // namespace

int main() {
  Runner t;
  for (int threads : {1, 2}) {
    SetNumThreads(threads);
    for (int i = 0; i < 12; ++i) {
      TestSgd(t);
      TestMomentum(t, i % 2 == 0, i % 3 == 0);
    }
  }
  return t.Finish();
}
