"""PyTorch's side of the training benchmarks in scripts/bench/run.sh: the same models, data, batch
sizes, optimisers and thread count as `crates/probe-train/examples/bench_train.rs`, written the way
a researcher would (nn.Sequential, DataLoader-free index batches on resident tensors, which is the
fastest plain-PyTorch loop for data this small).

Run `bash scripts/setup_python.sh` first, then:

    .venv/bin/python scripts/bench/torch_train.py MODEL EPOCHS [DATA_DIR]
    .venv/bin/python scripts/bench/torch_train.py tishby_protocol EPOCHS POINTS

MODEL `tishby` or `saxe_mlp` prints one JSON object with per-epoch wall seconds after one untimed
warm-up epoch, and the last epoch's mean training loss. `tishby_protocol` is the whole 12-bit
experiment the way the published code runs it: train for EPOCHS, and at POINTS log-spaced epochs
(probe's schedule) compute every layer's activations on all 4096 patterns and the IDNNs binned
I(X;T), I(T;Y) with numpy (30 edges on [-1, 1]); it prints the wall time and the last MI values.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idnns_numpy import idnns_binned_mi  # noqa: E402
from idx import find, read_idx  # noqa: E402
from tishby12 import tishby12  # noqa: E402


def mlp(widths, act, truncated):
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        lin = nn.Linear(a, b)
        if truncated:
            std = 1.0 / math.sqrt(a)
            nn.init.trunc_normal_(lin.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def setup(model_name, data_dir):
    if model_name.startswith("tishby"):
        x, y = tishby12()
        n_train = round(0.8 * len(y))
        net = mlp([12, 10, 7, 5, 4, 3, 2], nn.Tanh, truncated=True)
        opt = torch.optim.Adam(net.parameters(), lr=4e-4)
        return net, opt, torch.from_numpy(x[:n_train]), torch.from_numpy(y[:n_train]), 512, (x, y)
    if model_name == "saxe_mlp":
        images = read_idx(find(data_dir, "train-images-idx3-ubyte"))
        labels = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
        x = torch.from_numpy(images.reshape(len(labels), -1).astype(np.float32) / 255.0)
        y = torch.from_numpy(labels.astype(np.int64))
        net = mlp([784, 1024, 20, 20, 20, 10], nn.ReLU, truncated=False)
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        return net, opt, x, y, 128, None
    raise SystemExit(f"unknown model {model_name!r}")


def epoch(net, opt, x, y, batch, gen):
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(y), generator=gen)
    total = 0.0
    for start in range(0, len(y), batch):
        idx = order[start:start + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(y)


def log_spaced(n, total):
    """probe's LogSpaced(n) schedule (crates/probe-capture/src/schedule.rs)."""
    out = []
    for i in range(n):
        target = int(math.floor(math.exp(math.log(total) * i / (n - 1)) + 0.5))
        lo = out[-1] + 1 if out else 1
        hi = total - (n - 1 - i)
        out.append(min(max(target, lo), hi))
    return out


def protocol(epochs, points, acts_path=None):
    net, opt, x, y, batch, (x_all, y_all) = setup("tishby_protocol", None)
    gen = torch.Generator().manual_seed(0)
    measure = set(log_spaced(points, epochs))
    x_all_t = torch.from_numpy(x_all)
    x_ids = np.arange(len(y_all))  # the 4096 patterns are distinct
    # Like `probe train`, evaluate the test split (the last 20%) after every epoch.
    n_train = len(y)
    x_test, y_test = x_all_t[n_train:], torch.from_numpy(y_all[n_train:])
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    mi_time = 0.0
    last = None
    for e in range(1, epochs + 1):
        loss = epoch(net, opt, x, y, batch, gen)
        with torch.no_grad():
            logits = net(x_test)
            test_loss = loss_fn(logits, y_test).item()
            test_acc = (logits.argmax(1) == y_test).float().mean().item()
        if e in measure:
            m0 = time.perf_counter()
            with torch.no_grad():
                h = x_all_t
                acts = []
                for layer in net:
                    h = layer(h)
                    if not isinstance(layer, nn.Linear):
                        acts.append(h.numpy())
                acts.append(torch.softmax(h, dim=1).numpy())
            last = [idnns_binned_mi(a, x_ids, y_all) for a in acts]
            mi_time += time.perf_counter() - m0
    wall = time.perf_counter() - t0
    if acts_path:  # the last measured epoch's layers, for timing the MI alone on both sides
        from safetensors.numpy import save_file
        tensors = {f"acts{i}": np.ascontiguousarray(a, dtype=np.float32) for i, a in enumerate(acts)}
        tensors["y"] = np.asarray(y_all, dtype=np.int64)
        save_file(tensors, acts_path)
    print(json.dumps({"side": "pytorch+numpy", "model": "tishby_protocol", "epochs": epochs,
                      "points": points, "wall_s": wall, "mi_s": mi_time, "last_loss": loss,
                      "test_loss": test_loss, "test_acc": test_acc,
                      "last_mi": last}))


def main():
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    torch.manual_seed(0)
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    model_name, epochs = sys.argv[1], int(sys.argv[2])
    if model_name == "tishby_protocol":
        protocol(epochs, int(sys.argv[3]) if len(sys.argv) > 3 else 274,
                 sys.argv[4] if len(sys.argv) > 4 else None)
        return
    data_dir = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/datasets/fashion-mnist"
    net, opt, x, y, batch, _ = setup(model_name, data_dir)
    gen = torch.Generator().manual_seed(0)
    epoch(net, opt, x, y, batch, gen)  # warm-up
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        loss = epoch(net, opt, x, y, batch, gen)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"side": "pytorch", "model": model_name, "samples": len(y), "batch": batch,
                      "epoch_s": times, "last_loss": loss}))


if __name__ == "__main__":
    main()
