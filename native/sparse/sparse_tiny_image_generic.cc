// Portable build of the tiny-image pattern kernels (lane groups of 8 images).
#include "sparse/sparse_tiny_image.h"

#define SUFFIX(name) name##Generic
#define TINY_LANES 8
#include "sparse/sparse_tiny_image_kernels.inc"
