// AVX-512 build of the tiny-image pattern kernels on lane groups of 16 images: every vector is one
// 512-bit register, twice the work of the 8-image kernels per load and per FMA. (Pairs of
// neighbouring pixels of the 8-image layout as one 512-bit vector measured slower than the
// 8-image code: the loads of every tap with a column offset straddle cache lines, and the edge
// columns need masked loads; bench/RESULTS.md, session 17.)
#include "sparse/sparse_tiny_image.h"

#define SUFFIX(name) name##Avx512X16
#define TINY_LANES 16
#include "sparse/sparse_tiny_image_kernels.inc"
