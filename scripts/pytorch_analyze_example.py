#!/usr/bin/env python3
"""The information plane of a PyTorch model, measured by probe's Python API or by `probe analyze`.

A tiny tanh MLP (12-10-7-5-4-3-2, as in Shwartz-Ziv & Tishby) trains on synthetic 12-bit data. At a few epochs, forward hooks capture every
hidden activation (and the softmax output) on all samples; each epoch's activations go to one
safetensors file, the labels and inputs to two more. `probe analyze` measures I(X;T) and I(T;Y)
(bits) of every layer under two estimators, and pandas reads the results back.

Two routes, the same numbers (bit for bit):

* `--route api` (default): `probe.analyze(acts, y, inputs=x, estimators=[...])` on the captured
  tensors, in memory (`pip install ./crates/probe-py`; for hooks on your own model in your own
  loop, `probe.torch.InfoPlane` does the capture too);
* `--route files`: the file-based route for any framework — safetensors files and the CLI.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch pandas ./crates/probe-py
    /tmp/venv/bin/python scripts/pytorch_analyze_example.py --out /tmp/pytorch-plane

    cargo build --release                      # target/release/probe, for --route files
    /tmp/venv/bin/pip install safetensors
    /tmp/venv/bin/python scripts/pytorch_analyze_example.py --route files --out /tmp/pytorch-plane

What the files must look like (README.md -> probe analyze):

* activations: one tensor per layer, [samples, ...], any float dtype; the optional metadata
  "probe.layers" (a JSON list of names) fixes the row order, "probe.epoch" fills the epoch column;
* labels: one integer tensor of class ids, [samples] (torch.int64 is fine);
* inputs (optional): [samples, ...]; samples with equal inputs count as the same x. Without it,
  every sample is taken to be a distinct input.

Samples must be in the same order in all three files: capture with shuffle off.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import torch
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_probe(given):
    if given:
        return given
    for build in ("release", "debug"):
        path = os.path.join(REPO, "target", build, "probe")
        if os.path.isfile(path):
            return path
    found = shutil.which("probe")
    if found:
        return found
    sys.exit("no probe binary: run `cargo build --release` or pass --probe PATH")


def make_data(seed):
    """All 4096 12-bit patterns, each once (as in the IDNNs set, so the inputs are distinct), with
    a label from a random linear rule and 10% of the labels flipped."""
    g = torch.Generator().manual_seed(seed)
    n = 4096
    x = ((torch.arange(n)[:, None] >> torch.arange(11, -1, -1)) & 1).float()
    w = torch.randn(12, generator=g)
    y = ((x - 0.5) @ w > 0).long()
    flip = torch.rand(n, generator=g) < 0.1
    return x, torch.where(flip, 1 - y, y)


def capture(model, x, batch=1024):
    """Activations of every tanh (layers.{i}.hook_post, as probe names them) and of the softmax
    output, on all of x in order: name -> [samples, width], in forward order.

    The hooks live only for this call, so training passes are never recorded."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    points = [(m, f"layers.{i}.hook_post", None) for i, m in enumerate(
        m for m in model if isinstance(m, nn.Tanh))]
    points.append((linears[-1], f"layers.{len(linears) - 1}.hook_post", lambda t: t.softmax(-1)))

    chunks = {name: [] for _, name, _ in points}

    def recorder(name, transform):
        def hook(_module, _inputs, output):
            out = output.detach()
            if transform is not None:
                out = transform(out)
            # clone(): each captured tensor owns its memory (a later in-place op such as
            # ReLU(inplace=True) would otherwise change it; safetensors refuses shared storage).
            chunks[name].append(out.to("cpu").clone())
        return hook

    handles = [m.register_forward_hook(recorder(name, tr)) for m, name, tr in points]
    try:
        model.eval()
        with torch.no_grad():
            for part in x.split(batch):
                model(part)
    finally:
        for h in handles:
            h.remove()
    return {name: torch.cat(parts).contiguous() for name, parts in chunks.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/pytorch-example", help="output directory")
    ap.add_argument("--probe", help="path of the probe binary (default: target/release/probe)")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--route", choices=["api", "files"], default="api",
                    help="probe.analyze in memory (api) or safetensors files + probe analyze")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.route == "api":
        import probe as probe_api
    else:
        from safetensors.torch import save_file

        probe = find_probe(args.probe)

    torch.manual_seed(0)
    x, y = make_data(seed=0)
    widths = [12, 10, 7, 5, 4, 3, 2]
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.Tanh())
    model = nn.Sequential(*layers)

    if args.route == "files":
        save_file({"labels": y}, os.path.join(args.out, "labels.safetensors"))
        save_file({"inputs": x}, os.path.join(args.out, "inputs.safetensors"))

    opt = torch.optim.Adam(model.parameters(), lr=4e-3)
    loss_fn = nn.CrossEntropyLoss()
    measure_at = sorted({1, 10, 50, args.epochs} & set(range(1, args.epochs + 1)))
    frames = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        for idx in torch.randperm(len(x)).split(256):
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        if epoch not in measure_at:
            continue

        acts = capture(model, x)  # all samples, in their fixed order
        if args.route == "api":
            r = probe_api.analyze(
                acts, y, inputs=x, epoch=epoch,
                estimators=[probe_api.Binned(), probe_api.Kde(0.001)],  # as the flags below
            )
            r.save(os.path.join(args.out, f"analysis-epoch{epoch}"), overwrite=True)
            frames.append(r.infoplane)
            continue
        acts_path = os.path.join(args.out, f"activations-epoch{epoch}.safetensors")
        save_file(
            acts,
            acts_path,
            metadata={"probe.layers": json.dumps(list(acts)), "probe.epoch": str(epoch)},
        )

        out = os.path.join(args.out, f"analysis-epoch{epoch}")
        cmd = [
            probe, "analyze",
            "--activations", acts_path,
            "--labels", os.path.join(args.out, "labels.safetensors"),
            "--inputs", os.path.join(args.out, "inputs.safetensors"),
            "--estimator", "binned",  # IDNNs: 30 edges on [-1, 1]
            "--estimator", "kde", "--sigma2", "0.001",  # Saxe et al.'s value for this net
            "--out", out, "--overwrite", "--quiet",
        ]
        subprocess.run(cmd, check=True)
        frames.append(pd.read_csv(os.path.join(out, "analysis.csv")))

    # One table: epoch, layer, estimator, i_xt, i_ty (bits); the KDE rows also carry the lower
    # bounds and sigma2 (empty, i.e. NaN, for binned rows).
    df = pd.concat(frames, ignore_index=True)
    df.to_csv(os.path.join(args.out, "all_epochs.csv"), index=False)
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(df.pivot_table(index=["estimator", "layer"], columns="epoch", values="i_xt").round(3))
        print(df.pivot_table(index=["estimator", "layer"], columns="epoch", values="i_ty").round(3))
    print(f"plots: {args.out}/analysis-epoch*/analysis*.png; table: {args.out}/all_epochs.csv")


if __name__ == "__main__":
    main()
