"""PyTorch baseline for probe's GPU benchmark: the binned estimate done the usual PyTorch way on
the same GPU, for the same sizes and data distribution as `examples/bench_cuda.rs`.

Setup (on a machine with Rust): `bash scripts/setup_python.sh`, then run with `.venv/bin/python`.
On a GPU box without that venv, any Python with a CUDA build of PyTorch works:

    .venv/bin/python scripts/gpu/bench_torch.py --out torch.json [--reps 20] [--sizes 4096x12,...]

For each n x d (tanh of standard normal values, float32; 10 label classes; distinct inputs):
  * quantise: `torch.bucketize` against the interior edges (right=True: the number of edges <= x,
    the bin probe uses) for `binned` (30 edges on [-1, 1]); `floor(x / 0.5)` for `floor`;
  * whole: quantise, then `torch.unique(dim=0, return_counts=True)` of the binned rows, of
    (row, y) and of (row, x), and the plug-in entropies H(T), H(T|Y), H(T|X) from the counts,
    with the scalars copied back to the host.
Each time is the mean over --reps calls, each after an L2 flush, measured with CUDA events. Writes
{"{n}x{d}/{binning}": [quantise_seconds, whole_seconds], ...} to --out for bench_cuda --torch.
"""
import argparse
import json

import torch

SIZES = "4096x12,10000x20,60000x20,10000x1024,60000x1024,100000x1024,250000x1024,60000x4096"
FLUSH = torch.empty(0)


def timed(fn, reps):
    fn()  # warm-up
    total = 0.0
    for _ in range(reps):
        FLUSH.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        total += start.elapsed_time(end) * 1e-3
    return total / reps


def entropy_terms(counts, n):
    """Sum of (c / n) * log2(n / c): the plug-in entropy in bits."""
    c = counts.double()
    return (c / n * torch.log2(n / c)).sum()


def conditional(rows, labels, n):
    """H(T | L) = sum over (t, l) of (c / n) log2(g_l / c)."""
    pairs = torch.cat([rows, labels[:, None]], dim=1)
    uniq, counts = torch.unique(pairs, dim=0, return_counts=True)
    values, sizes = torch.unique(labels, return_counts=True)
    g = sizes[torch.searchsorted(values, uniq[:, -1].contiguous())]
    c = counts.double()
    return (c / n * torch.log2(g.double() / c)).sum()


def main():
    global FLUSH
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--sizes", default=SIZES)
    a = ap.parse_args()
    dev = torch.device("cuda")
    FLUSH = torch.empty(256 << 20, dtype=torch.uint8, device=dev)
    edges = torch.linspace(-1.0, 1.0, 30, dtype=torch.float64)[1:-1].float().to(dev)
    results = {}
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    for size in a.sizes.split(","):
        n, d = (int(v) for v in size.split("x"))
        g = torch.Generator(device=dev).manual_seed(0)
        t = torch.randn(n, d, device=dev, generator=g).tanh()
        x = torch.arange(n, device=dev)
        y = (torch.arange(n, device=dev) * 7919) % 10
        for name, quantise in [
            ("binned", lambda: torch.bucketize(t, edges, right=True)),
            ("floor", lambda: torch.floor(t.double() / 0.5).long()),
        ]:
            def whole():
                b = quantise()
                _, counts = torch.unique(b, dim=0, return_counts=True)
                h = entropy_terms(counts, n)
                hy = conditional(b, y, n)
                hx = conditional(b, x, n)
                return torch.stack([h, hy, hx]).cpu()

            q = timed(quantise, a.reps)
            w = timed(whole, max(1, a.reps // 4))
            results[f"{n}x{d}/{name}"] = [q, w]
            print(f"{n} x {d} {name}: quantise {q * 1e6:.1f} us, whole {w * 1e6:.1f} us", flush=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
