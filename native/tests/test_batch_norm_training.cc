// Training-mode batch norm (BatchNormTrainingForward/Backward) vs float64: batch statistics, the
// normalised output, and the gradient through the statistics written as the chain rule tfjs's
// autodiff follows (dx = dy*s*r + dmean/n + dvariance*2(x-mean)/n). Odd channel counts, one row,
// many rows, with and without scale/offset, a mean 1000x the spread, 1 and 2 threads; outputs
// poisoned.
#include <cmath>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "dense/batch_norm.h"
#include "test_dense_ref.h"
#include "test_util.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

void TestCase(Runner& t, int64_t rows, int64_t ch, bool with_params, float center) {
  auto x = RandomVector(static_cast<size_t>(rows * ch), center - 2.f, center + 2.f);
  auto dy = RandomVector(x.size());
  auto scale = RandomVector(static_cast<size_t>(ch), -2.f, 2.f);
  auto offset = RandomVector(static_cast<size_t>(ch), -1.f, 1.f);
  const float eps = 0.001f;
  const float* sp = with_params ? scale.data() : nullptr;
  const float* op = with_params ? offset.data() : nullptr;
  const double n = static_cast<double>(rows);

  std::vector<double> rmean(ch), rvar(ch), ry(x.size()), rdx(x.size()), rds(ch), rdo(ch);
  std::vector<double> my(x.size()), mdx(x.size()), mds(ch), mdo(ch), mvar(ch);
  for (int64_t c = 0; c < ch; ++c) {
    double s1 = 0;
    for (int64_t i = 0; i < rows; ++i) s1 += x[i * ch + c];
    const double mean = s1 / n;
    double s2 = 0;
    for (int64_t i = 0; i < rows; ++i) s2 += (x[i * ch + c] - mean) * (x[i * ch + c] - mean);
    const double var = s2 / n, r = 1.0 / std::sqrt(var + eps);
    const double s = sp ? sp[c] : 1.0, o = op ? op[c] : 0.0;
    rmean[c] = mean;
    rvar[c] = var;
    mvar[c] = var + 1e-3 * std::fabs(mean) * std::sqrt(var) / rows;  // float inputs' rounding
    // Magnitudes: a float mean is off by up to half an ulp of |mean|, and the sums behind it by
    // ~1e-6 of the spread (see MaxErrorVsMagnitude); |x - mean| in the terms is widened by both.
    const double slack = std::sqrt(var) * 1e-1 + std::fabs(mean) * 1e-2;
    double sdy = 0, sdyx = 0, ady = 0, adyx = 0;
    for (int64_t i = 0; i < rows; ++i) {
      const double d = dy[i * ch + c], xm = x[i * ch + c] - mean;
      ry[i * ch + c] = o + xm * r * s;
      my[i * ch + c] = std::fabs(o) + (std::fabs(xm) + slack) * r * std::fabs(s);
      sdy += d;
      sdyx += d * xm;
      ady += std::fabs(d);
      adyx += std::fabs(d) * (std::fabs(xm) + slack);
    }
    const double dmean = -r * s * sdy, dvar = -0.5 * r * r * r * s * sdyx;
    for (int64_t i = 0; i < rows; ++i) {
      const double d = dy[i * ch + c], xm = x[i * ch + c] - mean;
      rdx[i * ch + c] = d * s * r + dmean / n + dvar * 2 * xm / n;
      mdx[i * ch + c] = std::fabs(s * r) * (std::fabs(d) + ady / n + r * r * adyx * (std::fabs(xm) + slack) / n);
    }
    rds[c] = r * sdyx;
    rdo[c] = sdy;
    mds[c] = r * adyx;
    mdo[c] = ady;
  }
  auto y = Poisoned(x.size()), mean = Poisoned(ch), var = Poisoned(ch);
  BatchNormTrainingForward(rows, ch, x.data(), sp, op, eps, y.data(), mean.data(), var.data());
  const std::string what = std::string(" isa=") + IsaName(ActiveIsa()) + " thr=" + std::to_string(NumThreads()) + " rows=" + std::to_string(rows) +
                           " ch=" + std::to_string(ch) + (with_params ? " params" : "") +
                           " center=" + std::to_string(center);
  std::vector<double> mmean(ch);
  for (int64_t c = 0; c < ch; ++c) mmean[c] = std::fabs(rmean[c]) + std::sqrt(rvar[c]);
  t.CheckClose(MaxErrorVsMagnitude(mean, rmean, mmean), 1e-6, "mean" + what);
  t.CheckClose(MaxErrorVsMagnitude(var, rvar, mvar), 1e-5, "variance" + what);
  t.CheckClose(MaxErrorVsMagnitude(y, ry, my), 1e-5, "y" + what);

  // Backward from the float statistics the forward produced (as the gradient kernel gets them).
  auto dx = Poisoned(x.size()), ds = Poisoned(ch), dof = Poisoned(ch);
  BatchNormTrainingBackward(rows, ch, x.data(), dy.data(), mean.data(), var.data(), sp, eps,
                            dx.data(), ds.data(), dof.data());
  t.CheckClose(MaxErrorVsMagnitude(dx, rdx, mdx), 1e-5, "dx" + what);
  t.CheckClose(MaxErrorVsMagnitude(ds, rds, mds), 1e-5, "dscale" + what);
  t.CheckClose(MaxErrorVsMagnitude(dof, rdo, mdo), 1e-5, "doffset" + what);

  // Statistics only, then Apply: y to the bit; with relu, tfjs's Relu of that y to the bit.
  auto mean2 = Poisoned(ch), var2 = Poisoned(ch), y2 = Poisoned(x.size()), yr = Poisoned(x.size());
  BatchNormTrainingForward(rows, ch, x.data(), sp, op, eps, nullptr, mean2.data(), var2.data());
  t.Check(mean2 == mean && var2 == var, "statistics-only forward" + what);
  BatchNormTrainingApply(rows, ch, x.data(), mean.data(), var.data(), sp, op, eps, false, y2.data());
  BatchNormTrainingApply(rows, ch, x.data(), mean.data(), var.data(), sp, op, eps, true, yr.data());
  std::vector<float> relu_y(y.size()), relu_dy(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    relu_y[i] = y[i] != y[i] ? y[i] : (y[i] > 0.f ? y[i] : 0.f);
    relu_dy[i] = dy[i] * (y[i] != y[i] ? y[i] : (y[i] > 0.f ? 1.f : 0.f));
  }
  t.Check(BitwiseEqual(y2, y), "apply == forward y" + what);
  t.Check(BitwiseEqual(yr, relu_y), "apply relu == relu(forward y)" + what);

  // The relu folded into the gradient: the same bits as the gradient of relu_dy, the relu
  // gradient taken from the forward's y.
  auto dx2 = Poisoned(x.size()), ds2 = Poisoned(ch), dof2 = Poisoned(ch);
  auto dx3 = Poisoned(x.size()), ds3 = Poisoned(ch), dof3 = Poisoned(ch);
  BatchNormTrainingBackward(rows, ch, x.data(), relu_dy.data(), mean.data(), var.data(), sp, eps,
                            dx2.data(), ds2.data(), dof2.data());
  BatchNormFollowingRelu relu;
  relu.offset = op;
  BatchNormTrainingBackward(rows, ch, x.data(), dy.data(), mean.data(), var.data(), sp, eps,
                            dx3.data(), ds3.data(), dof3.data(), &relu);
  t.Check(BitwiseEqual(dx3, dx2) && BitwiseEqual(ds3, ds2) && BitwiseEqual(dof3, dof2),
          "relu-folded gradient == gradient of relu's dy" + what);

  // The same gradients in two halves (sums, then dx rows as a consumer reads them): the bits of
  // the one-call gradient, for the whole dx and for rows in arbitrary pieces, with and without
  // the relu folded in.
  for (const BatchNormFollowingRelu* r : std::initializer_list<const BatchNormFollowingRelu*>{nullptr, &relu}) {
    const std::string rw = what + (r ? " relu" : "");
    const auto& want_dx = r ? dx3 : dx;
    const auto& want_ds = r ? ds3 : ds;
    const auto& want_do = r ? dof3 : dof;
    auto ds4 = Poisoned(ch), dof4 = Poisoned(ch), coef = Poisoned(3 * ch);
    BatchNormTrainingGradSums(rows, ch, x.data(), dy.data(), mean.data(), var.data(), sp, eps, ds4.data(),
                              dof4.data(), coef.data(), r);
    t.Check(BitwiseEqual(ds4, want_ds) && BitwiseEqual(dof4, want_do), "sums half == gradient" + rw);
    const BatchNormGradDx grad(ch, x.data(), dy.data(), mean.data(), var.data(), sp, eps, coef.data(), r);
    auto dx4 = Poisoned(x.size()), dx5 = Poisoned(x.size());
    grad.All(rows, dx4.data());
    for (int64_t r0 = 0; r0 < rows;) {
      const int64_t n = std::min<int64_t>(rows - r0, RandInt(1, 97));
      grad.Rows(r0, n, dx5.data() + r0 * ch);
      r0 += n;
    }
    t.Check(BitwiseEqual(dx4, want_dx), "dx half, all rows == gradient" + rw);
    t.Check(BitwiseEqual(dx5, want_dx), "dx half, rows in pieces == gradient" + rw);
  }
}

}  // namespace

int main() {
  Runner t;
  ForEachIsaAndThreads([&](Isa, int) {
    for (int i = 0; i < 16; ++i) {
      // Channels past one 16-channel chunk, single vectors and a scalar tail.
      const int64_t rows = i == 0 ? 1 : i == 1 ? 40000 : RandInt(2, 3000), ch = RandInt(1, 70);
      TestCase(t, rows, ch, i % 2 == 0, i % 4 == 3 ? 1000.f : 0.f);
    }
  });
  t.Expect([] { BatchNormTrainingForward(0, 0, nullptr, nullptr, nullptr, 1e-3f, nullptr, nullptr, nullptr); },
           "no channels");
  return t.Finish();
}
