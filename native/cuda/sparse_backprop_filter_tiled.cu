// Tiled pattern-sparse backward-filter for stride 1, dilation 1 (3x3): dW at the kept positions only,
// dW[tap, c, f] = sum over output pixels p of x[p + tap, c] * dy[p, f].
//   * Same tile geometry and staging as the tiled forward (WarpTile, sparse_tiled_common.h): a block
//     stages one channel chunk of its input window once and each warp runs one filter, so the pattern
//     switch is warp-uniform and the taps are compile-time constants.
//   * A lane holds dy of its 2 x TW pixels for its warp's filter in registers for the whole tile;
//     for each kept kernel it loads the pattern's window rows once and forms the 4 tap partial sums
//     (4 x 2 x TW FMAs), which a reduce-scatter across the warp turns into one sum per tap in 5
//     shuffles.
//   * Per-weight sums stay in shared memory while the block walks its run of tiles; each weight is
//     flushed to the dense gradient once per block with an atomic add.
#include <algorithm>
#include <stdexcept>

#include "cuda/cuda_kernels.h"
#include "cuda/sparse_patterns.h"
#include "cuda/sparse_tiled_common.h"

namespace clicktrain {
namespace cuda {
namespace {

// Sum of p[0..3] over the warp, scattered: lane 8*t (t = 0..3) returns the sum of p[t].
__device__ __forceinline__ float ReduceScatter4(float p0, float p1, float p2, float p3, int lane) {
  const bool hi = lane & 16;
  float k0 = hi ? p2 : p0, k1 = hi ? p3 : p1;
  k0 += __shfl_xor_sync(0xffffffffu, hi ? p0 : p2, 16);
  k1 += __shfl_xor_sync(0xffffffffu, hi ? p1 : p3, 16);
  const bool h8 = lane & 8;
  float k = h8 ? k1 : k0;
  k += __shfl_xor_sync(0xffffffffu, h8 ? k0 : k1, 8);
  k += __shfl_xor_sync(0xffffffffu, k, 4);
  k += __shfl_xor_sync(0xffffffffu, k, 2);
  k += __shfl_xor_sync(0xffffffffu, k, 1);
  return k;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int m = 16; m; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  return v;
}

template <int kMask, int TW>
__device__ __forceinline__ void BwdTiledGroup(const float* __restrict__ xs, int S, const int (&rowoff)[4],
                                              const int32_t* __restrict__ kch, const int32_t* __restrict__ kval,
                                              int kb, int ke, int cbase, const float (&d)[2][TW],
                                              float* __restrict__ accs, int v0, int lane) {
  for (int k = kb; k < ke; ++k) {
    const float* xp = xs + (__ldg(kch + k) - cbase) * S;
    float p[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int wr = 0; wr < 4; ++wr) {
      const int cmin = RowColMin(kMask, wr), cmax = RowColMax(kMask, wr);
      if (cmax < 0) continue;  // folded at compile time
      float xr[(TW + 2 + 3) / 4 * 4];
      LoadWindowRow<TW>(xp + rowoff[wr], cmin, cmax, xr);
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        const int bit = TapBit(kMask, t), dr = bit / 3, dc = bit % 3;
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          if (wr != i + dr) continue;
#pragma unroll
          for (int j = 0; j < TW; ++j) p[t] = fmaf(xr[dc + j], d[i][j], p[t]);
        }
      }
    }
    const float sum = ReduceScatter4(p[0], p[1], p[2], p[3], lane);
    if ((lane & 7) == 0) accs[__ldg(kval + k) - v0 + (lane >> 3)] += sum;  // lane 8t owns tap t: no races
  }
}

template <int TW>
__device__ __forceinline__ void BwdTiledGroupGeneric(int mask, const float* __restrict__ xs, int S,
                                                     const int (&rowoff)[4], const int32_t* __restrict__ kch,
                                                     const int32_t* __restrict__ kval, int kb, int ke, int cbase,
                                                     const float (&d)[2][TW], float* __restrict__ accs, int v0,
                                                     int lane) {
  for (int k = kb; k < ke; ++k) {
    const float* xp = xs + (__ldg(kch + k) - cbase) * S;
    const int vo = __ldg(kval + k);
    int t = 0;
    for (int bit = 0; bit < 9; ++bit) {
      if (!((mask >> bit) & 1)) continue;
      const int dr = bit / 3, dc = bit % 3;
      float p = 0.f;
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int row = i + dr;
        const int off = row == 0 ? rowoff[0] : row == 1 ? rowoff[1] : row == 2 ? rowoff[2] : rowoff[3];
#pragma unroll
        for (int j = 0; j < TW; ++j) p = fmaf(xp[off + dc + j], d[i][j], p);
      }
      p = WarpSum(p);
      if (lane == 0) accs[vo - v0 + t] += p;
      ++t;
    }
  }
}

template <int TW>
__global__ void __launch_bounds__(512, 2)
SparseBackpropFilterTiledKernel(ConvGeom g, WarpTile T, DeviceGroupedSchedule s, const int32_t* __restrict__ filter_value,
                                const int64_t* __restrict__ value_dense, const float* __restrict__ x,
                                const float* __restrict__ dy, float* __restrict__ dfilter, int tiles_per_block) {
  extern __shared__ float smem[];
  const int S = T.chan_stride;
  float* xs = smem;                          // the staged chunk: s.chunk * S floats
  float* accs_base = smem + s.chunk * S;     // the block's per-weight sums
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  const int f0 = blockIdx.y * nw, f = f0 + warp;
  const bool active = f < s.num_filters;  // warp-uniform
  const int v0 = __ldg(filter_value + f0), v1 = __ldg(filter_value + min(f0 + nw, s.num_filters));
  for (int i = threadIdx.x; i < v1 - v0; i += blockDim.x) accs_base[i] = 0.f;
  const LaneTile lt(T, lane);
  const int oc = active ? __ldg(s.filter_out + f) : 0;
  const int64_t ntiles = int64_t(T.tiles_b) * T.tiles_h * T.tiles_w;
  const int t0 = blockIdx.x * tiles_per_block;
  const int64_t tend = int64_t(t0) + tiles_per_block;
  const int t1 = int(ntiles < tend ? ntiles : tend);
  for (int tile = t0; tile < t1; ++tile) {
    const TileOrigin2 o(T, tile);
    float d[2][TW];  // this lane's dy for the warp's filter
    const int b = o.b0 + lt.lb;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int oh = o.oh0 + 2 * lt.lh + i;
#pragma unroll
      for (int j = 0; j < TW; ++j) {
        const int ow = o.ow0 + lt.lw * TW + j;
        d[i][j] = active && b < g.n && oh < g.oh && ow < g.ow ? __ldg(dy + ((size_t(b) * g.oh + oh) * g.ow + ow) * g.oc + oc) : 0.f;
      }
    }
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
#define CT_BWD_TILED_CASE(M) \
  case M: BwdTiledGroup<M, TW>(xs, S, lt.rowoff, s.kernel_channel, s.kernel_value, kb, ke, cbase, d, accs_base, v0, lane); break;
          CT_PATTERNS4(CT_BWD_TILED_CASE)
#undef CT_BWD_TILED_CASE
          default:
            BwdTiledGroupGeneric<TW>(mask, xs, S, lt.rowoff, s.kernel_channel, s.kernel_value, kb, ke, cbase, d, accs_base, v0, lane);
        }
      }
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < v1 - v0; i += blockDim.x) {
    const int64_t di = __ldg(value_dense + v0 + i);
    if (di >= 0) atomicAdd(dfilter + di, accs_base[i]);
  }
}

template <int TW>
void LaunchBwdTiled(const ConvGeom& g, const WarpTile& T, const DeviceGroupedSchedule& s, const int32_t* filter_value,
                    const int64_t* value_dense, dim3 grid, int warps, size_t smem, int per, const float* x,
                    const float* dy, float* dfilter, cudaStream_t stream) {
  static bool attr_set = false;  // callers serialise (cuda_conv.cu's mutex; the bench is one thread)
  if (!attr_set) {
    CheckCuda(cudaFuncSetAttribute(SparseBackpropFilterTiledKernel<TW>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   int(sizeof(float) * kTiledSmemFloats)),
              "sparse tiled backprop filter smem attribute");
    attr_set = true;
  }
  SparseBackpropFilterTiledKernel<TW><<<grid, 32 * warps, smem, stream>>>(g, T, s, filter_value, value_dense, x, dy,
                                                                           dfilter, per);
}

}  // namespace

void LaunchSparseBackpropFilterTiled(const ConvGeom& g, const WarpTile& T, const DeviceGroupedSchedule& s,
                                     const int32_t* filter_value, const int64_t* value_dense, int max_block_values,
                                     const float* x, const float* dy, float* dfilter, int num_sms, cudaStream_t stream) {
  if (!SparseForwardTiledApplies(g)) throw std::invalid_argument("cuda sparse tiled backprop filter: stride/dilation 1, 3x3 only");
  CheckCuda(cudaMemsetAsync(dfilter, 0, sizeof(float) * size_t(9) * g.c * g.oc, stream), "memset dfilter");
  if (T.NumTiles() == 0 || s.num_filters == 0) return;
  if (T.NumTiles() > (int64_t(1) << 31) - 1) throw std::invalid_argument("cuda sparse conv: too many tiles");
  constexpr int kWarps = kTiledBwdFiltersPerBlock;
  const size_t smem = sizeof(float) * (size_t(s.chunk) * T.chan_stride + size_t(max_block_values));
  if (smem > sizeof(float) * kTiledSmemFloats) throw std::invalid_argument("cuda sparse conv: tile plan exceeds shared memory");
  // Split the pixel tiles until the grid gives every SM two blocks; each block flushes its sums once.
  const int64_t fblocks = (s.num_filters + kWarps - 1) / kWarps, tiles = T.NumTiles();
  int64_t splits = std::min<int64_t>(tiles, std::max<int64_t>(1, (2 * int64_t(std::max(num_sms, 1)) + fblocks - 1) / fblocks));
  const int64_t per = (tiles + splits - 1) / splits;
  splits = (tiles + per - 1) / per;
  const dim3 grid{unsigned(splits), unsigned(fblocks), 1u};
  switch (T.tw_t) {
    case 8: LaunchBwdTiled<8>(g, T, s, filter_value, value_dense, grid, kWarps, smem, int(per), x, dy, dfilter, stream); break;
    case 4: LaunchBwdTiled<4>(g, T, s, filter_value, value_dense, grid, kWarps, smem, int(per), x, dy, dfilter, stream); break;
    case 2: LaunchBwdTiled<2>(g, T, s, filter_value, value_dense, grid, kWarps, smem, int(per), x, dy, dfilter, stream); break;
    default: throw std::invalid_argument("cuda sparse tiled backprop filter: bad tile");
  }
  CheckCuda(cudaGetLastError(), "sparse tiled backprop filter launch");
}

}  // namespace cuda
}  // namespace clicktrain
