#!/usr/bin/env python3
"""PyTorch (cuDNN) conv2d baseline on the VGG-16 CIFAR shapes that bench_cuda_conv times.

Forward, backward-data (conv_transpose via torch.nn.grad.conv2d_input) and backward-filter
(torch.nn.grad.conv2d_weight), channels_last (NHWC, like ours), FP32 with
torch.backends.cudnn.allow_tf32 False and True, cudnn.benchmark on. CUDA-event medians over several
input sets (past L2). Prints one JSON object per line, same fields as bench_cuda_conv.
Usage: torch_conv_baseline.py [batch=128] [reps=20]
"""
import json
import sys

import torch
import torch.nn.functional as F


def median_ms(fn, sets, reps):
    for i in range(3):
        fn(i % sets)
    torch.cuda.synchronize()
    times = []
    for i in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn(i % sets)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "torch.cuda not available"}))
        return
    dev = torch.device("cuda")
    prop = torch.cuda.get_device_properties(0)
    print(json.dumps({"device": prop.name, "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
                      "batch": batch, "reps": reps}))
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    # FP32 ceiling of this card as cuBLAS reaches it (no TF32): the GPU's "sgemm ceiling".
    n = 8192
    mats = [(torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)) for _ in range(2)]
    ms = median_ms(lambda s: torch.mm(*mats[s]), 2, max(5, reps // 2))
    print(json.dumps({"sgemm_ceiling": f"{n}x{n}x{n} fp32 (allow_tf32=False)", "median_ms": round(ms, 3),
                      "gflops": round(2.0 * n ** 3 / ms * 1e-6, 1)}), flush=True)
    del mats
    shapes = [(32, 3, 64), (32, 64, 64), (16, 64, 128), (16, 128, 128), (8, 128, 256), (8, 256, 256),
              (4, 256, 512), (4, 512, 512), (2, 512, 512)]
    l2 = getattr(prop, "L2_cache_size", 50 * 1024 * 1024)
    for hw, c, oc in shapes:
        name = f"{hw}x{hw}x{c}->{oc}"
        flops = 2.0 * batch * hw * hw * oc * 9 * c
        set_bytes = 4 * (2 * batch * hw * hw * c + 2 * batch * hw * hw * oc + 2 * 9 * c * oc)
        sets = min(8, max(2, -(-2 * l2 // set_bytes)))
        xs = [torch.randn(batch, c, hw, hw, device=dev).to(memory_format=torch.channels_last) for _ in range(sets)]
        ws = [torch.randn(oc, c, 3, 3, device=dev).to(memory_format=torch.channels_last) for _ in range(sets)]
        dys = [torch.randn(batch, oc, hw, hw, device=dev).to(memory_format=torch.channels_last) for _ in range(sets)]
        for tf32 in (False, True):
            torch.backends.cudnn.allow_tf32 = tf32
            path = "cudnn-tf32" if tf32 else "cudnn-fp32"
            with torch.no_grad():
                passes = {
                    "forward": lambda s: F.conv2d(xs[s], ws[s], padding=1),
                    "backprop_input": lambda s: torch.nn.grad.conv2d_input(xs[s].shape, ws[s], dys[s], padding=1),
                    "backprop_filter": lambda s: torch.nn.grad.conv2d_weight(xs[s], ws[s].shape, dys[s], padding=1),
                }
                for pname, fn in passes.items():
                    ms = median_ms(fn, sets, reps)
                    print(json.dumps({"shape": name, "batch": batch, "pass": pname, "path": path,
                                      "median_ms": round(ms, 4), "dense_equiv_gflops": round(flops / ms * 1e-6, 1),
                                      "input_sets": sets}), flush=True)


if __name__ == "__main__":
    main()
