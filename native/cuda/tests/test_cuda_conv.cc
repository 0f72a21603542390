// ctest: every CUDA kernel against a float64 reference (and the CPU dense kernels when the core has
// them) on random shapes and masks. Without a usable CUDA device it prints why, reports all cases as
// skipped and exits 0.
#include <cstdio>
#include <cstdlib>

#include "cuda/cuda_conv.h"
#include "layout_fixture.h"
#ifdef CLICKTRAIN_TEST_CPU_CONV
#include "dense/conv2d.h"
#endif

using namespace clicktrain;
using namespace clicktrain::cuda;
using namespace clicktrain_test;

namespace {
constexpr int kChecksPerDense = 6, kChecksPerSparse = 9;

// CLICKTRAIN_CUDA_TEST_CASES=N runs N random cases of each kind (default 30; fewer under
// compute-sanitizer, which slows kernels 10-100x).
int CaseCount() {
  const char* v = std::getenv("CLICKTRAIN_CUDA_TEST_CASES");
  const int n = v ? std::atoi(v) : 30;
  return n > 0 ? n : 30;
}

// Shapes big enough for the 128x128 GEMM tile, split-K backward-filter and multi-chunk sparse
// staging (the random shapes are small); cases alternate with the random ones.
clicktrain::Conv2DParams LargeParams(int i) {
  clicktrain::Conv2DParams p;
  p.batch = 3 + i % 3; p.in_h = 31 - i % 2; p.in_w = 33; p.in_c = 67 + 2 * i; p.out_c = 129 + 8 * i;
  p.filter_h = p.filter_w = 3; p.stride_h = p.stride_w = 1 + i % 2; p.dilation_h = p.dilation_w = 1;
  p.pad_top = p.pad_left = 1 - i % 2;
  const int64_t pb = 1 - i % 2;
  p.out_h = (p.in_h + p.pad_top + pb - 3) / p.stride_h + 1;
  p.out_w = (p.in_w + p.pad_left + pb - 3) / p.stride_w + 1;
  return p;
}
}

int main() {
  std::string why;
  const int kDenseCases = CaseCount(), kSparseCases = CaseCount();
  if (!CudaAvailable(&why)) {
    const int skipped = kDenseCases * kChecksPerDense + kSparseCases * kChecksPerSparse;
    std::printf("test_cuda_conv: SKIPPED, no usable CUDA device: %s\n", why.c_str());
    std::printf("0 passed, 0 failed, %d skipped (CUDA kernels NOT verified on this machine)\n", skipped);
    return 0;
  }
  std::printf("device: %s\n", CudaDeviceName().c_str());
  Runner r;
  for (int it = 0; it < kDenseCases; ++it) {
    const int fh = RandInt(0, 2) == 0 ? RandInt(1, 5) : 3, fw = RandInt(0, 2) == 0 ? RandInt(1, 5) : 3;
    const Conv2DParams p = it % 10 == 9 ? LargeParams(it / 10) : RandomParams(fh, fw);
    const std::string tag = " it=" + std::to_string(it) + " n=" + std::to_string(p.batch) + " h=" + std::to_string(p.in_h) +
                            " w=" + std::to_string(p.in_w) + " c=" + std::to_string(p.in_c) + " oc=" + std::to_string(p.out_c) +
                            " f=" + std::to_string(fh) + "x" + std::to_string(fw) + " s=" + std::to_string(p.stride_h) +
                            "," + std::to_string(p.stride_w);
    const auto x = RandomVector(size_t(p.InputSize())), w = RandomVector(size_t(p.FilterSize()));
    const auto dy = RandomVector(size_t(p.OutputSize()));
    const auto ry = RefForward(p, x, w), rdx = RefBackpropInput(p, dy, w), rdw = RefBackpropFilter(p, x, dy);
    for (int tf = 0; tf < 2; ++tf) {
      CudaConvOptions o;
      o.tf32 = tf == 1;
      const double tol = tf ? 5e-3 : 1e-5;  // TF32: 10-bit mantissa inputs
      const std::string m = tf ? " [tf32]" : " [fp32]";
      auto y = Poisoned(size_t(p.OutputSize())), dx = Poisoned(size_t(p.InputSize())), dw = Poisoned(size_t(p.FilterSize()));
      CudaTiming t;
      r.Expect([&] { CudaConv2DForward(p, x.data(), w.data(), y.data(), o, &t); }, "dense forward runs" + m + tag);
      r.CheckClose(MaxRelError(y, ry), tol, "dense forward" + m + tag);
      r.Expect([&] { CudaConv2DBackpropInput(p, dy.data(), w.data(), dx.data(), o, &t); }, "dense backprop-input runs" + m + tag);
      r.CheckClose(MaxRelError(dx, rdx), tol, "dense backprop-input" + m + tag);
      r.Expect([&] { CudaConv2DBackpropFilter(p, x.data(), dy.data(), dw.data(), o, &t); }, "dense backprop-filter runs" + m + tag);
      r.CheckClose(MaxRelError(dw, rdw), tol, "dense backprop-filter" + m + tag);
    }
#ifdef CLICKTRAIN_TEST_CPU_CONV
    {
      auto yc = Poisoned(size_t(p.OutputSize())), yg = Poisoned(size_t(p.OutputSize()));
      Conv2DForward(p, x.data(), w.data(), Epilogue(), yc.data());
      CudaConv2DForward(p, x.data(), w.data(), yg.data(), CudaConvOptions(), nullptr);
      std::vector<double> ycd(yc.begin(), yc.end());
      r.CheckClose(MaxRelError(yg, ycd), 2e-5, "dense forward vs CPU kernel" + tag);
    }
#endif
  }
  int tiled_runs = 0, tiled_bwf_runs = 0, slab_runs = 0, slab_bwf_runs = 0;
  for (int it = 0; it < kSparseCases; ++it) {
    Conv2DParams p = RandomParams();
    if (it % 10 == 9) p = LargeParams(it / 10);
    else if (it % 10 == 3 || it % 10 == 7) {  // whole-image slab kernels: 4x4 and 2x2 maps, same padding
      const int hw = it % 10 == 3 ? 4 : 2;
      p.batch = hw == 4 ? 37 : 130; p.in_h = p.in_w = p.out_h = p.out_w = hw; p.in_c = 45 + it % 7; p.out_c = 20 + it % 9;
      p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1; p.pad_top = p.pad_left = 1;
    }
    else if (it % 5 == 0) { p.batch = 2; p.in_h = p.in_w = 8; p.in_c = 70; p.out_c = 40; p.stride_h = p.stride_w = 1;
                       p.dilation_h = p.dilation_w = 1; p.pad_top = p.pad_left = 1; p.out_h = p.out_w = 8; }
    else if (it % 2 == 1) {  // stride 1, dilation 1: the tiled kernels (random extents and paddings)
      const int64_t pb = RandInt(0, 2), pr = RandInt(0, 2);
      p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
      p.in_h = std::max<int64_t>(p.in_h, 3 - p.pad_top - pb); p.in_w = std::max<int64_t>(p.in_w, 3 - p.pad_left - pr);
      p.out_h = p.in_h + p.pad_top + pb - 2; p.out_w = p.in_w + p.pad_left + pr - 2;
    }
    const int taps = RandInt(0, 3) == 0 ? 0 : 4;
    const double keep = std::vector<double>{0.0, 0.25, 0.5, 1.0}[size_t(RandInt(0, 3))];
    const PatternLayout l = HandLayout(RandomMasks(int(p.in_c), int(p.out_c), keep, RandInt(1, 12), taps), int(p.in_c), int(p.out_c));
    const std::vector<float> w = DenseFromLayout(l);
    const std::string tag = " it=" + std::to_string(it) + " n=" + std::to_string(p.batch) + " h=" +
                            std::to_string(p.in_h) + " w=" + std::to_string(p.in_w) + " c=" + std::to_string(p.in_c) + " oc=" + std::to_string(p.out_c) +
                            " keep=" + std::to_string(keep) + " taps=" + std::to_string(taps) + " s=" +
                            std::to_string(p.stride_h) + "," + std::to_string(p.stride_w);
    const auto x = RandomVector(size_t(p.InputSize())), dy = RandomVector(size_t(p.OutputSize()));
    auto y = Poisoned(size_t(p.OutputSize())), dx = Poisoned(size_t(p.InputSize())), dw = Poisoned(size_t(p.FilterSize()));
    CudaTiming t;
    try {
      const auto ry = RefForward(p, x, w), rdx = RefBackpropInput(p, dy, w);
      // default path (slab or tiled where they apply), per-filter tiled (slab off), general (tiled off)
      for (int mode = 0; mode < 3; ++mode) {
        setenv("CLICKTRAIN_CUDA_SPARSE_SLAB", mode == 1 ? "0" : "1", 1);
        setenv("CLICKTRAIN_CUDA_SPARSE_TILED", mode == 2 ? "0" : "1", 1);
        y = Poisoned(size_t(p.OutputSize()));
        dx = Poisoned(size_t(p.InputSize()));
        CudaSparseConv2DForward(p, x.data(), l, y.data(), &t);
        tiled_runs += t.path == "sparse-tiled";
        slab_runs += t.path == "sparse-slab";
        r.CheckClose(MaxRelError(y, ry), 1e-5, "sparse forward (" + t.path + ")" + tag);
        CudaSparseConv2DBackpropInput(p, dy.data(), l, dx.data(), &t);
        r.CheckClose(MaxRelError(dx, rdx), 1e-5, "sparse backprop-input (" + t.path + ")" + tag);
      }
      unsetenv("CLICKTRAIN_CUDA_SPARSE_SLAB");
      auto ref = RefBackpropFilter(p, x, dy);
      std::vector<double> masked(ref.size(), 0.0);
      for (int32_t di : l.value_dense_index) masked[size_t(di)] = ref[size_t(di)];
      for (int mode = 0; mode < 3; ++mode) {  // as above: default, slab off, tiled off
        setenv("CLICKTRAIN_CUDA_SPARSE_SLAB", mode == 1 ? "0" : "1", 1);
        setenv("CLICKTRAIN_CUDA_SPARSE_TILED", mode == 2 ? "0" : "1", 1);
        dw = Poisoned(size_t(p.FilterSize()));
        CudaSparseConv2DBackpropFilter(p, x.data(), dy.data(), l, dw.data(), &t);
        tiled_bwf_runs += t.path == "sparse-tiled";
        slab_bwf_runs += t.path == "sparse-slab";
        r.CheckClose(MaxRelError(dw, masked), 1e-5,
                     "sparse backprop-filter (" + t.path + "; kept positions, zeros elsewhere)" + tag);
      }
      unsetenv("CLICKTRAIN_CUDA_SPARSE_TILED");
      unsetenv("CLICKTRAIN_CUDA_SPARSE_SLAB");
    } catch (const std::exception& e) {
      r.Check(false, std::string("sparse threw: ") + e.what() + tag);
    }
  }
  std::printf("sparse forward cases on the tiled stride-1 kernel: %d of %d\n", tiled_runs, kSparseCases);
  std::printf("sparse backprop-filter cases on the tiled kernel: %d of %d\n", tiled_bwf_runs, kSparseCases);
  std::printf("sparse forward cases on the slab kernels: %d of %d\n", slab_runs, kSparseCases);
  std::printf("sparse backprop-filter cases on the slab kernel: %d of %d\n", slab_bwf_runs, kSparseCases);
  r.Check(tiled_runs > 0 && tiled_bwf_runs > 0 && slab_runs > 0 && slab_bwf_runs > 0, "the tiled and slab sparse kernels ran");
  return r.Finish();
}
