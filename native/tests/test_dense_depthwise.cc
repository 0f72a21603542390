// Depthwise conv forward (+ epilogue) and both backprops vs float64 references: random geometry
// and multipliers, every runnable ISA, 1 and 2 threads; zero sizes; bad params.
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/depthwise_conv2d.h"
#include "test_dense_ref.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

// Depthwise as a dense conv reference: filter[kh, kw, c, m] feeds output c*mult + m from input c.
void RefDepthwise(const DepthwiseParams& dp, const std::vector<float>& x, const std::vector<float>& w,
                  const std::vector<float>& dy, std::vector<double>* y, std::vector<double>* dx,
                  std::vector<double>* dw) {
  const Conv2DParams& p = dp.conv;
  const int64_t mult = dp.multiplier;
  y->assign(static_cast<size_t>(p.OutputSize()), 0.0);
  dx->assign(static_cast<size_t>(p.InputSize()), 0.0);
  dw->assign(static_cast<size_t>(p.filter_h * p.filter_w * p.out_c), 0.0);
  ForEachTap(p, [&](int64_t b, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
    const int64_t o = ((b * p.out_h + oh) * p.out_w + ow) * p.out_c;
    const int64_t i = ((b * p.in_h + ih) * p.in_w + iw) * p.in_c;
    const int64_t f = (kh * p.filter_w + kw) * p.out_c;
    for (int64_t c = 0; c < p.in_c; ++c)
      for (int64_t m = 0; m < mult; ++m) {
        const int64_t oc = c * mult + m;
        (*y)[o + oc] += double(x[i + c]) * w[f + oc];
        (*dx)[i + c] += double(dy[o + oc]) * w[f + oc];
        (*dw)[f + oc] += double(x[i + c]) * dy[o + oc];
      }
  });
}

void CheckAll(Runner& r, const DepthwiseParams& dp) {
  const Conv2DParams& p = dp.conv;
  auto x = RandomVector(static_cast<size_t>(p.InputSize()));
  auto w = RandomVector(static_cast<size_t>(p.filter_h * p.filter_w * p.out_c));
  auto dy = RandomVector(static_cast<size_t>(p.OutputSize()));
  std::vector<double> ry, rdx, rdw, my, mdx, mdw;
  RefDepthwise(dp, x, w, dy, &ry, &rdx, &rdw);
  RefDepthwise(dp, Abs(x), Abs(w), Abs(dy), &my, &mdx, &mdw);
  std::vector<float> bias, prelu;
  Epilogue ep = RandomEpilogue(p.out_c, &bias, &prelu);
  RefEpilogue(ep, p.batch * p.out_h * p.out_w, p.out_c, &ry);
  EpilogueMagnitude(ep, p.batch * p.out_h * p.out_w, p.out_c, &my);
  const std::string tag = std::string(" isa=") + IsaName(ActiveIsa()) + " thr=" +
                          std::to_string(NumThreads()) + " mult=" + std::to_string(dp.multiplier) +
                          " act=" + std::to_string(static_cast<int>(ep.activation)) + " " + Describe(p);
  auto y = Poisoned(ry.size()), dx = Poisoned(rdx.size()), dw = Poisoned(rdw.size());
  r.Expect([&] {
    DepthwiseConv2DForward(dp, x.data(), w.data(), ep, y.data());
    DepthwiseConv2DBackpropInput(dp, dy.data(), w.data(), dx.data());
    DepthwiseConv2DBackpropFilter(dp, x.data(), dy.data(), dw.data());
  }, "dw runs" + tag);
  const int64_t taps = p.filter_h * p.filter_w;
  r.CheckClose(MaxErrorVsMagnitude(y, ry, my), SumTolerance(taps), "dw fwd" + tag);
  r.CheckClose(MaxErrorVsMagnitude(dx, rdx, mdx), SumTolerance(taps * dp.multiplier), "dw bwd-in" + tag);
  r.CheckClose(MaxErrorVsMagnitude(dw, rdw, mdw), SumTolerance(p.batch * p.out_h * p.out_w), "dw bwd-filter" + tag);
}

DepthwiseParams RandomDw() {
  DepthwiseParams dp;
  dp.conv = RandomConvParams(13, 37);
  dp.multiplier = RandInt(0, 2) == 0 ? RandInt(2, 3) : 1;
  dp.conv.out_c = dp.conv.in_c * dp.multiplier;
  return dp;
}

}  // namespace

int main() {
  Runner r;
  ForEachIsaAndThreads([&](Isa, int threads) {
    for (int t = 0; t < 40; ++t) CheckAll(r, RandomDw());
    // A larger case so both threads get work and the filter reduction is split.
    DepthwiseParams dp;
    dp.conv.batch = 3; dp.conv.in_h = dp.conv.in_w = 30; dp.conv.in_c = 35; dp.multiplier = 1;
    dp.conv.out_h = dp.conv.out_w = 15; dp.conv.out_c = 35; dp.conv.filter_h = dp.conv.filter_w = 3;
    dp.conv.stride_h = dp.conv.stride_w = 2; dp.conv.pad_top = dp.conv.pad_left = 0;
    CheckAll(r, dp);
    dp.multiplier = 2; dp.conv.out_c = 70; dp.conv.stride_h = dp.conv.stride_w = 1;
    dp.conv.out_h = dp.conv.out_w = 30; dp.conv.pad_top = dp.conv.pad_left = 1;
    CheckAll(r, dp);
  });
  // Zero sizes and bad params.
  {
    DepthwiseParams dp;
    dp.conv.batch = 0; dp.conv.in_h = dp.conv.in_w = 4; dp.conv.in_c = 3; dp.multiplier = 2;
    dp.conv.out_h = dp.conv.out_w = 4; dp.conv.out_c = 6; dp.conv.filter_h = dp.conv.filter_w = 3;
    dp.conv.pad_top = dp.conv.pad_left = 1;
    auto w = RandomVector(54);
    auto dw = Poisoned(54);
    r.Expect([&] {
      DepthwiseConv2DForward(dp, nullptr, w.data(), Epilogue{}, nullptr);
      DepthwiseConv2DBackpropInput(dp, nullptr, w.data(), nullptr);
      DepthwiseConv2DBackpropFilter(dp, nullptr, nullptr, dw.data());
    }, "dw batch 0 runs");
    bool ok = true;
    for (float v : dw) ok = ok && v == 0.f;
    r.Check(ok, "dw batch 0: dfilter zero");
    DepthwiseParams bad = dp;
    bad.conv.batch = 1;
    bad.conv.out_c = 5;
    std::vector<float> buf(4096);
    r.ExpectThrow([&] { DepthwiseConv2DForward(bad, buf.data(), buf.data(), Epilogue{}, buf.data()); },
                  "dw out_c != in_c * multiplier");
    bad = dp;
    bad.multiplier = 0;
    bad.conv.out_c = 0;
    r.ExpectThrow([&] { DepthwiseConv2DBackpropInput(bad, buf.data(), buf.data(), buf.data()); },
                  "dw multiplier 0");
    bad = dp;
    bad.conv.stride_w = 0;
    r.ExpectThrow([&] { DepthwiseConv2DBackpropFilter(bad, buf.data(), buf.data(), buf.data()); },
                  "dw stride 0");
  }
  return r.Finish();
}
