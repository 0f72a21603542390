// BatchMatMul vs float64: broadcast batches, trans flags, fused epilogue along n, every runnable
// ISA, 1 and 2 threads; zero sizes and bad batch shapes.
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/matmul.h"
#include "test_dense_ref.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

void CheckCase(Runner& r, int64_t ba, int64_t bb, int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
  auto a = RandomVector(static_cast<size_t>(ba * m * k));
  auto b = RandomVector(static_cast<size_t>(bb * k * n));
  const int64_t batch = std::max(ba, bb);
  std::vector<float> bias, prelu;
  Epilogue ep = RandomEpilogue(n, &bias, &prelu);
  std::vector<double> ref(static_cast<size_t>(batch * m * n)), mag(ref.size());
  for (int64_t i = 0; i < batch; ++i) {
    const float* ai = a.data() + (ba == 1 ? 0 : i * m * k);
    const float* bi = b.data() + (bb == 1 ? 0 : i * k * n);
    for (int64_t r0 = 0; r0 < m; ++r0)
      for (int64_t c = 0; c < n; ++c) {
        double s = 0, sa = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double t = double(ta ? ai[p * m + r0] : ai[r0 * k + p]) * (tb ? bi[c * k + p] : bi[p * n + c]);
          s += t;
          sa += std::fabs(t);
        }
        ref[(i * m + r0) * n + c] = s;
        mag[(i * m + r0) * n + c] = sa;
      }
  }
  RefEpilogue(ep, batch * m, n, &ref);
  EpilogueMagnitude(ep, batch * m, n, &mag);
  auto c = Poisoned(ref.size());
  char tag[200];
  std::snprintf(tag, sizeof tag, "bmm isa=%s thr=%d ba%lld bb%lld m%lld n%lld k%lld ta%d tb%d act%d",
                IsaName(ActiveIsa()), NumThreads(), (long long)ba, (long long)bb, (long long)m,
                (long long)n, (long long)k, ta, tb, static_cast<int>(ep.activation));
  r.Expect([&] { BatchMatMul(ba, bb, m, n, k, ta, tb, a.data(), b.data(), ep, c.data()); }, tag);
  r.CheckClose(MaxErrorVsMagnitude(c, ref, mag), SumTolerance(k), tag);
}

}  // namespace

int main() {
  Runner r;
  ForEachIsaAndThreads([&](Isa, int) {
    for (int t = 0; t < 40; ++t) {
      const int64_t batch = RandInt(1, 5);
      const int mode = RandInt(0, 2);  // equal, a broadcast, b broadcast
      const int64_t ba = mode == 1 ? 1 : batch, bb = mode == 2 ? 1 : batch;
      const int big = t >= 35 ? 4 : 1;
      CheckCase(r, ba, bb, RandInt(1, 33 * big), RandInt(1, 33 * big), RandInt(1, 40 * big),
                RandInt(0, 1), RandInt(0, 1));
    }
    CheckCase(r, 7, 1, 1, 70, 65, false, true);  // many small products: parallel over batch
    CheckCase(r, 2, 2, 160, 150, 300, true, false);
  });
  {
    std::vector<float> c = Poisoned(6);
    Epilogue ep;
    std::vector<float> bias = {1.f, 2.f, 3.f};
    ep.bias = bias.data();
    r.Expect([&] { BatchMatMul(2, 1, 1, 3, 0, false, false, nullptr, nullptr, ep, c.data()); }, "k=0 runs");
    bool ok = c[0] == 1.f && c[1] == 2.f && c[2] == 3.f && c[3] == 1.f && c[5] == 3.f;
    r.Check(ok, "k=0: c = epilogue(0)");
    r.Expect([&] { BatchMatMul(0, 1, 4, 4, 4, false, false, nullptr, nullptr, ep, nullptr); }, "batch 0 runs");
    r.Expect([&] { BatchMatMul(3, 3, 0, 4, 4, false, false, nullptr, nullptr, ep, nullptr); }, "m 0 runs");
    r.ExpectThrow([&] { BatchMatMul(2, 3, 1, 1, 1, false, false, c.data(), c.data(), ep, c.data()); },
                  "batch 2 vs 3");
    r.ExpectThrow([&] { BatchMatMul(1, 1, -1, 1, 1, false, false, c.data(), c.data(), ep, c.data()); },
                  "negative m");
  }
  return r.Finish();
}
