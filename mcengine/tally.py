"""The run's host-side state: chunk aggregates folded in global order, and the convergence trace.

A state is a flat dict of numpy arrays (so a checkpoint is one ``np.savez``). ``fold`` adds one
chunk's aggregates to it; the per-block sums arrive in global block order and are accumulated
sequentially in float64, so every number, the trace included, is the same for every chunk size
and device count.

The convergence trace records the estimates (P(recoup), mean NPV and their standard errors)
after the first ``n`` futures for ``n`` on a fixed grid, ``BLOCK`` futures times 1, 2, 3, 4, 6,
8, 12, ... (two points per doubling), and at the run's last future. A point on the grid is the
estimate that a run of exactly ``n`` futures would report.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import accumulators as acc
from .chunk import DECILES, MONTH_BINS, SCALAR_BINS, SCALARS

__all__ = [
    "TRACE", "close_trace", "fold", "fresh_state", "standard_errors", "target_reached",
    "trace_blocks",
]  # fmt: skip

TRACE = ("conv_n", "conv_p", "conv_p_se", "conv_npv", "conv_npv_se")
_COUNTS = ("month_counts", "scalar_counts", "event_counts", "decile_counts", "decile_recouped")


def fresh_state(T: int, k: int, n_columns: int) -> dict[str, np.ndarray]:
    """The state of a run before its first future."""
    state = {
        "month_counts": np.zeros((T + 1, MONTH_BINS), np.int64),
        "month_min": np.full(T + 1, np.inf),
        "month_max": np.full(T + 1, -np.inf),
        "scalar_counts": np.zeros((len(SCALARS), SCALAR_BINS), np.int64),
        "scalar_lower": np.full((len(SCALARS), SCALAR_BINS), np.inf),
        "scalar_upper": np.full((len(SCALARS), SCALAR_BINS), -np.inf),
        "event_counts": np.zeros((2, T + 2), np.int64),
        "decile_counts": np.zeros((k, DECILES), np.int64),
        "decile_recouped": np.zeros((k, DECILES), np.int64),
        "sums": np.zeros(n_columns, np.float64),
        "n_done": np.zeros((), np.int64),
    }
    for name in TRACE:
        state[name] = np.zeros(0, np.int64 if name == "conv_n" else np.float64)
    return state


def trace_blocks(after: int, upto: int) -> list[int]:
    """The trace's grid in blocks (1, 2, 3, 4, 6, 8, 12, ...) in ``(after, upto]``."""
    out, b = [], 1
    while b <= upto:
        out += [m for m in (b, 3 * b // 2) if after < m <= upto and (m == b or b >= 2)]
        b *= 2
    return sorted(set(out))


def standard_errors(sums: np.ndarray, columns: dict[str, slice], n: int) -> tuple[float, float]:
    """``(se of P(recoup), se of mean NPV)`` of the first ``n`` futures from their ``sums``:
    what a run of ``n`` futures reports (``accumulators.standard_errors``)."""
    by_name = {name: sums[sl] for name, sl in columns.items()}
    return acc.standard_errors(by_name, n, int(round(float(by_name["recouped"][0]))))


def _trace_point(state, sums: np.ndarray, columns: dict[str, slice], n: int, shift: float):
    se_p, se_npv = standard_errors(sums, columns, n)
    point = (n, float(sums[columns["recouped"]][0]) / n, se_p)
    point += (shift + float(sums[columns["npv"]][0]) / n, se_npv)
    for name, value in zip(TRACE, point, strict=True):
        state[name] = np.append(state[name], value)


def fold(state: dict[str, Any], out: dict[str, np.ndarray], n_new: int, shift: float,
         columns: dict[str, slice]) -> None:  # fmt: skip
    """Add one chunk's aggregates (``n_new`` futures, starting at future ``state["n_done"]``)
    to ``state`` in place, and the trace's grid points that the chunk reaches."""
    for name in _COUNTS:
        state[name] = state[name] + np.asarray(out[name], np.int64)
    for name in ("month_min", "scalar_lower"):
        state[name] = np.minimum(state[name], np.asarray(out[name], np.float64))
    for name in ("month_max", "scalar_upper"):
        state[name] = np.maximum(state[name], np.asarray(out[name], np.float64))
    blocks = np.asarray(out["sums"], np.float64)
    # fold block by block in global order (sequential accumulate), never a tree over chunks;
    # row b of ``running`` is the total after the chunk's first b blocks
    running = np.add.accumulate(np.vstack([state["sums"][None], blocks]), axis=0)
    before = int(state["n_done"])
    first = before // acc.BLOCK  # chunks start on a block boundary
    for b in trace_blocks(first, (before + n_new) // acc.BLOCK):
        _trace_point(state, running[b - first], columns, b * acc.BLOCK, shift)
    state["sums"] = running[-1]
    state["n_done"] = state["n_done"] + n_new


def close_trace(state: dict[str, Any], columns: dict[str, slice], shift: float) -> None:
    """End the trace at the run's last future (when the grid does not): idempotent."""
    n = int(state["n_done"])
    if n and (state["conv_n"].size == 0 or state["conv_n"][-1] != n):
        _trace_point(state, state["sums"], columns, n, shift)


def target_reached(state: dict[str, Any], columns: dict[str, slice], target: Any) -> bool:
    """Whether the folded futures meet ``target`` (an ``engine.Target``).

    While no future (or every future) has recouped, the binomial SE would be 0; the check uses
    ``(recouped + 1) / (n + 2)`` instead, so that a first chunk without events cannot meet it."""
    n = int(state["n_done"])
    recouped = int(round(float(state["sums"][columns["recouped"]][0])))
    se_p, se_npv = standard_errors(state["sums"], columns, n)
    if recouped in (0, n):  # no spread seen yet: not evidence of a small SE
        p = (recouped + 1) / (n + 2)
        se_p = max(se_p, math.sqrt(p * (1 - p) / n)) if n else math.nan
    return n >= target.min_samples and (
        (target.p_recoup_se is not None and se_p <= target.p_recoup_se)
        or (target.npv_se is not None and se_npv <= target.npv_se)
    )
