// Internal launchers of the CUDA kernels (device pointers, a stream). Used by cuda_conv.cu and the
// bench; the Node addon only sees cuda_conv.h.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "common/conv_params.h"
#include "cuda/conv_plan.h"
#include "cuda/slab_schedule.h"

namespace clicktrain {
namespace cuda {

// All geometry in int (the launchers check that every index fits).
struct ConvGeom {
  int n, h, w, c;       // input
  int oh, ow, oc;       // output
  int fh, fw, sh, sw, dh, dw, pt, pl;
};
ConvGeom ToGeom(const Conv2DParams& p);  // throws when a size exceeds int32 indexing

// Dense implicit GEMM. tf32: tensor-core (wmma, sm_80+) math with FP32 accumulation.
// num_sms sizes the grid (K is split, with atomics into a zeroed output, when the tiles alone would
// leave SMs idle).
void LaunchDenseForward(const ConvGeom& g, const float* x, const float* filter, float* y, bool tf32,
                        int num_sms, cudaStream_t stream);
// filter_t: workspace of FilterSize floats (the filter transposed to [fh, fw, oc, c]).
void LaunchDenseBackpropInput(const ConvGeom& g, const float* dy, const float* filter, float* filter_t,
                              float* dx, bool tf32, int num_sms, cudaStream_t stream);
// dfilter is zeroed and accumulated with split-K atomics.
void LaunchDenseBackpropFilter(const ConvGeom& g, const float* x, const float* dy, float* dfilter,
                               bool tf32, int num_sms, cudaStream_t stream);

// Device copy of a GroupedSchedule (forward and backward-data of the sparse path).
struct DeviceGroupedSchedule {
  int num_filters = 0, chunk = 1, num_chunks = 1;
  int32_t* filter_out = nullptr;
  int32_t* seg_group = nullptr;
  uint16_t* group_mask = nullptr;
  int32_t* group_kernel = nullptr;
  int32_t* kernel_channel = nullptr;
  int32_t* kernel_value = nullptr;
};
struct DeviceBlockSchedule {
  int num_filters = 0, chunk = 1, num_chunks = 1, filters_per_block = 1, num_blocks = 0, max_slots = 0;
  int32_t* filter_out = nullptr;
  int32_t* seg_unit = nullptr;
  int32_t* seg_slot = nullptr;
  uint16_t* unit_mask = nullptr;
  int32_t* unit_kernel = nullptr;
  int32_t* kernel_channel = nullptr;
  int32_t* kernel_filter = nullptr;
  int32_t* kernel_slot = nullptr;
  int64_t* slot_out = nullptr;
};

// y[pixel, filter_out[f]] = sum over the schedule's kernels (x has g.c channels, y has g.oc channels;
// every output channel must be some filter_out entry, others are left untouched).
// values: device values in schedule order. tile from PlanPixelTile on the output geometry.
void LaunchSparseForward(const ConvGeom& g, const PixelTile& tile, const DeviceGroupedSchedule& s,
                         const float* x, const float* values, float* y, cudaStream_t stream);
// Tiled fast path of LaunchSparseForward for stride 1, dilation 1 (sparse_forward_tiled.cu); the
// schedule's chunk must be TiledChannelChunk(tile, g.c).
bool SparseForwardTiledApplies(const ConvGeom& g);
void LaunchSparseForwardTiled(const ConvGeom& g, const WarpTile& tile, const DeviceGroupedSchedule& s,
                              const float* x, const float* values, float* y, int num_sms, cudaStream_t stream);

// The sparse forward path for a geometry: tiled when it applies (and allow_tiled), else general.
// The schedule's chunk must be plan.chunk.
struct SparseForwardPlan {
  bool tiled = false;
  PixelTile tile;   // general path
  WarpTile wtile;   // tiled path
  int chunk = 1;
};
SparseForwardPlan PlanSparseForward(const ConvGeom& g, bool allow_tiled = true);
void LaunchSparseForwardPlanned(const ConvGeom& g, const SparseForwardPlan& plan, const DeviceGroupedSchedule& s,
                                const float* x, const float* values, float* y, int num_sms, cudaStream_t stream);

// Tiled backward-filter for stride 1, dilation 1 (sparse_backprop_filter_tiled.cu) on a grouped
// schedule in natural filter order (BackwardFilterKernelRefs) with chunk TiledBackpropFilterChunk;
// filter_value / value_dense from BuildGradientTargets (device copies); SparseBackpropFilterTiledFits
// must hold (else use the general kernel).
// dfilter (dense HWIO) is zeroed here and receives the gradient at the kept positions only.
void LaunchSparseBackpropFilterTiled(const ConvGeom& g, const WarpTile& tile, const DeviceGroupedSchedule& s,
                                     const int32_t* filter_value, const int64_t* value_dense, int max_block_values,
                                     const float* x, const float* dy, float* dfilter, int num_sms, cudaStream_t stream);
// The tiled backward-filter's chunk, and whether it fits: the staged chunk plus the block's weight sums.
inline int TiledBackpropFilterChunk(const WarpTile& tile, int channels, int max_block_values) {
  return TiledChannelChunk(tile, channels, std::max(0, kTiledSmemFloats - max_block_values));
}
inline bool SparseBackpropFilterTiledFits(const WarpTile& tile, int chunk, int max_block_values) {
  return int64_t(chunk) * tile.chan_stride + max_block_values <= kTiledSmemFloats;
}

// dfilter (dense HWIO, zeroed here) receives the gradient at the kept positions only.
void LaunchSparseBackpropFilter(const ConvGeom& g, const PixelTile& tile, const DeviceBlockSchedule& s,
                                const float* x, const float* dy, float* dfilter, int num_sms,
                                cudaStream_t stream);

// Device copy of a SlabSchedule; records from GatherSlabRecords.
struct DeviceSlabSchedule {
  int num_filters = 0, num_channels = 0, num_slabs = 0;
  uint32_t* bits = nullptr;
  int32_t* rec_start = nullptr;
  float* records = nullptr;
};
// Filter-slab forward (sparse_forward_slab.cu) for a PlanSlab plan of g (stride 1, dilation 1, 3x3):
// y[pixel, oc] for every output channel (a channel without kept kernels gets 0).
void LaunchSparseForwardSlab(const ConvGeom& g, const SlabPlan& plan, const DeviceSlabSchedule& s, const float* x,
                             float* y, cudaStream_t stream);
// Filter-slab backward-filter (sparse_backprop_filter_slab.cu) on the forward's schedule and plan:
// dfilter (dense HWIO, zeroed here) receives the gradient at the kept positions only.
void LaunchSparseBackpropFilterSlab(const ConvGeom& g, const SlabPlan& plan, const DeviceSlabSchedule& s,
                                    const float* x, const float* dy, float* dfilter, cudaStream_t stream);
// Throws std::invalid_argument unless plan and schedule fit the geometry (both slab launchers).
void CheckSlabLaunch(const ConvGeom& g, const SlabPlan& plan, const DeviceSlabSchedule& s);

// Throws std::runtime_error naming the call when err != cudaSuccess.
void CheckCuda(cudaError_t err, const char* what);

}  // namespace cuda
}  // namespace clicktrain
