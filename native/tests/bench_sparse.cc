// Pattern-sparse vs dense 3x3 convolution timings (not a ctest). CIFAR shapes, 4-entry patterns
// from a library of 8, connectivity pruning 0/50/75%. Usage: bench_sparse [threads] [batch] [reps] [only_hw] [only_pass] [only_prune_percent]
// SPARSE_ONLY=1 skips the dense kernels and the sgemm ceiling (for profiling the sparse kernels).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "dense/conv2d.h"
#include "dense/gemm.h"
#include "sparse/pattern_layout.h"
#include "sparse/sparse_conv.h"
#include "bench_timing.h"

using namespace clicktrain;

namespace {

using clicktrain_bench::Median;
using clicktrain_bench::Once;
using clicktrain_bench::TimeMs;

// SPARSE_ONLY=1 (see the top).
const bool kSparseOnly = std::getenv("SPARSE_ONLY") != nullptr;

// Dense and sparse alternated rep by rep (the machine is shared: load drifts hit both alike);
// medians of each.
template <typename D, typename S>
void TimePair(int reps, D d0, S s, double* dms, double* sms) {
  auto d = [&] {
    if (!kSparseOnly) d0();
  };
  d();
  s();
  std::vector<double> td, ts;
  for (int i = 0; i < reps; ++i) {
    td.push_back(Once(d));
    ts.push_back(Once(s));
  }
  *dms = Median(td);
  *sms = Median(ts);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : NumThreads();
  const int batch = argc > 2 ? std::atoi(argv[2]) : 32;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  const int only_hw = argc > 4 ? std::atoi(argv[4]) : 0;    // 0 = all shapes
  const int only_pass = argc > 5 ? std::atoi(argv[5]) : -1;  // -1 = all passes
  const int only_prune = argc > 6 ? std::atoi(argv[6]) : -1;  // -1 = all of 0/50/75
  SetNumThreads(threads);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::printf("isa %s, gemm %s, threads %d, batch %d, median of %d (dense/sparse alternated)\n", IsaName(ActiveIsa()),
              GemmBackendName(), threads, batch, reps);
  // sgemm ceiling in the same run.
  if (!kSparseOnly) {
    const int n = 1024;
    std::vector<float> a(n * n), b(n * n), c(n * n);
    for (auto& v : a) v = u(rng);
    for (auto& v : b) v = u(rng);
    double ms = TimeMs(reps, [&] { Sgemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n); });
    std::printf("sgemm 1024^3: %.2f ms, %.1f GFLOP/s\n", ms, 2.0 * n * n * n / ms * 1e-6);
  }
  std::printf("%-14s %5s %6s | %-5s %9s %9s %8s %8s %8s %6s\n", "shape", "prune", "ratio", "pass",
              "dense_ms", "sparse_ms", "dGF/s", "sGF/s(eff)", "speedup", "/ratio");
  struct Shape { int hw, c; };
  for (Shape sh : {Shape{32, 64}, Shape{16, 128}, Shape{8, 256}, Shape{4, 512}, Shape{2, 512}}) {
    if (only_hw && sh.hw != only_hw) continue;
    Conv2DParams p;
    p.batch = batch;
    p.in_h = p.in_w = p.out_h = p.out_w = sh.hw;
    p.in_c = p.out_c = sh.c;
    p.filter_h = p.filter_w = 3;
    p.pad_top = p.pad_left = 1;
    std::vector<float> x(p.InputSize()), dy(p.OutputSize()), y(p.OutputSize()), dx(p.InputSize());
    for (auto& v : x) v = u(rng);
    for (auto& v : dy) v = u(rng);
    for (double prune : {0.0, 0.5, 0.75}) {
      if (only_prune >= 0 && static_cast<int>(prune * 100 + 0.5) != only_prune) continue;
      // Library of 8 random 4-entry patterns; exactly `prune` of each filter's kernels removed.
      std::vector<uint16_t> lib;
      while (lib.size() < 8) {
        std::vector<int> bits(9);
        std::iota(bits.begin(), bits.end(), 0);
        std::shuffle(bits.begin(), bits.end(), rng);
        uint16_t m = 0;
        for (int j = 0; j < 4; ++j) m |= 1u << bits[j];
        if (std::find(lib.begin(), lib.end(), m) == lib.end()) lib.push_back(m);
      }
      std::vector<uint16_t> masks(p.in_c * p.out_c);
      for (int oc = 0; oc < p.out_c; ++oc) {
        std::vector<int> ics(p.in_c);
        std::iota(ics.begin(), ics.end(), 0);
        std::shuffle(ics.begin(), ics.end(), rng);
        const int keep = static_cast<int>(p.in_c * (1.0 - prune) + 0.5);
        for (int i = 0; i < p.in_c; ++i)
          masks[ics[i] * p.out_c + oc] = i < keep ? lib[rng() % lib.size()] : 0;
      }
      PatternLayout L = BuildPatternLayout(masks.data(), p.in_c, p.out_c);
      std::vector<float> w(p.FilterSize());
      for (auto& v : w) v = u(rng);
      RefreshValues(L, w.data());
      UnpackToDense(L, w.data());  // dense path runs the same masked weights
      std::vector<float> g(L.NumValues()), dw(p.FilterSize());
      const LayoutStats st = ComputeLayoutStats(L, p.batch, p.out_h, p.out_w);
      Epilogue ep;
      const char* names[3] = {"fwd", "bwdD", "bwdW"};
      for (int pass = 0; pass < 3; ++pass) {
        if (only_pass >= 0 && pass != only_pass) continue;
        double dms, sms;
        if (pass == 0) {
          TimePair(reps, [&] { Conv2DForward(p, x.data(), w.data(), ep, y.data()); },
                   [&] { SparseConv2DForward(p, x.data(), L, ep, y.data()); }, &dms, &sms);
        } else if (pass == 1) {
          TimePair(reps, [&] { Conv2DBackpropInput(p, dy.data(), w.data(), dx.data()); },
                   [&] { SparseConv2DBackpropInput(p, dy.data(), L, dx.data()); }, &dms, &sms);
        } else {
          TimePair(reps, [&] { Conv2DBackpropFilter(p, x.data(), dy.data(), dw.data()); },
                   [&] { SparseConv2DBackpropFilter(p, x.data(), dy.data(), L, g.data()); }, &dms, &sms);
        }
        char shape[32];
        std::snprintf(shape, sizeof shape, "%dx%dx%d", sh.hw, sh.hw, sh.c);
        const double speedup = dms / sms;
        std::printf("%-14s %4.0f%% %6.2f | %-5s %9.3f %9.3f %8.1f %8.1f %8.2f %6.2f\n", shape, prune * 100,
                    st.theoretical_ratio, names[pass], dms, sms, st.dense_flops / dms * 1e-6,
                    st.dense_flops / sms * 1e-6, speedup, speedup / st.theoretical_ratio);
      }
    }
  }
  return 0;
}
