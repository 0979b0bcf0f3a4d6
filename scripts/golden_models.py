#!/usr/bin/env python3
"""Golden fixtures for probe's CNN, Transformer and RNN models, computed by PyTorch.

Run `bash scripts/setup_python.sh` first, then, from the repository root:

    .venv/bin/python scripts/golden_models.py

For each small model below it builds the PyTorch twin of probe's model (same module and parameter
names as probe's `named_vars`, so `state_dict()` loads into probe by name), draws its weights with
a fixed torch seed, runs one batch in training mode, and writes
`crates/probe-train/tests/fixtures/golden_{name}.safetensors` holding:

* the state_dict (weights, and batch norm's running statistics *before* the batch),
* `input.x` [B, C*H*W] (f32, rows flattened as probe feeds them) and `input.y` [B] (i64),
* `out.logits` [B, classes] (training mode) and `out.loss` [1] (mean cross-entropy, nats),
* `grad.{name}` for every trainable parameter (d loss / d parameter),
* `after.{name}` for batch norm's running statistics after the training-mode batch,
* `out.eval_logits` [B, classes]: the same batch in evaluation mode after that update,
* `hook.{name}`: a few hook points probe reports (TransformerLens names), computed here from the
  definitions in probe's docs (attention patterns explicitly as softmax(q kᵀ / √dh), while the
  forward itself uses `F.scaled_dot_product_attention`).

The metadata key `spec` holds the architecture as JSON; the Rust test
(`crates/probe-train/tests/model_golden.rs`) builds the same spec and checks it against this.
Everything is float32 on the CPU, as probe computes. Total size: a few tens of kB.
"""

import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "probe-train", "tests", "fixtures")
BATCH = 6
CLASSES = 5


class Cnn(nn.Module):
    """probe's Cnn: blocks conv -> [bn] -> act -> [pool], then fully connected layers."""

    def __init__(self, s):
        super().__init__()
        self.s = s
        c = s["image"][0]
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList() if s["batch_norm"] else None
        h, w = s["image"][1], s["image"][2]
        for b in s["convs"]:
            self.convs.append(nn.Conv2d(c, b["channels"], b["kernel"], b["stride"], b["padding"],
                                        bias=not s["batch_norm"]))
            if s["batch_norm"]:
                self.bns.append(nn.BatchNorm2d(b["channels"]))
            c = b["channels"]
            h = (h + 2 * b["padding"] - b["kernel"]) // b["stride"] + 1
            w = (w + 2 * b["padding"] - b["kernel"]) // b["stride"] + 1
            h, w = h // b["pool"], w // b["pool"]
        widths = [c * h * w] + s["fc"] + [CLASSES]
        self.fc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.act = {"relu": torch.relu, "tanh": torch.tanh}[s["activation"]]
        self.pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[s["pool_type"]]

    def forward(self, x, hooks):
        x = x.view(x.shape[0], *self.s["image"])
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.bns is not None:
                x = self.bns[i](x)
            hooks[f"convs.{i}.hook_pre"] = x
            x = self.act(x)
            if self.s["convs"][i]["pool"] > 1:
                x = self.pool(x, self.s["convs"][i]["pool"])
            hooks[f"convs.{i}.hook_post"] = x
        x = x.flatten(1)
        for j, layer in enumerate(self.fc):
            x = layer(x)
            if j + 1 < len(self.fc):
                x = self.act(x)
                hooks[f"fc.{j}.hook_post"] = x
        return x


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, hooks, prefix):
        b, t, d = x.shape
        h, dh = self.heads, d // self.heads
        q = self.q(x).view(b, t, h, dh)
        k = self.k(x).view(b, t, h, dh)
        v = self.v(x).view(b, t, h, dh)
        # The hook's definition, computed on its own: softmax over keys of q·kᵀ/√dh, [B, H, Tq, Tk].
        hooks[f"{prefix}.hook_pattern"] = torch.softmax(
            q.transpose(1, 2) @ k.transpose(1, 2).transpose(2, 3) / math.sqrt(dh), dim=-1)
        z = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        z = z.transpose(1, 2)  # [B, T, H, dh]
        hooks[f"{prefix}.hook_z"] = z
        return self.o(z.reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, d, d_mlp):
        super().__init__()
        self.fc1 = nn.Linear(d, d_mlp)
        self.fc2 = nn.Linear(d_mlp, d)


class Block(nn.Module):
    def __init__(self, d, heads, d_mlp):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = Mlp(d, d_mlp)


class Transformer(nn.Module):
    """probe's Transformer: ViT-style, pre-norm blocks, GELU (erf) MLP, CLS or mean pooling."""

    def __init__(self, s):
        super().__init__()
        self.s = s
        c, h, w = s["image"]
        if s["tokens"] == "rows":
            t, tok = h, c * w
        else:
            p = s["patch"]
            t, tok = (h // p) * (w // p), c * p * p
        d = s["d_model"]
        self.embed = nn.Linear(tok, d)
        if s["pooling"] == "cls":
            self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.5)
            t += 1
        self.pos_embed = nn.Parameter(torch.randn(1, t, d) * 0.5)
        self.blocks = nn.ModuleList(Block(d, s["heads"], s["d_mlp"]) for _ in range(s["layers"]))
        self.ln_final = nn.LayerNorm(d)
        self.head = nn.Linear(d, CLASSES)
        with torch.no_grad():  # non-trivial layer-norm affine parameters
            for m in self.modules():
                if isinstance(m, nn.LayerNorm):
                    m.weight.add_(torch.randn_like(m.weight) * 0.3)
                    m.bias.add_(torch.randn_like(m.bias) * 0.3)

    def tokenize(self, x):
        c, h, w = self.s["image"]
        b = x.shape[0]
        img = x.view(b, c, h, w)
        if self.s["tokens"] == "rows":
            return img.permute(0, 2, 1, 3).reshape(b, h, c * w)
        p = self.s["patch"]
        return (img.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
                .reshape(b, (h // p) * (w // p), c * p * p))

    def forward(self, x, hooks):
        e = self.embed(self.tokenize(x))
        hooks["hook_embed"] = e
        if self.s["pooling"] == "cls":
            e = torch.cat([self.cls_token.expand(e.shape[0], -1, -1), e], dim=1)
        r = e + self.pos_embed
        for l, blk in enumerate(self.blocks):
            r = r + blk.attn(blk.ln1(r), hooks, f"blocks.{l}.attn")
            hooks[f"blocks.{l}.hook_resid_mid"] = r
            post = F.gelu(blk.mlp.fc1(blk.ln2(r)))
            hooks[f"blocks.{l}.mlp.hook_post"] = post
            r = r + blk.mlp.fc2(post)
            hooks[f"blocks.{l}.hook_resid_post"] = r
        n = self.ln_final(r)
        pooled = n[:, 0] if self.s["pooling"] == "cls" else n.mean(1)
        hooks["hook_pooled"] = pooled
        return self.head(pooled)


class Rnn(nn.Module):
    """probe's Rnn: nn.LSTM / nn.GRU over image rows, a linear head on the last hidden state."""

    def __init__(self, s):
        super().__init__()
        self.s = s
        c, h, w = s["image"]
        cls = {"lstm": nn.LSTM, "gru": nn.GRU}[s["cell"]]
        self.rnn = cls(c * w, s["hidden"], num_layers=s["layers"], batch_first=True)
        self.head = nn.Linear(s["hidden"], CLASSES)

    def forward(self, x, hooks):
        c, h, w = self.s["image"]
        b = x.shape[0]
        seq = x.view(b, c, h, w).permute(0, 2, 1, 3).reshape(b, h, c * w)
        out, state = self.rnn(seq)
        last = self.s["layers"] - 1
        for t in range(h):
            hooks[f"rnn.{last}.steps.{t}.hook_h"] = out[:, t]
        hn = state[0] if self.s["cell"] == "lstm" else state
        for l in range(self.s["layers"]):
            hooks[f"rnn.{l}.hook_h_n"] = hn[l]
            if self.s["cell"] == "lstm":
                hooks[f"rnn.{l}.hook_c_n"] = state[1][l]
        return self.head(out[:, -1])


SPECS = {
    # 9×10 (non-square, to catch H/W swaps); BN + ReLU + max pool; 4×5 → 2×2 maps.
    "cnn_bn": (Cnn, {"image": [1, 9, 10], "batch_norm": True, "activation": "relu",
                     "pool_type": "max", "fc": [8],
                     "convs": [{"channels": 4, "kernel": 3, "stride": 1, "padding": 1, "pool": 2},
                               {"channels": 6, "kernel": 3, "stride": 1, "padding": 1, "pool": 2}]}),
    # Two input channels, no BN (conv biases), tanh, average pooling, stride 2, even kernel.
    "cnn_tanh": (Cnn, {"image": [2, 8, 7], "batch_norm": False, "activation": "tanh",
                       "pool_type": "avg", "fc": [],
                       "convs": [{"channels": 3, "kernel": 2, "stride": 2, "padding": 0, "pool": 1},
                                 {"channels": 5, "kernel": 3, "stride": 1, "padding": 1, "pool": 2}]}),
    "vit_cls": (Transformer, {"image": [1, 8, 8], "tokens": "patch", "patch": 4, "d_model": 8,
                              "heads": 2, "layers": 2, "d_mlp": 16, "pooling": "cls"}),
    "rows_mean": (Transformer, {"image": [1, 6, 8], "tokens": "rows", "d_model": 8, "heads": 4,
                                "layers": 1, "d_mlp": 12, "pooling": "mean"}),
    "lstm": (Rnn, {"image": [1, 5, 4], "cell": "lstm", "hidden": 6, "layers": 2}),
    "gru": (Rnn, {"image": [1, 5, 4], "cell": "gru", "hidden": 6, "layers": 1}),
}

# Hooks saved per fixture (a few per model keep the files small).
HOOKS = {
    "cnn_bn": ["convs.0.hook_pre", "convs.1.hook_post", "fc.0.hook_post"],
    "cnn_tanh": ["convs.0.hook_post", "convs.1.hook_pre"],
    "vit_cls": ["hook_embed", "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_z",
                "blocks.1.mlp.hook_post", "blocks.1.hook_resid_mid", "hook_pooled"],
    "rows_mean": ["blocks.0.attn.hook_pattern", "blocks.0.hook_resid_post", "hook_pooled"],
    "lstm": ["rnn.1.steps.2.hook_h", "rnn.0.hook_h_n", "rnn.1.hook_c_n"],
    "gru": ["rnn.0.steps.0.hook_h", "rnn.0.hook_h_n"],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, (name, (cls, spec)) in enumerate(SPECS.items()):
        torch.manual_seed(100 + i)
        model = cls(spec)
        c, h, w = spec["image"]
        x = torch.rand(BATCH, c * h * w)
        y = torch.randint(0, CLASSES, (BATCH,))
        state = {k: v.detach().clone() for k, v in model.state_dict().items()
                 if not k.endswith("num_batches_tracked")}
        model.train()
        hooks = {}
        logits = model(x, hooks)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        out = dict(state)
        out["input.x"] = x
        out["input.y"] = y.to(torch.int64)
        out["out.logits"] = logits.detach()
        out["out.loss"] = loss.detach().reshape(1)
        for k, p in model.named_parameters():
            out[f"grad.{k}"] = p.grad.detach().clone()
        for k, v in model.state_dict().items():
            if "running_" in k:
                out[f"after.{k}"] = v.detach().clone()
        for k in HOOKS[name]:
            out[f"hook.{k}"] = hooks[k].detach().contiguous()
        model.eval()
        with torch.no_grad():
            out["out.eval_logits"] = model(x, {})
        out = {k: v.contiguous() for k, v in out.items()}
        path = os.path.join(OUT, f"golden_{name}.safetensors")
        save_file(out, path, metadata={"spec": json.dumps(spec), "torch": torch.__version__})
        print(f"{path}: {len(out)} tensors, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
