// CUDA convolution entry points for the Node addon: plain C++ (no CUDA types), host pointers in and
// out. Every call copies its inputs host -> device and its result device -> host; the copies are
// counted and timed in CudaTiming next to the kernel time, so a caller can say plainly how much of
// the time is transfer. Calls are serialised (one stream, one device: device 0).
// Built only when CMake finds nvcc (target clicktrain_cuda, definition CLICKTRAIN_HAVE_CUDA=1).
// All functions throw std::runtime_error on CUDA errors and std::invalid_argument on bad shapes.
#pragma once
#include <cstdint>
#include <string>

#include "common/conv_params.h"
#include "sparse/pattern_layout.h"

namespace clicktrain {
namespace cuda {

struct CudaTiming {
  double total_ms = 0;   // first host->device copy start to last device->host copy end (CUDA events)
  double h2d_ms = 0, kernel_ms = 0, d2h_ms = 0;
  int h2d_copies = 0, d2h_copies = 0;
  int64_t h2d_bytes = 0, d2h_bytes = 0;
  std::string path;      // which kernel ran, e.g. "dense-fp32", "sparse", "dense-fallback(stride>1)"
};

struct CudaConvOptions {
  bool tf32 = false;     // dense kernels: TF32 tensor cores (10-bit mantissa inputs, FP32 accumulate)
};

// True when a CUDA device is usable; otherwise *why (if given) says why (no driver, no device, ...).
bool CudaAvailable(std::string* why);
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)" or "" when unavailable.
std::string CudaDeviceName();

// Dense, any stride/padding/dilation/filter size; NHWC activations, HWIO filters (tfjs layouts).
void CudaConv2DForward(const Conv2DParams& p, const float* x, const float* filter, float* y,
                       const CudaConvOptions& opt, CudaTiming* timing);
void CudaConv2DBackpropInput(const Conv2DParams& p, const float* dy, const float* filter, float* dx,
                             const CudaConvOptions& opt, CudaTiming* timing);
void CudaConv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy, float* dfilter,
                              const CudaConvOptions& opt, CudaTiming* timing);

// Pattern-sparse (FP32), consuming the CPU layout (native/sparse/pattern_layout.h) of a 3x3 layer.
// The device schedule derived from the layout's structure is cached (keyed by a hash of the
// structure); values are gathered and uploaded on every call (counted in h2d).
// Supported: 3x3 filters, in_c/out_c equal to the layout's, any stride/padding/dilation. Stride 1,
// dilation 1 forward and backward-data run the filter-slab kernels (timing->path "sparse-slab") on maps
// at least 8 wide and on 4x4 / 2x2 maps with same padding, the per-filter tiled kernels
// ("sparse-tiled") on other stride-1 maps, anything else the general ones ("sparse").
// Backward-filter runs the slab kernel on 4x4 / 2x2 maps with same padding, the tiled one on other
// stride-1 maps. CLICKTRAIN_CUDA_SPARSE_SLAB=0 turns the slab kernels off, CLICKTRAIN_CUDA_SPARSE_TILED=0 forces the
// general kernels (A/B checks). Slab calls on small grids split the input channels over blocks and
// add into the output with atomics, so their last bits may differ from run to run.
bool CudaSparseSupported(const Conv2DParams& p, const PatternLayout& layout, std::string* why);
void CudaSparseConv2DForward(const Conv2DParams& p, const float* x, const PatternLayout& layout, float* y,
                             CudaTiming* timing);
// Stride 1: sparse kernel on the rotated, transposed layout. Stride > 1: dense FP32 kernel on the
// unpacked masked weights (timing->path says "dense-fallback(stride>1)").
void CudaSparseConv2DBackpropInput(const Conv2DParams& p, const float* dy, const PatternLayout& layout,
                                   float* dx, CudaTiming* timing);
// Gradient at the kept positions only; dfilter is the dense HWIO [3,3,in_c,out_c] with zeros at
// every pruned position (the documented property of frozen layers).
void CudaSparseConv2DBackpropFilter(const Conv2DParams& p, const float* x, const float* dy,
                                    const PatternLayout& layout, float* dfilter, CudaTiming* timing);

}  // namespace cuda
}  // namespace clicktrain
