// Internal (benchmarks/tests only): which GEMM strategy the im2col convolutions use.
#pragma once

namespace clicktrain {

enum class ConvGemmStrategy { kDefault = 0, kTiled = 1, kChunked = 2 };

// Overrides the strategy process-wide (kDefault restores the built-in choice / env override).
void SetConvGemmStrategy(ConvGemmStrategy s);
// "default", "tiled" or "chunked" (the override in force).
const char* ConvGemmStrategyName();

}  // namespace clicktrain
