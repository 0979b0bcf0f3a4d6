"""DLPack capsules as activations: the path a CUDA tensor takes in a CUDA build (device to device,
no host copy), exercised here with CPU capsules, which go through the same parsing, checks and
capsule protocol (rename to "used_dltensor", deleter called once). The CUDA test runs only where
probe was built with CUDA and torch sees a GPU, and says so when it skips."""

import numpy as np
import pytest

import probe
from conftest import assert_same_table
from probe import _probe


def _layer(dtype=np.float32, n=512, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return np.tanh(rng.normal(size=(n, d))).astype(dtype), rng.integers(0, 3, size=n)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_capsule_equals_array(dtype):
    t, y = _layer(dtype)
    est = [probe.Binned(), probe.Kde(0.1)]
    by_array = probe.analyze({"t": t}, y, estimators=est)
    by_capsule = probe.analyze({"t": t.__dlpack__()}, y, estimators=est)
    assert_same_table(by_capsule.infoplane, by_array.infoplane)
    assert probe.entropy(t.__dlpack__()) == probe.entropy(t)


def test_torch_bf16_capsule_equals_tensor():
    torch = pytest.importorskip("torch", reason="torch not installed (PROBE_PY_TORCH=1 installs it)")
    t, y = _layer()
    tb = torch.from_numpy(t).to(torch.bfloat16)
    # the tensor itself crosses as int16 bits; the capsule carries DLPack's bfloat16 code
    assert_same_table(probe.analyze({"t": tb.__dlpack__()}, y).infoplane,
                      probe.analyze({"t": tb}, y).infoplane)


def test_capsule_protocol_and_errors():
    t, y = _layer()
    cap = t.__dlpack__()
    probe.analyze({"t": cap}, y)
    # consumed: renamed, so that neither we nor numpy free it twice, and it cannot be read again
    with pytest.raises(ValueError, match="read once"):
        probe.analyze({"t": cap}, y)
    with pytest.raises(ValueError, match="not C-contiguous.*contiguous\\(\\)"):
        probe.analyze({"t": np.asfortranarray(t).__dlpack__()}, y)
    with pytest.raises(TypeError, match="not a float"):
        probe.analyze({"t": (t > 0).astype(np.int32).__dlpack__()}, y)
    with pytest.raises(ValueError, match="0-d"):
        probe.analyze({"t": np.array(1.0, dtype=np.float32).__dlpack__()}, y)
    if not probe.CUDA:
        with pytest.raises(ValueError, match="no CUDA"):
            _probe.cuda_stream(0)


def test_cuda_tensor_stays_on_device_and_equals_cpu():
    torch = pytest.importorskip("torch", reason="torch not installed (PROBE_PY_TORCH=1 installs it)")
    if not (probe.CUDA and torch.cuda.is_available()):
        pytest.skip("SKIPPED: needs probe built with CUDA and a GPU (CPU capsules are tested above)")
    t, y = _layer(n=4096, d=12)
    est = [probe.Binned(), probe.Floor(0.25), probe.Kde(0.1)]
    on_gpu = torch.from_numpy(t).cuda()
    # queue work on torch's stream before handing the tensor over: the stream handshake must
    # order it before probe reads
    on_gpu = (on_gpu * 2.0) / 2.0
    cpu = probe.analyze({"t": t}, y, estimators=est)
    gpu = probe.analyze({"t": on_gpu}, y, estimators=est)
    binned = cpu.infoplane.estimator != "kde"
    # binned estimates come from integer counts: exactly equal
    assert_same_table(gpu.infoplane[binned], cpu.infoplane[binned])
    np.testing.assert_allclose(gpu.infoplane.i_xt, cpu.infoplane.i_xt, rtol=1e-6)
