// Sgemm / SgemmSerial vs a float64 reference: random shapes, trans flags, padded leading dims,
// alpha/beta (beta = 0 over NaN-poisoned C), every runnable ISA, 1 and 2 threads.
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "dense/gemm.h"
#include "test_dense_ref.h"

using namespace clicktrain;
using namespace clicktrain_test;

namespace {

struct Case {
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
};

Case RandomCase(int max_dim) {
  Case c;
  c.ta = RandInt(0, 1);
  c.tb = RandInt(0, 1);
  c.m = RandInt(1, max_dim);
  c.n = RandInt(1, max_dim);
  c.k = RandInt(1, max_dim);
  c.lda = (c.ta ? c.m : c.k) + RandInt(0, 3);
  c.ldb = (c.tb ? c.k : c.n) + RandInt(0, 3);
  c.ldc = c.n + RandInt(0, 3);
  const float alphas[] = {1.f, -0.5f, 2.f};
  const float betas[] = {0.f, 1.f, 0.75f};
  c.alpha = alphas[RandInt(0, 2)];
  c.beta = betas[RandInt(0, 2)];
  return c;
}

std::string Name(const Case& c, const char* fn) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s isa=%s thr=%d ta%d tb%d m%lld n%lld k%lld a%g b%g", fn,
                IsaName(ActiveIsa()), NumThreads(), c.ta, c.tb, (long long)c.m, (long long)c.n,
                (long long)c.k, c.alpha, c.beta);
  return buf;
}

// Runs one case with `fn` and returns the relative error against float64.
template <typename Fn>
double RunCase(const Case& c, Fn fn) {
  const int64_t arows = c.ta ? c.k : c.m, brows = c.tb ? c.n : c.k;
  auto a = RandomVector(static_cast<size_t>(arows * c.lda));
  auto b = RandomVector(static_cast<size_t>(brows * c.ldb));
  std::vector<float> cmat = c.beta == 0.f ? Poisoned(static_cast<size_t>(c.m * c.ldc))
                                          : RandomVector(static_cast<size_t>(c.m * c.ldc));
  std::vector<double> ref(cmat.size()), mag(cmat.size());
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.ldc; ++j) {
      if (j >= c.n) {
        ref[i * c.ldc + j] = cmat[i * c.ldc + j];  // padding must stay untouched
        continue;
      }
      double s = 0, sa = 0;
      for (int64_t p = 0; p < c.k; ++p) {
        const double av = c.ta ? a[p * c.lda + i] : a[i * c.lda + p];
        const double bv = c.tb ? b[j * c.ldb + p] : b[p * c.ldb + j];
        s += av * bv;
        sa += std::fabs(av * bv);
      }
      const double cterm = c.beta == 0.f ? 0.0 : c.beta * double(cmat[i * c.ldc + j]);
      ref[i * c.ldc + j] = c.alpha * s + cterm;
      mag[i * c.ldc + j] = std::fabs(c.alpha) * sa + std::fabs(cterm);
    }
  fn(c, a.data(), b.data(), cmat.data());
  // Padding columns of a poisoned C stay NaN; compare them by identity.
  std::vector<float> got;
  std::vector<double> want, want_mag;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      got.push_back(cmat[i * c.ldc + j]);
      want.push_back(ref[i * c.ldc + j]);
      want_mag.push_back(mag[i * c.ldc + j]);
    }
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = c.n; j < c.ldc; ++j) {
      const float g = cmat[i * c.ldc + j];
      const double r = ref[i * c.ldc + j];
      if (!((std::isnan(g) && std::isnan(r)) || double(g) == r)) return 1e30;
    }
  return MaxErrorVsMagnitude(got, want, want_mag);
}

void CallSgemm(const Case& c, const float* a, const float* b, float* cm) {
  Sgemm(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a, c.lda, b, c.ldb, c.beta, cm, c.ldc);
}
void CallSerial(const Case& c, const float* a, const float* b, float* cm) {
  SgemmSerial(c.ta, c.tb, c.m, c.n, c.k, c.alpha, a, c.lda, b, c.ldb, c.beta, cm, c.ldc);
}

}  // namespace

int main() {
  Runner r;
  std::printf("gemm backend: %s\n", GemmBackendName());
  ForEachIsaAndThreads([&](Isa, int) {
    for (int t = 0; t < 40; ++t) {
      Case c = RandomCase(t < 30 ? 40 : 300);
      r.CheckClose(RunCase(c, CallSgemm), SumTolerance(c.k), Name(c, "Sgemm"));
      c = RandomCase(t < 30 ? 40 : 300);
      r.CheckClose(RunCase(c, CallSerial), SumTolerance(c.k), Name(c, "SgemmSerial"));
    }
    // Multi-block shapes: k > kc, m > mc, n > nc of the built-in blocking.
    const Case big[] = {{false, false, 301, 257, 700, 700, 257, 257, 1.f, 0.f},
                        {true, true, 150, 90, 520, 150, 520, 90, 1.f, 1.f},
                        {false, true, 5, 4200, 300, 300, 300, 4200, 0.5f, 0.f},
                        {true, false, 577, 63, 2000, 577, 63, 63, 1.f, 0.f}};
    for (const Case& c : big) {
      r.CheckClose(RunCase(c, CallSgemm), SumTolerance(c.k), Name(c, "Sgemm-big"));
      r.CheckClose(RunCase(c, CallSerial), SumTolerance(c.k), Name(c, "SgemmSerial-big"));
    }
    // Concurrent calls from pool workers: Sgemm and SgemmSerial must be safe there.
    {
      std::vector<Case> cases(6);
      for (auto& c : cases) c = RandomCase(120);
      std::vector<double> errs(cases.size(), 1e30);
      ParallelTasks(static_cast<int64_t>(cases.size()), [&](int64_t i, int) {
        errs[i] = RunCase(cases[i], i % 2 ? CallSgemm : CallSerial);
      });
      for (size_t i = 0; i < cases.size(); ++i)
        r.CheckClose(errs[i], SumTolerance(cases[i].k), Name(cases[i], "in-ParallelTasks"));
    }
    // Degenerate sizes: k = 0 gives beta * C (zeros for beta = 0), m or n = 0 touches nothing.
    {
      std::vector<float> cm = Poisoned(12);
      Sgemm(false, false, 3, 4, 0, 1.f, nullptr, 1, nullptr, 4, 0.f, cm.data(), 4);
      bool ok = true;
      for (float v : cm) ok = ok && v == 0.f;
      r.Check(ok, "k=0 beta=0 zeroes C");
      std::vector<float> c2(12, 2.f);
      SgemmSerial(true, true, 3, 4, 0, 1.f, nullptr, 3, nullptr, 1, 0.5f, c2.data(), 4);
      ok = true;
      for (float v : c2) ok = ok && v == 1.f;
      r.Check(ok, "k=0 beta=0.5 scales C");
      std::vector<float> c3 = Poisoned(4);
      Sgemm(false, false, 0, 4, 5, 1.f, nullptr, 5, nullptr, 4, 0.f, c3.data(), 4);
      Sgemm(false, false, 4, 0, 5, 1.f, nullptr, 5, nullptr, 1, 0.f, c3.data(), 1);
      ok = true;
      for (float v : c3) ok = ok && std::isnan(v);
      r.Check(ok, "m=0 / n=0 leave C untouched");
    }
  });
  return r.Finish();
}
