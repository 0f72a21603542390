// Device pieces shared by the filter-slab kernels (forward / backward-data in sparse_forward_slab.cu,
// backward-filter in sparse_backprop_filter_slab.cu): where a block's pixels are, staging one channel
// chunk (the input window and each warp's records) in shared memory, a lane's input patch, and the
// pixels a lane owns.
#pragma once
#include "cuda/cuda_kernels.h"
#include "cuda/sparse_slab_lane.h"
#include "cuda/sparse_tiled_common.h"

namespace clicktrain {
namespace cuda {

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

// A block's pixel tile (blockIdx.x), its warp's slab and channel split, and the lane's window rows.
template <class Sh, bool kHalo>
struct SlabBlock {
  int warp, lane, slab, c_begin, c_end, b0 = 0, oh0 = 0, ow0 = 0;
  int rowoff[4] = {0, 0, 0, 0};
  bool active;  // warp-uniform: the warp has a slab
  __device__ __forceinline__ SlabBlock(const ConvGeom& g, const SlabPlan& P, int num_slabs) {
    warp = threadIdx.x >> 5;
    lane = threadIdx.x & 31;
    slab = blockIdx.y * P.warps + warp;
    active = slab < num_slabs;
    c_begin = blockIdx.z * P.split_channels;
    c_end = min(g.c, c_begin + P.split_channels);
    if constexpr (kHalo) {
      const TileOrigin2 o(P.wtile, blockIdx.x);
      b0 = o.b0; oh0 = o.oh0; ow0 = o.ow0;
#pragma unroll
      for (int rr = 0; rr < 4; ++rr) rowoff[rr] = P.wtile.LaneRow(lane, rr);
    } else {
      b0 = blockIdx.x * 32 * Sh::LB;
    }
  }
  // Output pixel of the lane's element (b, i, j); false when it lies outside the output.
  __device__ __forceinline__ bool Pixel(const ConvGeom& g, const SlabPlan& P, int b, int i, int j, int* bb, int* oh,
                                        int* ow) const {
    if constexpr (kHalo) {
      *bb = b0 + P.wtile.LaneB(lane);
      *oh = oh0 + 2 * P.wtile.LaneH(lane) + i;
      *ow = ow0 + P.wtile.LaneW(lane) * Sh::OW + j;
    } else {
      *bb = b0 + lane * Sh::LB + b;
      *oh = i;
      *ow = j;
    }
    return *bb < g.n && *oh < g.oh && *ow < g.ow;
  }
};

// Stages chunk [cbase, cbase + cn): the block's input window (all threads) and, for an active warp, its
// records [k, ...) into rs; returns the lane's word of the slab's kept-slot bits (channel cbase + lane).
// The caller waits (CopyAsyncWaitAll + __syncthreads).
template <class Sh, bool kHalo>
__device__ __forceinline__ uint32_t StageSlabChunk(const ConvGeom& g, const SlabPlan& P, const SlabBlock<Sh, kHalo>& B,
                                                   const float* __restrict__ x, int cbase, int cn, float* xs,
                                                   const uint32_t* __restrict__ bits, const int32_t* __restrict__ rec_start,
                                                   const float* __restrict__ records, int k, float* rs) {
  if constexpr (kHalo) StageTiled(g, P.wtile, B.b0, B.oh0 - g.pt, B.ow0 - g.pl, x, cbase, cn, xs);
  else StageWhole<Sh::LB>(g, P.chan_stride, B.b0, x, cbase, cn, xs);
  if (!B.active) return 0;
  const size_t seg0 = size_t(B.slab) * g.c;
  const int kend = __ldg(rec_start + seg0 + cbase + cn);
  if ((kend - k + 1) * kSlabRecordFloats > P.rec_floats_per_warp) __trap();  // plan not made for this schedule
  const float* src = records + int64_t(k) * kSlabRecordFloats;
  for (int v = B.lane; v < (kend - k) * (kSlabRecordFloats / 4); v += 32) CopyAsync16(rs + 4 * v, src + 4 * v);
  return B.lane < cn ? __ldg(bits + seg0 + cbase + B.lane) : 0u;
}

// The lane's input patch of one staged channel xc.
template <class Sh, bool kHalo>
__device__ __forceinline__ void LoadSlabPatch(const float* xc, const SlabBlock<Sh, kHalo>& B, typename Sh::Patch& xp) {
  if constexpr (kHalo) {  // 4 window rows x (OW + 2) columns: 16-byte loads and one 8-byte load per row
#pragma unroll
    for (int rr = 0; rr < 4; ++rr) {
      const float* row = xc + B.rowoff[rr];
      float* d = &xp[0][rr][0];
#pragma unroll
      for (int v = 0; v < Sh::OW / 4; ++v) {
        const float4 q = reinterpret_cast<const float4*>(row)[v];
        d[4 * v] = q.x; d[4 * v + 1] = q.y; d[4 * v + 2] = q.z; d[4 * v + 3] = q.w;
      }
      const float2 q2 = reinterpret_cast<const float2*>(row)[Sh::OW / 2];
      d[Sh::OW] = q2.x; d[Sh::OW + 1] = q2.y;
    }
  } else {  // the lane's whole images: 16 contiguous values
    const float4* src = reinterpret_cast<const float4*>(xc + B.lane * kSlabWholeLaneStride);
    float* d = &xp[0][0][0];
#pragma unroll
    for (int v = 0; v < Sh::LB * Sh::PR * Sh::PC / 4; ++v) {
      const float4 q = src[v];
      d[4 * v] = q.x; d[4 * v + 1] = q.y; d[4 * v + 2] = q.z; d[4 * v + 3] = q.w;
    }
  }
}

// Launches a slab kernel instance on plan P's grid, raising its shared-memory limit when needed
// (callers serialise: cuda_conv.cu's mutex; the bench is one thread).
template <class Kernel, class... Args>
void LaunchSlabGrid(Kernel kernel, size_t* attr_bytes, const SlabPlan& P, cudaStream_t stream, Args... args) {
  const size_t smem = sizeof(float) * size_t(P.SmemFloats());
  if (smem > *attr_bytes) {
    CheckCuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
              "sparse slab kernel shared-memory attribute");
    *attr_bytes = smem;
  }
  const dim3 grid(unsigned(P.tiles), unsigned(P.slab_blocks), unsigned(P.splits));
  kernel<<<grid, 32 * P.warps, smem, stream>>>(args...);
}

// Registers: kHalo4 lanes fit in 128, so two 8-warp blocks share an SM.
template <class Sh, bool kHalo>
constexpr int SlabMinBlocks() { return kHalo && Sh::OW == 4 ? 2 : 1; }

}  // namespace cuda
}  // namespace clicktrain
