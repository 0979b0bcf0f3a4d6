"""The information plane of a user's own ``torch.nn.Module``, measured from their training loop.

>>> plane = probe.torch.InfoPlane(model, ["1", "3"], x_probe, y_probe)   # doctest: +SKIP
>>> for epoch in range(1, 101):
...     train_one_epoch(model)
...     plane.measure(epoch)
>>> plane.dataframe()            # the columns of infoplane.csv, in bits
>>> plane.plot("plane.png")      # the figure probe train draws (and plane.svg)

Forward hooks capture the chosen modules' outputs on ``x_probe`` (in order, in eval mode, under
``torch.no_grad()``); :func:`probe.analyze` measures them. Activations of a CUDA model are copied to
the host (the in-place CUDA DLPack path is not built yet).
"""

from __future__ import annotations

import fnmatch
import math
from typing import Callable, Optional, Sequence, Union

import torch

from . import Analysis, _frame, _plot, analyze

Hooks = Union[str, Sequence[str], Callable[[str, "torch.nn.Module"], bool]]


def _select(model: torch.nn.Module, hooks: Hooks) -> list:
    """``(name, module)`` of the hooked modules: names (in the order given), globs over
    ``model.named_modules()`` names, or a filter ``(name, module) -> bool`` (in module order)."""
    named = [(n, m) for n, m in model.named_modules() if n]
    if callable(hooks):
        chosen = [(n, m) for n, m in named if hooks(n, m)]
    else:
        patterns = [hooks] if isinstance(hooks, str) else list(hooks)
        by_name = dict(named)
        chosen = []
        for p in patterns:
            if p in by_name:
                hits = [(p, by_name[p])]
            else:
                hits = [(n, m) for n, m in named if fnmatch.fnmatchcase(n, p)]
            if not hits:
                names = ", ".join(n for n, _ in named[:20])
                raise ValueError(
                    f"hooks: no module of the model is named or matches {p!r}; its modules: {names}"
                )
            chosen += [h for h in hits if h[0] not in {c[0] for c in chosen}]
    if not chosen:
        raise ValueError("hooks: the filter selected no module")
    return chosen


class InfoPlane:
    """Measures I(X;T) and I(T;Y) (bits) of hooked modules of ``model`` on a fixed probe set.

    Args:
        model: any ``torch.nn.Module``.
        hooks: module names (``"layers.1"``), globs over them (``"*.act"``), or a filter
            ``(name, module) -> bool``. Each module's output (the first tensor of a tuple) is one
            layer, named after the module.
        x_probe: the probe inputs ``[samples, ...]`` (on the model's device); also the inputs X of
            the estimate (equal rows count as the same x).
        y_probe: their class ids ``[samples]``.
        estimators: as for :func:`probe.analyze` (default ``probe.Binned()``).
        batch_size: forward the probe set in batches of this size (default: all at once).
        flow, stats: also compute the flow and statistics tables per measurement.

    With a CUDA build of probe (``probe.CUDA``), the activations of a model on the GPU are
    measured there (copied device to device, never through the host).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        hooks: Hooks,
        x_probe,
        y_probe,
        estimators=None,
        *,
        batch_size: Optional[int] = None,
        flow: bool = False,
        stats: bool = False,
    ):
        self.model = model
        self.modules = _select(model, hooks)
        self.x_probe = x_probe
        self.y_probe = y_probe
        self.estimators = estimators
        self.batch_size = batch_size
        self.flow = flow
        self.stats = stats
        self.results: list = []  # (epoch, Analysis)

    @torch.no_grad()
    def capture(self) -> dict:
        """``{module name: activations [samples, ...]}`` of the probe set (in eval mode)."""
        chunks = {name: [] for name, _ in self.modules}

        def recorder(name):
            def hook(_module, _inputs, output):
                if isinstance(output, (tuple, list)):
                    output = next(o for o in output if isinstance(o, torch.Tensor))
                chunks[name].append(output.detach())

            return hook

        handles = [m.register_forward_hook(recorder(n)) for n, m in self.modules]
        was_training = self.model.training
        self.model.eval()
        try:
            n = len(self.x_probe)
            step = self.batch_size or n
            for i in range(0, n, step):
                self.model(self.x_probe[i : i + step])
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)
        return {name: torch.cat(parts) for name, parts in chunks.items()}

    def measure(self, epoch: int) -> Analysis:
        """Captures the hooked modules on the probe set and measures them; the rows carry
        ``epoch``. Returns this measurement's :class:`probe.Analysis`."""
        acts = self.capture()
        result = analyze(
            acts,
            self.y_probe,
            inputs=self.x_probe,
            estimators=self.estimators,
            flow=self.flow,
            stats=self.stats,
            epoch=epoch,
        )
        self.results.append((epoch, result))
        return result

    def _table(self, attr: str):
        tables = [getattr(r, attr) for _, r in self.results]
        tables = [t for t in tables if t is not None]
        if not tables:
            return None
        if isinstance(tables[0], dict):
            return {k: [v for t in tables for v in t[k]] for k in tables[0]}
        import pandas as pd

        return pd.concat(tables, ignore_index=True)

    def dataframe(self):
        """Every measurement's rows (the columns of ``infoplane.csv``, bits), in order."""
        return self._table("infoplane")

    def flow_dataframe(self):
        """Every measurement's flow rows (with ``flow=True``)."""
        return self._table("flow")

    def stats_dataframe(self):
        """Every measurement's statistics rows (with ``stats=True``)."""
        return self._table("stats")

    def plot(self, path, estimator: Optional[str] = None, title: Optional[str] = None) -> None:
        """Draws the information plane (``path``, ``.png``, and the ``.svg`` beside it) as
        ``probe train`` draws ``infoplane.png``: one trajectory per module, points coloured by
        epoch, axes up to H(X) and H(Y)."""
        if not self.results:
            raise ValueError("plot: nothing measured yet; call measure(epoch) first")
        last = self.results[-1][1]
        name = estimator or last.estimators[0]
        points = []
        for epoch, r in self.results:
            t = r.infoplane
            rows = zip(t["layer"], t["estimator"], t["i_xt"], t["i_ty"])
            points += [(epoch, l, float(a), float(b)) for l, e, a, b in rows if e == name]
        if not points:
            raise ValueError(f"plot: no rows of estimator {name!r}")
        x_max = math.log2(last.distinct_inputs) if last.distinct_inputs > 1 else None
        _plot(
            points,
            path,
            title or f"{type(self.model).__name__} — information plane ({name})",
            x_max,
            last.h_y,
        )
