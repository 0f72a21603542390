// Host-side planning for the CUDA kernels: pixel tiles, channel chunks and the device schedules of the
// pattern-sparse kernels. Plain C++ (no CUDA types), built and unit-tested even without nvcc.
//
// Sparse kernels on the GPU work on a "grouped schedule" derived from the CPU pattern layout:
//   * filters keep the CPU layout's reorder (filters with similar work are neighbours, so the warps of
//     a block get balanced work);
//   * inside a filter the kept kernels are sorted by (input-channel chunk, pattern mask, channel): a
//     block stages one chunk of input channels of its pixel tile in shared memory once, and every warp
//     walks the same-pattern groups of that chunk; a warp runs one filter, so its 32 lanes (= output
//     pixels) run exactly the same pattern sequence and the pattern switch is warp-uniform;
//   * values are gathered from the CPU layout's value array through value_src (O(non-zeros) per refresh).
// Pattern masks are 9-bit, bit (kh * 3 + kw) of a 3x3 kernel; a kernel's values are stored in ascending
// bit order.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sparse/pattern_layout.h"

namespace clicktrain {
namespace cuda {

// Every sparse block computes a 64-pixel tile of TB images x TH rows x TW columns (product 64).
constexpr int kTilePixels = 64;
// Dynamic shared memory budget of one sparse block (floats): 48 KiB, no opt-in needed.
constexpr int kSmemFloats = 12288;
// Filters (forward) per block: 4 warps x 8 filters.
constexpr int kSparseFiltersPerBlock = 32;
// Filters per block of the backward-filter kernel (its dy tile and accumulators share the budget).
constexpr int kSparseBwdFiltersPerBlock = 16;

struct PixelTile {
  int tb = 1, th = 1, tw = 1;      // tile extent in images, output rows, output columns
  int in_rows = 1, in_cols = 1;    // staged input window per image
  int chan_stride = 1;             // floats per staged channel (tb * in_rows * in_cols, made odd)
  int tiles_b = 1, tiles_h = 1, tiles_w = 1;
  int64_t NumTiles() const { return int64_t(tiles_b) * tiles_h * tiles_w; }
};

// Chooses the 64-pixel tile for an output of batch x out_h x out_w (square-ish, 8x8 for big maps,
// several images per tile for small maps) and the input window a 3x3 (or fh x fw) filter reads.
PixelTile PlanPixelTile(int64_t batch, int64_t out_h, int64_t out_w, int stride_h, int stride_w,
                        int dilation_h, int dilation_w, int filter_h, int filter_w);

// Largest channel chunk whose staged window fits next to `reserved_floats` in kSmemFloats
// (at least 1; at most `channels` and `cap`).
int PlanChannelChunk(int channels, int chan_stride, int reserved_floats, int cap = 64);

// One kept kernel as the schedule builders see it.
struct KernelRef {
  int filter = 0;          // reordered filter position (forward) or output channel (transposed)
  int channel = 0;         // channel the kernel reads
  uint16_t mask = 0;       // 9-bit pattern (already rotated for backward-data)
  int64_t value_src = 0;   // index of the kernel's first value in the source value array
  bool reversed = false;   // source values are in descending tap order (180-degree rotation)
};

// Schedule of the forward kernel (also backward-data through the transposed, rotated layout).
struct GroupedSchedule {
  int num_filters = 0, num_channels = 0, chunk = 1, num_chunks = 1;
  std::vector<int32_t> filter_out;    // filter position -> output channel it writes
  std::vector<int32_t> seg_group;     // (filter * num_chunks + chunk) -> first group; size F*C+1
  std::vector<uint16_t> group_mask;   // pattern of each group
  std::vector<int32_t> group_kernel;  // first kernel of each group; size G+1
  std::vector<int32_t> kernel_channel;
  std::vector<int32_t> kernel_value;  // offset of the kernel's first value in device value order
  // device value i = source values[value_src[i]], or 0 where value_src[i] == -1: each kernel's values
  // are padded to a multiple of 4 so they start 16-byte aligned (one float4 load for 4-entry patterns)
  std::vector<int64_t> value_src;
  int64_t NumKernels() const { return int64_t(kernel_channel.size()); }
  int64_t NumValues() const { return int64_t(value_src.size()); }  // padding included
};

// Device values in schedule order: src[value_src[i]], zero for padding (O(values) per refresh).
std::vector<float> GatherScheduleValues(const std::vector<float>& src, const std::vector<int64_t>& value_src);

#if defined(__CUDACC__)
#define CT_HOST_DEVICE __host__ __device__
#else
#define CT_HOST_DEVICE
#endif

// Stride-1, dilation-1 tiled sparse kernels (sparse_forward_tiled.cu, sparse_backprop_filter_tiled.cu):
// each lane computes a 2 x tw_t block of outputs of one filter, the 32 lanes of a warp a block-wide
// pixel tile, the warps of a block different filters over the same staged input. A staged window
// row is read as 16-byte vectors, so rows, images and channels start 16-byte aligned; each row pair
// is shifted by 4 more floats ("row-pair skew") and lanes are ordered rows-first, so every quarter
// warp of a vector load touches 8 different bank groups.
struct WarpTile {
  int tw_t = 8;                          // output columns per lane (8, 4 or 2); rows per lane: 2
  int lanes_w = 1, lanes_h = 1, lanes_b = 1;  // lane grid, product 32
  int th = 2, tw = 8, tb = 1;            // block tile: 2 * lanes_h rows, tw_t * lanes_w cols, lanes_b images
  int row_pitch = 12;                    // staged floats per window row (tw + 2, rounded up to 4)
  int image_stride = 4;                  // staged floats per image window (multiple of 4)
  int chan_stride = 4;                   // staged floats per channel (tb * image_stride)
  int tiles_b = 1, tiles_h = 1, tiles_w = 1;
  CT_HOST_DEVICE int64_t NumTiles() const { return int64_t(tiles_b) * tiles_h * tiles_w; }
  // Lane order: window-row pairs fastest, then column groups, then images.
  CT_HOST_DEVICE int LaneH(int lane) const { return lane % lanes_h; }
  CT_HOST_DEVICE int LaneW(int lane) const { return (lane / lanes_h) % lanes_w; }
  CT_HOST_DEVICE int LaneB(int lane) const { return lane / (lanes_h * lanes_w); }
  // Staged offset of window row r, column col of image bb.
  CT_HOST_DEVICE int Offset(int bb, int r, int col) const {
    return bb * image_stride + r * row_pitch + (r >> 1) * 4 + col;
  }
  // Staged offset of window row 2 * LaneH + rr (rr = 0..3) at the lane's first column.
  CT_HOST_DEVICE int LaneRow(int lane, int rr) const { return Offset(LaneB(lane), 2 * LaneH(lane) + rr, LaneW(lane) * tw_t); }
};
// max_tw caps the columns per lane (8, 4 or 2).
WarpTile PlanWarpTile(int64_t batch, int64_t out_h, int64_t out_w, int max_tw = 8);
// Most lanes of one quarter warp whose 16-byte window loads share a bank group (1 = none).
int WarpTileBankConflict(const WarpTile& tile);
// Shared-memory budget of one tiled block (floats): 96 KiB, two blocks per SM on Hopper.
constexpr int kTiledSmemFloats = 24576;
// Filters (warps) per block of the tiled backward-filter kernel.
constexpr int kTiledBwdFiltersPerBlock = 16;
// Channels staged at once by a tiled kernel within budget_floats: at most 32; all when they fit, else
// 32 or 16 (at least 1).
int TiledChannelChunk(const WarpTile& tile, int channels, int budget_floats = kTiledSmemFloats);

// Builds the grouped schedule. filter_out has num_filters entries; kernels may come in any order.
// Throws std::invalid_argument on out-of-range filters/channels or empty masks.
GroupedSchedule BuildGroupedSchedule(int num_filters, int num_channels, int chunk,
                                     const std::vector<int32_t>& filter_out,
                                     const std::vector<KernelRef>& kernels);

// Schedule of the backward-filter kernel: per (filter block, chunk) units of at most 32 kernels of one
// pattern (a warp runs one unit, one lane per kernel) and a shared-memory accumulator slot per
// kept weight, flushed to the dense gradient at out_index.
struct BlockSchedule {
  int num_filters = 0, num_channels = 0, chunk = 1, num_chunks = 1, filters_per_block = 1;
  int num_blocks = 0;                  // filter blocks
  int max_slots = 0;                   // largest accumulator count of one (block, chunk)
  std::vector<int32_t> block_filter_out;  // filter position -> output channel (size num_filters)
  std::vector<int32_t> seg_unit;       // (block * num_chunks + chunk) -> first unit; size B*C+1
  std::vector<int32_t> seg_slot;       // (block, chunk) -> first slot; size B*C+1
  std::vector<uint16_t> unit_mask;
  std::vector<int32_t> unit_kernel;    // first kernel of each unit; size U+1 (<= 32 kernels each)
  std::vector<int32_t> kernel_channel;
  std::vector<int32_t> kernel_filter;  // filter index local to the block
  std::vector<int32_t> kernel_slot;    // first accumulator slot, relative to the segment
  std::vector<int64_t> slot_out;       // dense gradient index of every slot (global slot order)
};

// dense_index(filter_position, channel, tap) gives where the weight gradient of a tap lands.
BlockSchedule BuildBlockSchedule(int num_filters, int num_channels, int chunk, int filters_per_block,
                                 const std::vector<int32_t>& filter_out,
                                 const std::vector<KernelRef>& kernels, int64_t out_channels);

// 180-degree rotation of a 3x3 mask: bit i -> bit 8 - i.
inline uint16_t RotateMask180(uint16_t mask) {
  uint16_t r = 0;
  for (int i = 0; i < 9; ++i)
    if (mask & (1u << i)) r |= uint16_t(1u << (8 - i));
  return r;
}

inline int MaskTaps(uint16_t mask) {
  int n = 0;
  for (int i = 0; i < 9; ++i) n += (mask >> i) & 1;
  return n;
}

// Kernel lists read from the shared CPU layout (native/sparse/pattern_layout.h); only its plain
// arrays are used (patterns, filter_order, filter_kernel_begin, kernel_ic, kernel_pattern,
// kernel_value_begin), values are indexed in layout.values order.
// Forward / backward-filter: filter = packed slot, channel = input channel; filter_out = filter_order.
std::vector<KernelRef> ForwardKernelRefs(const PatternLayout& layout);
// Backward data as a stride-1 forward conv of dy: filter = input channel position (input channels
// ordered by kept-kernel count, descending, for balance; *filter_out maps position -> ic), channel =
// original output channel, mask rotated 180 degrees, values reversed.
std::vector<KernelRef> BackwardDataKernelRefs(const PatternLayout& layout,
                                              std::vector<int32_t>* filter_out);
// Backward filter on the tiled kernel: forward refs with filter = output channel (natural order, so
// neighbouring warps read neighbouring dy channels and share L1 sectors); filter_out = identity.
std::vector<KernelRef> BackwardFilterKernelRefs(const PatternLayout& layout);

// Where the gradient of each device value of a grouped schedule lands: value_dense[v] = dense HWIO
// index ((kh * 3 + kw) * in_channels + c) * out_channels + filter_out[f], -1 for padding;
// filter_value[f] = first device value of filter f (size F + 1; a filter's values are contiguous).
struct GradientTargets {
  std::vector<int64_t> value_dense;
  std::vector<int32_t> filter_value;
  int MaxBlockValues(int filters_per_block) const;  // most values of filters_per_block consecutive filters
};
GradientTargets BuildGradientTargets(const GroupedSchedule& s, int64_t in_channels, int64_t out_channels);
// Device values (padded to 4 per kernel) of the busiest block of filters_per_block consecutive output
// channels: the tiled backward-filter's shared-memory sums, known before its chunk is chosen.
int MaxBlockValues(const PatternLayout& layout, int filters_per_block);

// Validates the arrays the CUDA path reads (sizes, ranges); throws std::invalid_argument.
void ValidateLayoutForCuda(const PatternLayout& layout);
// 64-bit FNV-1a hash of the layout's structure (not its values): the device schedule cache key.
uint64_t LayoutStructureHash(const PatternLayout& layout);

// Self-check of a schedule's invariants (every kernel once, groups homogeneous, chunk-local channels);
// returns an empty string when consistent, otherwise the first problem.
std::string CheckGroupedSchedule(const GroupedSchedule& s);

}  // namespace cuda
}  // namespace clicktrain
