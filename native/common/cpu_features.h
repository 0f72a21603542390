// Run-time ISA selection: which SIMD path the kernels take on this CPU.
#pragma once
#include <string>

namespace clicktrain {

enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// Best ISA this CPU and OS support, capped by CLICKTRAIN_ISA=generic|avx2|avx512 when set
// (tests use the cap to exercise every path the machine can run).
Isa ActiveIsa();
// Highest ISA the hardware supports, ignoring the cap.
Isa DetectedIsa();
// Overrides the active ISA (clamped to what the CPU supports); returns the value in force.
Isa SetActiveIsa(Isa isa);
const char* IsaName(Isa isa);
bool ParseIsa(const std::string& name, Isa* out);

}  // namespace clicktrain
