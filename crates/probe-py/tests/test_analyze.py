"""probe.analyze against the CLI's `probe analyze` (bit for bit), ground truths, array layouts
and dtypes."""

import json
import math
import subprocess

import numpy as np
import pytest

import probe
from conftest import as_columns, assert_same_table, read_csv, save_safetensors, tanh_layers, twelve_bit

FLAGS = {
    "binned": ["--estimator", "binned"],
    "binned10": ["--estimator", "binned", "--lo", "-0.5", "--hi", "0.5", "--edges", "10"],
    "floor": ["--estimator", "floor", "--width", "0.25"],
    "adaptive": ["--estimator", "adaptive", "--bins", "12"],
    "kde": ["--estimator", "kde", "--sigma2", "0.01"],
    "knn": ["--estimator", "knn", "--k", "3"],
}
OBJECTS = {
    "binned": probe.Binned(),
    "binned10": probe.Binned(-0.5, 0.5, 10),
    "floor": probe.Floor(0.25),
    "adaptive": probe.Adaptive(12),
    "kde": probe.Kde(0.01),
    "knn": probe.Knn(3),
}


def cli_analyze(probe_bin, tmp_path, layers, labels, inputs=None, kinds=("binned",), epoch=None,
                bf16=(), extra=()):
    """Runs `probe analyze` on files holding these arrays; returns its three tables."""
    meta = {"probe.layers": json.dumps(list(layers))}
    if epoch is not None:
        meta["probe.epoch"] = str(epoch)
    save_safetensors(tmp_path / "acts.safetensors", layers, meta, bf16=bf16)
    save_safetensors(tmp_path / "labels.safetensors", {"labels": labels})
    cmd = [probe_bin, "analyze", "--activations", str(tmp_path / "acts.safetensors"),
           "--labels", str(tmp_path / "labels.safetensors"), "--out", str(tmp_path / "out"),
           "--quiet", *extra]
    if inputs is not None:
        save_safetensors(tmp_path / "inputs.safetensors", {"inputs": inputs})
        cmd += ["--inputs", str(tmp_path / "inputs.safetensors")]
    for k in kinds:
        cmd += FLAGS[k]
    subprocess.run(cmd, check=True, capture_output=True)
    out = tmp_path / "out"
    tables = [read_csv(out / "analysis.csv")]
    for f in ("analysis-flow.csv", "analysis-stats.csv"):
        tables.append(read_csv(out / f) if (out / f).exists() else None)
    return tables


def with_names(kinds):
    """The estimator objects, named as the CLI names them (after their kind)."""
    out = []
    for k in kinds:
        e = OBJECTS[k]
        out.append(type(e)(**e.params, name=e.kind))
    return out


@pytest.mark.parametrize("kinds", [
    ("binned",),
    ("binned10", "floor", "adaptive"),
    ("kde",),
    ("knn",),
])
def test_equals_cli_bit_for_bit(probe_bin, tmp_path, kinds):
    x, y = twelve_bit()
    layers = tanh_layers(x)
    if "kde" in kinds or "knn" in kinds:  # O(n^2): a subset keeps the test quick
        idx = np.random.default_rng(3).choice(len(x), 700, replace=False)
        x, y = x[idx], y[idx]
        layers = {k: v[idx] for k, v in layers.items()}
    want = cli_analyze(probe_bin, tmp_path, layers, y, x, kinds, epoch=7)
    got = probe.analyze(layers, y, inputs=x, estimators=with_names(kinds), epoch=7)
    assert_same_table(got.infoplane, want[0])
    assert_same_table(got.flow, want[1])
    assert_same_table(got.stats, want[2])


def test_equals_cli_without_inputs_flow_or_stats(probe_bin, tmp_path):
    x, y = twelve_bit()
    layers = tanh_layers(x, seed=5)
    want = cli_analyze(probe_bin, tmp_path, layers, y, None, ("floor",),
                       extra=["--no-flow", "--no-stats"])
    got = probe.analyze(layers, y, estimators=probe.Floor(0.25), flow=False, stats=False)
    assert_same_table(got.infoplane, want[0])
    assert got.flow is None and got.stats is None
    assert want[1] is None and want[2] is None


def test_save_writes_the_cli_files(probe_bin, tmp_path):
    x, y = twelve_bit()
    layers = tanh_layers(x)
    want = cli_analyze(probe_bin, tmp_path, layers, y, x, ("binned",))
    r = probe.analyze(layers, y, inputs=x)
    r.save(tmp_path / "py")
    assert (tmp_path / "py" / "analysis.png").exists()
    assert (tmp_path / "py" / "analysis.json").exists()
    assert (tmp_path / "py" / "analysis.csv").read_bytes() == (tmp_path / "out" / "analysis.csv").read_bytes()
    assert_same_table(read_csv(tmp_path / "py" / "analysis-stats.csv"), want[2])
    with pytest.raises(ValueError, match="overwrite"):
        r.save(tmp_path / "py")
    r.save(tmp_path / "py", overwrite=True)


# ---- ground truths -------------------------------------------------------------------------


def test_constant_layer_is_zero_bits():
    x, y = twelve_bit()
    r = probe.analyze({"c": np.full((4096, 5), 0.3, np.float32)}, y, inputs=x)
    assert r.infoplane["i_xt"][0] == 0.0 and r.infoplane["i_ty"][0] == 0.0


def test_identity_on_12_bit_inputs_is_12_bits():
    x, y = twelve_bit()
    r = probe.analyze({"id": x * 0.5}, y, inputs=x, estimators=[probe.Binned(), probe.Floor(0.5)])
    assert list(r.infoplane["i_xt"]) == [12.0, 12.0]
    assert list(r.infoplane["i_ty"]) == [r.h_y, r.h_y]
    assert r.h_x == 12.0
    assert probe.entropy(x * 0.5) == 12.0
    mi = probe.mutual_information(x, y, inputs=x, estimator=probe.Floor(0.5))
    assert (mi.i_xt, mi.i_ty, mi.i_xt_lower) == (12.0, r.h_y, None)


def test_function_of_the_label_gives_h_y():
    x, y = twelve_bit()
    t = np.where(y[:, None] == 1, 0.9, -0.9).astype(np.float32) * np.ones((1, 3), np.float32)
    r = probe.analyze({"t": t}, y, inputs=x)
    p = y.mean()
    h_y = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    assert r.h_y == pytest.approx(h_y, abs=1e-12)
    assert r.infoplane["i_ty"][0] == pytest.approx(h_y, abs=1e-12)
    assert r.infoplane["i_xt"][0] == pytest.approx(h_y, abs=1e-12)


def test_kde_gives_bounds_and_entropy():
    x, y = twelve_bit()
    t = tanh_layers(x[:500])["layers.1.hook_post"]
    mi = probe.mutual_information(t, y[:500], estimator=probe.Kde(0.01))
    assert mi.i_xt_lower is not None and mi.i_xt_lower <= mi.i_xt
    assert 0 < probe.entropy(t, probe.Kde(0.01))


# ---- layouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("view", [
    "fortran", "fortran3d", "column_slice", "first_column", "step", "reversed", "transposed", "broadcast",
])
def test_strided_views_read_as_they_look(view):
    x, y = twelve_bit()
    base = tanh_layers(x)["layers.0.hook_post"]
    a = {
        "fortran": np.asfortranarray(base),
        "fortran3d": np.asfortranarray(base.reshape(4096, 2, 5)),
        "column_slice": base[:, 2:7],
        "first_column": base[:, :1],  # what safetensors' numpy save_file writes wrong
        "step": base[:, ::3],
        "reversed": base[::-1],
        "transposed": np.ascontiguousarray(base.T).T,
        "broadcast": np.broadcast_to(base[:, :1], (4096, 4)),
    }[view]
    assert not a.flags.c_contiguous or view == "first_column"
    yy = y[::-1].copy() if view == "reversed" else y
    xx = x[::-1].copy() if view == "reversed" else x
    got = probe.analyze({"t": a}, yy, inputs=xx)
    want = probe.analyze({"t": np.ascontiguousarray(a)}, yy, inputs=xx)
    assert_same_table(got.infoplane, want.infoplane)
    assert_same_table(got.stats, want.stats)
    # strided labels and inputs too
    got2 = probe.analyze({"t": a}, np.stack([yy, yy], 1)[:, 0], inputs=np.asfortranarray(xx))
    assert_same_table(got2.infoplane, want.infoplane)


def test_borrowed_fortran_and_strided_layers_agree_and_stay_unchanged():
    """C-order float32 layers are read in place (GIL released), others converted once: every
    estimator, the flow and the stats must not see the difference, and the caller's arrays must
    be left exactly as they were (same bits, still writeable)."""
    x, y = twelve_bit()
    idx = np.random.default_rng(4).choice(len(x), 600, replace=False)  # kde/knn are O(n^2)
    x, y = x[idx], y[idx]
    layers = tanh_layers(x)
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in layers.values())
    before = {k: a.copy() for k, a in layers.items()}
    est = [probe.Binned(), probe.Adaptive(8), probe.Kde(0.01), probe.Knn(3)]
    want = probe.analyze(layers, y, inputs=x, estimators=est)

    def readonly(a):
        b = a.copy()
        b.flags.writeable = False
        return b

    variants = {
        "fortran": {k: np.asfortranarray(a) for k, a in layers.items()},
        # every other column of a wider array: a strided view holding the same values
        "strided": {k: np.repeat(a, 2, axis=1)[:, ::2] for k, a in layers.items()},
        "readonly": {k: readonly(a) for k, a in layers.items()},
        # one array lent twice at once (two read borrows of the same buffer)
        "shared": {**layers, "again": layers["layers.3.hook_post"]},
    }
    for name, v in variants.items():
        got = probe.analyze(v, y, inputs=x, estimators=est)
        if name == "shared":  # the same rows, then those of the extra layer
            g, w = as_columns(got.infoplane), as_columns(want.infoplane)
            assert_same_table({c: g[c][: len(w[c])] for c in w}, w)
            continue
        assert_same_table(got.infoplane, want.infoplane)
        assert_same_table(got.flow, want.flow)
        assert_same_table(got.stats, want.stats)
    for k, a in layers.items():
        assert a.flags.writeable and a.flags.c_contiguous
        assert np.array_equal(a.view(np.uint32), before[k].view(np.uint32)), k
    t = layers["layers.1.hook_post"]
    tf = np.asfortranarray(t)
    assert probe.entropy(t) == probe.entropy(tf) == probe.entropy(t.astype(np.float64))
    assert probe.entropy(t, probe.Kde(0.01)) == probe.entropy(tf, probe.Kde(0.01))
    assert probe.mutual_information(t, y, x) == probe.mutual_information(tf[:, ::1], y, x)
    assert np.array_equal(t.view(np.uint32), before["layers.1.hook_post"].view(np.uint32))


# ---- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_every_activation_dtype_equals_cli(probe_bin, tmp_path, dtype):
    x, y = twelve_bit()
    layers = tanh_layers(x)
    bf16 = ()
    if dtype == "bfloat16":
        # round to nearest even into the top 16 bits of the f32 pattern
        def to_bf16(a):
            b = a.view(np.uint32).astype(np.uint64)
            b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
            return b.astype(np.uint16)
        arrays = {k: to_bf16(v) for k, v in layers.items()}
        bf16 = tuple(arrays)
    else:
        arrays = {k: v.astype(dtype) for k, v in layers.items()}
    want = cli_analyze(probe_bin, tmp_path, arrays, y, x, ("binned", "floor"), bf16=bf16)
    est = [probe.Binned(), probe.Floor(0.25)]
    if dtype == "bfloat16":
        # what probe does with a torch bfloat16 tensor: its bits as int16 with a flag
        layers_native = [(k, v.view(np.int16), True) for k, v in arrays.items()]
        native = probe._probe.analyze(layers_native, y, (x, False), est)
        got = probe.Analysis(native)
    else:
        got = probe.analyze(arrays, y, inputs=x, estimators=est)
    assert_same_table(got.infoplane, want[0])
    assert_same_table(got.flow, want[1])
    assert_same_table(got.stats, want[2])


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                   "uint64", "bool"])
def test_every_label_and_input_dtype(dtype):
    x, y = twelve_bit()
    t = tanh_layers(x)["layers.0.hook_post"]
    want = probe.analyze({"t": t}, y, inputs=x)
    got = probe.analyze({"t": t}, y.astype(dtype), inputs=x.astype(dtype))
    assert_same_table(got.infoplane, want.infoplane)
    got = probe.analyze({"t": t}, y.reshape(-1, 1).astype(dtype), inputs=x.astype("float16"))
    assert_same_table(got.infoplane, want.infoplane)


def test_big_endian_arrays():
    x, y = twelve_bit()
    t = tanh_layers(x)["layers.0.hook_post"]
    want = probe.analyze({"t": t}, y, inputs=x)
    got = probe.analyze({"t": t.astype(">f4")}, y.astype(">i8"), inputs=x.astype(">f8"))
    assert_same_table(got.infoplane, want.infoplane)


def test_lists_and_pairs_are_accepted():
    x, y = twelve_bit()
    t = tanh_layers(x)["layers.0.hook_post"][:64]
    want = probe.analyze({"t": t}, y[:64])
    got = probe.analyze([("t", t.tolist())], y[:64].tolist())
    assert_same_table(got.infoplane, want.infoplane)
