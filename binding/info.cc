// Backend facts and knobs: ISA path, threads, dense library, CUDA.
#include "binding/args.h"
#include "binding/registry.h"
#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "dense/gemm.h"
#ifdef CLICKTRAIN_HAVE_CUDA
#include "cuda/cuda_conv.h"
#endif

namespace clicktrain_binding {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", clicktrain::IsaName(clicktrain::ActiveIsa()));
  o.Set("detectedIsa", clicktrain::IsaName(clicktrain::DetectedIsa()));
  o.Set("threads", clicktrain::NumThreads());
  o.Set("gemm", clicktrain::GemmBackendName());
#ifdef CLICKTRAIN_HAVE_OPENBLAS
  o.Set("openblas", true);
#else
  o.Set("openblas", false);
#endif
  Napi::Object cuda = Napi::Object::New(env);
#ifdef CLICKTRAIN_HAVE_CUDA
  std::string why;
  bool ok = clicktrain::cuda::CudaAvailable(&why);
  cuda.Set("built", true);
  cuda.Set("available", ok);
  if (ok) cuda.Set("device", clicktrain::cuda::CudaDeviceName());
  else cuda.Set("reason", why);
#else
  cuda.Set("built", false);
  cuda.Set("available", false);
  cuda.Set("reason", "built without CUDA (nvcc was not found at build time)");
#endif
  o.Set("cuda", cuda);
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  clicktrain::SetNumThreads(static_cast<int>(ArgInt(info, 0, "threads", 1, 256)));
  return Napi::Number::New(info.Env(), clicktrain::NumThreads());
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(info.Env(), "clicktrain: isa must be 'generic', 'avx2' or 'avx512'");
  clicktrain::Isa isa;
  if (!clicktrain::ParseIsa(info[0].As<Napi::String>().Utf8Value(), &isa))
    throw Napi::RangeError::New(info.Env(), "clicktrain: isa must be 'generic', 'avx2' or 'avx512'");
  return Napi::String::New(info.Env(), clicktrain::IsaName(clicktrain::SetActiveIsa(isa)));
}

}  // namespace

CLICKTRAIN_EXPORT("info", Info);
CLICKTRAIN_EXPORT("setNumThreads", SetNumThreads);
CLICKTRAIN_EXPORT("setIsa", SetIsa);

}  // namespace clicktrain_binding
