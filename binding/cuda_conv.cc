// CUDA convolution from JS (only when the addon was built with nvcc): the dense Conv2D passes on
// the GPU. Each call copies host <-> device; the returned timing says how much of the time was
// transfer.
#ifdef CLICKTRAIN_HAVE_CUDA
#include "binding/args.h"
#include "binding/registry.h"
#include "cuda/cuda_conv.h"

namespace clicktrain_binding {
namespace {

namespace cu = clicktrain::cuda;
using clicktrain::Conv2DParams;

Napi::Object TimingObject(Napi::Env env, const cu::CudaTiming& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("totalMs", t.total_ms);
  o.Set("h2dMs", t.h2d_ms);
  o.Set("kernelMs", t.kernel_ms);
  o.Set("d2hMs", t.d2h_ms);
  o.Set("h2dBytes", static_cast<double>(t.h2d_bytes));
  o.Set("d2hBytes", static_cast<double>(t.d2h_bytes));
  o.Set("path", t.path);
  return o;
}

enum class Size { kInput, kOutput, kFilter };

int64_t SizeOf(const Conv2DParams& p, Size s) {
  return s == Size::kInput ? p.InputSize() : s == Size::kOutput ? p.OutputSize() : p.FilterSize();
}

using CudaPass = void (*)(const Conv2DParams&, const float*, const float*, float*,
                          const cu::CudaConvOptions&, cu::CudaTiming*);

// (geometry, a, b, out, tf32) -> timing, for the pass `fn` with the given buffer names/sizes.
template <CudaPass fn, Size kA, Size kB, Size kOut>
Napi::Value Run(const Napi::CallbackInfo& info, const char* a_name, const char* b_name,
                const char* out_name) {
  Conv2DParams p = ArgConvParams(info, 0);
  auto a = ArgSizedFloat32(info, 1, a_name, SizeOf(p, kA));
  auto b = ArgSizedFloat32(info, 2, b_name, SizeOf(p, kB));
  auto out = ArgSizedFloat32(info, 3, out_name, SizeOf(p, kOut));
  cu::CudaConvOptions opt;
  opt.tf32 = ArgBool(info, 4, "tf32");
  std::string why;
  if (!cu::CudaAvailable(&why))
    throw Napi::Error::New(info.Env(), "clicktrain: no usable CUDA device: " + why);
  cu::CudaTiming t;
  fn(p, a.Data(), b.Data(), out.Data(), opt, &t);
  return TimingObject(info.Env(), t);
}

// cudaConv2dForward(geometry, x, filter, y, tf32) -> timing
Napi::Value Forward(const Napi::CallbackInfo& info) {
  return Run<cu::CudaConv2DForward, Size::kInput, Size::kFilter, Size::kOutput>(info, "x", "filter", "y");
}

// cudaConv2dBackpropInput(geometry, dy, filter, dx, tf32) -> timing
Napi::Value BackpropInput(const Napi::CallbackInfo& info) {
  return Run<cu::CudaConv2DBackpropInput, Size::kOutput, Size::kFilter, Size::kInput>(info, "dy", "filter", "dx");
}

// cudaConv2dBackpropFilter(geometry, x, dy, dfilter, tf32) -> timing
Napi::Value BackpropFilter(const Napi::CallbackInfo& info) {
  return Run<cu::CudaConv2DBackpropFilter, Size::kInput, Size::kOutput, Size::kFilter>(info, "x", "dy", "dfilter");
}

}  // namespace

CLICKTRAIN_EXPORT("cudaConv2dForward", Forward);
CLICKTRAIN_EXPORT("cudaConv2dBackpropInput", BackpropInput);
CLICKTRAIN_EXPORT("cudaConv2dBackpropFilter", BackpropFilter);

}  // namespace clicktrain_binding
#endif  // CLICKTRAIN_HAVE_CUDA
