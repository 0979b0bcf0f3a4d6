"""probe: information-plane measurements in bits — I(X;T) and I(T;Y) per layer — on numpy arrays,
torch tensors and PyTorch models, with the estimators of the ``probe`` command line (the numbers
equal ``probe analyze`` bit for bit), and probe's own trainer, in-process.

>>> import numpy as np, probe
>>> x = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.float32)
>>> y = (x.sum(1) > 6).astype(np.int64)
>>> r = probe.analyze({"identity": x * 0.5}, y, inputs=x)
>>> float(r.infoplane["i_xt"][0])
12.0

Arrays may be numpy arrays of any layout (C, Fortran, strided views), torch tensors, anything with
``__dlpack__``, DLPack capsules (activations; C-contiguous), or nested sequences. A CUDA tensor's
activations stay on the GPU when this build has CUDA (``probe.CUDA``): they are copied device to
device onto probe's CUDA device and measured there; without CUDA they are copied to the host.
Labels and inputs always go to the host (they are small). Activations are
float16, bfloat16, float32 or float64 (float64 is rounded to float32 before binning, as the CLI
does); labels integer class ids ``>= 0``, ``[samples]``; inputs any integer or float dtype.

Tables are pandas DataFrames with exactly the columns of probe's CSV files when pandas is
installed, plain ``{column: list}`` dicts otherwise.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from . import _probe
from ._probe import Adaptive, Binned, Estimator, Floor, Kde, Knn

__all__ = [
    "Adaptive",
    "Analysis",
    "Binned",
    "Estimator",
    "Floor",
    "Kde",
    "Knn",
    "MutualInformation",
    "ProbeWarning",
    "Run",
    "analyze",
    "entropy",
    "mutual_information",
    "train",
]

__version__ = _probe.__version__

#: Whether this build of probe has its CUDA backend.
CUDA = _probe.cuda


class ProbeWarning(UserWarning):
    """A caveat about reading a result (what ``probe analyze`` prints as ``note: …``)."""


def _frame(table):
    """``{column: list}`` as a pandas DataFrame when pandas is installed (else unchanged)."""
    if table is None:
        return None
    try:
        import pandas as pd
    except ImportError:
        return table
    return pd.DataFrame(table)


def _is_torch(a) -> bool:
    return type(a).__module__.split(".")[0] == "torch" and hasattr(a, "detach")


def _array(a, what: str, on_device: bool = False):
    """``a`` as a numpy array in native byte order and whether it holds bfloat16 bits as int16.

    torch tensors go through DLPack (no copy on the CPU); a CUDA tensor is copied to the host,
    unless ``on_device`` (activations) and this build has CUDA: then it is handed over as a DLPack
    capsule, its producer told to order its work before probe's stream. A capsule is passed
    through as it is (``on_device`` only). Strided arrays are passed as they are: the native module
    reads them through their strides.
    """
    if on_device and type(a).__name__ == "PyCapsule":
        return a, False
    if _is_torch(a):
        import torch

        t = a.detach()
        if on_device and CUDA and t.device.type == "cuda":
            t = t.contiguous()
            return t.__dlpack__(stream=_probe.cuda_stream(t.device.index or 0)), False
        if t.device.type != "cpu":
            t = t.cpu()
        bf16 = t.dtype == torch.bfloat16
        if bf16:
            t = t.view(torch.int16) if t.dim() > 0 else t.reshape(()).view(torch.int16)
        try:
            arr = np.from_dlpack(t)
        except (BufferError, TypeError, RuntimeError, AttributeError):
            arr = t.resolve_conj().resolve_neg().numpy()
        return arr, bf16
    if isinstance(a, np.ndarray):
        arr = a
    elif hasattr(a, "__dlpack__"):
        try:
            arr = np.from_dlpack(a)
        except (BufferError, TypeError, RuntimeError):
            arr = np.asarray(a)
    else:
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{what}: cannot be read as an array ({e})") from None
    if arr.dtype.name == "bfloat16":
        return arr.view(np.int16), True
    if arr.dtype.byteorder not in "=|" and not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr, False


class Analysis:
    """The information plane of some activations: what ``probe analyze`` writes, in memory.

    Attributes (values in bits):
        infoplane: the rows of ``analysis.csv`` — ``epoch, layer, estimator, i_xt, i_ty,
            i_xt_lower, i_ty_lower, sigma2`` (one per layer and estimator; the last three filled
            by ``Kde`` only, whose ``i_xt``, ``i_ty`` are the upper bounds).
        flow: the rows of ``analysis-flow.csv`` (``None`` with ``flow=False``).
        stats: the rows of ``analysis-stats.csv`` (``None`` with ``stats=False``).
        samples, distinct_inputs: counts; h_x, h_y: H(X) and H(Y), the bounds of the plane.
        notes: caveats about reading the result (also issued as ``ProbeWarning``).
    """

    def __init__(self, native):
        self._native = native
        d = native.to_dict()
        self.infoplane = _frame(d["infoplane"])
        self.flow = _frame(d["flow"])
        self.stats = _frame(d["stats"])
        self.samples: int = d["samples"]
        self.distinct_inputs: int = d["distinct_inputs"]
        self.h_x: float = d["h_x"]
        self.h_y: float = d["h_y"]
        self.notes: list = d["notes"]
        self.estimators: list = d["estimators"]

    def save(self, out, overwrite: bool = False, title: Optional[str] = None) -> None:
        """Writes the files of ``probe analyze --out out`` (CSVs, ``analysis.json``, plots)."""
        self._native.write(os.fspath(out), overwrite, title)

    def __repr__(self) -> str:
        return (
            f"<probe.Analysis: {self.samples} samples, estimators {self.estimators}, "
            f"H(X) = {self.h_x:.4g} bits, H(Y) = {self.h_y:.4g} bits>"
        )


def _layers(activations) -> list:
    if isinstance(activations, Mapping):
        items = list(activations.items())
    else:
        try:
            items = [(n, a) for n, a in activations]
        except (TypeError, ValueError):
            raise TypeError(
                "activations: expected a mapping {layer name: array [samples, ...]}"
            ) from None
    out = []
    for name, a in items:
        if not isinstance(name, str):
            raise TypeError(f"activations: layer names must be str, got {type(name).__name__}")
        arr, bf16 = _array(a, f"activations[{name!r}]", on_device=True)
        out.append((name, arr, bf16))
    return out


def analyze(
    activations,
    labels,
    inputs=None,
    estimators=None,
    flow: bool = True,
    stats: bool = True,
    *,
    saturation: Optional[float] = None,
    epoch: Optional[int] = None,
) -> Analysis:
    """Measures I(X;T) and I(T;Y) (bits) of every layer, as ``probe analyze`` does.

    Args:
        activations: ``{layer name: array [samples, ...]}`` (each sample flattened), in the order
            the rows and the flow follow.
        labels: class ids ``[samples]`` (integers ``>= 0``).
        inputs: the inputs X ``[samples, ...]``; samples with equal inputs are the same x. Without
            them every sample is taken as a distinct input. ``Knn`` needs them.
        estimators: an estimator or a list (default ``[probe.Binned()]``: 30 edges on [-1, 1]).
        flow, stats: compute the layer-to-layer flow (``.flow``) and the statistics (``.stats``).
        saturation: the statistics' threshold on ``|x|`` (default 0.99).
        epoch: fills the ``epoch`` column (empty by default, as for a file without
            ``probe.epoch``).

    C-contiguous float32 arrays are read in place, without a copy, while the GIL is released
    (other arrays are converted once): do not write into them from another thread during the
    call. The arrays are left unchanged.
    """
    layers = _layers(activations)
    y, _ = _array(labels, "labels")
    x = None if inputs is None else _array(inputs, "inputs")
    native = _probe.analyze(layers, y, x, estimators, flow, stats, saturation, epoch)
    result = Analysis(native)
    for note in result.notes:
        warnings.warn(note, ProbeWarning, stacklevel=2)
    return result


def entropy(t, estimator=None) -> float:
    """H(T) in bits of activations ``t`` ``[samples, ...]``: the plug-in entropy of each sample's
    row of bins under ``Binned`` (default), ``Floor`` or ``Adaptive``; for ``Kde(sigma2)`` the
    upper bound F(2σ²) on the entropy of ``T + N(0, σ²I)``."""
    arr, bf16 = _array(t, "t", on_device=True)
    return _probe.entropy(arr, estimator, bf16)


class MutualInformation(NamedTuple):
    """One layer's information-plane coordinates, in bits (``Kde``: upper bounds, and the lower
    bounds in ``i_xt_lower``, ``i_ty_lower``; ``None`` for other estimators)."""

    i_xt: float
    i_ty: float
    i_xt_lower: Optional[float] = None
    i_ty_lower: Optional[float] = None


def mutual_information(t, labels, inputs=None, estimator=None) -> MutualInformation:
    """I(X;T) and I(T;Y) in bits of one layer ``t`` ``[samples, ...]`` (as one row of
    ``analyze``)."""
    arr, bf16 = _array(t, "t", on_device=True)
    y, _ = _array(labels, "labels")
    x = None if inputs is None else _array(inputs, "inputs")
    return MutualInformation(*_probe.mutual_information(arr, y, x, estimator, bf16))


def _table(file: str, doc: str) -> property:
    """A read-only property of a ``Run``: its table ``file`` (``None`` when the run has none)."""
    return property(lambda self: self.tables.get(file), doc=doc)


class Run:
    """A finished (or stopped) ``probe.train`` run.

    Attributes:
        out: the run directory (holding the same files as ``probe train`` writes).
        epoch: the last epoch trained; stopped_after: set when ``stop_after`` stopped it.
        tables: every table of the run by file name (``"metrics.csv"``, ``"infoplane.csv"``,
            ``"flow.csv"``, ``"stats.csv"``, …), as DataFrames (dicts without pandas).
    """

    def __init__(self, d):
        self.out: str = d["out"]
        self.epoch: int = d["epoch"]
        self.stopped_after: Optional[int] = d["stopped_after"]
        self.tables: dict = {k: _frame(v) for k, v in d["tables"].items()}

    metrics = _table("metrics.csv", "``metrics.csv``: losses (nats) and accuracies per epoch.")
    infoplane = _table(
        "infoplane.csv",
        "``infoplane.csv``: I(X;T), I(T;Y) in bits per measured epoch, layer and estimator.",
    )
    flow = _table("flow.csv", "``flow.csv`` (``None`` without ``[measure] flow``).")
    stats = _table("stats.csv", "``stats.csv`` (``None`` without ``[measure] stats``).")

    def __repr__(self) -> str:
        return f"<probe.Run {self.out!r}: epoch {self.epoch}, tables {sorted(self.tables)}>"


def train(
    config,
    out=None,
    epochs: Optional[int] = None,
    seed: Optional[int] = None,
    on_measure: Optional[Callable[[dict], Any]] = None,
    *,
    overwrite: bool = False,
    device: Optional[str] = None,
    stop_after: Optional[int] = None,
    lr: Optional[float] = None,
) -> Run:
    """Trains a run of probe's own trainer in this process, as ``probe train`` does.

    Args:
        config: a config file (path) or the config as a dict (the TOML's tables as nested dicts).
        out: run directory (default ``runs/{name}-{UTC time}``); ``overwrite`` replaces probe's
            files in an existing one.
        epochs, seed, device, stop_after, lr: as ``--epochs``, ``--seed``, ``--device``,
            ``--stop-after``, ``--lr`` (the learning rate, overriding ``train.lr``).
        on_measure: called after each measured epoch with ``{"epoch": int, "infoplane": rows,
            "flow": rows, "stats": rows}`` (the rows that epoch adds to the CSVs, as DataFrames).
            An exception it raises stops the run (everything finished so far is kept) and
            propagates. Ctrl-C ends the batch in progress, writes a checkpoint and raises
            ``KeyboardInterrupt``; ``probe train --resume DIR`` continues the run.

    Returns the run's tables (:class:`Run`).
    """
    path = text = None
    if isinstance(config, Mapping):
        text = json.dumps(config, allow_nan=False)
    elif isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
    else:
        raise TypeError(f"config: expected a path or a dict, got {type(config).__name__}")
    callback = None
    if on_measure is not None:

        def callback(rows):
            on_measure({k: (v if k == "epoch" else _frame(v)) for k, v in rows.items()})

    d = _probe.train(
        path,
        text,
        None if out is None else os.fspath(out),
        overwrite,
        epochs,
        seed,
        device,
        stop_after,
        callback,
        lr,
    )
    return Run(d)


def _plot(points, path, title: str, x_max=None, y_max=None) -> None:
    """Draws ``points`` ``[(epoch, layer, i_xt, i_ty)]`` to ``path`` (``.png``) and the ``.svg``
    beside it, as ``probe train`` draws ``infoplane.png``."""
    stem, ext = os.path.splitext(os.fspath(path))
    if ext.lower() not in (".png", ".svg", ""):
        raise ValueError(f"plot: {path}: expected a .png or .svg path")
    finite = lambda v: v is not None and math.isfinite(v) and v > 0  # noqa: E731
    _probe.plot_plane(
        points,
        stem + ".png",
        stem + ".svg",
        title,
        x_max if finite(x_max) else None,
        y_max if finite(y_max) else None,
    )
