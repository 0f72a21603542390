// Filter-slab pattern-sparse forward convolution (stride 1, dilation 1, 3x3): the fast path of the
// forward pass and, through the rotated transposed layout, of backward-data, for maps >= 8 wide and
// for 4x4 / 2x2 maps with same padding. Design in slab_schedule.h; the per-lane arithmetic is
// sparse_slab_lane.h.
//   * block = P.warps warps = P.warps slabs of 8 output channels over one pixel tile; the tile's
//     input is staged in shared memory one channel chunk at a time (cp.async) and read by every warp;
//   * per channel a lane loads its input patch once (16-byte loads) and applies every kept kernel of
//     the slab on that channel to it: 8 slots x 16 outputs of accumulators in registers;
//   * each warp stages its slab's records of the chunk in shared memory with the input (cp.async);
//   * small grids split the channels over blocks (grid z) and accumulate with atomics into a zeroed
//     output, so the summation order (and the last bits) may differ between runs.
#include <stdexcept>

#include "cuda/cuda_kernels.h"
#include "cuda/sparse_slab_lane.h"
#include "cuda/sparse_tiled_common.h"

namespace clicktrain {
namespace cuda {
namespace {

// Records of the current chunk in shared memory: k is the slab's global record index, k0 the chunk's first.
struct SharedRecordLoader {
  const float4* rec;
  int k0;
  __device__ __forceinline__ SlabRecord operator()(int k) const {
    const int i = 3 * (k - k0);
    const float4 a = rec[i], b = rec[i + 1], c = rec[i + 2];
    SlabRecord r;
    r.mask = __float_as_uint(a.w);
    r.w[0] = a.x; r.w[1] = a.y; r.w[2] = a.z;
    r.w[3] = b.x; r.w[4] = b.y; r.w[5] = b.z;
    r.w[6] = c.x; r.w[7] = c.y; r.w[8] = c.z;
    return r;
  }
};

// Channels [cbase, cbase + cn) of 32 * LB whole images from b0 on: lanes copy consecutive channels of a
// pixel (coalesced NHWC reads); images past the batch are zero-filled.
template <int LB>
__device__ __forceinline__ void StageWhole(const ConvGeom& g, int S, int b0, const float* __restrict__ x, int cbase,
                                           int cn, float* xs) {
  const int pix = g.h * g.w, total = 32 * LB * pix * cn;
  for (int e = threadIdx.x; e < total; e += blockDim.x) {
    const int cl = e % cn, rest = e / cn, p = rest % pix, bi = rest / pix;
    const int b = b0 + bi;
    const float* src = x + (int64_t(min(b, g.n - 1)) * pix + p) * g.c + cbase + cl;
    CopyAsync4(xs + cl * S + SlabWholeOffset(bi / LB, bi % LB, p, pix), src, b < g.n);
  }
}

template <class Sh, bool kHalo>
__global__ void __launch_bounds__(32 * kSlabWarps, 1)
SparseForwardSlabKernel(ConvGeom g, SlabPlan P, int num_slabs, const uint32_t* __restrict__ bits,
                        const int32_t* __restrict__ rec_start, const float* __restrict__ records,
                        const float* __restrict__ x, float* __restrict__ y) {
  extern __shared__ float xs[];
  const int S = P.chan_stride;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int slab = blockIdx.y * P.warps + warp;
  const bool active = slab < num_slabs;  // warp-uniform
  const int c_begin = blockIdx.z * P.split_channels, c_end = min(g.c, c_begin + P.split_channels);
  int b0 = 0, oh0 = 0, ow0 = 0;
  if constexpr (kHalo) {
    const TileOrigin2 o(P.wtile, blockIdx.x);
    b0 = o.b0; oh0 = o.oh0; ow0 = o.ow0;
  } else {
    b0 = blockIdx.x * 32 * Sh::LB;
  }
  int rowoff[4] = {0, 0, 0, 0};
  if constexpr (kHalo) {
#pragma unroll
    for (int rr = 0; rr < 4; ++rr) rowoff[rr] = P.wtile.LaneRow(lane, rr);
  }
  typename Sh::Acc acc[kSlabFilters];
#pragma unroll
  for (int s = 0; s < kSlabFilters; ++s)
#pragma unroll
    for (int b = 0; b < Sh::LB; ++b)
#pragma unroll
      for (int i = 0; i < Sh::OH; ++i)
#pragma unroll
        for (int j = 0; j < Sh::OW; ++j) acc[s][b][i][j] = 0.f;
  const size_t seg0 = size_t(active ? slab : 0) * g.c;
  int k = active ? __ldg(rec_start + seg0 + c_begin) : 0;
  float* rs = xs + P.chunk * S + warp * P.rec_floats_per_warp;  // this warp's records of the chunk
  for (int cbase = c_begin; cbase < c_end; cbase += P.chunk) {
    const int cn = min(P.chunk, c_end - cbase);
    __syncthreads();  // the previous chunk is no longer read
    if constexpr (kHalo) StageTiled(g, P.wtile, b0, oh0 - g.pt, ow0 - g.pl, x, cbase, cn, xs);
    else StageWhole<Sh::LB>(g, S, b0, x, cbase, cn, xs);
    uint32_t my_bits = 0;
    if (active) {
      const int kend = __ldg(rec_start + seg0 + cbase + cn);
      if ((kend - k + 1) * kSlabRecordFloats > P.rec_floats_per_warp) __trap();  // plan not made for this schedule
      const float* src = records + int64_t(k) * kSlabRecordFloats;
      for (int v = lane; v < (kend - k) * (kSlabRecordFloats / 4); v += 32) CopyAsync16(rs + 4 * v, src + 4 * v);
      if (lane < cn) my_bits = __ldg(bits + seg0 + cbase + lane);
    }
    CopyAsyncWaitAll();
    __syncthreads();
    if (!active) continue;
    const SharedRecordLoader load{reinterpret_cast<const float4*>(rs), k};
    SlabRecord next = load(k);
    for (int cl = 0; cl < cn; ++cl) {
      const uint32_t cb = __shfl_sync(0xffffffffu, my_bits, cl);
      if (!cb) continue;  // no slot of the slab keeps this channel
      typename Sh::Patch xp;
      const float* xc = xs + cl * S;
      if constexpr (kHalo) {  // 4 window rows x 10 columns: two 16-byte and one 8-byte load per row
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
          const float* row = xc + rowoff[rr];
          const float4 q0 = reinterpret_cast<const float4*>(row)[0], q1 = reinterpret_cast<const float4*>(row)[1];
          const float2 q2 = reinterpret_cast<const float2*>(row)[4];
          float* d = &xp[0][rr][0];
          d[0] = q0.x; d[1] = q0.y; d[2] = q0.z; d[3] = q0.w;
          d[4] = q1.x; d[5] = q1.y; d[6] = q1.z; d[7] = q1.w;
          d[8] = q2.x; d[9] = q2.y;
        }
      } else {  // the lane's whole images: 16 contiguous values
        const float4* src = reinterpret_cast<const float4*>(xc + lane * kSlabWholeLaneStride);
        float* d = &xp[0][0][0];
#pragma unroll
        for (int v = 0; v < Sh::LB * Sh::PR * Sh::PC / 4; ++v) {
          const float4 q = src[v];
          d[4 * v] = q.x; d[4 * v + 1] = q.y; d[4 * v + 2] = q.z; d[4 * v + 3] = q.w;
        }
      }
      SlabChannel<Sh>(cb, xp, k, next, load, acc);
    }
  }
  if (!active) return;
  const bool atomic = P.splits > 1;
#pragma unroll
  for (int b = 0; b < Sh::LB; ++b)
#pragma unroll
    for (int i = 0; i < Sh::OH; ++i)
#pragma unroll
      for (int j = 0; j < Sh::OW; ++j) {
        int bb, oh, ow;
        if constexpr (kHalo) {
          bb = b0 + P.wtile.LaneB(lane);
          oh = oh0 + 2 * P.wtile.LaneH(lane) + i;
          ow = ow0 + P.wtile.LaneW(lane) * Sh::OW + j;
        } else {
          bb = b0 + lane * Sh::LB + b;
          oh = i;
          ow = j;
        }
        if (bb >= g.n || oh >= g.oh || ow >= g.ow) continue;
        float* out = y + ((int64_t(bb) * g.oh + oh) * g.ow + ow) * g.oc + slab * kSlabFilters;
        const int valid = min(kSlabFilters, g.oc - slab * kSlabFilters);
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
  static size_t attr_bytes = 0;  // callers serialise (cuda_conv.cu's mutex; the bench is one thread)
  const size_t smem = sizeof(float) * size_t(P.SmemFloats());
  if (smem > attr_bytes) {
    CheckCuda(cudaFuncSetAttribute(SparseForwardSlabKernel<Sh, kHalo>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   int(smem)),
              "sparse slab forward smem attribute");
    attr_bytes = smem;
  }
  const dim3 grid(unsigned(P.tiles), unsigned(P.slab_blocks), unsigned(P.splits));
  SparseForwardSlabKernel<Sh, kHalo><<<grid, 32 * P.warps, smem, stream>>>(g, P, s.num_slabs, s.bits, s.rec_start,
                                                                             s.records, x, y);
}

}  // namespace

void LaunchSparseForwardSlab(const ConvGeom& g, const SlabPlan& P, const DeviceSlabSchedule& s, const float* x,
                             float* y, cudaStream_t stream) {
  if (g.fh != 3 || g.fw != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1)
    throw std::invalid_argument("cuda sparse slab forward: stride/dilation 1, 3x3 only");
  if (P.kind == SlabKind::kNone) throw std::invalid_argument("cuda sparse slab forward: no slab plan");
  if (s.num_channels != g.c || s.num_filters != g.oc) throw std::invalid_argument("cuda sparse slab forward: schedule/conv channels differ");
  if (P.chunk > 32 || P.chunk < 1 || P.rec_floats_per_warp < 0 || P.rec_floats_per_warp % 4 != 0)
    throw std::invalid_argument("cuda sparse slab forward: bad plan");
  if (P.warps < 1 || P.warps > kSlabWarps) throw std::invalid_argument("cuda sparse slab forward: bad warp count");
  if (P.tiles > (int64_t(1) << 31) - 1 || P.slab_blocks > 65535 || P.splits > 65535)
    throw std::invalid_argument("cuda sparse slab forward: grid too large");
  if (P.splits > 1) CheckCuda(cudaMemsetAsync(y, 0, sizeof(float) * size_t(g.n) * g.oh * g.ow * g.oc, stream), "memset y");
  if (P.tiles == 0 || s.num_slabs == 0) return;
  switch (P.kind) {
    case SlabKind::kHalo: LaunchSlab<SlabHaloShape, true>(g, P, s, x, y, stream); break;
    case SlabKind::kWhole4: LaunchSlab<SlabWhole4Shape, false>(g, P, s, x, y, stream); break;
    case SlabKind::kWhole2: LaunchSlab<SlabWhole2Shape, false>(g, P, s, x, y, stream); break;
    default: throw std::invalid_argument("cuda sparse slab forward: bad plan");
  }
  CheckCuda(cudaGetLastError(), "sparse slab forward launch");
}

}  // namespace cuda
}  // namespace clicktrain
