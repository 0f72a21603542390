// Internal: ApplyEpilogue on the calling thread only (for kernels that manage threads themselves).
#pragma once
#include <cstdint>

#include "dense/epilogue.h"

namespace clicktrain {

void ApplyEpilogueSerial(const Epilogue& ep, int64_t rows, int64_t channels, float* data);

}  // namespace clicktrain
