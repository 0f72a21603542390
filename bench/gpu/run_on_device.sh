#!/usr/bin/env bash
# GPU verification in one go (for a session that HAS an NVIDIA GPU; needs CUDA + CMake + PyTorch,
# no Node.js): builds the CUDA part with CMake for the local card (or uses prebuilt executables from
# $CLICKTRAIN_GPU_BIN when they run there), runs the ctest executables, a compute-sanitizer memcheck
# pass on fewer cases, the CUDA bench, then the PyTorch/cuDNN baseline on the same shapes, and prints
# the side-by-side table last. Logs go under $OUT (or bench/gpu/out), at most 8 files.
# Optional: CLICKTRAIN_NCU=<shape> profiles the tiled kernels on that shape with ncu;
# CLICKTRAIN_SASS=<regex> saves the machine code of the kernels whose names match.
# Usage: bash bench/gpu/run_on_device.sh [batch=128] [reps=20]
set -uo pipefail
cd "$(dirname "$0")/../.."
BATCH="${1:-128}"; REPS="${2:-20}"
OUTDIR="${OUT:-bench/gpu/out}"; mkdir -p "$OUTDIR"
JOBS="$(nproc 2>/dev/null || echo 4)"
export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUTDIR/build.log"
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')"
BIN="${CLICKTRAIN_GPU_BIN:-}"
if [ -n "$BIN" ] && "$BIN/test_cuda_plan" >> "$OUTDIR/build.log" 2>&1; then
  echo "using prebuilt executables from $BIN"
else
  start=$(date +%s)
  BIN=build-gpu/native/cuda
  { cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCLICKTRAIN_USE_CUDA=ON -DCLICKTRAIN_USE_OPENBLAS=OFF \
      -DCMAKE_CUDA_ARCHITECTURES="${ARCH:-90}" &&
    cmake --build build-gpu -j "$JOBS" --target test_cuda_plan test_cuda_slab test_cuda_conv bench_cuda_conv; } \
    >> "$OUTDIR/build.log" 2>&1 || { tail -40 "$OUTDIR/build.log"; exit 1; }
  echo "build: $(( $(date +%s) - start )) s (arch ${ARCH})"
fi
rc=0
{ "$BIN/test_cuda_plan" && "$BIN/test_cuda_slab" && "$BIN/test_cuda_conv"; } > "$OUTDIR/test.log" 2>&1 || rc=1
grep -E "FAIL|passed|device|slab" "$OUTDIR/test.log" | head -30
if command -v compute-sanitizer > /dev/null; then
  CLICKTRAIN_CUDA_TEST_CASES=6 timeout 180 compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$BIN/test_cuda_conv" > "$OUTDIR/sanitizer.log" 2>&1
  echo "compute-sanitizer memcheck (6+6 cases): exit $?"; tail -3 "$OUTDIR/sanitizer.log"
fi
timeout 300 "$BIN/bench_cuda_conv" "$BATCH" "$REPS" > "$OUTDIR/bench_cuda.jsonl" 2>&1 || { rc=1; tail -5 "$OUTDIR/bench_cuda.jsonl"; }
PYTHONUNBUFFERED=1 timeout 300 python3 bench/gpu/torch_conv_baseline.py "$BATCH" "$REPS" > "$OUTDIR/bench_torch.jsonl" 2>&1 \
  || { rc=1; tail -5 "$OUTDIR/bench_torch.jsonl"; }
if [ -n "${CLICKTRAIN_NCU:-}" ] && command -v ncu > /dev/null; then  # profile of the sparse kernels on one shape
  for k in ${CLICKTRAIN_NCU_KERNELS:-SparseForwardTiled SparseBackpropFilterTiled}; do
    timeout 120 ncu --clock-control none --kernel-name regex:"$k" --launch-skip 2 --launch-count 1 \
      --section SpeedOfLight --section WarpStateStats --section Occupancy --section LaunchStats --section SchedulerStats \
      --section MemoryWorkloadAnalysis --section InstructionStats "$BIN/bench_cuda_conv" "$BATCH" 3 "$CLICKTRAIN_NCU" >> "$OUTDIR/ncu.txt" 2>&1
    echo "ncu $k on $CLICKTRAIN_NCU: exit $?"
    timeout 60 ncu --clock-control none --kernel-name regex:"$k" --launch-skip 2 --launch-count 1 \
      --metrics "regex:smsp__warp_issue_stalled_.*_per_warp_active\.pct" \
      "$BIN/bench_cuda_conv" "$BATCH" 3 "$CLICKTRAIN_NCU" >> "$OUTDIR/ncu.txt" 2>&1
    echo "ncu stall reasons $k: exit $?"
  done
fi
if [ -n "${CLICKTRAIN_SASS:-}" ] && command -v cuobjdump > /dev/null; then  # machine code of the tiled kernels
  cuobjdump -sass "$BIN/bench_cuda_conv" | awk '/Function : /{keep = ($0 ~ /'"$CLICKTRAIN_SASS"'/)} keep' > "$OUTDIR/sass.txt"
  echo "sass lines: $(wc -l < "$OUTDIR/sass.txt")"
fi
python3 bench/gpu/summarize.py "$OUTDIR/bench_cuda.jsonl" "$OUTDIR/bench_torch.jsonl" | tee "$OUTDIR/summary.md"
echo "done rc=$rc; results in $OUTDIR"
exit $rc
