// Host-side plan and schedule of the "filter-slab" sparse kernels (sparse_forward_slab.cu), the stride-1
// forward / backward-data path for the common CNN shapes. Plain C++ (no CUDA types), tested without nvcc.
//
// Why slabs: the per-filter tiled kernel (sparse_forward_tiled.cu) gives a warp one filter, so every kept
// kernel loads its own input rows from shared memory: ~one shared load per FMA, shared-memory bound
// (FMA pipe ~7% busy on an H200). Here a warp owns a slab of kSlabFilters consecutive output channels
// and every lane holds the outputs of all of them for its pixels (an outer product over filters): a
// lane loads the input values of one channel for its pixels once, and every kept kernel of that
// channel in the slab reuses them from registers. Which slots keep a kernel on a channel is one bit
// word per (slab, channel) (warp-uniform branches), and each kept kernel is one 48-byte record read in
// order: 9 weights in 3x3 position order (0 where the pattern does not keep the position) plus its
// 9-bit mask, so the tap positions are compile-time constants behind one bit test each and any
// pattern size 1..9 runs the same code. A warp's records of a channel chunk are staged in shared
// memory next to the chunk's input (read from global memory, L1 missed nearly every time: an H200
// profile showed 39% of warp stalls on those loads).
#pragma once
#include <cstdint>
#include <vector>

#include "cuda/conv_plan.h"

namespace clicktrain {
namespace cuda {

constexpr int kSlabFilters = 8;        // output channels per warp
constexpr int kSlabWarps = 8;          // most slabs (warps) per block, all over the same staged pixels
constexpr int kSlabRecordFloats = 12;  // row r: w[3r], w[3r+1], w[3r+2], extra (row 0's extra: mask bits)
// Lane stride of the whole-image staging (floats): 20 = 16 values + 4, so the 16-byte loads of 8
// consecutive lanes hit 8 different bank groups.
constexpr int kSlabWholeLaneStride = 20;

// Records in (slab, channel, slot) order; slot s of slab g is output channel g * kSlabFilters + s.
struct SlabSchedule {
  int num_filters = 0, num_channels = 0, num_slabs = 0;
  std::vector<uint32_t> bits;      // [slab * C + c]: bit s set when slot s keeps a kernel on channel c
  std::vector<int32_t> rec_start;  // [slab * C + c]: first record of (slab, c); size slabs * C + 1
  std::vector<uint16_t> rec_mask;  // pattern of each record
  std::vector<int64_t> value_src;  // 9 per record (position order): source value index, -1 where not kept
  int64_t NumRecords() const { return int64_t(rec_mask.size()); }
};

// kernels: any order; a kernel's output channel is filter_out[ref.filter] (num_filters entries, each
// output channel at most once). Throws std::invalid_argument on out-of-range or duplicate kernels.
SlabSchedule BuildSlabSchedule(int num_filters, int num_channels, const std::vector<int32_t>& filter_out,
                               const std::vector<KernelRef>& kernels);

// Device records (kSlabRecordFloats per record, plus one zero record at the end so the array is never
// empty): O(records) per value refresh.
std::vector<float> GatherSlabRecords(const std::vector<float>& src, const SlabSchedule& s);

// Lane geometry of a slab launch.
enum class SlabKind : int {
  kNone = 0,
  kHalo = 1,     // maps >= 8 wide, any padding: WarpTile with 2 x 8 outputs per lane, halo staged (A/B only)
  kWhole4 = 2,   // 4x4 maps, same padding: one whole image per lane, no halo (zeros known at compile time)
  kWhole2 = 3,   // 2x2 maps, same padding: four whole images per lane
  kHalo4 = 4,    // maps >= 8 wide (>= 4 when forced): WarpTile with 2 x 4 outputs per lane, halo staged;
                 // half kHalo's registers (<= 128), so twice the warps per SM hide the branch latencies
};

// Blocks of 8 warps one SM holds at a time (registers): 2 for kHalo4, else 1.
inline int SlabBlocksPerSm(SlabKind kind) { return kind == SlabKind::kHalo4 ? 2 : 1; }

struct SlabPlan {
  SlabKind kind = SlabKind::kNone;
  WarpTile wtile;           // kHalo
  int chan_stride = 0;      // staged floats per channel
  int64_t tiles = 0;        // pixel tiles
  int warps = kSlabWarps;   // slabs (warps) per block
  int slab_blocks = 0;      // blocks along the filters (warps slabs each)
  int chunk = 1;            // channels staged at once (<= 32)
  int splits = 1;           // channel splits (atomic accumulation into a zeroed output when > 1)
  int split_channels = 0;   // channels per split, a multiple of chunk
  int rec_floats_per_warp = 0;  // shared-memory records of one warp: the most records of a (slab, chunk)
                                // plus a spare one for the look-ahead load
  int64_t Blocks() const { return tiles * slab_blocks * splits; }
  // Shared memory of a block (floats): the chunk's input, then each warp's records of the chunk.
  int64_t SmemFloats() const { return int64_t(chunk) * chan_stride + int64_t(warps) * rec_floats_per_warp; }
};

// Which slab geometry a stride-1, dilation-1 3x3 conv of an h x w input into oh x ow with top/left
// padding pt/pl gets; kNone when none fits (then use the per-filter tiled kernel).
SlabKind SlabKindFor(int64_t h, int64_t w, int64_t oh, int64_t ow, int pt, int pl);

// Most records of one slab within one chunk-aligned channel window.
int MaxSlabChunkRecords(const SlabSchedule& s, int chunk);

// Plan of that conv (n x h x w x c into n x oh x ow x oc) on schedule s for a device with num_sms SMs
// and the given shared memory per block (opt-in limit) and per SM (floats); kind kNone when it does not
// apply or fit. warps 0 = automatic (8 slabs per block, 4 when that avoids splitting the channels; then
// the chunk is sized so two blocks share an SM); the channels are split over blocks when tiles and
// slabs alone give fewer blocks than split_target x num_sms.
// force: a kind to use instead of SlabKindFor's (kHalo4 on maps at least 4 wide, kHalo at least 8), for A/B.
SlabPlan PlanSlab(int64_t n, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow, int64_t oc, int pt, int pl,
                  const SlabSchedule& s, int num_sms, int smem_block_floats, int smem_sm_floats, int warps = 0,
                  int split_target = 1, SlabKind force = SlabKind::kNone);

}  // namespace cuda
}  // namespace clicktrain
