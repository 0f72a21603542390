// sgemm(transA, transB, m, n, k, a, b, c): c = op(a) * op(b), row-major. Used by the bench for
// the machine's GEMM ceiling and by anything in JS that needs a raw GEMM.
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/gemm.h"

namespace clicktrain_binding {
namespace {

Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  bool ta = ArgBool(info, 0, "transA"), tb = ArgBool(info, 1, "transB");
  const int64_t kMax = int64_t(1) << 31;
  int64_t m = ArgInt(info, 2, "m", 0, kMax), n = ArgInt(info, 3, "n", 0, kMax),
          k = ArgInt(info, 4, "k", 0, kMax);
  auto a = ArgFloat32Array(info, 5, "a");
  auto b = ArgFloat32Array(info, 6, "b");
  auto c = ArgFloat32Array(info, 7, "c");
  CheckLength(a, CheckedProduct(env, {m, k}, "a"), "a");
  CheckLength(b, CheckedProduct(env, {k, n}, "b"), "b");
  CheckLength(c, CheckedProduct(env, {m, n}, "c"), "c");
  if (m == 0 || n == 0) return env.Undefined();
  clicktrain::Sgemm(ta, tb, m, n, k, 1.f, a.Data(), ta ? m : k, b.Data(), tb ? k : n, 0.f,
                    c.Data(), n);
  return env.Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("sgemm", Sgemm);

}  // namespace clicktrain_binding
