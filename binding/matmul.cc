// BatchMatMul and _FusedMatMul: a [batchA, m, k] (or [batchA, k, m] transposed), b [batchB, k, n]
// (or [batchB, n, k]); batchA == batchB or one of them is 1.
#include "binding/args.h"
#include "binding/registry.h"
#include "dense/matmul.h"

namespace clicktrain_binding {
namespace {

// batchMatMul(batchA, batchB, m, n, k, transA, transB, a, b, c, bias|null, activation,
//             leakyAlpha, prelu|null)
Napi::Value BatchMatMul(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const int64_t kMax = int64_t(1) << 31;
  int64_t ba = ArgInt(info, 0, "batchA", 0, kMax), bb = ArgInt(info, 1, "batchB", 0, kMax);
  int64_t m = ArgInt(info, 2, "m", 0, kMax), n = ArgInt(info, 3, "n", 0, kMax),
          k = ArgInt(info, 4, "k", 0, kMax);
  bool ta = ArgBool(info, 5, "transA"), tb = ArgBool(info, 6, "transB");
  if (ba != bb && ba != 1 && bb != 1)
    throw Napi::RangeError::New(env, "clicktrain: matmul batch sizes must match or be 1");
  int64_t batch = (ba == 0 || bb == 0) ? 0 : std::max(ba, bb);
  auto a = ArgFloat32Array(info, 7, "a");
  auto b = ArgFloat32Array(info, 8, "b");
  auto c = ArgFloat32Array(info, 9, "c");
  CheckLength(a, CheckedProduct(env, {ba, m, k}, "a"), "a");
  CheckLength(b, CheckedProduct(env, {bb, k, n}, "b"), "b");
  CheckLength(c, CheckedProduct(env, {batch, m, n}, "c"), "c");
  clicktrain::Epilogue ep = ArgEpilogue(info, 10, n);
  if (batch == 0 || m == 0 || n == 0) return env.Undefined();
  clicktrain::BatchMatMul(ba, bb, m, n, k, ta, tb, a.Data(), b.Data(), ep, c.Data());
  return env.Undefined();
}

}  // namespace

CLICKTRAIN_EXPORT("batchMatMul", BatchMatMul);

}  // namespace clicktrain_binding
