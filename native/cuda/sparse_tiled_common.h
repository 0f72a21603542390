// Device pieces shared by the tiled stride-1 sparse kernels (forward / backward-data in
// sparse_forward_tiled.cu, backward-filter in sparse_backprop_filter_tiled.cu): staging of a channel
// chunk of the block's input window, the lane geometry of WarpTile (conv_plan.h), which window
// columns a pattern reads (compile-time functions of its mask) and the vector loads of those columns.
#pragma once
#include "cuda/async_copy.h"
#include "cuda/cuda_kernels.h"

namespace clicktrain {
namespace cuda {

// Columns (relative to the lane's first output column) that window row wr (0..3) needs for kMask:
// taps (dr, dc) with dr == wr (output row 0) or dr == wr - 1 (output row 1).
__host__ __device__ constexpr int RowColMin(int mask, int wr) {
  int m = 99;
  for (int b = 0; b < 9; ++b)
    if (((mask >> b) & 1) && (b / 3 == wr || b / 3 == wr - 1)) m = b % 3 < m ? b % 3 : m;
  return m;
}
__host__ __device__ constexpr int RowColMax(int mask, int wr) {
  int m = -1;
  for (int b = 0; b < 9; ++b)
    if (((mask >> b) & 1) && (b / 3 == wr || b / 3 == wr - 1)) m = b % 3 > m ? b % 3 : m;
  return m;
}

// Stages channels [cbase, cbase + cn) (cn <= 32) of the block's input window, zero outside the
// image, with asynchronous copies. A warp takes one window row at a time and its lanes copy
// consecutive channels of a pixel (32 lanes, or 16 lanes and two columns at once for cn <= 16):
// coalesced NHWC reads and, per copy, a pointer step and a bounds test - no division, no 64-bit
// index arithmetic. Out-of-image sources are never read (the copy zero-fills), so their addresses
// may point outside x. (The shared stores, S floats apart with S a multiple of 4 for the vector
// loads, conflict 4 ways; staging moves an eighth of what the compute reads.) The caller waits
// (CopyAsyncWaitAll + __syncthreads).
__device__ __forceinline__ void StageTiled(const ConvGeom& g, const WarpTile& T, int b0, int ih0, int iw0,
                                           const float* __restrict__ x, int cbase, int cn, float* xs) {
  const int rows = T.th + 2, cols = T.tw + 2, nrows = T.tb * rows;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = blockDim.x >> 5;
  const int lc = cn > 16 ? 32 : 16, cpi = 32 / lc, ci = lane % lc, colsub = lane / lc;
  if (ci >= cn) return;
  const int64_t step = int64_t(cpi) * g.c;
  for (int rowi = warp; rowi < nrows; rowi += nwarps) {
    const int bb = rowi / rows, r = rowi - bb * rows;
    const int b = b0 + bb, ih = ih0 + r;
    const bool row_in = b < g.n && unsigned(ih) < unsigned(g.h);
    float* dst = xs + T.Offset(bb, r, colsub) + ci * T.chan_stride;
    const float* src = x + ((int64_t(min(b, g.n - 1)) * g.h + ih) * g.w + iw0 + colsub) * g.c + cbase + ci;
    for (int col = colsub; col < cols; col += cpi, src += step, dst += cpi)
      CopyAsync4(dst, src, row_in && unsigned(iw0 + col) < unsigned(g.w));
  }
}

// A lane's place in the block tile (WarpTile's lane order) and the staged offsets of its four
// window rows (2 output rows + the 3x3 halo), all 16-byte aligned.
struct LaneTile {
  int lw, lh, lb;
  int rowoff[4];
  __device__ __forceinline__ LaneTile(const WarpTile& T, int lane) {
    lw = T.LaneW(lane);
    lh = T.LaneH(lane);
    lb = T.LaneB(lane);
#pragma unroll
    for (int rr = 0; rr < 4; ++rr) rowoff[rr] = T.LaneRow(lane, rr);
  }
};

// Loads the columns [cmin, cmax + TW - 1] of a staged window row that a pattern row needs, as the
// 16-byte vectors covering them (xr has 4 * ceil((TW + 2) / 4) entries; the others stay unset).
template <int TW>
__device__ __forceinline__ void LoadWindowRow(const float* __restrict__ row, int cmin, int cmax,
                                              float (&xr)[(TW + 2 + 3) / 4 * 4]) {
#pragma unroll
  for (int v = 0; v < (TW + 2 + 3) / 4; ++v) {
    if (4 * v + 3 < cmin || 4 * v > cmax + TW - 1) continue;  // folded at compile time
    const float4 q = *reinterpret_cast<const float4*>(row + 4 * v);
    xr[4 * v] = q.x;
    xr[4 * v + 1] = q.y;
    xr[4 * v + 2] = q.z;
    xr[4 * v + 3] = q.w;
  }
}

// Origin of tile number `tile` (images, output rows, output columns).
struct TileOrigin2 {
  int b0, oh0, ow0;
  __device__ __forceinline__ TileOrigin2(const WarpTile& T, int tile) {
    const int tw_i = tile % T.tiles_w, t2 = tile / T.tiles_w;
    b0 = (t2 / T.tiles_h) * T.tb;
    oh0 = (t2 % T.tiles_h) * T.th;
    ow0 = tw_i * T.tw;
  }
};

}  // namespace cuda
}  // namespace clicktrain
