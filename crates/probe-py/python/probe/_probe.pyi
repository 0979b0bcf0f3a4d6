"""Type stubs of probe's native module (``probe._probe``). Use the package ``probe``: it wraps
these with array conversion (torch, DLPack, bfloat16) and pandas DataFrames. Values in bits."""

from os import PathLike
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np

__version__: str
cuda: bool

def cuda_stream(device: int) -> int:
    """The handle of the stream probe's CUDA device ``device`` uses, for
    ``tensor.__dlpack__(stream=...)`` (raises ``ValueError`` in a build without CUDA)."""

class Estimator:
    """An information estimator (base class of Binned, Floor, Adaptive, Kde, Knn)."""

    @property
    def name(self) -> str:
        """The ``estimator`` column of its rows (default: the kind)."""
    @property
    def kind(self) -> str:
        """``binned``, ``floor``, ``adaptive``, ``kde`` or ``knn``."""
    @property
    def params(self) -> dict[str, Union[int, float]]:
        """Its parameters."""
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

class Binned(Estimator):
    """IDNNs' fixed bins: ``edges`` edges ``linspace(lo, hi, edges)``; values below ``lo`` join the
    first bin, values at or above ``hi`` the last."""

    def __init__(
        self, lo: float = -1.0, hi: float = 1.0, edges: int = 30, *, name: Optional[str] = None
    ) -> None: ...

class Floor(Estimator):
    """Saxe et al.'s unbounded bins ``floor(x / width)``."""

    def __init__(self, width: float, *, name: Optional[str] = None) -> None: ...

class Adaptive(Estimator):
    """``bins`` equal-mass bins per layer (Chelombiev et al.)."""

    def __init__(self, bins: int = 30, *, name: Optional[str] = None) -> None: ...

class Kde(Estimator):
    """Kolchinsky & Tracey's KDE upper and lower bounds for ``T + N(0, sigma2·I)``."""

    def __init__(self, sigma2: float, *, name: Optional[str] = None) -> None: ...

class Knn(Estimator):
    """KSG k-nearest-neighbour estimates (needs the inputs)."""

    def __init__(self, k: int = 3, *, name: Optional[str] = None) -> None: ...

EstimatorLike = Union[Estimator, str]
Table = dict[str, list[Any]]

class AnalysisResult:
    def to_dict(self) -> dict[str, Any]:
        """Tables (``infoplane``, ``flow``, ``stats``) as dicts of columns, and the counts and
        entropies of the analysis."""
    def write(
        self, out: Union[str, PathLike[str]], overwrite: bool = False, title: Optional[str] = None
    ) -> None:
        """Writes the files of ``probe analyze --out out``."""

def analyze(
    layers: Sequence[Tuple[str, np.ndarray, bool]],
    labels: np.ndarray,
    inputs: Optional[Tuple[np.ndarray, bool]] = None,
    estimators: Union[None, EstimatorLike, Sequence[EstimatorLike]] = None,
    flow: bool = True,
    stats: bool = True,
    saturation: Optional[float] = None,
    epoch: Optional[int] = None,
) -> AnalysisResult:
    """Every estimator on every layer ``(name, [samples, ...], holds_bf16_bits)``."""

def entropy(
    t: np.ndarray, estimator: Optional[EstimatorLike] = None, bf16: bool = False
) -> float:
    """H(T) in bits (binned family: plug-in; Kde: upper bound)."""

def mutual_information(
    t: np.ndarray,
    labels: np.ndarray,
    inputs: Optional[Tuple[np.ndarray, bool]] = None,
    estimator: Optional[EstimatorLike] = None,
    bf16: bool = False,
) -> Tuple[float, float, Optional[float], Optional[float]]:
    """``(i_xt, i_ty, i_xt_lower, i_ty_lower)`` in bits."""

def plot_plane(
    points: Sequence[Tuple[int, str, float, float]],
    png: Union[str, PathLike[str]],
    svg: Union[str, PathLike[str]],
    title: str = "Information plane",
    x_max: Optional[float] = None,
    y_max: Optional[float] = None,
) -> None:
    """Draws the information plane as ``probe train`` draws ``infoplane.png``."""

def train(
    config_path: Optional[str] = None,
    config_json: Optional[str] = None,
    out: Optional[str] = None,
    overwrite: bool = False,
    epochs: Optional[int] = None,
    seed: Optional[int] = None,
    device: Optional[str] = None,
    stop_after: Optional[int] = None,
    on_measure: Optional[Callable[[dict[str, Any]], Any]] = None,
    lr: Optional[float] = None,
) -> dict[str, Any]:
    """Trains a run in-process; returns ``{"out", "epoch", "stopped_after", "tables"}``."""
