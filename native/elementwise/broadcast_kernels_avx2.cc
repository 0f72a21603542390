#include "elementwise/broadcast_kernels.h"
#define SUFFIX(name) name##Avx2
#include "elementwise/broadcast_kernels_impl.inc"
