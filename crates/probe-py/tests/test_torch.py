"""torch tensors as inputs, and probe.torch.InfoPlane on a small MLP. Skipped (with the reason
shown by `pytest -rs`) when torch is not installed: scripts/python_tests.sh installs it only with
PROBE_PY_TORCH=1."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (PROBE_PY_TORCH=1 installs it)")

import probe  # noqa: E402
import probe.torch  # noqa: E402
from conftest import as_columns, assert_same_table, tanh_layers, twelve_bit  # noqa: E402


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_tensors_equal_arrays(dtype):
    x, y = twelve_bit()
    layers = tanh_layers(x)
    t = {k: torch.from_numpy(v).to(dtype) for k, v in layers.items()}
    got = probe.analyze(t, torch.from_numpy(y), inputs=torch.from_numpy(x))
    if dtype == torch.bfloat16:  # numpy has no bfloat16: compare with the f32 values it rounds to
        arrays = {k: v.float().numpy() for k, v in t.items()}
    else:
        arrays = {k: v.numpy() for k, v in t.items()}
    want = probe.analyze(arrays, y, inputs=x)
    assert_same_table(got.infoplane, want.infoplane)


def test_non_contiguous_and_grad_tensors():
    x, y = twelve_bit()
    base = torch.from_numpy(tanh_layers(x)["layers.0.hook_post"]).requires_grad_()
    views = [base[:, ::2], base.t().contiguous().t(), base[:, :1]]
    for v in views:
        got = probe.analyze({"t": v}, torch.from_numpy(y))
        want = probe.analyze({"t": v.detach().contiguous().numpy()}, y)
        assert_same_table(got.infoplane, want.infoplane)


def test_infoplane_on_a_small_mlp(tmp_path):
    torch.manual_seed(0)
    x, y = twelve_bit()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    model = torch.nn.Sequential(
        torch.nn.Linear(12, 10), torch.nn.Tanh(), torch.nn.Linear(10, 5), torch.nn.Tanh(),
        torch.nn.Linear(5, 2),
    )
    plane = probe.torch.InfoPlane(model, ["1", "3"], X, Y,
                                  estimators=[probe.Binned(), probe.Adaptive()], batch_size=1000)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(1, 4):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), Y).backward()
        opt.step()
        r = plane.measure(epoch)
        assert list(as_columns(r.infoplane)["layer"]) == ["1", "1", "3", "3"]
    df = as_columns(plane.dataframe())
    assert df["epoch"] == [1] * 4 + [2] * 4 + [3] * 4
    assert all(0 <= v <= 12 for v in df["i_xt"])
    # the hooks measure what the modules output
    with torch.no_grad():
        h = model[1](model[0](X))
    direct = probe.analyze({"1": h}, Y, inputs=X, estimators=probe.Binned(), epoch=3)
    last = as_columns(plane.results[-1][1].infoplane)
    assert last["i_xt"][0] == as_columns(direct.infoplane)["i_xt"][0]
    plane.plot(tmp_path / "plane.png")
    assert (tmp_path / "plane.png").stat().st_size > 0 and (tmp_path / "plane.svg").exists()
    # globs and filters pick modules too
    assert [n for n, _ in probe.torch.InfoPlane(model, "*", X, Y).modules] == ["0", "1", "2", "3", "4"]
    f = probe.torch.InfoPlane(model, lambda n, m: isinstance(m, torch.nn.Tanh), X, Y)
    assert [n for n, _ in f.modules] == ["1", "3"]
    with pytest.raises(ValueError, match="no module"):
        probe.torch.InfoPlane(model, ["nope"], X, Y)
