// ctest: every CUDA kernel against a float64 reference (and the CPU dense kernels when the core has
// them) on random shapes and masks. Without a usable CUDA device it prints why, reports all cases as
// skipped and exits 0.
#include <cstdio>

#include "cuda/cuda_conv.h"
#include "layout_fixture.h"
#ifdef CLICKTRAIN_TEST_CPU_CONV
#include "dense/conv2d.h"
#endif

using namespace clicktrain;
using namespace clicktrain::cuda;
using namespace clicktrain_test;

namespace {
constexpr int kDenseCases = 30, kSparseCases = 30;
constexpr int kChecksPerDense = 6, kChecksPerSparse = 3;
}

int main() {
  std::string why;
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
    const Conv2DParams p = RandomParams(fh, fw);
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
  for (int it = 0; it < kSparseCases; ++it) {
    Conv2DParams p = RandomParams();
    if (it % 5 == 0) { p.batch = 2; p.in_h = p.in_w = 8; p.in_c = 70; p.out_c = 40; p.stride_h = p.stride_w = 1;
                       p.dilation_h = p.dilation_w = 1; p.pad_top = p.pad_left = 1; p.out_h = p.out_w = 8; }
    const int taps = RandInt(0, 3) == 0 ? 0 : 4;
    const double keep = std::vector<double>{0.0, 0.25, 0.5, 1.0}[size_t(RandInt(0, 3))];
    const PatternLayout l = HandLayout(RandomMasks(int(p.in_c), int(p.out_c), keep, RandInt(1, 12), taps), int(p.in_c), int(p.out_c));
    const std::vector<float> w = DenseFromLayout(l);
    const std::string tag = " it=" + std::to_string(it) + " c=" + std::to_string(p.in_c) + " oc=" + std::to_string(p.out_c) +
                            " keep=" + std::to_string(keep) + " taps=" + std::to_string(taps) + " s=" +
                            std::to_string(p.stride_h) + "," + std::to_string(p.stride_w);
    const auto x = RandomVector(size_t(p.InputSize())), dy = RandomVector(size_t(p.OutputSize()));
    auto y = Poisoned(size_t(p.OutputSize())), dx = Poisoned(size_t(p.InputSize())), dw = Poisoned(size_t(p.FilterSize()));
    CudaTiming t;
    try {
      CudaSparseConv2DForward(p, x.data(), l, y.data(), &t);
      r.CheckClose(MaxRelError(y, RefForward(p, x, w)), 1e-5, "sparse forward" + tag);
      CudaSparseConv2DBackpropInput(p, dy.data(), l, dx.data(), &t);
      r.CheckClose(MaxRelError(dx, RefBackpropInput(p, dy, w)), 1e-5, "sparse backprop-input (" + t.path + ")" + tag);
      CudaSparseConv2DBackpropFilter(p, x.data(), dy.data(), l, dw.data(), &t);
      auto ref = RefBackpropFilter(p, x, dy);
      std::vector<double> masked(ref.size(), 0.0);
      for (int32_t di : l.value_dense_index) masked[size_t(di)] = ref[size_t(di)];
      r.CheckClose(MaxRelError(dw, masked), 1e-5, "sparse backprop-filter (kept positions, zeros elsewhere)" + tag);
    } catch (const std::exception& e) {
      r.Check(false, std::string("sparse threw: ") + e.what() + tag);
    }
  }
  return r.Finish();
}
