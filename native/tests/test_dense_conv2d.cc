// Conv2DForward (+ fused epilogue), Conv2DBackpropInput, Conv2DBackpropFilter vs float64
// references on random geometries, every runnable ISA, 1 and 2 threads; zero-size dims; bad params.
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/conv2d.h"
#include "dense/conv2d_internal.h"
#include "dense/gemm.h"
#include "test_batch_norm_fold.h"
#include "test_dense_ref.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

std::string Tag(const char* what, const Conv2DParams& p) {
  return std::string(what) + " " + ConvGemmStrategyName() + " isa=" + IsaName(ActiveIsa()) + " thr=" + std::to_string(NumThreads()) +
         " " + Describe(p);
}

// Inputs and float64 references (before the epilogue) of one shape. The fixed shapes below are
// checked under every ISA, thread count and GEMM strategy: their references (the bulk of this
// test's time, ~20x the kernels' under the sanitizers) are computed once per run, on fresh inputs.
struct Refs {
  std::vector<float> x, w, dy;
  std::vector<double> fwd, fwd_mag, bin, bin_mag, bfl, bfl_mag;
};

Refs MakeRefs(const Conv2DParams& p) {
  Refs f;
  f.x = RandomVector(static_cast<size_t>(p.InputSize()));
  f.w = RandomVector(static_cast<size_t>(p.FilterSize()));
  f.dy = RandomVector(static_cast<size_t>(p.OutputSize()));
  f.fwd = RefConvForward(p, f.x, f.w);
  f.fwd_mag = RefConvForward(p, Abs(f.x), Abs(f.w));
  f.bin = RefConvBackpropInput(p, f.dy, f.w);
  f.bin_mag = RefConvBackpropInput(p, Abs(f.dy), Abs(f.w));
  f.bfl = RefConvBackpropFilter(p, f.x, f.dy);
  f.bfl_mag = RefConvBackpropFilter(p, Abs(f.x), Abs(f.dy));
  return f;
}

void CheckAll(Runner& r, const Conv2DParams& p, const Refs& f) {
  const int64_t taps = p.filter_h * p.filter_w;
  {
    std::vector<float> bias, prelu;
    Epilogue ep = RandomEpilogue(p.out_c, &bias, &prelu);
    auto ref = f.fwd, mag = f.fwd_mag;
    RefEpilogue(ep, p.batch * p.out_h * p.out_w, p.out_c, &ref);
    EpilogueMagnitude(ep, p.batch * p.out_h * p.out_w, p.out_c, &mag);
    auto y = Poisoned(ref.size());
    r.Expect([&] { Conv2DForward(p, f.x.data(), f.w.data(), ep, y.data()); }, Tag("fwd runs", p));
    r.CheckClose(MaxErrorVsMagnitude(y, ref, mag), SumTolerance(taps * p.in_c),
                 Tag("fwd act=", p).insert(8, std::to_string(static_cast<int>(ep.activation))));
    CheckBatchNormFold(r, ep, p.batch * p.out_h * p.out_w, p.out_c,
                       [&](const Epilogue& e, float* out) { Conv2DForward(p, f.x.data(), f.w.data(), e, out); },
                       Tag("fwd", p));
  }
  {
    auto dx = Poisoned(f.bin.size());
    r.Expect([&] { Conv2DBackpropInput(p, f.dy.data(), f.w.data(), dx.data()); }, Tag("bwd-in runs", p));
    r.CheckClose(MaxErrorVsMagnitude(dx, f.bin, f.bin_mag), SumTolerance(taps * p.out_c), Tag("bwd-in", p));
  }
  {
    auto dw = Poisoned(f.bfl.size());
    r.Expect([&] { Conv2DBackpropFilter(p, f.x.data(), f.dy.data(), dw.data()); }, Tag("bwd-filter runs", p));
    r.CheckClose(MaxErrorVsMagnitude(dw, f.bfl, f.bfl_mag), SumTolerance(p.batch * p.out_h * p.out_w),
                 Tag("bwd-filter", p));
  }
}

void CheckAll(Runner& r, const Conv2DParams& p) { CheckAll(r, p, MakeRefs(p)); }

// Backward-filter with dy a training batch norm's input gradient (the conv's output is that batch
// norm's x): the bits of the backward-filter of the dx the batch norm's gradient writes, with and
// without a relu folded in (the small-channel kernels compute dy's rows as they read them, other
// geometries compute dy whole first).
void CheckBatchNormGradDy(Runner& r, const Conv2DParams& p) {
  const int64_t rows = p.batch * p.out_h * p.out_w, ch = p.out_c;
  const auto x = RandomVector(static_cast<size_t>(p.InputSize()));
  const auto bn_x = RandomVector(static_cast<size_t>(rows * ch)), dy = RandomVector(bn_x.size());
  const auto scale = RandomVector(static_cast<size_t>(ch)), offset = RandomVector(static_cast<size_t>(ch));
  std::vector<float> mean(ch), var(ch), dscale(ch), doffset(ch), coef(3 * ch), dx(bn_x.size());
  BatchNormTrainingForward(rows, ch, bn_x.data(), scale.data(), offset.data(), 1e-3f, nullptr, mean.data(), var.data());
  BatchNormFollowingRelu relu;
  relu.offset = offset.data();
  for (const BatchNormFollowingRelu* rl : std::initializer_list<const BatchNormFollowingRelu*>{nullptr, &relu}) {
    BatchNormTrainingBackward(rows, ch, bn_x.data(), dy.data(), mean.data(), var.data(), scale.data(), 1e-3f,
                              dx.data(), dscale.data(), doffset.data(), rl);
    BatchNormTrainingGradSums(rows, ch, bn_x.data(), dy.data(), mean.data(), var.data(), scale.data(), 1e-3f,
                              dscale.data(), doffset.data(), coef.data(), rl);
    const BatchNormGradDx grad(ch, bn_x.data(), dy.data(), mean.data(), var.data(), scale.data(), 1e-3f,
                               coef.data(), rl);
    auto want = Poisoned(static_cast<size_t>(p.FilterSize())), got = Poisoned(want.size());
    Conv2DBackpropFilter(p, x.data(), dx.data(), want.data());
    r.Expect([&] { Conv2DBackpropFilter(p, x.data(), grad, got.data()); }, Tag("bwd-filter of bn grad runs", p));
    r.Check(BitwiseEqual(got, want), Tag(rl ? "bwd-filter of bn grad (relu) == of its dx" : "bwd-filter of bn grad == of its dx", p) +
                                     (Conv2DReadsDyRows(p) ? " rows" : " whole"));
  }
}

Conv2DParams Make(int64_t b, int64_t ih, int64_t iw, int64_t ic, int64_t oh, int64_t ow, int64_t oc,
                  int64_t fh, int64_t fw, int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                  int64_t dh = 1, int64_t dw = 1) {
  Conv2DParams p;
  p.batch = b; p.in_h = ih; p.in_w = iw; p.in_c = ic; p.out_h = oh; p.out_w = ow; p.out_c = oc;
  p.filter_h = fh; p.filter_w = fw; p.stride_h = sh; p.stride_w = sw; p.pad_top = pt; p.pad_left = pl;
  p.dilation_h = dh; p.dilation_w = dw;
  return p;
}

}  // namespace

int main() {
  Runner r;
  std::printf("gemm backend: %s\n", GemmBackendName());
  // Fixed shapes: 1x1 pointwise (straight GEMM), batch 1, large explicit padding with an output
  // bigger than the input, a chunked case (several im2col chunks), stride 2 + 5x5, and the
  // small-channel shapes below (under the forced strategies they run the GEMM paths instead).
  const std::vector<Conv2DParams> fixed = {
      Make(2, 7, 5, 13, 7, 5, 17, 1, 1, 1, 1, 0, 0),        Make(1, 9, 9, 3, 5, 5, 8, 3, 3, 2, 2, 1, 1),
      Make(1, 3, 4, 5, 9, 10, 6, 3, 3, 1, 1, 4, 4),         Make(1, 2, 2, 3, 6, 3, 4, 1, 2, 2, 1, 3, 1),
      Make(1, 11, 13, 7, 4, 5, 9, 5, 5, 2, 2, 1, 2),        Make(1, 10, 10, 9, 6, 6, 5, 3, 3, 1, 1, 0, 0, 2, 2),
      Make(2, 40, 40, 150, 40, 40, 33, 3, 3, 1, 1, 1, 1),   Make(2, 40, 40, 150, 20, 20, 33, 3, 3, 2, 2, 0, 0),
      // Few input channels (the direct kernels by default): an RGB first layer; 70 output channels
      // (vector blocks and a partial vector); rows wider than a backward-filter segment (64
      // pixels) with stride 2 and with dilation 2; a 7x7 stride-2 stem.
      Make(2, 32, 32, 3, 32, 32, 64, 3, 3, 1, 1, 1, 1),     Make(1, 13, 70, 1, 5, 33, 70, 5, 5, 2, 2, 0, 0),
      Make(1, 12, 80, 4, 8, 76, 19, 3, 3, 1, 1, 0, 0, 2, 2), Make(2, 15, 15, 3, 8, 8, 21, 7, 7, 2, 2, 3, 3),
      Make(1, 140, 3, 2, 140, 3, 5, 3, 3, 1, 1, 1, 1)};
  std::vector<Refs> fixed_refs;
  for (const Conv2DParams& p : fixed) fixed_refs.push_back(MakeRefs(p));
  for (Isa isa : RunnableIsas()) {
    SetActiveIsa(isa);
    for (int threads : {1, 2})
    for (ConvGemmStrategy st : {ConvGemmStrategy::kDefault, ConvGemmStrategy::kTiled, ConvGemmStrategy::kChunked}) {
      SetNumThreads(threads);
      SetConvGemmStrategy(st);
      for (int t = 0; t < 15; ++t) CheckAll(r, RandomConvParams());
      for (size_t i = 0; i < fixed.size(); ++i) CheckAll(r, fixed[i], fixed_refs[i]);
      for (int t = 0; t < 4; ++t) CheckBatchNormGradDy(r, RandomConvParams());
      CheckBatchNormGradDy(r, Make(2, 32, 32, 3, 32, 32, 64, 3, 3, 1, 1, 1, 1));
      CheckBatchNormGradDy(r, Make(1, 12, 80, 4, 8, 76, 19, 3, 3, 1, 1, 0, 0, 2, 2));
    }
  }
  SetConvGemmStrategy(ConvGemmStrategy::kDefault);
  SetNumThreads(2);
  // Zero-size dims.
  {
    Conv2DParams p = Make(0, 5, 5, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1);
    std::vector<float> w = RandomVector(static_cast<size_t>(p.FilterSize())), dw = Poisoned(w.size());
    r.Expect([&] {
      Conv2DForward(p, nullptr, w.data(), Epilogue{}, nullptr);
      Conv2DBackpropInput(p, nullptr, w.data(), nullptr);
      Conv2DBackpropFilter(p, nullptr, nullptr, dw.data());
    }, "batch 0 runs");
    bool zero = true;
    for (float v : dw) zero = zero && v == 0.f;
    r.Check(zero, "batch 0: dfilter is zero");
  }
  {
    // in_c = 0: y = epilogue(0) = activation(bias).
    Conv2DParams p = Make(2, 4, 4, 0, 4, 4, 3, 3, 3, 1, 1, 1, 1);
    std::vector<float> bias = {0.5f, -1.f, 2.f};
    Epilogue ep;
    ep.bias = bias.data();
    ep.activation = Activation::kRelu;
    auto y = Poisoned(static_cast<size_t>(p.OutputSize()));
    auto dy = RandomVector(y.size());
    r.Expect([&] {
      Conv2DForward(p, nullptr, nullptr, ep, y.data());
      Conv2DBackpropInput(p, dy.data(), nullptr, nullptr);
      Conv2DBackpropFilter(p, nullptr, dy.data(), nullptr);
    }, "in_c 0 runs");
    bool ok = true;
    for (size_t i = 0; i < y.size(); ++i) ok = ok && y[i] == std::max(0.f, bias[i % 3]);
    r.Check(ok, "in_c 0: y = act(bias)");
  }
  {
    // out_c = 0: empty output, dx is zero.
    Conv2DParams p = Make(2, 4, 4, 3, 4, 4, 0, 3, 3, 1, 1, 1, 1);
    auto x = RandomVector(static_cast<size_t>(p.InputSize()));
    auto dx = Poisoned(x.size());
    r.Expect([&] {
      Conv2DForward(p, x.data(), nullptr, Epilogue{}, nullptr);
      Conv2DBackpropInput(p, nullptr, nullptr, dx.data());
      Conv2DBackpropFilter(p, x.data(), nullptr, nullptr);
    }, "out_c 0 runs");
    bool ok = true;
    for (float v : dx) ok = ok && v == 0.f;
    r.Check(ok, "out_c 0: dx is zero");
  }
  {
    // out_h = 0 and an empty input with a padded (all-zero-tap) output.
    Conv2DParams p = Make(1, 4, 4, 3, 0, 4, 5, 3, 3, 1, 1, 1, 1);
    auto x = RandomVector(static_cast<size_t>(p.InputSize()));
    auto dx = Poisoned(x.size());
    auto dw = Poisoned(static_cast<size_t>(p.FilterSize()));
    r.Expect([&] {
      Conv2DBackpropInput(p, nullptr, RandomVector(static_cast<size_t>(p.FilterSize())).data(), dx.data());
      Conv2DBackpropFilter(p, x.data(), nullptr, dw.data());
    }, "out_h 0 runs");
    bool ok = true;
    for (float v : dx) ok = ok && v == 0.f;
    for (float v : dw) ok = ok && v == 0.f;
    r.Check(ok, "out_h 0: dx, dfilter zero");
    Conv2DParams q = Make(1, 0, 3, 2, 3, 3, 2, 3, 3, 1, 1, 2, 1);
    auto w = RandomVector(static_cast<size_t>(q.FilterSize()));
    auto y = Poisoned(static_cast<size_t>(q.OutputSize()));
    auto dwq = Poisoned(w.size());
    auto dyq = RandomVector(y.size());
    r.Expect([&] {
      Conv2DForward(q, nullptr, w.data(), Epilogue{}, y.data());
      Conv2DBackpropFilter(q, nullptr, dyq.data(), dwq.data());
    }, "in_h 0 runs");
    ok = true;
    for (float v : y) ok = ok && v == 0.f;
    for (float v : dwq) ok = ok && v == 0.f;
    r.Check(ok, "in_h 0: y and dfilter zero");
  }
  // Bad params throw.
  {
    const Conv2DParams good = Make(1, 4, 4, 2, 4, 4, 2, 3, 3, 1, 1, 1, 1);
    std::vector<float> buf(1024, 0.f);
    auto expect_bad = [&](Conv2DParams p, const char* what) {
      r.ExpectThrow([&] { Conv2DForward(p, buf.data(), buf.data(), Epilogue{}, buf.data()); }, what);
      r.ExpectThrow([&] { Conv2DBackpropInput(p, buf.data(), buf.data(), buf.data()); }, what);
      r.ExpectThrow([&] { Conv2DBackpropFilter(p, buf.data(), buf.data(), buf.data()); }, what);
    };
    Conv2DParams p = good; p.stride_h = 0; expect_bad(p, "stride 0");
    p = good; p.dilation_w = 0; expect_bad(p, "dilation 0");
    p = good; p.filter_h = 0; expect_bad(p, "filter 0");
    p = good; p.batch = -1; expect_bad(p, "negative batch");
    p = good; p.out_c = -2; expect_bad(p, "negative out_c");
    p = good; p.pad_left = -1; expect_bad(p, "negative pad");
    r.ExpectThrow([&] { ValidateConv2DParams(Make(1, 4, 4, 2, -1, 4, 2, 3, 3, 1, 1, 1, 1)); }, "negative out_h");
  }
  return r.Finish();
}
