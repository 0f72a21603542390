// Tiled pattern-sparse forward convolution for stride 1, dilation 1 (3x3): the fast path of the
// forward pass and, through the rotated transposed layout, of backward-data. See WarpTile in
// conv_plan.h for the geometry.
//   * A block stages one channel chunk of its input window in shared memory once; every warp of the
//     block runs one filter over the whole block tile, so all its lanes run the same (pattern, kernel)
//     sequence and the pattern switch is warp-uniform.
//   * Each lane owns 2 x TW outputs in registers for the whole channel loop. A pattern's taps are
//     compile-time constants (one template per 4-entry pattern): for each staged window row the
//     pattern touches, the lane loads just the columns its taps read into registers once and every
//     tap of that row (for both output rows) reuses them - 4 taps x 2 x TW FMAs for about
//     (rows touched) x (TW + span) shared loads, against one load per FMA in a per-pixel loop.
//   * A kernel's 4 weights are one 16-byte load (values padded to 4 in the schedule), the same address
//     for the whole warp.
#include <algorithm>
#include <stdexcept>

#include "cuda/cuda_kernels.h"
#include "cuda/sparse_patterns.h"
#include "cuda/sparse_tiled_common.h"

namespace clicktrain {
namespace cuda {
namespace {

template <int kMask, int TW>
__device__ __forceinline__ void TiledGroup(const float* __restrict__ xs, int S, const int (&rowoff)[4],
                                           const int32_t* __restrict__ kch, const int32_t* __restrict__ kval,
                                           const float* __restrict__ vals, int kb, int ke, int cbase,
                                           float (&acc)[2][TW]) {
  // Software-pipelined: the next kernel's channel and weights load while this one computes.
  int ch = __ldg(kch + kb);
  float4 w4 = __ldg(reinterpret_cast<const float4*>(vals + __ldg(kval + kb)));
  for (int k = kb; k < ke; ++k) {
    const float* xp = xs + (ch - cbase) * S;
    const float w[4] = {w4.x, w4.y, w4.z, w4.w};
    if (k + 1 < ke) {
      ch = __ldg(kch + k + 1);
      w4 = __ldg(reinterpret_cast<const float4*>(vals + __ldg(kval + k + 1)));
    }
#pragma unroll
    for (int wr = 0; wr < 4; ++wr) {
      const int cmin = RowColMin(kMask, wr), cmax = RowColMax(kMask, wr);
      if (cmax < 0) continue;  // folded at compile time: the pattern does not touch this row
      float xr[(TW + 2 + 3) / 4 * 4];
      LoadWindowRow<TW>(xp + rowoff[wr], cmin, cmax, xr);
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        const int bit = TapBit(kMask, t), dr = bit / 3, dc = bit % 3;
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          if (wr != i + dr) continue;
#pragma unroll
          for (int j = 0; j < TW; ++j) acc[i][j] = fmaf(w[t], xr[dc + j], acc[i][j]);
        }
      }
    }
  }
}

// Any pattern size (1..9 taps): tap offsets at run time, loads straight from shared memory.
template <int TW>
__device__ __forceinline__ void TiledGroupGeneric(int mask, const float* __restrict__ xs, int S, const int (&rowoff)[4],
                                                  const int32_t* __restrict__ kch, const int32_t* __restrict__ kval,
                                                  const float* __restrict__ vals, int kb, int ke, int cbase,
                                                  float (&acc)[2][TW]) {
  for (int k = kb; k < ke; ++k) {
    const float* xp = xs + (__ldg(kch + k) - cbase) * S;
    const float* w = vals + __ldg(kval + k);
    int t = 0;
    for (int bit = 0; bit < 9; ++bit) {
      if (!((mask >> bit) & 1)) continue;
      const float wt = __ldg(w + t++);
      const int dr = bit / 3, dc = bit % 3;
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int row = i + dr;
        const int off = row == 0 ? rowoff[0] : row == 1 ? rowoff[1] : row == 2 ? rowoff[2] : rowoff[3];
#pragma unroll
        for (int j = 0; j < TW; ++j) acc[i][j] = fmaf(wt, xp[off + dc + j], acc[i][j]);
      }
    }
  }
}

template <int TW>
__global__ void __launch_bounds__(512, 2)
SparseForwardTiledKernel(ConvGeom g, WarpTile T, DeviceGroupedSchedule s, const float* __restrict__ x,
                         const float* __restrict__ vals, float* __restrict__ y) {
  extern __shared__ float xs[];
  const int S = T.chan_stride;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const TileOrigin2 o(T, blockIdx.x);
  const LaneTile lt(T, lane);
  const int f = blockIdx.y * (blockDim.x >> 5) + warp;
  const bool active = f < s.num_filters;  // warp-uniform
  float acc[2][TW];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < TW; ++j) acc[i][j] = 0.f;
  for (int c = 0; c < s.num_chunks; ++c) {
    const int cbase = c * s.chunk;
    __syncthreads();  // the previous chunk is no longer read
    StageTiled(g, T, o.b0, o.oh0 - g.pt, o.ow0 - g.pl, x, cbase, min(s.chunk, g.c - cbase), xs);
    CopyAsyncWaitAll();
    __syncthreads();
    if (!active) continue;
    const int seg = f * s.num_chunks + c;
    const int gend = __ldg(s.seg_group + seg + 1);
    for (int gi = __ldg(s.seg_group + seg); gi < gend; ++gi) {
      const int mask = __ldg(s.group_mask + gi);
      const int kb = __ldg(s.group_kernel + gi), ke = __ldg(s.group_kernel + gi + 1);
      switch (mask) {
#define CT_TILED_CASE(M) \
  case M: TiledGroup<M, TW>(xs, S, lt.rowoff, s.kernel_channel, s.kernel_value, vals, kb, ke, cbase, acc); break;
        CT_PATTERNS4(CT_TILED_CASE)
#undef CT_TILED_CASE
        default:
          TiledGroupGeneric<TW>(mask, xs, S, lt.rowoff, s.kernel_channel, s.kernel_value, vals, kb, ke, cbase, acc);
      }
    }
  }
  if (!active) return;
  const int b = o.b0 + lt.lb;
  if (b >= g.n) return;
  const int oc = __ldg(s.filter_out + f);
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int oh = o.oh0 + 2 * lt.lh + i;
    if (oh >= g.oh) continue;
#pragma unroll
    for (int j = 0; j < TW; ++j) {
      const int ow = o.ow0 + lt.lw * TW + j;
      if (ow < g.ow) y[((size_t(b) * g.oh + oh) * g.ow + ow) * g.oc + oc] = acc[i][j];
    }
  }
}

template <int TW>
void LaunchTiled(const ConvGeom& g, const WarpTile& T, const DeviceGroupedSchedule& s, int warps, size_t smem,
                 const float* x, const float* values, float* y, cudaStream_t stream) {
  static bool attr_set = false;  // callers serialise (cuda_conv.cu's mutex; the bench is one thread)
  if (!attr_set) {
    CheckCuda(cudaFuncSetAttribute(SparseForwardTiledKernel<TW>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   int(sizeof(float) * kTiledSmemFloats)),
              "sparse tiled forward smem attribute");
    attr_set = true;
  }
  const dim3 grid(unsigned(T.NumTiles()), unsigned((s.num_filters + warps - 1) / warps));
  SparseForwardTiledKernel<TW><<<grid, 32 * warps, smem, stream>>>(g, T, s, x, values, y);
}

}  // namespace

bool SparseForwardTiledApplies(const ConvGeom& g) {
  return g.fh == 3 && g.fw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
}

void LaunchSparseForwardTiled(const ConvGeom& g, const WarpTile& T, const DeviceGroupedSchedule& s,
                              const float* x, const float* values, float* y, int num_sms, cudaStream_t stream) {
  if (!SparseForwardTiledApplies(g)) throw std::invalid_argument("cuda sparse tiled forward: stride/dilation 1, 3x3 only");
  if (T.NumTiles() == 0 || s.num_filters == 0) return;
  if (T.NumTiles() > (int64_t(1) << 31) - 1) throw std::invalid_argument("cuda sparse conv: too many tiles");
  const size_t smem = sizeof(float) * size_t(s.chunk) * T.chan_stride;
  if (smem > sizeof(float) * kTiledSmemFloats) throw std::invalid_argument("cuda sparse conv: tile plan exceeds shared memory");
  // Filters per block = warps (every block re-stages its input window, so the more the better): 16
  // (two blocks per SM, so one stages while the other computes), fewer while SMs would sit idle.
  int warps = 16;
  while (warps > 4 && T.NumTiles() * ((s.num_filters + warps - 1) / warps) < int64_t(std::max(num_sms, 1))) warps /= 2;
  switch (T.tw_t) {
    case 8: LaunchTiled<8>(g, T, s, warps, smem, x, values, y, stream); break;
    case 4: LaunchTiled<4>(g, T, s, warps, smem, x, values, y, stream); break;
    case 2: LaunchTiled<2>(g, T, s, warps, smem, x, values, y, stream); break;
    default: throw std::invalid_argument("cuda sparse tiled forward: bad tile");
  }
  CheckCuda(cudaGetLastError(), "sparse tiled forward launch");
}

}  // namespace cuda
}  // namespace clicktrain
