"""PyTorch's side of scripts/bench_models.sh: the CNN, Transformer and RNN of
configs/{cnn,transformer,rnn}_fashion.toml written the way a researcher would (nn.Conv2d, nn.GRU,
F.scaled_dot_product_attention, nn.LayerNorm), trained exactly as
`crates/probe-train/examples/bench_models.rs` trains probe's: the first SAMPLES Fashion-MNIST
training images (pixels / 255, rows flattened), Adam 1e-3, batch 128, shuffled each epoch, training
mode, one untimed warm-up epoch and one timed epoch (wall and process CPU time), on the CPU with the
thread count given.

Architectures are the same as probe's (scripts/golden_models.py checks probe's against PyTorch
twins value by value); initialisation is PyTorch's default, which does not change the work done.

Run `bash scripts/setup_python.sh` first, then:

    .venv/bin/python scripts/bench_models.py MODEL [SAMPLES] [THREADS] [DATA_DIR]

MODEL is cnn, transformer or rnn. Prints one JSON object, with the same keys as the Rust example.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
from idx import find, read_idx  # noqa: E402

BATCH = 128
CLASSES = 10
FASHION = "/usr/share/datasets/fashion-mnist"


class Cnn(nn.Module):
    """cnn_fashion: conv 3×3 (pad 1) → ReLU → max pool 2, twice (16, 32 channels), fc 128, fc 10."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1, 16, 3, 1, 1), nn.Conv2d(16, 32, 3, 1, 1)])
        self.fc = nn.ModuleList([nn.Linear(32 * 7 * 7, 128), nn.Linear(128, CLASSES)])

    def forward(self, x):
        x = x.view(-1, 1, 28, 28)
        for conv in self.convs:
            x = F.max_pool2d(torch.relu(conv(x)), 2)
        return self.fc[1](torch.relu(self.fc[0](x.flatten(1))))


class Block(nn.Module):
    def __init__(self, d, heads, d_mlp):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, d_mlp), nn.Linear(d_mlp, d)

    def forward(self, r):
        b, t, d = r.shape
        x = self.ln1(r)
        q, k, v = (f(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for f in (self.q, self.k, self.v))
        z = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        r = r + self.o(z)
        return r + self.fc2(F.gelu(self.fc1(self.ln2(r))))


class Transformer(nn.Module):
    """transformer_fashion: 7×7 patches + CLS, d 64, 4 heads, 2 pre-norm blocks, GELU MLP 128."""

    def __init__(self, d=64, heads=4, layers=2, d_mlp=128, patch=7):
        super().__init__()
        self.p = patch
        t = (28 // patch) ** 2
        self.embed = nn.Linear(patch * patch, d)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, t + 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, d_mlp) for _ in range(layers))
        self.ln_final = nn.LayerNorm(d)
        self.head = nn.Linear(d, CLASSES)

    def forward(self, x):
        b, p = x.shape[0], self.p
        tok = (x.view(b, 1, 28 // p, p, 28 // p, p).permute(0, 2, 4, 1, 3, 5)
               .reshape(b, (28 // p) ** 2, p * p))
        r = torch.cat([self.cls_token.expand(b, -1, -1), self.embed(tok)], 1) + self.pos_embed
        for blk in self.blocks:
            r = blk(r)
        return self.head(self.ln_final(r)[:, 0])


class Rnn(nn.Module):
    """rnn_fashion: a GRU of 128 over the 28 image rows, a linear head on the last hidden state."""

    def __init__(self, hidden=128):
        super().__init__()
        self.rnn = nn.GRU(28, hidden, batch_first=True)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, x):
        out, _ = self.rnn(x.view(-1, 28, 28))
        return self.head(out[:, -1])


def main():
    usage = "usage: bench_models.py cnn|transformer|rnn [SAMPLES] [THREADS] [DATA_DIR]"
    if len(sys.argv) < 2 or sys.argv[1] not in ("cnn", "transformer", "rnn"):
        sys.exit(usage)
    name = sys.argv[1]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 12800
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else os.cpu_count()
    data_dir = sys.argv[4] if len(sys.argv) > 4 else FASHION
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = read_idx(find(data_dir, "train-images-idx3-ubyte"))[:samples]
    y = read_idx(find(data_dir, "train-labels-idx1-ubyte"))[:samples]
    x = torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0)
    y = torch.from_numpy(y.astype(np.int64))
    n = len(y)
    model = {"cnn": Cnn, "transformer": Transformer, "rnn": Rnn}[name]()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)

    def epoch():
        perm = torch.randperm(n)
        total = 0.0
        for s in range(0, n, BATCH):
            idx = perm[s:s + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / n

    epoch()  # warm-up
    cpu0 = time.process_time()
    start = time.perf_counter()
    loss = epoch()
    secs = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    steps = -(-n // BATCH)
    print(json.dumps({"impl": "pytorch", "model": name, "samples": n, "batch": BATCH,
                      "threads": torch.get_num_threads(), "epoch_s": round(secs, 3), "cpu_s": round(cpu, 3),
                      "ms_per_step": round(secs * 1e3 / steps, 2),
                      "samples_per_s": round(n / secs), "train_loss": round(loss, 4),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
