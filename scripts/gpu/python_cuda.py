#!/usr/bin/env python3
"""The Python package's CUDA path on a GPU machine (no pytest needed): `probe.analyze` and
`probe.torch.InfoPlane` on CUDA torch tensors, which a CUDA build hands over through DLPack and
copies device to device onto probe's CUDA device, against the same calls on host copies.

Run by .gpu/run.sh (step `python`) with PYTHONPATH at the packed package (.gpu/python). Binned
estimates come from integer counts and must be equal exactly; KDE within float tolerance.
Prints one line per check and exits non-zero on the first failure."""

import math
import sys

import numpy as np
import torch

import probe
import probe.torch


def same(a, b):
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def rows(r, kde):
    t = r.infoplane
    t = t if isinstance(t, dict) else {k: t[k].tolist() for k in t.columns}
    keep = [i for i, e in enumerate(t["estimator"]) if (e == "kde") == kde]
    return {k: [v[i] for i in keep] for k, v in t.items()}


def check(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'} {name} {detail}")
    if not ok:
        sys.exit(1)


def main():
    check("build has CUDA", probe.CUDA, "(probe.CUDA)")
    check("torch sees a GPU", torch.cuda.is_available())
    rng = np.random.default_rng(0)
    est = [probe.Binned(), probe.Floor(0.25), probe.Adaptive(30), probe.Kde(0.1)]
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        t = torch.from_numpy(np.tanh(rng.normal(size=(8192, 24))).astype(np.float32)).to(dtype)
        y = rng.integers(0, 10, size=8192)
        gpu_t = (t.cuda() * 3.0) / 3.0  # queued on torch's stream: the DLPack handshake orders it
        cpu = probe.analyze({"t": t}, y, estimators=est)
        gpu = probe.analyze({"t": gpu_t}, y, estimators=est)
        a, b = rows(cpu, False), rows(gpu, False)
        check(f"analyze {dtype} binned rows equal", all(all(same(x, z) for x, z in zip(a[k], b[k])) for k in a))
        ka, kb = rows(cpu, True), rows(gpu, True)
        err = max(abs(x - z) for x, z in zip(ka["i_xt"] + ka["i_ty"], kb["i_xt"] + kb["i_ty"]))
        check(f"analyze {dtype} kde close", err < 1e-4, f"max |diff| {err:.2e} bits")

    torch.manual_seed(0)
    x = torch.from_numpy(((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.float32))
    y = torch.from_numpy((x.numpy().sum(1) > 6).astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.Tanh(), torch.nn.Linear(10, 2))
    planes = {}
    for dev in ("cpu", "cuda"):
        m = model.to(dev)
        p = probe.torch.InfoPlane(m, ["1"], x.to(dev), y.to(dev), estimators=[probe.Binned()])
        p.measure(0)
        planes[dev] = p.dataframe()
    a, b = planes["cpu"], planes["cuda"]
    a = a if isinstance(a, dict) else a.to_dict("list")
    b = b if isinstance(b, dict) else b.to_dict("list")
    # the same weights on two devices: equal activations up to matmul rounding; binning may move
    # a value at an edge, so compare within a small tolerance rather than exactly
    diff = max(abs(p - q) for p, q in zip(a["i_xt"], b["i_xt"]))
    check("InfoPlane on a CUDA model", diff < 0.05, f"|I(X;T) cpu - cuda| = {diff:.4f} bits")


if __name__ == "__main__":
    main()
