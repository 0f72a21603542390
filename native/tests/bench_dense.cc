// Native timing of the dense conv kernels on CIFAR-style shapes (batch 32, 3x3, 'same') next to a
// 1024^3 sgemm in the same process. Usage: bench_dense [threads...] (default: 1 2).
// Prints GFLOP/s and the percentage of the sgemm rate (sgemm re-timed interleaved with each row) for forward, backprop-input and
// backprop-filter. Not a ctest.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/conv_params.h"
#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "dense/conv2d.h"
#include "dense/conv2d_internal.h"
#include "dense/gemm.h"

using namespace clicktrain;

namespace {

std::vector<float> Random(size_t n) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double Once(const std::function<void()>& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best-of times of several functions measured round-robin (so a burst of load from other
// processes hits all of them alike): warm-up, then rounds until ~budget seconds or 40 rounds.
std::vector<double> TimeInterleaved(const std::vector<std::function<void()>>& fns, double budget) {
  std::vector<double> best(fns.size(), 1e30);
  for (auto& f : fns) f();
  double total = 0;
  for (int round = 0; round < 40 && total < budget; ++round)
    for (size_t i = 0; i < fns.size(); ++i) {
      const double s = Once(fns[i]);
      best[i] = std::min(best[i], s);
      total += s;
    }
  return best;
}

Conv2DParams Cifar(int64_t hw, int64_t c, int64_t in_c = 0) {
  Conv2DParams p;
  p.batch = 32;
  p.in_h = p.in_w = p.out_h = p.out_w = hw;
  p.in_c = in_c > 0 ? in_c : c;
  p.out_c = c;
  p.filter_h = p.filter_w = 3;
  p.pad_top = p.pad_left = 1;
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  // Strategies: the default only, or both im2col strategies side by side with "--compare".
  std::vector<ConvGemmStrategy> strategies{ConvGemmStrategy::kDefault};
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--compare")
      strategies = {ConvGemmStrategy::kTiled, ConvGemmStrategy::kChunked};
    else
      threads.push_back(std::atoi(argv[i]));
  }
  if (threads.empty()) threads = {1, 2};
  std::printf("gemm backend: %s, isa: %s\n", GemmBackendName(), IsaName(ActiveIsa()));
  const int64_t n = 1024;
  auto a = Random(n * n), b = Random(n * n), c = Random(n * n);
  // The first layer on RGB runs the direct small-channel kernels by default: shown next to the
  // tiled im2col GEMM it replaced (backprop-input is not needed there, timed anyway).
  const Conv2DParams shapes[] = {Cifar(32, 64, 3), Cifar(32, 64), Cifar(16, 128), Cifar(8, 256), Cifar(4, 512)};
  for (int t : threads) {
    SetNumThreads(t);
    auto gemm = [&] { Sgemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n); };
    const double gflop = 2.0 * n * n * n * 1e-9;
    auto g0 = TimeInterleaved(
        {gemm, [&] { SgemmSerial(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n); }},
        3.0);
    std::printf("\nthreads %d: Sgemm 1024^3 %.1f GFLOP/s (%s); built-in SgemmSerial 1 thread %.1f GFLOP/s\n",
                t, gflop / g0[0], GemmBackendName(), gflop / g0[1]);
    std::printf("%-30s %8s %18s %18s %18s\n", "shape (batch 32, 3x3)", "sgemm", "forward",
                "backprop-input", "backprop-filter");
    for (const auto& p : shapes) {
      auto x = Random(p.InputSize()), w = Random(p.FilterSize()), y = Random(p.OutputSize());
      auto dx = Random(p.InputSize()), dw = Random(p.FilterSize());
      std::vector<float> bias = Random(p.out_c);
      Epilogue ep;
      ep.bias = bias.data();
      ep.activation = Activation::kRelu;
      std::vector<std::function<void()>> fns{gemm};
      std::vector<ConvGemmStrategy> shape_strategies = strategies;
      if (p.in_c <= 4 && strategies.size() == 1) shape_strategies = {ConvGemmStrategy::kDefault, ConvGemmStrategy::kTiled};
      for (ConvGemmStrategy st : shape_strategies) {
        auto with = [st](std::function<void()> f) {
          return [st, f] {
            SetConvGemmStrategy(st);
            f();
          };
        };
        fns.push_back(with([&] { Conv2DForward(p, x.data(), w.data(), ep, y.data()); }));
        fns.push_back(with([&] { Conv2DBackpropInput(p, y.data(), w.data(), dx.data()); }));
        fns.push_back(with([&] { Conv2DBackpropFilter(p, x.data(), y.data(), dw.data()); }));
      }
      auto tm = TimeInterleaved(fns, 4.0 * shape_strategies.size());
      const double gemm_gf = gflop / tm[0];
      for (size_t si = 0; si < shape_strategies.size(); ++si) {
      SetConvGemmStrategy(shape_strategies[si]);
      const double f = tm[1 + 3 * si], bi = tm[2 + 3 * si], bf = tm[3 + 3 * si];
      char name[64];
      std::snprintf(name, sizeof name, "%lldx%lldx%lld->%lld %s", (long long)p.in_h, (long long)p.in_w,
                    (long long)p.in_c, (long long)p.out_c,
                    p.in_c <= 4 && shape_strategies[si] == ConvGemmStrategy::kDefault ? "direct" : ConvGemmStrategyName());
      auto cell = [&](double s) {
        static char buf[4][32];
        static int k = 0;
        char* out = buf[k++ % 4];
        const double gf = p.Flops() / s * 1e-9;
        std::snprintf(out, 32, "%6.1f (%3.0f%%)", gf, 100.0 * gf / gemm_gf);
        return out;
      };
      const char* c1 = cell(f);
      const char* c2 = cell(bi);
      const char* c3 = cell(bf);
      std::printf("%-30s %8.1f %18s %18s %18s\n", name, gemm_gf, c1, c2, c3);
      }
      SetConvGemmStrategy(strategies[0]);
    }
  }
  return 0;
}
