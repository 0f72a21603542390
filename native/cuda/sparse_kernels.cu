// Pattern-sparse convolution kernels (3x3 filters, 9-bit kernel masks), see conv_plan.h for the
// schedules. One block = a 64-pixel output tile x a block of filters, 128 threads (4 warps).
//   forward (and backward data, run as a stride-1 forward of dy with the rotated transposed layout):
//     the block stages one channel chunk of its input window in shared memory, once, and all its
//     filters and patterns read it; warp w runs filters w, w+4, ...; lane = output pixels lane and
//     lane+32, so all 32 lanes of a warp run the same (pattern, kernel) sequence; the pattern switch is
//     warp-uniform and every 4-entry pattern is a template whose tap offsets are compile-time
//     constants (126 instantiations); other sizes take the generic loop.
//   backward filter: lane = one kept kernel of a same-pattern unit (up to 32 kernels of one pattern
//     across the block's filters), accumulating over the tile's 64 pixels from the staged x chunk and
//     dy tile; per-weight sums stay in shared memory over the block's run of tiles and are flushed
//     once per block with atomics, only at kept positions.
#include <algorithm>
#include <stdexcept>

#include "cuda/async_copy.h"
#include "cuda/cuda_kernels.h"
#include "cuda/sparse_patterns.h"


namespace clicktrain {
namespace cuda {
namespace {

constexpr int kSpThreads = 128;

struct Tile {
  int b0, ih0, iw0, oh0, ow0;
};

__device__ __forceinline__ Tile TileOrigin(const ConvGeom& g, const PixelTile& T, int tile) {
  const int tw_i = tile % T.tiles_w, t2 = tile / T.tiles_w;
  const int th_i = t2 % T.tiles_h, tb_i = t2 / T.tiles_h;
  Tile o;
  o.b0 = tb_i * T.tb; o.oh0 = th_i * T.th; o.ow0 = tw_i * T.tw;
  o.ih0 = o.oh0 * g.sh - g.pt; o.iw0 = o.ow0 * g.sw - g.pl;
  return o;
}

// Pixel p of the tile: output coordinates and the offset of its window origin in a staged channel.
__device__ __forceinline__ bool TilePixel(const ConvGeom& g, const PixelTile& T, const Tile& o, int p,
                                          int* b, int* oh, int* ow, int* base) {
  const int per = T.th * T.tw;
  const int pb = p / per, r = p % per, ph = r / T.tw, pw = r % T.tw;
  *b = o.b0 + pb; *oh = o.oh0 + ph; *ow = o.ow0 + pw;
  *base = (pb * T.in_rows + ph * g.sh) * T.in_cols + pw * g.sw;
  return *b < g.n && *oh < g.oh && *ow < g.ow;
}

// Stages channels [cbase, cbase + cn) of the tile's input window: xs[ci * S + (bb*IR + r)*IC + col].
// Consecutive threads read consecutive channels (coalesced NHWC), S is odd (no bank conflicts).
__device__ __forceinline__ void StageInput(const ConvGeom& g, const PixelTile& T, const Tile& o,
                                           const float* __restrict__ x, int cbase, int cn, float* xs) {
  // A warp per window position (decoded once), lanes over channels: coalesced reads, no per-element
  // division; asynchronous copies, so the whole window is in flight at once. The caller waits
  // (CopyAsyncWaitAll + __syncthreads).
  const int S = T.chan_stride;
  const int npos = T.tb * T.in_rows * T.in_cols;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
  for (int pos = warp; pos < npos; pos += nwarps) {
    const int col = pos % T.in_cols, t = pos / T.in_cols;
    const int r = t % T.in_rows, bb = t / T.in_rows;
    const int b = o.b0 + bb, ih = o.ih0 + r, iw = o.iw0 + col;
    const bool in = b < g.n && unsigned(ih) < unsigned(g.h) && unsigned(iw) < unsigned(g.w);
    const float* src = in ? x + ((size_t(b) * g.h + ih) * g.w + iw) * g.c + cbase : x;
    for (int ci = lane; ci < cn; ci += 32) CopyAsync4(xs + ci * S + pos, in ? src + ci : x, in);
  }
}

// ---- forward ----

template <int kMask>
__device__ __forceinline__ void FwdGroup(const float* __restrict__ xs, int S, const int32_t* __restrict__ kch,
                                         const int32_t* __restrict__ kval, const float* __restrict__ vals,
                                         int kb, int ke, int cbase, int row_step, int col_step, int base0,
                                         int base1, float& a0, float& a1) {
  constexpr int n = PopCount9(kMask);
  int off[n];
#pragma unroll
  for (int t = 0; t < n; ++t) off[t] = (TapBit(kMask, t) / 3) * row_step + (TapBit(kMask, t) % 3) * col_step;
  for (int k = kb; k < ke; ++k) {
    const float* xp = xs + (__ldg(kch + k) - cbase) * S;
    const float* w = vals + __ldg(kval + k);
#pragma unroll
    for (int t = 0; t < n; ++t) {
      const float wt = __ldg(w + t);
      a0 = fmaf(wt, xp[base0 + off[t]], a0);
      a1 = fmaf(wt, xp[base1 + off[t]], a1);
    }
  }
}

__device__ __forceinline__ void FwdGroupGeneric(int mask, const float* __restrict__ xs, int S,
                                                const int32_t* __restrict__ kch, const int32_t* __restrict__ kval,
                                                const float* __restrict__ vals, int kb, int ke, int cbase,
                                                int row_step, int col_step, int base0, int base1, float& a0,
                                                float& a1) {
  int off[9];
  int n = 0;
  for (int i = 0; i < 9; ++i)
    if ((mask >> i) & 1) off[n++] = (i / 3) * row_step + (i % 3) * col_step;
  for (int k = kb; k < ke; ++k) {
    const float* xp = xs + (__ldg(kch + k) - cbase) * S;
    const float* w = vals + __ldg(kval + k);
    for (int t = 0; t < n; ++t) {
      const float wt = __ldg(w + t);
      a0 = fmaf(wt, xp[base0 + off[t]], a0);
      a1 = fmaf(wt, xp[base1 + off[t]], a1);
    }
  }
}

__global__ void __launch_bounds__(kSpThreads)
SparseForwardKernel(ConvGeom g, PixelTile T, DeviceGroupedSchedule s, const float* __restrict__ x,
                    const float* __restrict__ vals, float* __restrict__ y) {
  extern __shared__ float smem[];
  const int S = T.chan_stride;
  float* xs = smem;
  float* acc = smem + s.chunk * S;
  const Tile o = TileOrigin(g, T, blockIdx.x);
  const int f0 = blockIdx.y * kSparseFiltersPerBlock;
  const int fcount = min(kSparseFiltersPerBlock, s.num_filters - f0);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int pb, ph, pw, base0, base1;
  TilePixel(g, T, o, lane, &pb, &ph, &pw, &base0);
  TilePixel(g, T, o, lane + 32, &pb, &ph, &pw, &base1);
  for (int i = threadIdx.x; i < kSparseFiltersPerBlock * kTilePixels; i += kSpThreads) acc[i] = 0.f;
  const int row_step = g.dh * T.in_cols, col_step = g.dw;
  for (int c = 0; c < s.num_chunks; ++c) {
    const int cbase = c * s.chunk, cn = min(s.chunk, g.c - cbase);
    __syncthreads();
    StageInput(g, T, o, x, cbase, cn, xs);
    CopyAsyncWaitAll();
    __syncthreads();
    for (int fl = warp; fl < fcount; fl += kSpThreads / 32) {
      const int seg = (f0 + fl) * s.num_chunks + c;
      float a0 = 0.f, a1 = 0.f;
      const int gend = __ldg(s.seg_group + seg + 1);
      for (int gi = __ldg(s.seg_group + seg); gi < gend; ++gi) {
        const int mask = __ldg(s.group_mask + gi);
        const int kb = __ldg(s.group_kernel + gi), ke = __ldg(s.group_kernel + gi + 1);
        switch (mask) {
#define CT_FWD_CASE(M) \
  case M: FwdGroup<M>(xs, S, s.kernel_channel, s.kernel_value, vals, kb, ke, cbase, row_step, col_step, base0, base1, a0, a1); break;
          CT_PATTERNS4(CT_FWD_CASE)
#undef CT_FWD_CASE
          default:
            FwdGroupGeneric(mask, xs, S, s.kernel_channel, s.kernel_value, vals, kb, ke, cbase, row_step,
                            col_step, base0, base1, a0, a1);
        }
      }
      acc[fl * kTilePixels + lane] += a0;
      acc[fl * kTilePixels + 32 + lane] += a1;
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < fcount * kTilePixels; idx += kSpThreads) {
    const int fl = idx % fcount, p = idx / fcount;
    int b, oh, ow, base;
    if (TilePixel(g, T, o, p, &b, &oh, &ow, &base))
      y[((size_t(b) * g.oh + oh) * g.ow + ow) * g.oc + __ldg(s.filter_out + f0 + fl)] = acc[fl * kTilePixels + p];
  }
}

// ---- backward filter ----

template <int kMask>
__device__ __forceinline__ void BwdFilterKernel(const float* __restrict__ xp, const float* __restrict__ dys,
                                                const int* __restrict__ pbase, int row_step, int col_step,
                                                float* __restrict__ accs) {
  constexpr int n = PopCount9(kMask);
  int off[n];
  float sum[n];
#pragma unroll
  for (int t = 0; t < n; ++t) {
    off[t] = (TapBit(kMask, t) / 3) * row_step + (TapBit(kMask, t) % 3) * col_step;
    sum[t] = 0.f;
  }
#pragma unroll 4
  for (int p = 0; p < kTilePixels; ++p) {
    const float d = dys[p];
    const int base = pbase[p];
#pragma unroll
    for (int t = 0; t < n; ++t) sum[t] = fmaf(xp[base + off[t]], d, sum[t]);
  }
#pragma unroll
  for (int t = 0; t < n; ++t) accs[t] += sum[t];
}

__device__ __forceinline__ void BwdFilterKernelGeneric(int mask, const float* __restrict__ xp,
                                                       const float* __restrict__ dys, const int* __restrict__ pbase,
                                                       int row_step, int col_step, float* __restrict__ accs) {
  int t = 0;
  for (int i = 0; i < 9; ++i) {
    if (!((mask >> i) & 1)) continue;
    const int off = (i / 3) * row_step + (i % 3) * col_step;
    float sum = 0.f;
    for (int p = 0; p < kTilePixels; ++p) sum = fmaf(xp[pbase[p] + off], dys[p], sum);
    accs[t++] += sum;
  }
}

__global__ void __launch_bounds__(kSpThreads)
SparseBackpropFilterKernel(ConvGeom g, PixelTile T, DeviceBlockSchedule s, const float* __restrict__ x,
                           const float* __restrict__ dy, float* __restrict__ dfilter, int tiles_per_split) {
  extern __shared__ float smem[];
  const int S = T.chan_stride, FB = s.filters_per_block;
  float* xs = smem;
  float* dys = xs + s.chunk * S;
  int* pbase = reinterpret_cast<int*>(dys + FB * kTilePixels);
  float* accs = reinterpret_cast<float*>(pbase + kTilePixels);
  const int blk = blockIdx.y, f0 = blk * FB, fcount = min(FB, s.num_filters - f0);
  const int t0 = blockIdx.x * tiles_per_split;
  const int64_t ntiles = int64_t(T.tiles_b) * T.tiles_h * T.tiles_w, tend = int64_t(t0) + tiles_per_split;
  const int t1 = int(ntiles < tend ? ntiles : tend);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row_step = g.dh * T.in_cols, col_step = g.dw;
  for (int c = 0; c < s.num_chunks; ++c) {
    const int seg = blk * s.num_chunks + c;
    const int ubeg = __ldg(s.seg_unit + seg), uend = __ldg(s.seg_unit + seg + 1);
    if (ubeg == uend) continue;  // block-uniform
    const int slot0 = __ldg(s.seg_slot + seg), nslots = __ldg(s.seg_slot + seg + 1) - slot0;
    const int cbase = c * s.chunk, cn = min(s.chunk, g.c - cbase);
    __syncthreads();
    for (int i = threadIdx.x; i < nslots; i += kSpThreads) accs[i] = 0.f;
    for (int tile = t0; tile < t1; ++tile) {
      const Tile o = TileOrigin(g, T, tile);
      __syncthreads();
      StageInput(g, T, o, x, cbase, cn, xs);
      for (int idx = threadIdx.x; idx < FB * kTilePixels; idx += kSpThreads) {
        const int fl = idx % FB, p = idx / FB;
        int b, oh, ow, base;
        const bool ok = TilePixel(g, T, o, p, &b, &oh, &ow, &base);
        const bool valid = ok && fl < fcount;
        CopyAsync4(dys + fl * kTilePixels + p,
                   valid ? dy + ((size_t(b) * g.oh + oh) * g.ow + ow) * g.oc + __ldg(s.filter_out + f0 + fl) : dy, valid);
        if (fl == 0) pbase[p] = ok ? base : 0;
      }
      CopyAsyncWaitAll();
      __syncthreads();
      for (int u = ubeg + warp; u < uend; u += kSpThreads / 32) {
        const int mask = __ldg(s.unit_mask + u);
        const int k = __ldg(s.unit_kernel + u) + lane;
        if (k >= __ldg(s.unit_kernel + u + 1)) continue;
        const float* xp = xs + (__ldg(s.kernel_channel + k) - cbase) * S;
        const float* d = dys + __ldg(s.kernel_filter + k) * kTilePixels;
        float* a = accs + __ldg(s.kernel_slot + k);
        switch (mask) {
#define CT_BWF_CASE(M) \
  case M: BwdFilterKernel<M>(xp, d, pbase, row_step, col_step, a); break;
          CT_PATTERNS4(CT_BWF_CASE)
#undef CT_BWF_CASE
          default:
            BwdFilterKernelGeneric(mask, xp, d, pbase, row_step, col_step, a);
        }
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < nslots; i += kSpThreads) atomicAdd(dfilter + __ldg(s.slot_out + slot0 + i), accs[i]);
  }
}

}  // namespace

void LaunchSparseForward(const ConvGeom& g, const PixelTile& tile, const DeviceGroupedSchedule& s,
                         const float* x, const float* values, float* y, cudaStream_t stream) {
  if (g.fh != 3 || g.fw != 3) throw std::invalid_argument("cuda sparse conv: 3x3 filters only");
  if (tile.NumTiles() == 0 || s.num_filters == 0) return;
  if (tile.NumTiles() > (int64_t(1) << 31) - 1) throw std::invalid_argument("cuda sparse conv: too many tiles");
  const size_t smem = sizeof(float) * (size_t(s.chunk) * tile.chan_stride + kSparseFiltersPerBlock * kTilePixels);
  if (smem > sizeof(float) * kSmemFloats) throw std::invalid_argument("cuda sparse conv: tile plan exceeds shared memory");
  const dim3 grid(unsigned(tile.NumTiles()), unsigned((s.num_filters + kSparseFiltersPerBlock - 1) / kSparseFiltersPerBlock));
  SparseForwardKernel<<<grid, kSpThreads, smem, stream>>>(g, tile, s, x, values, y);
  CheckCuda(cudaGetLastError(), "sparse forward launch");
}

SparseForwardPlan PlanSparseForward(const ConvGeom& g, bool allow_tiled) {
  SparseForwardPlan plan;
  plan.tiled = allow_tiled && SparseForwardTiledApplies(g);
  if (plan.tiled) {
    plan.wtile = PlanWarpTile(g.n, g.oh, g.ow);
    plan.chunk = TiledChannelChunk(plan.wtile, g.c);
  } else {
    plan.tile = PlanPixelTile(g.n, g.oh, g.ow, g.sh, g.sw, g.dh, g.dw, 3, 3);
    plan.chunk = PlanChannelChunk(std::max(g.c, 1), plan.tile.chan_stride, kSparseFiltersPerBlock * kTilePixels);
  }
  return plan;
}

void LaunchSparseForwardPlanned(const ConvGeom& g, const SparseForwardPlan& plan, const DeviceGroupedSchedule& s,
                                const float* x, const float* values, float* y, int num_sms, cudaStream_t stream) {
  if (s.chunk != plan.chunk) throw std::invalid_argument("cuda sparse conv: schedule chunk differs from the plan's");
  if (plan.tiled) LaunchSparseForwardTiled(g, plan.wtile, s, x, values, y, num_sms, stream);
  else LaunchSparseForward(g, plan.tile, s, x, values, y, stream);
}

void LaunchSparseBackpropFilter(const ConvGeom& g, const PixelTile& tile, const DeviceBlockSchedule& s,
                                const float* x, const float* dy, float* dfilter, int num_sms,
                                cudaStream_t stream) {
  if (g.fh != 3 || g.fw != 3) throw std::invalid_argument("cuda sparse conv: 3x3 filters only");
  CheckCuda(cudaMemsetAsync(dfilter, 0, sizeof(float) * size_t(9) * g.c * g.oc, stream), "memset dfilter");
  if (tile.NumTiles() == 0 || s.num_blocks == 0) return;
  const size_t smem = sizeof(float) * (size_t(s.chunk) * tile.chan_stride + size_t(s.filters_per_block) * kTilePixels +
                                       kTilePixels + size_t(s.max_slots));
  if (smem > sizeof(float) * kSmemFloats) throw std::invalid_argument("cuda sparse conv: tile plan exceeds shared memory");
  // Enough pixel splits for ~4 blocks per SM; each block flushes its sums once per chunk.
  const int64_t tiles = tile.NumTiles();
  int64_t splits = std::max<int64_t>(1, (4 * int64_t(std::max(num_sms, 1)) + s.num_blocks - 1) / s.num_blocks);
  splits = std::min<int64_t>(splits, tiles);
  const int64_t per = (tiles + splits - 1) / splits;
  splits = (tiles + per - 1) / per;
  const dim3 grid(unsigned(splits), unsigned(s.num_blocks));
  SparseBackpropFilterKernel<<<grid, kSpThreads, smem, stream>>>(g, tile, s, x, dy, dfilter, int(per));
  CheckCuda(cudaGetLastError(), "sparse backprop filter launch");
}

}  // namespace cuda
}  // namespace clicktrain
