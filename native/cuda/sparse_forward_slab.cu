// Filter-slab pattern-sparse forward convolution (stride 1, dilation 1, 3x3): the fast path of the
// forward pass and, through the rotated transposed layout, of backward-data, for maps >= 8 wide and
// for 4x4 / 2x2 maps with same padding. Design in slab_schedule.h; the per-lane arithmetic is
// sparse_slab_lane.h.
//   * block = P.warps warps = P.warps slabs of 8 output channels over one pixel tile; the tile's
//     input is staged in shared memory one channel chunk at a time (cp.async) and read by every warp;
//   * per channel a lane loads its input patch once (16-byte loads) and applies every kept kernel of
//     the slab on that channel to it: 8 slots x 16 outputs of accumulators in registers (8 x 8 for
//     kHalo4, whose 128 registers let an SM run twice the warps);
//   * each warp stages its slab's records of the chunk in shared memory with the input (cp.async);
//   * small grids split the channels over blocks (grid z) and accumulate with atomics into a zeroed
//     output, so the summation order (and the last bits) may differ between runs.
#include <stdexcept>

#include "cuda/cuda_kernels.h"
#include "cuda/sparse_slab_device.h"

namespace clicktrain {
namespace cuda {
namespace {

template <class Sh, bool kHalo>
__global__ void __launch_bounds__(32 * kSlabWarps, (SlabMinBlocks<Sh, kHalo>()))
SparseForwardSlabKernel(ConvGeom g, SlabPlan P, int num_slabs, const uint32_t* __restrict__ bits,
                        const int32_t* __restrict__ rec_start, const float* __restrict__ records,
                        const float* __restrict__ x, float* __restrict__ y) {
  extern __shared__ float xs[];
  const SlabBlock<Sh, kHalo> B(g, P, num_slabs);
  typename Sh::Acc acc[kSlabFilters];
#pragma unroll
  for (int s = 0; s < kSlabFilters; ++s)
#pragma unroll
    for (int b = 0; b < Sh::LB; ++b)
#pragma unroll
      for (int i = 0; i < Sh::OH; ++i)
#pragma unroll
        for (int j = 0; j < Sh::OW; ++j) acc[s][b][i][j] = 0.f;
  int k = B.active ? __ldg(rec_start + size_t(B.slab) * g.c + B.c_begin) : 0;
  float* rs = xs + P.chunk * P.chan_stride + B.warp * P.rec_floats_per_warp;  // this warp's records of the chunk
  for (int cbase = B.c_begin; cbase < B.c_end; cbase += P.chunk) {
    const int cn = min(P.chunk, B.c_end - cbase);
    __syncthreads();  // the previous chunk is no longer read
    const uint32_t my_bits = StageSlabChunk(g, P, B, x, cbase, cn, xs, bits, rec_start, records, k, rs);
    CopyAsyncWaitAll();
    __syncthreads();
    if (!B.active) continue;
    const SharedRecordLoader load{reinterpret_cast<const float4*>(rs), k};
    SlabRecord next = load(k);
    for (int cl = 0; cl < cn; ++cl) {
      const uint32_t cb = __shfl_sync(0xffffffffu, my_bits, cl);
      if (!cb) continue;  // no slot of the slab keeps this channel
      typename Sh::Patch xp;
      LoadSlabPatch(xs + cl * P.chan_stride, B, xp);
      SlabChannel<Sh>(cb, xp, k, next, load, acc);
    }
  }
  if (!B.active) return;
  const bool atomic = P.splits > 1;
  const int valid = min(kSlabFilters, g.oc - B.slab * kSlabFilters);
#pragma unroll
  for (int b = 0; b < Sh::LB; ++b)
#pragma unroll
    for (int i = 0; i < Sh::OH; ++i)
#pragma unroll
      for (int j = 0; j < Sh::OW; ++j) {
        int bb, oh, ow;
        if (!B.Pixel(g, P, b, i, j, &bb, &oh, &ow)) continue;
        float* out = y + ((int64_t(bb) * g.oh + oh) * g.ow + ow) * g.oc + B.slab * kSlabFilters;
        if (atomic) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
          if (valid == kSlabFilters && (g.oc & 3) == 0) {  // sm_90 vector atomics: 2 instead of 8
            atomicAdd(reinterpret_cast<float4*>(out), make_float4(acc[0][b][i][j], acc[1][b][i][j], acc[2][b][i][j], acc[3][b][i][j]));
            atomicAdd(reinterpret_cast<float4*>(out) + 1, make_float4(acc[4][b][i][j], acc[5][b][i][j], acc[6][b][i][j], acc[7][b][i][j]));
            continue;
          }
#endif
#pragma unroll
          for (int s = 0; s < kSlabFilters; ++s)
            if (s < valid) atomicAdd(out + s, acc[s][b][i][j]);
        } else if (valid == kSlabFilters && (g.oc & 3) == 0) {
          reinterpret_cast<float4*>(out)[0] = make_float4(acc[0][b][i][j], acc[1][b][i][j], acc[2][b][i][j], acc[3][b][i][j]);
          reinterpret_cast<float4*>(out)[1] = make_float4(acc[4][b][i][j], acc[5][b][i][j], acc[6][b][i][j], acc[7][b][i][j]);
        } else {
#pragma unroll
          for (int s = 0; s < kSlabFilters; ++s)
            if (s < valid) out[s] = acc[s][b][i][j];
        }
      }
}

template <class Sh, bool kHalo>
void LaunchSlab(const ConvGeom& g, const SlabPlan& P, const DeviceSlabSchedule& s, const float* x, float* y,
                cudaStream_t stream) {
  static size_t attr_bytes = 0;
  LaunchSlabGrid(SparseForwardSlabKernel<Sh, kHalo>, &attr_bytes, P, stream, g, P, s.num_slabs, s.bits, s.rec_start,
                 s.records, x, y);
}

}  // namespace

void CheckSlabLaunch(const ConvGeom& g, const SlabPlan& P, const DeviceSlabSchedule& s) {
  if (g.fh != 3 || g.fw != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1)
    throw std::invalid_argument("cuda sparse slab kernels: stride/dilation 1, 3x3 only");
  if (P.kind == SlabKind::kNone) throw std::invalid_argument("cuda sparse slab kernels: no slab plan");
  if (s.num_channels != g.c || s.num_filters != g.oc) throw std::invalid_argument("cuda sparse slab kernels: schedule/conv channels differ");
  if (P.chunk > 32 || P.chunk < 1 || P.rec_floats_per_warp < 0 || P.rec_floats_per_warp % 4 != 0)
    throw std::invalid_argument("cuda sparse slab kernels: bad plan");
  if (P.warps < 1 || P.warps > kSlabWarps) throw std::invalid_argument("cuda sparse slab kernels: bad warp count");
  if (P.tiles > (int64_t(1) << 31) - 1 || P.slab_blocks > 65535 || P.splits > 65535)
    throw std::invalid_argument("cuda sparse slab kernels: grid too large");
}

void LaunchSparseForwardSlab(const ConvGeom& g, const SlabPlan& P, const DeviceSlabSchedule& s, const float* x,
                             float* y, cudaStream_t stream) {
  CheckSlabLaunch(g, P, s);
  if (P.splits > 1) CheckCuda(cudaMemsetAsync(y, 0, sizeof(float) * size_t(g.n) * g.oh * g.ow * g.oc, stream), "memset y");
  if (P.tiles == 0 || s.num_slabs == 0) return;
  switch (P.kind) {
    case SlabKind::kHalo: LaunchSlab<SlabHaloShape, true>(g, P, s, x, y, stream); break;
    case SlabKind::kHalo4: LaunchSlab<SlabHalo4Shape, true>(g, P, s, x, y, stream); break;
    case SlabKind::kWhole4: LaunchSlab<SlabWhole4Shape, false>(g, P, s, x, y, stream); break;
    case SlabKind::kWhole2: LaunchSlab<SlabWhole2Shape, false>(g, P, s, x, y, stream); break;
    default: throw std::invalid_argument("cuda sparse slab forward: bad plan");
  }
  CheckCuda(cudaGetLastError(), "sparse slab forward launch");
}

}  // namespace cuda
}  // namespace clicktrain
