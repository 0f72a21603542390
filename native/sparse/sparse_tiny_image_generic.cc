// Portable build of the 2x2-image pattern kernels.
#include "sparse/sparse_tiny_image.h"

#define SUFFIX(name) name##Generic
#include "sparse/sparse_tiny_image_kernels.inc"
