// Run-time CPU facts: which SIMD path the kernels take on this CPU, and its L2 size.
#pragma once
#include <cstdint>
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

// Bytes of L2 cache per core as the OS reports it (sysconf; clamped to 128 KiB..8 MiB), or 512 KiB
// where it does not say.
int64_t L2CacheBytes();

}  // namespace clicktrain
