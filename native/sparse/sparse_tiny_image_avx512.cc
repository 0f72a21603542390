// AVX-512 build of the tiny-image pattern kernels on lane groups of 8 images (compiled with
// -mavx512f -mavx512vl ...; only called after CPUID): the AVX2 code with 32 vector registers, for
// batches of 8 to 15, where 16-image lane groups (sparse_tiny_image_x16_avx512.cc) would leave
// lanes idle.
#include "sparse/sparse_tiny_image.h"

#define SUFFIX(name) name##Avx512
#define TINY_LANES 8
#include "sparse/sparse_tiny_image_kernels.inc"
