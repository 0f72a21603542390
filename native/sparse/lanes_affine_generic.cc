// Portable build of lanes_affine_kernels.inc.
#define SUFFIX(name) name##Generic
#include "sparse/lanes_affine_kernels.inc"
