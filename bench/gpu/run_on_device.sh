#!/usr/bin/env bash
# GPU verification in one go (for a session that HAS an NVIDIA GPU; needs CUDA + CMake + PyTorch,
# no Node.js): builds the CUDA part with CMake for the local card, runs the ctest executables and the
# CUDA bench, then the PyTorch/cuDNN baseline on the same shapes, all logged under $OUT (or
# bench/gpu/out). Usage: bash bench/gpu/run_on_device.sh [batch=128] [reps=20]
set -uo pipefail
cd "$(dirname "$0")/../.."
BATCH="${1:-128}"; REPS="${2:-20}"
OUTDIR="${OUT:-bench/gpu/out}"; mkdir -p "$OUTDIR"
JOBS="$(nproc 2>/dev/null || echo 4)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUTDIR/nvidia-smi.txt"
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.' | tr -d ' ')"
export PATH="/usr/local/cuda/bin:$PATH"
start=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCLICKTRAIN_USE_CUDA=ON -DCLICKTRAIN_USE_OPENBLAS=OFF \
      -DCMAKE_CUDA_ARCHITECTURES="${ARCH:-90}" > "$OUTDIR/cmake.log" 2>&1 || { tail -30 "$OUTDIR/cmake.log"; exit 1; }
cmake --build build-gpu -j "$JOBS" --target test_cuda_plan test_cuda_conv bench_cuda_conv > "$OUTDIR/build.log" 2>&1 \
  || { tail -40 "$OUTDIR/build.log"; exit 1; }
echo "build: $(( $(date +%s) - start )) s (arch ${ARCH})"
rc=0
(cd build-gpu && ctest -R 'test_cuda_(plan|conv)' --output-on-failure) 2>&1 | tee "$OUTDIR/ctest.log" || rc=1
./build-gpu/native/cuda/test_cuda_conv 2>&1 | tail -5 | tee "$OUTDIR/test_cuda_conv_tail.txt"
timeout 300 ./build-gpu/native/cuda/bench_cuda_conv "$BATCH" "$REPS" 2>&1 | tee "$OUTDIR/bench_cuda.jsonl" || rc=1
timeout 300 python3 bench/gpu/torch_conv_baseline.py "$BATCH" "$REPS" 2>&1 | tee "$OUTDIR/bench_torch.jsonl" || rc=1
echo "done rc=$rc; results in $OUTDIR"
exit $rc
