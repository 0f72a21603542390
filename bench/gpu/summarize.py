#!/usr/bin/env python3
"""Side-by-side table of bench_cuda_conv.cu and torch_conv_baseline.py output (JSON lines).
Usage: summarize.py bench_cuda.jsonl bench_torch.jsonl  -> a Markdown table on stdout:
per shape and pass, median ms of our dense FP32/TF32 and sparse kernels and of cuDNN FP32/TF32,
our dense FP32 over cuDNN FP32 (target <= 2), and cuDNN FP32 over our faster sparse path
(target >= 3)."""
import json
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return rows


def main():
    ours, torch_rows = load(sys.argv[1]), load(sys.argv[2])
    ms = {}
    for r in ours + torch_rows:
        if "pass" in r and "median_ms" in r:
            ms[(r["shape"], r["pass"], r["path"])] = r["median_ms"]
    for r in ours + torch_rows:
        if "device" in r or "sgemm_ceiling" in r:
            print("# " + json.dumps(r))
    shapes = []
    for (shape, _, _) in ms:
        if shape not in shapes:
            shapes.append(shape)
    cols = ["dense-fp32", "dense-tf32", "sparse", "sparse-tiled", "sparse-slab", "cudnn-fp32", "cudnn-tf32"]
    print("| shape | pass | " + " | ".join(c + " ms" for c in cols) + " | ours/cuDNN fp32 | cuDNN fp32/sparse |")
    print("|" + "---|" * (len(cols) + 4))
    for shape in shapes:
        for p in ("forward", "backprop_input", "backprop_filter"):
            v = [ms.get((shape, p, c)) for c in cols]
            fmt = lambda x: "" if x is None else f"{x:.4f}"
            best_sparse = min([x for x in v[2:5] if x], default=None)
            cudnn = v[5]
            dense_ratio = f"{v[0] / cudnn:.2f}" if v[0] and cudnn else ""
            sparse_speedup = f"{cudnn / best_sparse:.2f}" if best_sparse and cudnn else ""
            print(f"| {shape} | {p} | " + " | ".join(fmt(x) for x in v) + f" | {dense_ratio} | {sparse_speedup} |")


if __name__ == "__main__":
    main()
