// ApplyEpilogue (every activation, per-channel / scalar bias and prelu), BatchNormInference
// (per-channel, broadcast and absent parameters) and BatchNormBackward (with and without scale)
// vs float64, 1 and 2 threads.
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/batch_norm.h"
#include "dense/epilogue.h"
#include "test_dense_ref.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

void TestBatchNormBackward(Runner& r, int64_t rows, int64_t ch, bool with_scale) {
  auto x = RandomVector(static_cast<size_t>(rows * ch), -3.f, 3.f);
  auto dy = RandomVector(x.size());
  auto mean = RandomVector(static_cast<size_t>(ch));
  auto var = RandomVector(static_cast<size_t>(ch), 0.1f, 2.f);
  auto scale = RandomVector(static_cast<size_t>(ch), -2.f, 2.f);
  const float eps = 0.001f;
  std::vector<double> rdx(x.size()), rdm(ch), rdv(ch), rds(ch), rdo(ch);
  // Magnitudes of the summed terms, for the sums over rows (see MaxErrorVsMagnitude).
  std::vector<double> mdm(ch), mdv(ch), mds(ch), mdo(ch);
  for (int64_t c = 0; c < ch; ++c) {
    const double rs = 1.0 / std::sqrt(double(var[c]) + eps), s = with_scale ? scale[c] : 1.0;
    double sdy = 0, sdyx = 0, ady = 0, adyx = 0;
    for (int64_t i = 0; i < rows; ++i) {
      const double d = dy[i * ch + c], xm = double(x[i * ch + c]) - mean[c];
      sdy += d;
      sdyx += d * xm;
      ady += std::fabs(d);
      adyx += std::fabs(d * xm);
      rdx[i * ch + c] = d * s * rs;
    }
    rdm[c] = -rs * s * sdy;
    rdv[c] = -0.5 * rs * rs * rs * s * sdyx;
    rds[c] = rs * sdyx;
    rdo[c] = sdy;
    mdm[c] = std::fabs(rs * s) * ady;
    mdv[c] = std::fabs(0.5 * rs * rs * rs * s) * adyx;
    mds[c] = rs * adyx;
    mdo[c] = ady;
  }
  auto dx = Poisoned(x.size()), dm = Poisoned(ch), dv = Poisoned(ch), ds = Poisoned(ch), dof = Poisoned(ch);
  BatchNormBackward(rows, ch, x.data(), dy.data(), mean.data(), var.data(),
                    with_scale ? scale.data() : nullptr, eps,
                    {dx.data(), dm.data(), dv.data(), ds.data(), dof.data()});
  const std::string what = " thr=" + std::to_string(NumThreads()) + " rows=" + std::to_string(rows) +
                           " ch=" + std::to_string(ch) + (with_scale ? " scale" : " no-scale");
  // Sums over rows, float accumulation in blocks of 64: relative to the summed magnitudes.
  const double tol = 1e-5;
  r.CheckClose(MaxRelError(dx, rdx), 1e-6, "batchnorm backward dx" + what);
  r.CheckClose(MaxErrorVsMagnitude(dm, rdm, mdm), tol, "batchnorm backward dmean" + what);
  r.CheckClose(MaxErrorVsMagnitude(dv, rdv, mdv), tol, "batchnorm backward dvariance" + what);
  r.CheckClose(MaxErrorVsMagnitude(ds, rds, mds), tol, "batchnorm backward dscale" + what);
  r.CheckClose(MaxErrorVsMagnitude(dof, rdo, mdo), tol, "batchnorm backward doffset" + what);
}

}  // namespace

int main() {
  Runner r;
  ForEachIsaAndThreads([&](Isa, int threads) {
    for (int act = 0; act <= 6; ++act)
      for (int t = 0; t < 6; ++t) {
        const int64_t rows = t == 5 ? 3000 : RandInt(1, 40), ch = RandInt(1, 37);
        std::vector<float> bias, prelu;
        Epilogue ep = RandomEpilogue(ch, &bias, &prelu);
        ep.activation = static_cast<Activation>(act);
        if (ep.activation == Activation::kPrelu && !ep.prelu) {
          prelu = RandomVector(static_cast<size_t>(ch), 0.f, 0.5f);
          ep.prelu = prelu.data();
        }
        auto data = RandomVector(static_cast<size_t>(rows * ch), -8.f, 8.f);
        std::vector<double> ref(data.begin(), data.end());
        RefEpilogue(ep, rows, ch, &ref);
        ApplyEpilogue(ep, rows, ch, data.data());
        r.CheckClose(MaxRelError(data, ref), 1e-6,
                     "epilogue act=" + std::to_string(act) + " thr=" + std::to_string(threads) +
                         " rows=" + std::to_string(rows) + " ch=" + std::to_string(ch));
      }
    for (int t = 0; t < 30; ++t) {
      const int64_t rows = t == 29 ? 5000 : RandInt(1, 50), ch = RandInt(1, 37);
      BatchNormArgs a;
      std::vector<float> mean, var, scale, offset;
      auto pick = [&](std::vector<float>* v, const float** ptr, int64_t* len, float lo, float hi,
                      bool optional) {
        const int mode = RandInt(optional ? 0 : 1, 2);
        if (mode == 0) return;
        *v = RandomVector(static_cast<size_t>(mode == 1 ? ch : 1), lo, hi);
        *ptr = v->data();
        *len = static_cast<int64_t>(v->size());
      };
      pick(&mean, &a.mean, &a.mean_len, -1.f, 1.f, false);
      pick(&var, &a.variance, &a.variance_len, 0.1f, 2.f, false);
      pick(&scale, &a.scale, &a.scale_len, -2.f, 2.f, true);
      pick(&offset, &a.offset, &a.offset_len, -1.f, 1.f, true);
      a.epsilon = 0.001f;
      auto x = RandomVector(static_cast<size_t>(rows * ch), -3.f, 3.f);
      std::vector<double> ref(x.size());
      auto at = [](const float* p, int64_t len, int64_t c, double d) {
        return p ? double(len == 1 ? p[0] : p[c]) : d;
      };
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t c = 0; c < ch; ++c)
          ref[i * ch + c] = at(a.offset, a.offset_len, c, 0) +
                            (x[i * ch + c] - at(a.mean, a.mean_len, c, 0)) *
                                at(a.scale, a.scale_len, c, 1) /
                                std::sqrt(at(a.variance, a.variance_len, c, 1) + double(a.epsilon));
      auto y = Poisoned(x.size());
      BatchNormInference(a, rows, ch, x.data(), y.data());
      r.CheckClose(MaxRelError(y, ref), 1e-6,
                   "batchnorm thr=" + std::to_string(threads) + " rows=" + std::to_string(rows) +
                       " ch=" + std::to_string(ch));
    }
  });
  for (int threads : {1, 2}) {
    SetNumThreads(threads);
    for (int t = 0; t < 12; ++t) {
      const int64_t rows = t == 0 ? 1 : t == 1 ? 40000 : RandInt(1, 3000), ch = RandInt(1, 37);
      TestBatchNormBackward(r, rows, ch, t % 2 == 0);
    }
  }
  r.Expect([] { ApplyEpilogue(Epilogue{}, 0, 5, nullptr); BatchNormInference(BatchNormArgs{}, 0, 3, nullptr, nullptr); },
           "zero rows");
  return r.Finish();
}
