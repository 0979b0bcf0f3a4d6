"""Bad inputs raise Python exceptions with probe's messages; nothing crashes the interpreter;
two threads may analyze at once (the GIL is released)."""

import threading
import time

import numpy as np
import pytest

import probe
from conftest import assert_same_table, tanh_layers, twelve_bit


def layer(n=100, d=3, seed=0):
    return np.tanh(np.random.default_rng(seed).standard_normal((n, d))).astype(np.float32)


def test_length_mismatch():
    with pytest.raises(ValueError, match="99 labels but the layers have 100 samples"):
        probe.analyze({"a": layer()}, np.zeros(99, np.int64))
    with pytest.raises(ValueError, match="samples"):
        probe.analyze({"a": layer(), "b": layer(90)}, np.zeros(100, np.int64))
    with pytest.raises(ValueError, match="inputs"):
        probe.analyze({"a": layer()}, np.zeros(100, np.int64), inputs=np.zeros((50, 2)))


def test_nan_with_kde():
    t = layer()
    t[3, 1] = np.nan
    with pytest.raises(ValueError, match="kde"):
        probe.analyze({"a": t}, np.zeros(100, np.int64), estimators=probe.Kde(0.1))
    # the binned estimators give NaN a bin of its own
    probe.analyze({"a": t}, np.zeros(100, np.int64))


def test_wrong_dtypes():
    y = np.zeros(100, np.int64)
    with pytest.raises(TypeError, match="activations"):
        probe.analyze({"a": layer().astype(np.int32)}, y)
    with pytest.raises(TypeError, match="labels must be integer class ids"):
        probe.analyze({"a": layer()}, y.astype(np.float32))
    with pytest.raises(TypeError, match="dtype"):
        probe.analyze({"a": layer().astype(np.complex64)}, y)
    with pytest.raises(TypeError):
        probe.analyze({"a": np.array(["x"] * 100)}, y)
    with pytest.raises(TypeError, match="mapping"):
        probe.analyze(42, y)
    with pytest.raises(TypeError, match="estimator"):
        probe.analyze({"a": layer()}, y, estimators=[3.5])


def test_empty_and_scalar():
    y = np.zeros(100, np.int64)
    with pytest.raises(ValueError, match="no layers"):
        probe.analyze({}, y)
    with pytest.raises(ValueError, match="scalar"):
        probe.analyze({"a": np.float32(1.0)}, y)
    with pytest.raises(ValueError):
        probe.analyze({"a": np.zeros((0, 3), np.float32)}, np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="shape"):
        probe.analyze({"a": layer()}, np.zeros((100, 2), np.int64))
    with pytest.raises(ValueError, match="scalar"):
        probe.entropy(np.float32(2.0))


def test_bad_labels_and_estimators():
    with pytest.raises(ValueError, match="negative"):
        probe.analyze({"a": layer()}, -np.ones(100, np.int64))
    with pytest.raises(ValueError, match="Floor"):
        probe.Floor(-1.0)
    with pytest.raises(ValueError, match=r"Kde\(sigma2\)"):
        probe.Kde(0.0)
    with pytest.raises(ValueError, match=r"Knn\(k\)"):
        probe.Knn(0)
    with pytest.raises(ValueError, match="Binned"):
        probe.Binned(lo=1.0, hi=-1.0)
    with pytest.raises(ValueError, match="hist"):
        probe.analyze({"a": layer()}, np.zeros(100, np.int64), estimators="hist")
    with pytest.raises(ValueError, match="inputs"):
        probe.analyze({"a": layer()}, np.zeros(100, np.int64), estimators=probe.Knn())
    with pytest.raises(ValueError, match="named"):
        probe.analyze({"a": layer()}, np.zeros(100, np.int64), estimators=[probe.Binned(), probe.Binned(edges=5)])
    with pytest.raises(ValueError, match="saturation"):
        probe.analyze({"a": layer()}, np.zeros(100, np.int64), saturation=-1.0)
    with pytest.raises(ValueError, match="knn"):
        probe.entropy(layer(), probe.Knn())


def test_estimator_objects():
    assert repr(probe.Binned()) == "Binned(lo=-1.0, hi=1.0, edges=30)"
    assert repr(probe.Floor(0.5, name="f")) == "Floor(width=0.5, name=\"f\")"
    assert probe.Kde(0.1) == probe.Kde(0.1) and probe.Kde(0.1) != probe.Kde(0.2)
    assert probe.Adaptive().params == {"bins": 30}
    assert probe.Knn().kind == "knn" and isinstance(probe.Knn(), probe.Estimator)
    assert len({probe.Binned(), probe.Binned()}) == 1


def test_two_threads_at_once():
    x, y = twelve_bit()
    big = {k: np.tile(v, (8, 1)) for k, v in tanh_layers(x).items()}
    yy, xx = np.tile(y, 8), np.tile(x, (8, 1))
    est = [probe.Binned(), probe.Adaptive()]
    want = probe.analyze(big, yy, inputs=xx, estimators=est)
    results, errors = [None, None], []

    def work(i):
        try:
            results[i] = probe.analyze(big, yy, inputs=xx, estimators=est)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    # the GIL is released: this thread keeps running while they measure
    ticks = 0
    while any(t.is_alive() for t in threads):
        ticks += 1
        time.sleep(0.001)
    for t in threads:
        t.join()
    assert not errors
    assert ticks > 5
    for r in results:
        assert_same_table(r.infoplane, want.infoplane)
        assert_same_table(r.flow, want.flow)
        assert_same_table(r.stats, want.stats)


def test_kde_note_is_a_warning():
    x, y = twelve_bit()
    t = tanh_layers(x[:300])["layers.0.hook_post"]
    xx = np.zeros_like(x[:300])
    with pytest.warns(probe.ProbeWarning, match="distinct"):
        probe.analyze({"t": t}, y[:300], inputs=xx, estimators=probe.Kde(0.1))
