// Max pooling with recorded argmaxes (dense/max_pool_argmax.h) against the plain pooling kernels
// on the materialised input, bit for bit: from a relu'd training batch norm row by row (ties at
// zero everywhere), and from raw rows with NaN, -Infinity windows and ties; every disjoint window
// shape up to 3x3, channels not a multiple of the SIMD width, batch 1, 1-2 threads, poisoned
// outputs; geometries it does not take are refused. The gradient by pixel ranges, and the
// batch-norm gradient reading it block by block (BatchNormTrainingBackwardRows), against the
// gradient written out and BatchNormTrainingBackward on it.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/batch_norm.h"
#include "dense/max_pool_argmax.h"
#include "dense/pooling.h"
#include "test_dense_ref.h"
#include "test_pools.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

bool SameBits(const std::vector<float>& a, const std::vector<float>& b, std::string* where) {
  if (a.size() != b.size()) {
    *where = "size";
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      *where = "index " + std::to_string(i) + ": got " + std::to_string(a[i]) + " want " + std::to_string(b[i]);
      return false;
    }
  }
  return true;
}

// The pooled gradient by random pixel ranges, and the batch-norm gradient over it block by block,
// against the whole gradient and BatchNormTrainingBackward on it.
void CheckGradientRows(Runner& r, const Conv2DParams& p, const std::vector<uint8_t>& argmax, const std::string& tag) {
  const int64_t C = p.in_c, pixels = p.batch * p.in_h * p.in_w;
  const auto dyp = RandomVector(static_cast<size_t>(p.OutputSize()));
  std::vector<float> whole(static_cast<size_t>(p.InputSize()));
  MaxPoolArgmaxBackward(p, argmax.data(), dyp.data(), whole.data());
  std::string where;
  auto parts = Poisoned(whole.size());
  for (int64_t q = 0; q < pixels;) {
    const int64_t n = std::min<int64_t>(pixels - q, RandInt(1, 9));
    MaxPoolArgmaxBackwardPixels(p, argmax.data(), dyp.data(), q, n, parts.data() + q * C);
    q += n;
  }
  r.Check(SameBits(parts, whole, &where), "argmax grad by pixels " + tag + " " + where);
  const auto x = RandomVector(whole.size(), -2.f, 2.f);
  auto scale = RandomVector(static_cast<size_t>(C), 0.5f, 1.5f), offset = RandomVector(static_cast<size_t>(C));
  std::vector<float> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C));
  BatchNormTrainingForward(pixels, C, x.data(), scale.data(), offset.data(), 1e-3f, nullptr, mean.data(), var.data());
  for (const bool relu : {false, true}) {
    BatchNormFollowingRelu fr;
    fr.offset = offset.data();
    const BatchNormFollowingRelu* rp = relu ? &fr : nullptr;
    auto want_dx = Poisoned(whole.size()), dx = Poisoned(whole.size());
    auto want_ds = Poisoned(static_cast<size_t>(C)), ds = Poisoned(static_cast<size_t>(C));
    auto want_do = Poisoned(static_cast<size_t>(C)), dof = Poisoned(static_cast<size_t>(C));
    BatchNormTrainingBackward(pixels, C, x.data(), whole.data(), mean.data(), var.data(), scale.data(), 1e-3f,
                              want_dx.data(), want_ds.data(), want_do.data(), rp);
    BatchNormTrainingBackwardRows(
        pixels, C, x.data(),
        [&](int64_t first, int64_t n, float* out) { MaxPoolArgmaxBackwardPixels(p, argmax.data(), dyp.data(), first, n, out); },
        mean.data(), var.data(), scale.data(), 1e-3f, dx.data(), ds.data(), dof.data(), rp);
    const std::string t = std::string(relu ? " relu " : " ") + tag;
    r.Check(SameBits(dx, want_dx, &where), "bn grad over pooled dy: dx" + t + " " + where);
    r.Check(SameBits(ds, want_ds, &where) && SameBits(dof, want_do, &where), "bn grad over pooled dy: dscale/doffset" + t + " " + where);
  }
}

// Pools `a` (the materialised input) with the plain kernels and through rows(), compares y and dx.
void Compare(Runner& r, const Conv2DParams& p, const std::vector<float>& a, const PoolInputRows& rows,
             const std::string& tag) {
  std::string where;
  auto want_y = Poisoned(static_cast<size_t>(p.OutputSize()));
  MaxPoolForward(p, a.data(), want_y.data());
  auto y = Poisoned(want_y.size());
  std::vector<uint8_t> argmax(want_y.size(), 77);
  MaxPoolArgmaxForward(p, rows, y.data(), argmax.data());
  r.Check(SameBits(y, want_y, &where), "argmax pool fwd " + tag + " " + where);
  bool valid = true;
  for (uint8_t v : argmax) valid &= v == kNoArgmax || v < p.filter_h * p.filter_w;
  r.Check(valid, "argmax pool: argmax in range " + tag);
  const auto dy = RandomVector(want_y.size());
  auto want_dx = Poisoned(a.size());
  MaxPoolBackward(p, a.data(), dy.data(), want_dx.data());
  auto dx = Poisoned(a.size());
  MaxPoolArgmaxBackward(p, argmax.data(), dy.data(), dx.data());
  r.Check(SameBits(dx, want_dx, &where), "argmax pool bwd " + tag + " " + where);
  CheckGradientRows(r, p, argmax, tag);
}

void CheckBatchNorm(Runner& r, const Conv2DParams& p) {
  const int64_t C = p.in_c, rows = p.batch * p.in_h * p.in_w;
  auto x = RandomVector(static_cast<size_t>(p.InputSize()), -2.f, 2.f);
  for (auto& v : x)
    if (RandInt(0, 9) == 0) v = 0.25f;  // ties before the relu too
  auto scale = RandomVector(static_cast<size_t>(C), 0.5f, 1.5f), offset = RandomVector(static_cast<size_t>(C));
  std::vector<float> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C));
  BatchNormTrainingForward(rows, C, x.data(), scale.data(), offset.data(), 1e-3f, nullptr, mean.data(), var.data());
  const bool with_scale = RandInt(0, 1) == 1;
  const float* sc = with_scale ? scale.data() : nullptr;
  const float* of = with_scale ? offset.data() : nullptr;
  std::vector<float> a(x.size());
  BatchNormTrainingApply(rows, C, x.data(), mean.data(), var.data(), sc, of, 1e-3f, true, a.data());
  const BatchNormRows bn(C, mean.data(), var.data(), sc, of, 1e-3f, true);
  Compare(r, p, a, [&](int64_t first, int64_t n, float* out) { bn.Apply(x.data() + first * p.in_w * C, n * p.in_w, out); },
          "bn thr=" + std::to_string(NumThreads()) + " " + Describe(p));
}

void CheckRaw(Runner& r, const Conv2DParams& p) {
  auto a = RandomVector(static_cast<size_t>(p.InputSize()));
  const float inf = std::numeric_limits<float>::infinity();
  for (auto& v : a) {
    const int u = RandInt(0, 19);
    if (u == 0) v = std::numeric_limits<float>::quiet_NaN();
    else if (u == 1) v = -inf;
    else if (u == 2) v = inf;
    else if (u < 6) v = 0.5f;
  }
  // Some whole windows of -Infinity / NaN: no maximum, no gradient.
  if (p.out_h > 1) {
    const int64_t row = p.in_w * p.in_c;
    for (int64_t i = 0; i < p.filter_h * row; ++i) a[static_cast<size_t>(i)] = i % 3 ? -inf : std::numeric_limits<float>::quiet_NaN();
  }
  const int64_t row = p.in_w * p.in_c;
  Compare(r, p, a, [&](int64_t first, int64_t n, float* out) { std::memcpy(out, a.data() + first * row, n * row * sizeof(float)); },
          "raw thr=" + std::to_string(NumThreads()) + " " + Describe(p));
}

}  // namespace

int main() {
  Runner r;
  ForEachIsaAndThreads([&](Isa, int) {
    for (int t = 0; t < 40; ++t) {
      const Conv2DParams p = RandomTilingPool();
      CheckBatchNorm(r, p);
      CheckRaw(r, p);
    }
    Conv2DParams q;  // VGG's 2x2/2 on CIFAR-like sizes, batch 1, channels past a SIMD width
    q.batch = 1; q.in_h = q.in_w = 32; q.in_c = q.out_c = 67; q.out_h = q.out_w = 16;
    q.filter_h = q.filter_w = 2; q.stride_h = q.stride_w = 2;
    CheckBatchNorm(r, q);
    CheckRaw(r, q);
  });
  {
    Conv2DParams p;
    p.batch = 1; p.in_h = p.in_w = 4; p.in_c = p.out_c = 3; p.out_h = p.out_w = 2;
    p.filter_h = p.filter_w = 2; p.stride_h = p.stride_w = 2;
    r.Check(MaxPoolArgmaxSupported(p), "2x2/2 supported");
    std::vector<float> buf(64);
    std::vector<uint8_t> am(64);
    const PoolInputRows none = [](int64_t, int64_t, float*) {};
    Conv2DParams q = p;
    q.stride_w = 1; q.out_w = 3;  // overlapping windows
    r.Check(!MaxPoolArgmaxSupported(q), "overlapping windows refused");
    r.ExpectThrow([&] { MaxPoolArgmaxForward(q, none, buf.data(), am.data()); }, "overlapping windows throw");
    q = p;
    q.pad_top = 1; q.out_h = 3;  // padding
    r.Check(!MaxPoolArgmaxSupported(q), "padding refused");
    r.ExpectThrow([&] { MaxPoolArgmaxBackward(q, am.data(), buf.data(), buf.data()); }, "padding throws");
    q = p;
    q.in_h = 5;  // windows do not tile the input
    r.Check(!MaxPoolArgmaxSupported(q), "partial cover refused");
    q = p;
    q.filter_h = q.stride_h = 16; q.filter_w = q.stride_w = 16; q.in_h = q.in_w = 16; q.out_h = q.out_w = 1;
    r.Check(!MaxPoolArgmaxSupported(q), "256-tap window refused (argmax is a byte)");
    q = p;
    q.filter_h = q.stride_h = q.filter_w = q.stride_w = 1; q.out_h = q.out_w = 4;
    r.Check(!MaxPoolArgmaxSupported(q), "1x1 (identity) refused");
    q = p;
    q.batch = 0;
    r.Expect([&] {
      MaxPoolArgmaxForward(q, none, nullptr, nullptr);
      MaxPoolArgmaxBackward(q, nullptr, nullptr, nullptr);
    }, "batch 0");
  }
  return r.Finish();
}
