// CUDA convolution from JS (only when the addon was built with nvcc): device info and the dense
// Conv2D passes on the GPU. Each call copies host <-> device; the returned timing says how much
// of the time was transfer.
#ifdef CLICKTRAIN_HAVE_CUDA
#include "binding/args.h"
#include "binding/registry.h"
#include "cuda/cuda_conv.h"

namespace clicktrain_binding {
namespace {

namespace cu = clicktrain::cuda;

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

void RequireDevice(Napi::Env env) {
  std::string why;
  if (!cu::CudaAvailable(&why)) throw Napi::Error::New(env, "clicktrain: no usable CUDA device: " + why);
}

// cudaConv2dForward(geometry, x, filter, y, tf32) -> timing
Napi::Value Forward(const Napi::CallbackInfo& info) {
  clicktrain::Conv2DParams p = ArgConvParams(info, 0);
  auto x = ArgFloat32Array(info, 1, "x");
  auto w = ArgFloat32Array(info, 2, "filter");
  auto y = ArgFloat32Array(info, 3, "y");
  CheckLength(x, p.InputSize(), "x");
  CheckLength(w, p.FilterSize(), "filter");
  CheckLength(y, p.OutputSize(), "y");
  cu::CudaConvOptions opt;
  opt.tf32 = ArgBool(info, 4, "tf32");
  RequireDevice(info.Env());
  cu::CudaTiming t;
  cu::CudaConv2DForward(p, x.Data(), w.Data(), y.Data(), opt, &t);
  return TimingObject(info.Env(), t);
}

// cudaConv2dBackpropInput(geometry, dy, filter, dx, tf32) -> timing
Napi::Value BackpropInput(const Napi::CallbackInfo& info) {
  clicktrain::Conv2DParams p = ArgConvParams(info, 0);
  auto dy = ArgFloat32Array(info, 1, "dy");
  auto w = ArgFloat32Array(info, 2, "filter");
  auto dx = ArgFloat32Array(info, 3, "dx");
  CheckLength(dy, p.OutputSize(), "dy");
  CheckLength(w, p.FilterSize(), "filter");
  CheckLength(dx, p.InputSize(), "dx");
  cu::CudaConvOptions opt;
  opt.tf32 = ArgBool(info, 4, "tf32");
  RequireDevice(info.Env());
  cu::CudaTiming t;
  cu::CudaConv2DBackpropInput(p, dy.Data(), w.Data(), dx.Data(), opt, &t);
  return TimingObject(info.Env(), t);
}

// cudaConv2dBackpropFilter(geometry, x, dy, dfilter, tf32) -> timing
Napi::Value BackpropFilter(const Napi::CallbackInfo& info) {
  clicktrain::Conv2DParams p = ArgConvParams(info, 0);
  auto x = ArgFloat32Array(info, 1, "x");
  auto dy = ArgFloat32Array(info, 2, "dy");
  auto dw = ArgFloat32Array(info, 3, "dfilter");
  CheckLength(x, p.InputSize(), "x");
  CheckLength(dy, p.OutputSize(), "dy");
  CheckLength(dw, p.FilterSize(), "dfilter");
  cu::CudaConvOptions opt;
  opt.tf32 = ArgBool(info, 4, "tf32");
  RequireDevice(info.Env());
  cu::CudaTiming t;
  cu::CudaConv2DBackpropFilter(p, x.Data(), dy.Data(), dw.Data(), opt, &t);
  return TimingObject(info.Env(), t);
}

}  // namespace

CLICKTRAIN_EXPORT("cudaConv2dForward", Forward);
CLICKTRAIN_EXPORT("cudaConv2dBackpropInput", BackpropInput);
CLICKTRAIN_EXPORT("cudaConv2dBackpropFilter", BackpropFilter);

}  // namespace clicktrain_binding
#endif  // CLICKTRAIN_HAVE_CUDA
