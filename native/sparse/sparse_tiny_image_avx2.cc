// AVX2 + FMA build of the tiny-image pattern kernels, lane groups of 8 images (compiled with
// -mavx2 -mfma; only called after CPUID).
#include "sparse/sparse_tiny_image.h"

#define SUFFIX(name) name##Avx2
#define TINY_LANES 8
#include "sparse/sparse_tiny_image_kernels.inc"
