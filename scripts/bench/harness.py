"""The side-by-side benchmark harness: probe vs PyTorch (+ numpy), same machine, same run.

Called by scripts/bench/run.sh after the release build; run that instead. Each figure is the median of
BENCH_REPEATS runs (default 3), alternating the two sides. Prints a table of times and ratios
(alternative / probe, so > 1 means probe is faster), checks that both sides did the same work
(similar training loss; identical MI values on the same activations), and writes the table into
BENCHMARKS.md between the markers of the "Harness" section.
"""
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idnns_numpy import idnns_binned_mi  # noqa: E402
from torch_train import find, read_idx  # noqa: E402

PY = sys.executable
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PROBE = os.path.join(TARGET, "release", "probe")
EXAMPLES = os.path.join(TARGET, "release", "examples")
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
THREADS = os.environ.get("BENCH_THREADS", "2")
FASHION = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
MARK_START = "<!-- harness:start -->"
MARK_END = "<!-- harness:end -->"


def run_json(cmd):
    env = dict(os.environ, RAYON_NUM_THREADS=THREADS, OMP_NUM_THREADS=THREADS,
               BENCH_THREADS=THREADS)
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def timed(cmd):
    """Wall seconds of a command whose own output is not needed."""
    import time
    env = dict(os.environ, RAYON_NUM_THREADS=THREADS, OMP_NUM_THREADS=THREADS)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def epoch_bench(model, epochs, rows):
    probe_cmd = [os.path.join(EXAMPLES, "bench_train"), model, str(epochs), FASHION]
    torch_cmd = [PY, "scripts/bench/torch_train.py", model, str(epochs), FASHION]
    p_meds, t_meds, p_loss, t_loss = [], [], None, None
    for _ in range(REPEATS):
        p = run_json(probe_cmd)
        t = run_json(torch_cmd)
        p_meds.append(statistics.median(p["epoch_s"]))
        t_meds.append(statistics.median(t["epoch_s"]))
        p_loss, t_loss = p["last_loss"], t["last_loss"]
    p_s, t_s = statistics.median(p_meds), statistics.median(t_meds)
    check = (f"last-epoch train loss probe {p_loss:.4f}, PyTorch {t_loss:.4f}; "
             f"probe on its {p.get('path', 'candle')} path")
    rows.append((f"{model} training epoch", "PyTorch", p_s, t_s, check))
    return abs(p_loss - t_loss) <= 0.25 * max(p_loss, t_loss) + 0.02


def models_bench(rows, samples=6400):
    """CNN, Transformer and RNN of configs/*_fashion.toml: one timed epoch on the first `samples`
    Fashion-MNIST images (the same models, data, Adam 1e-3, batch 128 on both sides: the example
    crates/probe-train/examples/bench_models.rs and scripts/bench_models.py)."""
    ok = True
    for m in ("cnn", "transformer", "rnn"):
        p_ms, t_ms, p, t = [], [], None, None
        for _ in range(REPEATS):
            p = run_json([os.path.join(EXAMPLES, "bench_models"), m, str(samples), FASHION])
            t = run_json([PY, "scripts/bench_models.py", m, str(samples), THREADS, FASHION])
            p_ms.append(p["epoch_s"])
            t_ms.append(t["epoch_s"])
        same = abs(p["train_loss"] - t["train_loss"]) <= 0.25 * max(p["train_loss"], t["train_loss"]) + 0.05
        ok &= same
        rows.append((f"{m} training epoch ({samples} Fashion-MNIST images)", "PyTorch",
                     statistics.median(p_ms), statistics.median(t_ms),
                     f"train loss probe {p['train_loss']:.4f}, PyTorch {t['train_loss']:.4f}"))
    return ok


def protocol_bench(rows):
    with tempfile.TemporaryDirectory() as tmp:
        p_walls, t_walls = [], []
        t = None
        for i in range(REPEATS):
            out = os.path.join(tmp, f"run{i}")
            p_walls.append(timed([PROBE, "train", "--config", "configs/tishby_tanh.toml", "--quiet",
                                  "--device", "cpu", "--out", out]))
            acts_path = os.path.join(tmp, "acts12.safetensors")
            t = run_json([PY, "scripts/bench/torch_train.py", "tishby_protocol", "8000", "274",
                          acts_path])
            t_walls.append(t["wall_s"])
        with open(os.path.join(tmp, "run0", "metrics.csv")) as f:
            last = f.read().strip().splitlines()[-1].split(",")
        # MI of one measured epoch alone: the last epoch's 6 layers (4096 patterns), both sides
        # on the very same arrays.
        mi = measured_epoch_bench(acts_path)
    p_s, t_s = statistics.median(p_walls), statistics.median(t_walls)
    check = (f"final train loss probe {float(last[1]):.4f}, PyTorch {t['last_loss']:.4f}; "
             f"numpy MI {t['mi_s']:.1f} s of PyTorch's {t['wall_s']:.1f} s")
    rows.append(("12-bit protocol end to end (8000 epochs, 274 MI points, 6 layers)",
                 "PyTorch + numpy", p_s, t_s, check))
    rows.append(mi[0])
    return abs(float(last[1]) - t["last_loss"]) < 0.1 and mi[1]


def measured_epoch_bench(path):
    import time
    from safetensors.numpy import load_file
    p = run_json([os.path.join(EXAMPLES, "bench_binned_file"), path, str(4 * REPEATS + 1)])
    arrays = load_file(path)
    y = arrays["y"]
    layers = [arrays[k] for k in sorted(k for k in arrays if k.startswith("acts"))]
    x_ids = np.arange(len(y))
    times, res = [], None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        res = [idnns_binned_mi(a, x_ids, y) for a in layers]
        times.append(time.perf_counter() - t0)
    same = all(abs(r[0] - a) < 1e-9 and abs(r[1] - b) < 1e-9
               for r, a, b in zip(res, p["i_xt"], p["i_ty"]))
    check = (f"{len(layers)} layers, I(X;T) of the last {res[-1][0]:.6f} bits; "
             f"{'identical to' if same else 'DIFFERENT from'} numpy's")
    row = ("12-bit MI of one measured epoch (6 layers × 4096 patterns)", "numpy (IDNNs)",
           p["median_s"], statistics.median(times), check)
    return row, same


def binned_bench(rows):
    """Binned MI alone on the same arrays: uniform noise and tanh of a random projection of
    Fashion-MNIST images (saturating, with repeated rows)."""
    from safetensors.numpy import save_file
    ok = True
    rng = np.random.default_rng(0)
    images = read_idx(find(FASHION, "train-images-idx3-ubyte")).reshape(60000, -1) / 255.0
    labels = read_idx(find(FASHION, "train-labels-idx1-ubyte")).astype(np.int64)
    w = rng.normal(0, 3.0 / np.sqrt(784), size=(784, 1024))
    with tempfile.TemporaryDirectory() as tmp:
        for n in (10_000, 60_000):
            for kind in ("uniform", "tanh(Wx) Fashion"):
                if kind == "uniform":
                    acts = rng.uniform(-1, 1, size=(n, 1024)).astype(np.float32)
                else:
                    acts = np.tanh(images[:n] @ w).astype(np.float32)
                y = labels[:n].copy()
                path = os.path.join(tmp, "acts.safetensors")
                save_file({"acts": acts, "y": y}, path)
                p = run_json([os.path.join(EXAMPLES, "bench_binned_file"), path, str(2 * REPEATS + 1)])
                import time
                times, res = [], None
                for _ in range(REPEATS):
                    t0 = time.perf_counter()
                    res = idnns_binned_mi(acts, np.arange(n), y)
                    times.append(time.perf_counter() - t0)
                same = abs(res[0] - p["i_xt"][0]) < 1e-9 and abs(res[1] - p["i_ty"][0]) < 1e-9
                ok &= same
                check = (f"I(X;T) {p['i_xt'][0]:.6f}, I(T;Y) {p['i_ty'][0]:.6f} bits; "
                         f"{'identical to' if same else 'DIFFERENT from'} numpy's")
                rows.append((f"binned MI {n}×1024, {kind}", "numpy (IDNNs)", p["median_s"],
                             statistics.median(times), check))
    return ok


def versions():
    import torch
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()}; {rustc}; "
            f"PyTorch {torch.__version__}, numpy {np.__version__}, Python {platform.python_version()}")


def fmt_s(s):
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main():
    rows, checks = [], []
    print(f"benchmark harness: {REPEATS} repeats, {THREADS} threads each side", flush=True)
    checks.append(("12-bit training epoch", epoch_bench("tishby", 200, rows)))
    checks.append(("Saxe MLP training epoch", epoch_bench("saxe_mlp", 2, rows)))
    checks.append(("binned MI", binned_bench(rows)))
    if os.environ.get("BENCH_MODELS", "1") == "1":
        checks.append(("CNN/Transformer/RNN training epoch", models_bench(rows)))
    if os.environ.get("BENCH_PROTOCOL", "1") == "1":
        checks.append(("12-bit protocol", protocol_bench(rows)))
    lines = ["| workload | alternative | probe | alternative | speed-up (alt / probe) | same work? |",
             "|---|---|---:|---:|---:|---|"]
    for name, alt, p_s, t_s, check in rows:
        lines.append(f"| {name} | {alt} | {fmt_s(p_s)} | {fmt_s(t_s)} | {t_s / p_s:.2f}× | {check} |")
    table = "\n".join(lines)
    print(table)
    failed = [name for name, ok in checks if not ok]
    date = datetime.date.today().isoformat()
    block = (f"{MARK_START}\n- Date: {date}\n- Machine: {versions()}\n- Threads: {THREADS} on each side "
             f"(RAYON_NUM_THREADS / torch.set_num_threads)\n- Command: `bash scripts/bench/run.sh` "
             f"(BENCH_REPEATS={REPEATS}; each figure the median of {REPEATS} runs, sides alternating)\n\n"
             f"{table}\n{MARK_END}")
    path = os.path.join(ROOT, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    if MARK_START in text and MARK_END in text:
        text = re.sub(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Harness: probe vs PyTorch and numpy, side by side (CPU)\n\n" + block + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    print(f"wrote the table to {path}")
    if failed:
        raise SystemExit(f"the two sides did not do the same work: {', '.join(failed)}")


if __name__ == "__main__":
    main()
