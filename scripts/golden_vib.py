#!/usr/bin/env python3
"""Golden fixture for probe's VIB (probe_train::vib), computed by PyTorch.

Run from the repository root with numpy and torch (CPU), e.g.:

    /work/main/.venv-py/bin/python scripts/golden_vib.py      (or .venv/bin/python)

It builds the PyTorch twin of probe's `Vib` (same parameter names as its `named_vars`): an encoder
MLP `input -> hidden... -> 2K` (tanh), mu = the first K outputs, sigma = softplus(rho - 5) of the
last K, z = mu + sigma * eps with a fixed eps, a linear decoder to logits. It draws weights with a
fixed torch seed (the head's rho biases are shifted so sigma covers softplus's series branch,
rho - 5 < -4, and its direct branch), and writes
`crates/probe-train/tests/fixtures/golden_vib.safetensors` holding:

* the weights (`encoder.{i}.weight` [out, in], `encoder.{i}.bias`, `head.*`, `decoder.*`),
* `input.x` [B, in] f32, `input.y` [B] i64, `input.eps` [B, K] f32, `input.beta` [1] f32,
* `out.mu`, `out.sigma` [B, K], `out.logits` [B, classes] (decoder of the sampled z),
* `out.ce`, `out.kl`, `out.loss` [1]: batch-mean cross-entropy of the sampled logits, batch-mean
  KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum(mu^2 + sigma^2 - 1 - ln sigma^2), and ce + beta * kl,
  all nats, computed in float64 from the float32 tensors (the reference values),
* `out.izx_bits` [1]: the I(Z;X) upper bound, mean KL / ln 2; `out.h_y` [1]: the labels' empirical
  entropy, nats; `out.izy_bits` [1]: the one-sample I(Z;Y) lower bound (H(Y) - ce) / ln 2,
* `grad.{name}`: d loss / d parameter (torch autograd in float32).

The file is written with the safetensors layout by hand (8-byte header length, JSON header, raw
little-endian data), so only numpy and torch are needed. Size: a few kB.
"""

import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "probe-train", "tests", "fixtures",
                   "golden_vib.safetensors")
SPEC = {"input_dim": 6, "hidden": [5, 4], "k": 3, "classes": 4, "activation": "tanh"}
BATCH = 8
BETA = 0.3


def save_safetensors(path, tensors, metadata):
    dtypes = {np.float32: "F32", np.int64: "I64"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy())
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def main():
    torch.manual_seed(21)
    k, dims = SPEC["k"], [SPEC["input_dim"], *SPEC["hidden"]]
    params = {}
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        params[f"encoder.{i}.weight"] = torch.randn(b, a) / math.sqrt(a)
        params[f"encoder.{i}.bias"] = 0.1 * torch.randn(b)
    params["head.weight"] = torch.randn(2 * k, dims[-1]) / math.sqrt(dims[-1])
    # rho biases: -6 (rho - 5 = -11, series branch of softplus), 3 and 7 (direct branch).
    params["head.bias"] = torch.cat([0.3 * torch.randn(k), torch.tensor([-6.0, 3.0, 7.0])])
    params["decoder.weight"] = torch.randn(SPEC["classes"], k) / math.sqrt(k)
    params["decoder.bias"] = 0.1 * torch.randn(SPEC["classes"])
    for p in params.values():
        p.requires_grad_(True)

    x = torch.rand(BATCH, SPEC["input_dim"]) * 2 - 1
    y = torch.randint(0, SPEC["classes"], (BATCH,))
    eps = torch.randn(BATCH, k)

    h = x
    for i in range(len(SPEC["hidden"])):
        h = torch.tanh(F.linear(h, params[f"encoder.{i}.weight"], params[f"encoder.{i}.bias"]))
    out = F.linear(h, params["head.weight"], params["head.bias"])
    mu, sigma = out[:, :k], F.softplus(out[:, k:] - 5.0)
    logits = F.linear(mu + sigma * eps, params["decoder.weight"], params["decoder.bias"])
    ce = F.cross_entropy(logits, y)
    kl = (0.5 * (mu**2 + sigma**2 - 1.0 - torch.log(sigma**2)).sum(1)).mean()
    (ce + BETA * kl).backward()

    # The reference numbers in float64 from the float32 encoder outputs and logits.
    mu64, s64, lg64 = (t.detach().double() for t in (mu, sigma, logits))
    ce64 = F.cross_entropy(lg64, y).item()
    kl64 = (0.5 * (mu64**2 + s64**2 - 1.0 - torch.log(s64**2)).sum(1)).mean().item()
    counts = torch.bincount(y).double()
    p = counts[counts > 0] / BATCH
    h_y = -(p * p.log()).sum().item()
    scalar = lambda v: torch.tensor([v], dtype=torch.float64).float()  # noqa: E731

    tensors = {name: p.detach() for name, p in params.items()}
    tensors.update({
        "input.x": x, "input.y": y.to(torch.int64), "input.eps": eps, "input.beta": scalar(BETA),
        "out.mu": mu, "out.sigma": sigma, "out.logits": logits,
        "out.ce": scalar(ce64), "out.kl": scalar(kl64), "out.loss": scalar(ce64 + BETA * kl64),
        "out.izx_bits": scalar(kl64 / math.log(2)), "out.h_y": scalar(h_y),
        "out.izy_bits": scalar((h_y - ce64) / math.log(2)),
    })
    tensors.update({f"grad.{n}": p.grad for n, p in params.items()})
    save_safetensors(OUT, tensors, {"spec": json.dumps(SPEC), "torch": torch.__version__})
    print(f"{OUT}: {len(tensors)} tensors, ce {ce64:.6f}, kl {kl64:.6f}, sigma {sigma.min().item():.3g}..")


if __name__ == "__main__":
    main()
