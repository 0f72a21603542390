// Pattern-sparse convolution: layout properties and forward / backward-data / backward-filter
// against a float64 dense reference on the masked weights, under every ISA path and 1-2 threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "dense/batch_norm.h"
#include "dense/pooling.h"
#include "sparse/frozen_update.h"
#include "sparse/pattern_layout.h"
#include "sparse/sparse_conv.h"
#include "sparse/sparse_tiny_image.h"
#include "test_batch_norm_fold.h"
#include "test_isas.h"
#include "test_sparse_masks.h"
#include "test_util.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

// tfjs geometry: 'same' (pad 1 = true) or 'valid'.
Conv2DParams MakeParams(int64_t n, int64_t h, int64_t w, int64_t ci, int64_t co, int s, bool same) {
  Conv2DParams p;
  p.batch = n;
  p.in_h = h;
  p.in_w = w;
  p.in_c = ci;
  p.out_c = co;
  p.filter_h = p.filter_w = 3;
  p.stride_h = p.stride_w = s;
  if (same) {
    p.out_h = (h + s - 1) / s;
    p.out_w = (w + s - 1) / s;
    p.pad_top = std::max<int64_t>((p.out_h - 1) * s + 3 - h, 0) / 2;
    p.pad_left = std::max<int64_t>((p.out_w - 1) * s + 3 - w, 0) / 2;
  } else {
    p.out_h = std::max<int64_t>(0, (h - 3 + s) / s);
    p.out_w = std::max<int64_t>(0, (w - 3 + s) / s);
  }
  return p;
}

template <typename F>
void ForEachTap(const Conv2DParams& p, F f) {
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw) {
            const int64_t ih = oh * p.stride_h - p.pad_top + kh, iw = ow * p.stride_w - p.pad_left + kw;
            if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) continue;
            f(((b * p.out_h + oh) * p.out_w + ow) * p.out_c, ((b * p.in_h + ih) * p.in_w + iw) * p.in_c,
              (kh * 3 + kw) * p.in_c * p.out_c);
          }
}

std::vector<double> RefForward(const Conv2DParams& p, const std::vector<float>& x, const std::vector<float>& w) {
  std::vector<double> y(static_cast<size_t>(p.OutputSize()), 0.0);
  ForEachTap(p, [&](int64_t yo, int64_t xo, int64_t wo) {
    for (int64_t ic = 0; ic < p.in_c; ++ic)
      for (int64_t oc = 0; oc < p.out_c; ++oc)
        y[yo + oc] += static_cast<double>(x[xo + ic]) * w[wo + ic * p.out_c + oc];
  });
  return y;
}

std::vector<double> RefBackInput(const Conv2DParams& p, const std::vector<float>& dy, const std::vector<float>& w) {
  std::vector<double> dx(static_cast<size_t>(p.InputSize()), 0.0);
  ForEachTap(p, [&](int64_t yo, int64_t xo, int64_t wo) {
    for (int64_t ic = 0; ic < p.in_c; ++ic)
      for (int64_t oc = 0; oc < p.out_c; ++oc)
        dx[xo + ic] += static_cast<double>(dy[yo + oc]) * w[wo + ic * p.out_c + oc];
  });
  return dx;
}

std::vector<double> RefBackFilter(const Conv2DParams& p, const std::vector<float>& x, const std::vector<float>& dy) {
  std::vector<double> dw(static_cast<size_t>(p.FilterSize()), 0.0);
  ForEachTap(p, [&](int64_t yo, int64_t xo, int64_t wo) {
    for (int64_t ic = 0; ic < p.in_c; ++ic)
      for (int64_t oc = 0; oc < p.out_c; ++oc)
        dw[wo + ic * p.out_c + oc] += static_cast<double>(dy[yo + oc]) * x[xo + ic];
  });
  return dw;
}

std::string Describe(const Conv2DParams& p, const char* isa, int threads) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "[%s t%d] n%lld %lldx%lldx%lld->%lld s%lld pad(%lld,%lld) out %lldx%lld", isa,
                threads, (long long)p.batch, (long long)p.in_h, (long long)p.in_w, (long long)p.in_c,
                (long long)p.out_c, (long long)p.stride_h, (long long)p.pad_top, (long long)p.pad_left,
                (long long)p.out_h, (long long)p.out_w);
  return buf;
}

void TestLayoutProperties(Runner& r) {
  for (int iter = 0; iter < 20; ++iter) {
    const int64_t ci = RandInt(1, 24), co = RandInt(1, 24);
    auto masks = RandomMasks(ci, co, RandInt(1, 12), iter % 3 == 0 ? 0 : 4, 0.5 * (iter % 3), 0.1);
    PatternLayout L = BuildPatternLayout(masks.data(), ci, co);
    auto w = MaskedWeights(masks, ci, co);
    RefreshValues(L, w.data());
    // Reorder is a permutation and filter_slot its inverse.
    std::vector<int32_t> perm = L.filter_order;
    std::sort(perm.begin(), perm.end());
    bool is_perm = perm.size() == static_cast<size_t>(co);
    for (int64_t i = 0; i < co && is_perm; ++i) is_perm = perm[i] == i && L.filter_slot[L.filter_order[i]] == i;
    r.Check(is_perm, "reorder is a permutation");
    // Slots sorted by kept-kernel count (descending).
    bool sorted = true;
    for (int64_t s = 0; s + 1 < co; ++s)
      sorted &= (L.filter_kernel_begin[s + 1] - L.filter_kernel_begin[s]) >=
                (L.filter_kernel_begin[s + 2] - L.filter_kernel_begin[s + 1]);
    r.Check(sorted, "slots sorted by kept kernels");
    // Pack then unpack gives the masked weights back.
    std::vector<float> back(w.size(), 7.f);
    UnpackToDense(L, back.data());
    r.Check(back == w, "pack then unpack == masked weights");
    // A layout without its refresh order (as assembled by hand) rebuilds it on first refresh and
    // agrees with the built one, transposed values included; both detect a non-zero pruned position.
    {
      PatternLayout plain = L;
      plain.refresh_dense_index.clear();
      plain.refresh_value.clear();
      plain.refresh_transposed_value.clear();
      plain.transposed = std::make_shared<PatternLayout>(*L.transposed);
      auto w2 = w;
      for (auto& v : w2) v *= 1.5f;
      const bool a = RefreshValuesChecked(L, w2.data()), b = RefreshValuesChecked(plain, w2.data());
      bool same = a && b && L.values == plain.values && L.transposed->values == plain.transposed->values;
      std::vector<float> d1(w.size(), 7.f), d2(w.size(), 5.f);
      UnpackToDense(L, d1.data());
      UnpackToDense(plain, d2.data());
      same &= d1 == w2 && d2 == w2;
      int64_t pruned = -1;
      for (size_t i = 0; i < w.size() && pruned < 0; ++i)
        if (w[i] == 0.f) pruned = static_cast<int64_t>(i);
      if (pruned >= 0) {
        w2[pruned] = 1.f;
        same &= !RefreshValuesChecked(L, w2.data()) && !RefreshValuesChecked(plain, w2.data());
      }
      RefreshValues(L, w.data());
      r.Check(same, "refresh without a prebuilt order == with it (values, transposed, unpack, pruned check)");
    }
    // Library, groups and per-kernel data are consistent with the masks.
    bool ok = true;
    std::set<uint16_t> distinct;
    for (auto m : masks)
      if (m) distinct.insert(m);
    ok &= distinct.size() == L.patterns.size();
    int64_t kept = 0;
    for (auto m : masks) kept += m != 0;
    ok &= L.NumKernels() == kept;
    for (int64_t s = 0; s < co; ++s) {
      const int32_t oc = L.filter_order[s];
      for (int32_t g = L.filter_group_begin[s]; g < L.filter_group_begin[s + 1]; ++g) {
        ok &= L.group_kernel_begin[g] >= L.filter_kernel_begin[s] && L.group_kernel_begin[g + 1] <= L.filter_kernel_begin[s + 1];
        for (int32_t k = L.group_kernel_begin[g]; k < L.group_kernel_begin[g + 1]; ++k) {
          ok &= L.kernel_pattern[k] == L.group_pattern[g];
          ok &= masks[L.kernel_ic[k] * co + oc] == L.patterns[L.kernel_pattern[k]];
          ok &= L.kernel_value_begin[k + 1] - L.kernel_value_begin[k] == L.pattern_size[L.kernel_pattern[k]];
        }
      }
      if (L.filter_group_begin[s] < L.filter_group_begin[s + 1])
        ok &= L.group_kernel_begin[L.filter_group_begin[s]] == L.filter_kernel_begin[s] &&
              L.group_kernel_begin[L.filter_group_begin[s + 1]] == L.filter_kernel_begin[s + 1];
    }
    r.Check(ok, "library / groups / kernel arrays consistent with masks");
    // Transposed companion: rotated masks, values mirror the forward values.
    const PatternLayout& T = *L.transposed;
    bool tok = T.in_c == co && T.out_c == ci && T.NumValues() == L.NumValues();
    for (int64_t i = 0; i < T.NumValues() && tok; ++i) {
      int64_t t = T.value_dense_index[i];
      const int64_t ic = t % ci, oc = (t / ci) % co, b = 8 - t / (ci * co);
      tok &= T.values[i] == w[(b * ci + ic) * co + oc];
    }
    r.Check(tok, "transposed layout mirrors rotated weights");
    // Refresh after changing dense values is exact and touches only kept positions.
    auto w2 = RandomVector(w.size());
    RefreshValues(L, w2.data());
    bool rok = true;
    for (int64_t i = 0; i < L.NumValues(); ++i) rok &= L.values[i] == w2[L.value_dense_index[i]];
    for (int64_t i = 0; i < T.NumValues(); ++i) rok &= T.values[i] == L.values[L.transposed_value_src[i]];
    r.Check(rok, "refresh exact and transposed in sync");
    // The checked refresh: true on masked weights (also with -0 at pruned positions), false as
    // soon as any one pruned position is non-zero (first, last or a random one), values exact
    // either way.
    auto w3 = RandomVector(w.size());
    for (size_t i = 0; i < w3.size(); ++i)
      if (w[i] == 0.f) w3[i] = (i % 2) ? -0.f : 0.f;
    bool cok = RefreshValuesChecked(L, w3.data());
    for (int64_t i = 0; i < L.NumValues(); ++i) cok &= L.values[i] == w3[L.value_dense_index[i]];
    for (int64_t i = 0; i < T.NumValues(); ++i) cok &= T.values[i] == L.values[L.transposed_value_src[i]];
    std::vector<int64_t> pruned;
    for (size_t i = 0; i < w.size(); ++i)
      if (w[i] == 0.f) pruned.push_back(static_cast<int64_t>(i));
    if (!pruned.empty()) {
      for (int64_t pos : {pruned.front(), pruned.back(), pruned[RandInt(0, static_cast<int>(pruned.size()) - 1)]}) {
        auto w4 = w3;
        w4[pos] = 1e-30f;
        cok &= !RefreshValuesChecked(L, w4.data());
        for (int64_t i = 0; i < L.NumValues(); ++i) cok &= L.values[i] == w4[L.value_dense_index[i]];
      }
    }
    r.Check(cok, "checked refresh: exact values, flags any non-zero pruned position");
    // Stats.
    LayoutStats st = ComputeLayoutStats(L, 2, 3, 4);
    int64_t hist_sum = std::accumulate(st.pattern_histogram.begin(), st.pattern_histogram.end(), int64_t(0));
    r.Check(st.kept_kernels == kept && hist_sum == kept && st.kept_weights == L.NumValues() &&
                st.dense_flops == 2.0 * 24 * 9 * ci * co,
            "layout stats");
    // MasksFromDense recovers the masks from masked non-zero weights (values nonzero a.s.).
    r.Check(MasksFromDense(w.data(), ci, co) == masks, "MasksFromDense");
  }
  // Checked refresh on a layout large enough to split across threads (values past the grain).
  {
    SetNumThreads(2);
    const int64_t ci = 150, co = 170;
    auto masks = RandomMasks(ci, co, 8, 4, 0.25, 0.0);
    PatternLayout L = BuildPatternLayout(masks.data(), ci, co);
    auto w = MaskedWeights(masks, ci, co);
    bool ok = RefreshValuesChecked(L, w.data());
    for (int64_t i = 0; i < L.NumValues(); ++i) ok &= L.values[i] == w[L.value_dense_index[i]];
    std::vector<int64_t> pruned;
    for (size_t i = 0; i < w.size(); ++i)
      if (w[i] == 0.f) pruned.push_back(static_cast<int64_t>(i));
    for (int k = 0; k < 6; ++k) {
      auto w2 = w;
      w2[pruned[RandInt(0, static_cast<int>(pruned.size()) - 1)]] = -3.f;
      ok &= !RefreshValuesChecked(L, w2.data());
    }
    r.Check(ok && L.NumValues() > 40000, "checked refresh across threads");
  }
  uint16_t bad[2] = {3, 600};
  r.ExpectThrow([&] { BuildPatternLayout(bad, 1, 2); }, "mask with bit 9");
  r.Check(RotatePattern180(1) == 256 && RotatePattern180(0x1FF) == 0x1FF && RotatePattern180(16) == 16,
          "rotate 180");
}

// Same length and bits (empty arrays included: memcmp must not see their null data()).
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Pools run fused by SparseConv2DForwardMaxPool across the whole test (checked to be > 0).
int fused_pools = 0;

// The forward with max pools of the output: the bits of SparseConv2DForward then MaxPoolForward,
// whether the pool is fused (windows tiling the output: 2x2/2, 2x1/2x1, 4x4/4 on the lane strips)
// or not (overlapping 2x2/1, identity 1x1, every other path).
void CheckForwardMaxPool(Runner& r, const Conv2DParams& p, const std::vector<float>& x, const PatternLayout& L,
                         const Epilogue& ep, const std::string& d) {
  std::vector<float> full(static_cast<size_t>(p.OutputSize()));
  SparseConv2DForward(p, x.data(), L, ep, full.data());
  const int64_t pools[][3] = {{2, 2, 2}, {2, 1, 0}, {4, 4, 4}, {2, 2, 1}, {1, 1, 1}};
  for (const auto& w : pools) {
    Conv2DParams q;
    q.batch = p.batch;
    q.in_h = p.out_h;
    q.in_w = p.out_w;
    q.in_c = q.out_c = p.out_c;
    q.filter_h = w[0];
    q.filter_w = w[1];
    q.stride_h = w[2] ? w[2] : w[0];
    q.stride_w = w[2] ? w[2] : w[1];
    q.out_h = (q.in_h - q.filter_h) / q.stride_h + 1;
    q.out_w = (q.in_w - q.filter_w) / q.stride_w + 1;
    if (q.in_h < q.filter_h || q.in_w < q.filter_w) continue;
    std::vector<float> ref(static_cast<size_t>(q.OutputSize()));
    MaxPoolForward(q, full.data(), ref.data());
    auto y = Poisoned(ref.size());
    const std::string dq = d + " pool " + std::to_string(w[0]) + "x" + std::to_string(w[1]) + "/" +
                           std::to_string(q.stride_h);
    r.Expect([&] { SparseConv2DForwardMaxPool(p, x.data(), L, ep, q, y.data()); }, "forward + max pool runs " + dq);
    r.Check(SameBits(y, ref), "forward + max pool bits " + dq);
    fused_pools += SparseForwardPoolFused(p, L, q);
  }
  Conv2DParams other;  // a valid 1x1 pool of a taller image
  other.batch = p.batch;
  other.in_h = other.out_h = p.out_h + 2;
  other.in_w = other.out_w = p.out_w;
  other.in_c = other.out_c = p.out_c;
  other.filter_h = other.filter_w = 1;
  std::vector<float> big(static_cast<size_t>(other.OutputSize()));
  r.ExpectThrow([&] { SparseConv2DForwardMaxPool(p, x.data(), L, ep, other, big.data()); },
                "max pool of another shape " + d);
}

// The forward and backward-filter reading x through a training batch norm (+ relu): the bits of
// the same passes on BatchNormTrainingApply's output, on every path (lane strips, tiny images,
// flat, small, whole-image, dense fallback).
void CheckInputBatchNorm(Runner& r, const Conv2DParams& p, const PatternLayout& L, const Epilogue& ep,
                         const std::vector<float>& dy, const std::string& d) {
  const int64_t C = p.in_c, rows = p.batch * p.in_h * p.in_w;
  auto x = RandomVector(static_cast<size_t>(p.InputSize()), -2.f, 3.f);
  auto mean = RandomVector(static_cast<size_t>(C), -1.f, 1.f), var = RandomVector(static_cast<size_t>(C), 0.1f, 2.f);
  auto scale = RandomVector(static_cast<size_t>(C)), offset = RandomVector(static_cast<size_t>(C));
  for (bool relu : {true, false}) {
    const std::string dr = d + (relu ? " input bn+relu" : " input bn");
    const BatchNormRows bn(C, mean.data(), var.data(), scale.data(), relu ? offset.data() : nullptr, 1e-3f, relu);
    std::vector<float> xn(x.size());
    BatchNormTrainingApply(rows, C, x.data(), mean.data(), var.data(), scale.data(), relu ? offset.data() : nullptr,
                           1e-3f, relu, xn.data());
    std::vector<float> want(static_cast<size_t>(p.OutputSize()));
    SparseConv2DForward(p, xn.data(), L, ep, want.data());
    auto y = Poisoned(want.size());
    r.Expect([&] { SparseConv2DForward(p, x.data(), L, ep, y.data(), &bn); }, "forward through bn runs " + dr);
    r.Check(SameBits(y, want), "forward through bn bits " + dr);
    std::vector<float> gwant(static_cast<size_t>(L.NumValues()));
    SparseConv2DBackpropFilter(p, xn.data(), dy.data(), L, gwant.data());
    auto g = Poisoned(gwant.size());
    r.Expect([&] { SparseConv2DBackpropFilter(p, x.data(), dy.data(), L, g.data(), &bn); },
             "backprop filter through bn runs " + dr);
    r.Check(SameBits(g, gwant), "backprop filter through bn bits " + dr);
  }
  const std::vector<float> ones(static_cast<size_t>(C + 1), 1.f);
  const BatchNormRows other(C + 1, ones.data(), ones.data(), nullptr, nullptr, 1e-3f, true);
  auto y = Poisoned(static_cast<size_t>(p.OutputSize()));
  r.ExpectThrow([&] { SparseConv2DForward(p, x.data(), L, ep, y.data(), &other); }, "bn of other channels " + d);
}

// Both backward passes with dy a training batch norm's input gradient (the conv's output is that
// batch norm's x) give the bits of the passes on the dx the batch norm's gradient writes, with and
// without a relu folded in; counts the calls whose kernels read dy's rows as they go.
int g_dy_rows_cases = 0;
void CheckBatchNormGradDy(Runner& r, const Conv2DParams& p, const PatternLayout& L, const std::vector<float>& x,
                          const std::string& d) {
  const int64_t C = p.out_c, rows = p.batch * p.out_h * p.out_w;
  const auto bx = RandomVector(static_cast<size_t>(rows * C), -2.f, 3.f), dy = RandomVector(bx.size());
  const auto scale = RandomVector(static_cast<size_t>(C)), offset = RandomVector(static_cast<size_t>(C));
  std::vector<float> mean(C), var(C), ds(C), dof(C), coef(3 * C), dx(bx.size());
  BatchNormTrainingForward(rows, C, bx.data(), scale.data(), offset.data(), 1e-3f, nullptr, mean.data(), var.data());
  BatchNormFollowingRelu relu;
  relu.offset = offset.data();
  if (SparseReadsDyRows(p, L)) ++g_dy_rows_cases;
  for (const BatchNormFollowingRelu* rl : std::initializer_list<const BatchNormFollowingRelu*>{nullptr, &relu}) {
    const std::string dr = d + (rl ? " dy = bn+relu grad" : " dy = bn grad") + (SparseReadsDyRows(p, L) ? " (rows)" : "");
    BatchNormTrainingBackward(rows, C, bx.data(), dy.data(), mean.data(), var.data(), scale.data(), 1e-3f, dx.data(),
                              ds.data(), dof.data(), rl);
    BatchNormTrainingGradSums(rows, C, bx.data(), dy.data(), mean.data(), var.data(), scale.data(), 1e-3f, ds.data(),
                              dof.data(), coef.data(), rl);
    const BatchNormGradDx grad(C, bx.data(), dy.data(), mean.data(), var.data(), scale.data(), 1e-3f, coef.data(), rl);
    std::vector<float> want(static_cast<size_t>(p.InputSize()));
    SparseConv2DBackpropInput(p, dx.data(), L, want.data());
    auto got = Poisoned(want.size());
    r.Expect([&] { SparseConv2DBackpropInput(p, grad, L, got.data()); }, "backprop input of bn grad runs " + dr);
    r.Check(SameBits(got, want), "backprop input of bn grad bits " + dr);
    std::vector<float> gwant(static_cast<size_t>(L.NumValues()));
    SparseConv2DBackpropFilter(p, x.data(), dx.data(), L, gwant.data());
    auto g = Poisoned(gwant.size());
    r.Expect([&] { SparseConv2DBackpropFilter(p, x.data(), grad, L, g.data()); }, "backprop filter of bn grad runs " + dr);
    r.Check(SameBits(g, gwant), "backprop filter of bn grad bits " + dr);
  }
  const BatchNormGradDx other(C + 1, bx.data(), dy.data(), mean.data(), var.data(), nullptr, 1e-3f, coef.data());
  auto dxo = Poisoned(static_cast<size_t>(p.InputSize()));
  r.ExpectThrow([&] { SparseConv2DBackpropInput(p, other, L, dxo.data()); }, "bn grad of other channels " + d);
}

struct Case {
  Conv2DParams p;
  int lib, pat;
  double prune, empty;
  Activation act;
  bool bias;
};

// All three passes of case c on layout L (built from masks), with fresh weights refreshed into it.
void RunCaseOn(Runner& r, const Case& c, PatternLayout& L, const std::vector<uint16_t>& masks,
               const char* isa, int threads) {
  const Conv2DParams& p = c.p;
  auto w = MaskedWeights(masks, p.in_c, p.out_c);
  RefreshValues(L, w.data());
  auto x = RandomVector(static_cast<size_t>(p.InputSize()));
  auto dy = RandomVector(static_cast<size_t>(p.OutputSize()));
  const std::string d = Describe(p, isa, threads);
  // Forward with epilogue.
  std::vector<float> bias = RandomVector(static_cast<size_t>(p.out_c));
  Epilogue ep;
  ep.activation = c.act;
  if (c.bias) ep.bias = bias.data();
  auto ref = RefForward(p, x, w), mag = RefForward(p, Abs(x), Abs(w));
  for (int64_t i = 0; i < static_cast<int64_t>(ref.size()); ++i) {
    double v = ref[i] + (c.bias ? bias[i % p.out_c] : 0.0);
    mag[i] += c.bias ? std::fabs(bias[i % p.out_c]) : 0.0;
    if (c.act == Activation::kRelu) v = std::max(v, 0.0);
    if (c.act == Activation::kLeakyRelu && v < 0) v *= ep.leaky_alpha;
    ref[i] = v;
  }
  auto y = Poisoned(ref.size());
  r.Expect([&] { SparseConv2DForward(p, x.data(), L, ep, y.data()); }, "forward runs " + d);
  r.CheckClose(MaxErrorVsMagnitude(y, ref, mag), 1e-5, "forward " + d);
  CheckForwardMaxPool(r, p, x, L, ep, d);
  CheckInputBatchNorm(r, p, L, ep, dy, d);
  CheckBatchNormGradDy(r, p, L, x, d);
  CheckBatchNormFold(r, ep, p.batch * p.out_h * p.out_w, p.out_c,
                     [&](const Epilogue& e, float* out) { SparseConv2DForward(p, x.data(), L, e, out); }, d);
  // Backward data.
  auto dx = Poisoned(static_cast<size_t>(p.InputSize()));
  r.Expect([&] { SparseConv2DBackpropInput(p, dy.data(), L, dx.data()); }, "backprop input runs " + d);
  r.CheckClose(MaxErrorVsMagnitude(dx, RefBackInput(p, dy, w), RefBackInput(p, Abs(dy), Abs(w))), 1e-5,
               "backprop input " + d);
  // Backward filter: packed, and dense with zeros at pruned positions.
  auto dwref = RefBackFilter(p, x, dy), dwmag = RefBackFilter(p, Abs(x), Abs(dy));
  auto g = Poisoned(static_cast<size_t>(L.NumValues()));
  r.Expect([&] { SparseConv2DBackpropFilter(p, x.data(), dy.data(), L, g.data()); }, "backprop filter runs " + d);
  std::vector<double> gref(g.size()), gmag(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    gref[i] = dwref[L.value_dense_index[i]];
    gmag[i] = dwmag[L.value_dense_index[i]];
  }
  r.CheckClose(MaxErrorVsMagnitude(g, gref, gmag), 1e-5, "backprop filter (kept positions) " + d);
  auto dwd = Poisoned(static_cast<size_t>(p.FilterSize()));
  SparseConv2DBackpropFilterDense(p, x.data(), dy.data(), L, dwd.data());
  bool zeros_ok = true;
  for (int b = 0; b < 9; ++b)
    for (int64_t ic = 0; ic < p.in_c; ++ic)
      for (int64_t oc = 0; oc < p.out_c; ++oc) {
        const int64_t i = (b * p.in_c + ic) * p.out_c + oc;
        if (!(masks[ic * p.out_c + oc] >> b & 1)) zeros_ok &= dwd[i] == 0.f;
        else zeros_ok &= std::fabs(dwd[i] - dwref[i]) <= 1e-5 * std::max(dwmag[i], 1e-30);
      }
  r.Check(zeros_ok, "backprop filter dense: kept exact, pruned zero " + d);
}

void RunCase(Runner& r, const Case& c, const char* isa, int threads) {
  auto masks = RandomMasks(c.p.in_c, c.p.out_c, c.lib, c.pat, c.prune, c.empty);
  PatternLayout L = BuildPatternLayout(masks.data(), c.p.in_c, c.p.out_c);
  RunCaseOn(r, c, L, masks, isa, threads);
}

// One layout through many geometries (more than its plan cache holds), twice over with new
// weights each time, then a copy of it: the per-layout plan cache must never hand a pass a plan
// of another geometry, a stale one after eviction, or the original's plans to an edited copy.
void TestPlanCacheReuse(Runner& r, const char* isa) {
  const int64_t ci = 21, co = 26;
  auto masks = RandomMasks(ci, co, 8, 4, 0.5, 0.1);
  PatternLayout L = BuildPatternLayout(masks.data(), ci, co);
  std::vector<Conv2DParams> geoms;
  for (int n : {1, 3, 9})
    for (int s : {1, 2})
      for (bool same : {true, false}) geoms.push_back(MakeParams(n, 5 + n % 4 + s, 7 + s, ci, co, s, same));
  geoms.push_back(MakeParams(16, 4, 4, ci, co, 1, true));  // tiny-image path
  geoms.push_back(MakeParams(2, 12, 12, ci, co, 1, true));
  for (int round = 0; round < 2; ++round)
    for (int threads : {2, 1}) {
      SetNumThreads(threads);
      for (const Conv2DParams& p : geoms)
        RunCaseOn(r, Case{p, 8, 4, 0.5, 0.1, Activation::kRelu, true}, L, masks, isa, threads);
    }
  // A copy starts with an empty cache; editing its structure must not reuse the original's plans.
  PatternLayout C = L;
  auto masks2 = RandomMasks(ci, co, 5, 4, 0.25, 0.0);
  C = BuildPatternLayout(masks2.data(), ci, co);
  SetNumThreads(2);
  for (size_t i = 0; i < geoms.size(); i += 3) {
    RunCaseOn(r, Case{geoms[i], 5, 4, 0.25, 0.0, Activation::kLinear, false}, C, masks2, isa, 2);
    RunCaseOn(r, Case{geoms[i], 8, 4, 0.5, 0.1, Activation::kLinear, false}, L, masks, isa, 2);
  }
}

std::vector<Case> MakeCases() {
  std::vector<Case> cases;
  const Activation acts[] = {Activation::kLinear, Activation::kRelu, Activation::kLeakyRelu};
  // Hand-picked edge cases.
  auto add = [&](Conv2DParams p, int lib, int pat, double prune, double empty) {
    cases.push_back({p, lib, pat, prune, empty, acts[cases.size() % 3], cases.size() % 2 == 0});
  };
  add(MakeParams(1, 8, 8, 3, 5, 1, true), 4, 4, 0.0, 0.0);           // batch 1
  add(MakeParams(9, 7, 7, 13, 11, 2, true), 6, 4, 0.5, 0.2);         // odd, stride 2 same: pad 1
  add(MakeParams(3, 8, 8, 9, 17, 2, true), 6, 4, 0.3, 0.0);          // even, stride 2 same: pad 0
  add(MakeParams(2, 9, 6, 8, 8, 1, false), 8, 4, 0.75, 0.0);         // valid
  add(MakeParams(2, 9, 10, 7, 6, 2, false), 8, 4, 0.25, 0.0);        // valid stride 2
  add(MakeParams(4, 5, 5, 6, 7, 1, true), 1, 9, 0.0, 0.0);           // fully kept
  add(MakeParams(4, 5, 5, 6, 7, 1, true), 5, 0, 0.3, 0.3);           // sizes 1..9
  add(MakeParams(8, 4, 4, 16, 16, 1, true), 12, 4, 0.5, 0.0);        // CIFAR-like small
  add(MakeParams(2, 3, 3, 5, 4, 1, true), 3, 4, 1.0, 0.0);           // everything pruned
  add(MakeParams(10, 2, 2, 4, 9, 2, true), 3, 2, 0.2, 0.0);          // 1x1 output
  add(MakeParams(3, 1, 7, 4, 4, 1, true), 3, 3, 0.2, 0.0);           // one row
  add(MakeParams(2, 12, 1, 4, 4, 2, true), 3, 3, 0.2, 0.0);          // one column
  add(MakeParams(3, 6, 9, 75, 9, 1, true), 8, 4, 0.5, 0.0);          // several input-channel blocks
  add(MakeParams(9, 3, 4, 90, 12, 2, true), 8, 4, 0.25, 0.1);        // blocks, stride 2, narrow
  add(MakeParams(1, 2, 2, 67, 45, 1, true), 8, 4, 0.75, 0.1);        // CIFAR 2x2 at batch 1 (tiny-output path)
  add(MakeParams(2, 4, 4, 33, 29, 1, true), 8, 4, 0.5, 0.0);         // 32 output pixels: tiny path's limit
  add(MakeParams(3, 4, 4, 21, 19, 1, true), 8, 4, 0.5, 0.0);         // 48 pixels: width-vectorised path
  add(MakeParams(5, 5, 3, 16, 24, 2, false), 6, 0, 0.25, 0.0);       // tiny path, stride 2 valid, sizes 1..9
  add(MakeParams(9, 16, 16, 12, 10, 1, true), 6, 0, 0.3, 0.1);      // 16x16 lane tiles (2x4), sizes 1..9
  add(MakeParams(8, 16, 16, 9, 7, 2, true), 6, 4, 0.3, 0.0);         // stride 2 to 8x8 (2x4 tiles)
  // 2x2 images at batch > 8 (sparse_tiny_image.h; batch 8 is the small path's): lane groups 2
  // (last one partly filled), 3 (odd tail), 5; a library of up to 126 random 4-entry patterns;
  // empty filters.
  add(MakeParams(9, 2, 2, 37, 21, 1, true), 8, 4, 0.5, 0.1);
  add(MakeParams(24, 2, 2, 16, 11, 1, true), 6, 4, 0.75, 0.2);
  add(MakeParams(40, 2, 2, 64, 48, 1, true), 126, 4, 0.3, 0.1);
  add(MakeParams(17, 2, 2, 5, 3, 1, true), 3, 4, 0.0, 0.0);
  // 4x4 images at batch >= 8 (same kernels, two-row tiles).
  add(MakeParams(8, 4, 4, 19, 13, 1, true), 8, 4, 0.5, 0.1);
  add(MakeParams(21, 4, 4, 48, 40, 1, true), 126, 4, 0.4, 0.1);
  // 8x8 images at batch >= 8 (row tiles: top, middle and bottom classes).
  add(MakeParams(8, 8, 8, 11, 9, 1, true), 8, 4, 0.5, 0.1);
  add(MakeParams(19, 8, 8, 40, 33, 1, true), 126, 4, 0.6, 0.0);
  // Backward-filter blocks (sparse_tiny_image_kernels.inc, TinyGradSlots): two lane-group blocks,
  // the second partial, and two input-channel blocks at each side (blocks of 32, 8 and 2 lane
  // groups, 48 channels).
  add(MakeParams(264, 2, 2, 60, 7, 1, true), 8, 4, 0.3, 0.1);
  add(MakeParams(72, 4, 4, 53, 6, 1, true), 8, 4, 0.3, 0.1);
  add(MakeParams(24, 8, 8, 50, 5, 1, true), 8, 4, 0.3, 0.1);
  // Lane-image strips (sparse_conv.cc, RunConvPassStrips): bands of tile rows converted inside the
  // pass, 10 tiles per band (two groups of at most 8), stride 2 (strips at 1 thread, the whole image
  // at 2), valid padding.
  add(MakeParams(16, 24, 40, 10, 12, 1, true), 8, 4, 0.5, 0.1);
  add(MakeParams(9, 31, 26, 7, 9, 2, true), 6, 4, 0.25, 0.0);
  add(MakeParams(8, 30, 20, 6, 10, 1, false), 8, 4, 0.75, 0.0);
  // 3x4 tiles with a fused 2x2 pool: two tile rows (6 output rows) per band, the last band
  // partly past the output (32 rows = 10 tile rows + 2); a second, partly filled lane group.
  add(MakeParams(9, 32, 32, 10, 12, 1, true), 8, 4, 0.5, 0.1);
  // Random cases.
  for (int i = 0; i < 24; ++i) {
    const bool same = RandInt(0, 3) != 0;
    const int s = RandInt(1, 2);
    int h = RandInt(same ? 1 : 3, 13), w = RandInt(same ? 1 : 3, 13);
    const int pat = RandInt(0, 4) == 0 ? 0 : (RandInt(0, 5) == 0 ? RandInt(1, 9) : 4);
    add(MakeParams(RandInt(1, 11), h, w, RandInt(1, 20), RandInt(1, 20), s, same), RandInt(1, 12), pat,
        0.25 * RandInt(0, 3), RandInt(0, 4) == 0 ? 0.25 : 0.0);
  }
  return cases;
}

}  // namespace

int main() {
  Runner r;
  TestLayoutProperties(r);
  const std::vector<Case> cases = MakeCases();
  const std::vector<Isa> isas = RunnableIsas();
  // The kernels themselves: no dense fallback for dense-ish layers. The tiny-image gradient in
  // input-channel blocks of 48K floats (the block cases above are sized for it), whatever this
  // machine's L2; the shipped rule runs in the last pass below.
  SetSparseDenseFallback(false);
  sparse_internal::SetTinyGradBlockFloats(49152);
  for (Isa isa : isas) {
    SetActiveIsa(isa);
    for (int threads : {1, 2}) {
      SetNumThreads(threads);
      for (const Case& c : cases) RunCase(r, c, IsaName(isa), threads);
    }
    TestPlanCacheReuse(r, IsaName(isa));
    // Tiny-image lane groups: 16 images on AVX-512 from batch 16 (the runs above), 8 otherwise;
    // the 8-image AVX-512 kernels at every batch too.
    const int wide = isa >= Isa::kAvx512 ? 16 : 8;
    r.Check(sparse_internal::TinyLanes(16) == wide && sparse_internal::TinyLanes(200) == wide &&
                sparse_internal::TinyLanes(15) == 8,
            std::string("tiny-image lane groups ") + IsaName(isa));
    if (wide == 16) {
      sparse_internal::SetTinyLanes(8);
      r.Check(sparse_internal::TinyLanes(32) == 8, "SetTinyLanes(8)");
      for (const Case& c : cases)
        if (c.p.batch >= 16) RunCase(r, c, "avx512, 8-image lane groups", 2);
      sparse_internal::SetTinyLanes(0);
    }
  }
  // The entry points as shipped (dense fallback where the cost model says dense wins).
  SetSparseDenseFallback(true);
  sparse_internal::SetTinyGradBlockFloats(0);
  SetNumThreads(2);
  for (const Case& c : cases) RunCase(r, c, IsaName(isas.back()), 2);
  r.Check(fused_pools > 100, "max pools fused into the forward: " + std::to_string(fused_pools));
  // The 2x2, 4x4 and 8x8 cases above reach the tiny-image kernels; other sizes, pattern sizes and
  // batches do not.
  {
    auto tiny = [](int64_t n, int pat, int side = 2) {
      Conv2DParams p = MakeParams(n, side, side, 6, 5, 1, true);
      auto masks = RandomMasks(6, 5, 4, pat, 0.2, 0.0);
      return TinyImageSupported(p, BuildPatternLayout(masks.data(), 6, 5));
    };
    r.Check(tiny(9, 4) && tiny(40, 4) && tiny(8, 4, 4) && !tiny(7, 4) && !tiny(7, 4, 4) &&
            tiny(8, 4, 8) && !tiny(9, 3) && !tiny(9, 0) && !tiny(9, 4, 3) && !tiny(9, 4, 5) &&
            !tiny(9, 4, 16),
            "tiny-image kernels: 2x2, 4x4 and 8x8, batch >= 8, 4-entry patterns only");
    Conv2DParams valid = MakeParams(12, 4, 4, 6, 5, 1, false);  // 4x4 -> 2x2 without padding
    auto masks = RandomMasks(6, 5, 4, 4, 0.2, 0.0);
    r.Check(!TinyImageSupported(valid, BuildPatternLayout(masks.data(), 6, 5)), "tiny-image kernels: 2x2 'same' only");
  }
  // The dense fallback's cost model (SparseRunsDense): 4-entry patterns run sparse with no
  // connectivity pruning at batch >= 8, stride 1; larger patterns, idle lanes (backward-filter
  // below 8 images) and stride-2 backward-data / backward-filter need more pruning first.
  {
    using P = SparsePass;
    auto dense = [](int64_t n, int stride, int pat, double prune, P pass) {
      Conv2DParams p = MakeParams(n, 16, 16, 64, 64, stride, true);
      auto masks = RandomMasks(64, 64, 8, pat, prune, 0.0);
      return SparseRunsDense(p, BuildPatternLayout(masks.data(), 64, 64), pass);
    };
    const P all[] = {P::kForward, P::kBackwardInput, P::kBackwardFilter};
    bool ok = true;
    for (P pass : all) {
      ok &= !dense(32, 1, 4, 0.0, pass) && dense(32, 1, 5, 0.0, pass) && !dense(32, 1, 5, 0.5, pass);
      ok &= dense(32, 1, 9, 0.0, pass) && !dense(32, 2, 4, 0.8, pass);
    }
    ok &= !dense(1, 1, 4, 0.0, P::kForward) && !dense(1, 1, 4, 0.0, P::kBackwardInput);
    ok &= dense(1, 1, 4, 0.75, P::kBackwardFilter) && !dense(1, 1, 4, 0.9, P::kBackwardFilter);
    ok &= !dense(32, 2, 4, 0.0, P::kForward) && dense(32, 2, 4, 0.5, P::kBackwardInput);
    ok &= dense(32, 2, 4, 0.0, P::kBackwardFilter) && !dense(32, 2, 4, 0.5, P::kBackwardFilter);
    r.Check(ok, "dense fallback: the cost model picks sparse and dense where measured");
    SetSparseDenseFallback(false);
    r.Check(!dense(32, 1, 9, 0.0, P::kForward) && !dense(1, 1, 4, 0.0, P::kBackwardFilter),
            "dense fallback off: always sparse");
    SetSparseDenseFallback(true);
  }
  // The fallback's cached dense weights follow every change of the values: refresh, packed set and
  // frozen step (a stale copy would give the previous weights' output). Reference: the same call
  // on the sparse kernels (fallback off).
  {
    Conv2DParams p = MakeParams(8, 6, 6, 10, 12, 1, true);
    auto masks = RandomMasks(10, 12, 3, 9, 0.0, 0.0);  // fully kept: runs dense
    PatternLayout L = BuildPatternLayout(masks.data(), 10, 12);
    auto x = RandomVector(static_cast<size_t>(p.InputSize()));
    auto dy = RandomVector(static_cast<size_t>(p.OutputSize()));
    auto same = [&](bool backward) {
      const bool dense = SparseRunsDense(p, L, backward ? SparsePass::kBackwardInput : SparsePass::kForward);
      std::vector<float> got(static_cast<size_t>(backward ? p.InputSize() : p.OutputSize()), NAN), want = got;
      for (int pass = 0; pass < 2; ++pass) {
        SetSparseDenseFallback(pass == 0);
        std::vector<float>& out = pass == 0 ? got : want;
        if (backward) SparseConv2DBackpropInput(p, dy.data(), L, out.data());
        else SparseConv2DForward(p, x.data(), L, Epilogue{}, out.data());
      }
      SetSparseDenseFallback(true);
      return dense && MaxRelError(got, std::vector<double>(want.begin(), want.end())) < 1e-5;
    };
    bool ok = true;
    auto w = RandomVector(static_cast<size_t>(9 * 10 * 12));
    RefreshValues(L, w.data());
    ok &= same(false) && same(true) && same(false);
    w = RandomVector(w.size());
    RefreshValues(L, w.data());
    ok &= same(false) && same(true);
    auto packed = RandomVector(static_cast<size_t>(L.NumValues()));
    SetPackedValues(L, packed.data());
    ok &= same(true) && same(false);
    FrozenSgdStep(L, RandomVector(packed.size()).data(), -0.5f, nullptr);
    ok &= same(false) && same(true);
    r.Check(ok, "dense fallback: cached weights follow refresh, packed set and frozen step");
  }
  // Unsupported geometry is refused, never silently wrong.
  Conv2DParams bad = MakeParams(1, 5, 5, 2, 2, 3, true);
  r.Check(!SparseConvSupported(bad), "stride 3 unsupported");
  bad = MakeParams(1, 5, 5, 2, 2, 1, true);
  bad.dilation_h = 2;
  r.Check(!SparseConvSupported(bad), "dilation unsupported");
  std::vector<uint16_t> m(4, 15);
  PatternLayout L = BuildPatternLayout(m.data(), 2, 2);
  std::vector<float> x(50), y(50);
  r.ExpectThrow([&] { SparseConv2DForward(bad, x.data(), L, Epilogue{}, y.data()); }, "forward on dilation 2");
  Conv2DParams wrong = MakeParams(1, 5, 5, 3, 2, 1, true);
  r.ExpectThrow([&] { SparseConv2DForward(wrong, x.data(), L, Epilogue{}, y.data()); }, "channel mismatch");
  r.Check(g_dy_rows_cases > 0, "some batch-norm-gradient dy cases ran the row-reading kernels");
  return r.Finish();
}
