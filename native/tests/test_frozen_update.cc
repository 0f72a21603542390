// Optimiser steps on frozen layers (sparse/frozen_update.h) vs float64 evaluations of the dense
// formulas on the masked weights: random masks (odd channel counts, empty filters, mixed pattern
// sizes, nothing kept, everything kept), outputs poisoned with NaN, 1 and 2 threads, in place and
// not. Checks the packed results through StreamPackedToDense (exact +0 at pruned positions), the
// value copy, and that the layout's values and transposed copy hold the new weight.
#include <cmath>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "sparse/frozen_update.h"
#include "sparse/pattern_layout.h"
#include "test_sparse_masks.h"
#include "test_util.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

struct Case {
  int64_t in_c, out_c;
  std::vector<uint16_t> masks;
};

Case RandomCase(int iter) {
  static const int64_t channels[] = {1, 3, 8, 13, 64, 130};
  Case c;
  c.in_c = channels[RandInt(0, 5)];
  c.out_c = channels[RandInt(0, 5)];
  const double prune = iter % 5 == 0 ? 1.0 : iter % 5 == 1 ? 0.0 : 0.6;
  c.masks = RandomMasks(c.in_c, c.out_c, RandInt(1, 8), iter % 3 == 0 ? 0 : 4, prune, 0.1);
  return c;
}

// Every dense position: exact +0 when pruned, else close to ref.
void CheckDense(Runner& t, const std::vector<float>& got, const std::vector<double>& ref,
                const std::vector<double>& terms, const std::vector<char>& kept,
                const std::string& what) {
  bool zeros = true;
  for (size_t i = 0; i < got.size(); ++i)
    if (!kept[i] && !(got[i] == 0.f && !std::signbit(got[i]))) zeros = false;
  t.Check(zeros, what + ": +0 at every pruned position");
  t.CheckClose(MaxErrorVsMagnitude(got, ref, terms), 1e-6, what);
}

// The layout's values (and transposed values) must be the new weight.
void CheckLayoutHolds(Runner& t, const PatternLayout& L, const std::vector<float>& dense,
                      const std::string& what) {
  bool ok = true;
  for (int64_t i = 0; i < L.NumValues(); ++i) ok &= L.values[i] == dense[L.value_dense_index[i]];
  if (L.transposed)
    for (size_t i = 0; i < L.transposed->values.size(); ++i)
      ok &= L.transposed->values[i] == L.values[L.transposed_value_src[i]];
  t.Check(ok, what + ": layout values and transposed copy hold the new weight");
}

void TestStep(Runner& t, int iter, bool momentum, bool nesterov) {
  Case c = RandomCase(iter);
  const size_t n = static_cast<size_t>(9 * c.in_c * c.out_c);
  PatternLayout L = BuildPatternLayout(c.masks.data(), c.in_c, c.out_c);
  const std::vector<float> w0 = MaskedWeights(c.masks, c.in_c, c.out_c);
  RefreshValues(L, w0.data());
  std::vector<char> kept(n, 0);
  for (int32_t d : L.value_dense_index) kept[d] = 1;
  // A dense accumulation and gradient with values everywhere: pruned positions must be ignored.
  const std::vector<float> a0 = RandomVector(n), g_dense = RandomVector(n);
  std::vector<float> accum(static_cast<size_t>(L.NumValues())), g(accum.size());
  GatherDenseToPacked(L, a0.data(), accum.data());
  GatherDenseToPacked(L, g_dense.data(), g.data());
  bool gathered = true;
  for (int64_t i = 0; i < L.NumValues(); ++i) gathered &= accum[i] == a0[L.value_dense_index[i]];
  t.Check(gathered, "gather dense to packed");

  const float cc = -0.01f * RandInt(1, 50), m = 0.1f * RandInt(0, 9);
  std::vector<double> ref_w(n, 0.0), ref_a(n, 0.0), terms_w(n, 0.0), terms_a(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    if (!kept[i]) continue;
    const double gi = g_dense[i];
    if (!momentum) {
      ref_w[i] = w0[i] + static_cast<double>(cc) * gi;
      terms_w[i] = std::fabs(w0[i]) + std::fabs(cc * gi);
      continue;
    }
    ref_a[i] = static_cast<double>(m) * a0[i] + gi;
    terms_a[i] = std::fabs(static_cast<double>(m) * a0[i]) + std::fabs(gi);
    ref_w[i] = w0[i] + static_cast<double>(cc) * (nesterov ? gi + m * ref_a[i] : ref_a[i]);
    terms_w[i] = std::fabs(w0[i]) + std::fabs(cc) * (nesterov ? std::fabs(gi) + m * terms_a[i] : terms_a[i]);
  }
  const std::string what = std::string(momentum ? nesterov ? "nesterov" : "momentum" : "sgd") + " " +
                           std::to_string(c.in_c) + "->" + std::to_string(c.out_c) + " kept " +
                           std::to_string(L.NumValues());
  std::vector<float> w1 = Poisoned(n), a1 = Poisoned(n);
  std::vector<float> packed_w(accum.size(), std::nanf("")), packed_a(accum.size(), std::nanf(""));
  const bool in_place = iter % 2 == 1;
  if (momentum) {
    float* out = in_place ? accum.data() : packed_a.data();
    FrozenMomentumStep(L, accum.data(), g.data(), cc, m, nesterov, out, packed_w.data());
    StreamPackedToDense(L, out, a1.data());
    CheckDense(t, a1, ref_a, terms_a, kept, what + " accumulation" + (in_place ? " in place" : ""));
  } else {
    FrozenSgdStep(L, g.data(), cc, packed_w.data());
  }
  t.Check(packed_w == L.values, what + ": value copy equals the layout's values");
  StreamPackedToDense(L, packed_w.data(), w1.data());
  CheckDense(t, w1, ref_w, terms_w, kept, what + " value");
  CheckLayoutHolds(t, L, w1, what);
}

}  // namespace

int main() {
  Runner t;
  for (int threads : {1, 2}) {
    SetNumThreads(threads);
    for (int i = 0; i < 15; ++i) {
      TestStep(t, i, false, false);
      TestStep(t, i, true, i % 2 == 0);
    }
  }
  return t.Finish();
}
