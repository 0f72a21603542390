// Filter-slab pattern-sparse backward-filter (stride 1, dilation 1, 3x3): the gradient of every kept
// weight, zeros at pruned positions, on the forward pass's slab schedule and plan (slab_schedule.h).
//   * block, staging and lane geometry as the slab forward (sparse_slab_device.h); a lane holds dy of
//     its pixels for the 8 output channels of its slab in registers, loaded once;
//   * per staged input channel the lane loads its patch once, and for each kept weight of the channel
//     in the slab takes the dot product of the tap's patch values with that slot's dy (compile-time
//     offsets behind one bit test per position, as in the forward);
//   * the 32 lane shares are summed with a butterfly of shuffles and lane 0 adds the sum into the
//     zeroed dense gradient (atomics across pixel tiles, so the last bits may differ between runs).
#include <stdexcept>

#include "cuda/cuda_kernels.h"
#include "cuda/sparse_slab_device.h"

namespace clicktrain {
namespace cuda {
namespace {

template <class Sh, bool kHalo>
__global__ void __launch_bounds__(32 * kSlabWarps, (SlabMinBlocks<Sh, kHalo>()))
SparseBackpropFilterSlabKernel(ConvGeom g, SlabPlan P, int num_slabs, const uint32_t* __restrict__ bits,
                               const int32_t* __restrict__ rec_start, const float* __restrict__ records,
                               const float* __restrict__ x, const float* __restrict__ dy, float* __restrict__ dw) {
  extern __shared__ float xs[];
  const SlabBlock<Sh, kHalo> B(g, P, num_slabs);
  typename Sh::Acc dyv[kSlabFilters];  // dy of the lane's pixels, 0 outside the output and past the channels
  const int valid = B.active ? min(kSlabFilters, g.oc - B.slab * kSlabFilters) : 0;
#pragma unroll
  for (int b = 0; b < Sh::LB; ++b)
#pragma unroll
    for (int i = 0; i < Sh::OH; ++i)
#pragma unroll
      for (int j = 0; j < Sh::OW; ++j) {
        int bb, oh, ow;
        const bool in = B.Pixel(g, P, b, i, j, &bb, &oh, &ow);
        const float* src = dy + ((int64_t(min(bb, g.n - 1)) * g.oh + min(oh, g.oh - 1)) * g.ow + min(ow, g.ow - 1)) * g.oc +
                           B.slab * kSlabFilters;
#pragma unroll
        for (int s = 0; s < kSlabFilters; ++s) dyv[s][b][i][j] = in && s < valid ? __ldg(src + s) : 0.f;
      }
  int k = B.active ? __ldg(rec_start + size_t(B.slab) * g.c + B.c_begin) : 0;
  float* rs = xs + P.chunk * P.chan_stride + B.warp * P.rec_floats_per_warp;
  for (int cbase = B.c_begin; cbase < B.c_end; cbase += P.chunk) {
    const int cn = min(P.chunk, B.c_end - cbase);
    __syncthreads();
    const uint32_t my_bits = StageSlabChunk(g, P, B, x, cbase, cn, xs, bits, rec_start, records, k, rs);
    CopyAsyncWaitAll();
    __syncthreads();
    if (!B.active) continue;
    const SharedRecordLoader load{reinterpret_cast<const float4*>(rs), k};
    SlabRecord next = load(k);
    for (int cl = 0; cl < cn; ++cl) {
      const uint32_t cb = __shfl_sync(0xffffffffu, my_bits, cl);
      if (!cb) continue;
      typename Sh::Patch xp;
      LoadSlabPatch(xs + cl * P.chan_stride, B, xp);
      float* col = dw + int64_t(cbase + cl) * g.oc + B.slab * kSlabFilters;  // + pos * c * oc + slot
      const int64_t pos_stride = int64_t(g.c) * g.oc;
      SlabGradChannel<Sh>(cb, xp, dyv, k, next, load, [&](int slot, int pos, float v) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (B.lane == 0) atomicAdd(col + pos * pos_stride + slot, v);
      });
    }
  }
}

template <class Sh, bool kHalo>
void LaunchBwdSlab(const ConvGeom& g, const SlabPlan& P, const DeviceSlabSchedule& s, const float* x, const float* dy,
                   float* dw, cudaStream_t stream) {
  static size_t attr_bytes = 0;
  LaunchSlabGrid(SparseBackpropFilterSlabKernel<Sh, kHalo>, &attr_bytes, P, stream, g, P, s.num_slabs, s.bits,
                 s.rec_start, s.records, x, dy, dw);
}

}  // namespace

void LaunchSparseBackpropFilterSlab(const ConvGeom& g, const SlabPlan& P, const DeviceSlabSchedule& s, const float* x,
                                    const float* dy, float* dw, cudaStream_t stream) {
  CheckSlabLaunch(g, P, s);
  CheckCuda(cudaMemsetAsync(dw, 0, sizeof(float) * size_t(9) * g.c * g.oc, stream), "memset dfilter");
  if (P.tiles == 0 || s.num_slabs == 0) return;
  switch (P.kind) {
    case SlabKind::kHalo: LaunchBwdSlab<SlabHaloShape, true>(g, P, s, x, dy, dw, stream); break;
    case SlabKind::kHalo4: LaunchBwdSlab<SlabHalo4Shape, true>(g, P, s, x, dy, dw, stream); break;
    case SlabKind::kWhole4: LaunchBwdSlab<SlabWhole4Shape, false>(g, P, s, x, dy, dw, stream); break;
    case SlabKind::kWhole2: LaunchBwdSlab<SlabWhole2Shape, false>(g, P, s, x, dy, dw, stream); break;
    default: throw std::invalid_argument("cuda sparse slab backward-filter: bad plan");
  }
  CheckCuda(cudaGetLastError(), "sparse slab backward-filter launch");
}

}  // namespace cuda
}  // namespace clicktrain
