// AVX-512 build of the tiny-image pattern kernels (compiled with -mavx512f -mavx512vl ...; only
// called after CPUID): the same 8-float vectors, but with 32 registers the forward takes two-row
// tiles of 8x8 images and whole 4x4 images (16 accumulators; see sparse_tiny_image_kernels.inc).
#include "sparse/sparse_tiny_image.h"

#define SUFFIX(name) name##Avx512
#include "sparse/sparse_tiny_image_kernels.inc"
