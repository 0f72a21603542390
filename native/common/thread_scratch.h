// Per-thread scratch buffers that grow and are kept: the pool's workers are persistent, so a
// kernel's packing / im2col / partial-sum buffers are allocated (and page-faulted in) once per
// thread rather than once per call. One slot per buffer that can be live at the same time on a
// thread (a conv holds its column buffer while the GEMM it calls packs A and B).
#pragma once
#include <cstdint>

namespace clicktrain {

enum class ScratchSlot {
  kGemmPackB,
  kGemmPackA,
  kConvTile,     // per-thread im2col tile
  kConvCol,      // im2col / column chunk of one call
  kConvFilter,   // rotated filter of backprop-input
  kConvParts,    // per-thread partial filter gradients
  kConvDyRows,   // rows of a dy computed as a conv reads them (a batch norm's gradient)
  kCount
};

// At least max(n, 1) floats, contents unspecified; valid until the next call with this slot on
// this thread.
float* ThreadScratch(ScratchSlot slot, int64_t n);

}  // namespace clicktrain
