"""Streaming aggregates: what one chunk of futures contributes, and how chunks are folded.

Design (see docs/quantiles.md):
- Quantiles come from exact integer histograms. Bins are uniform in ``symlog((x - c) / s)``, with
  ``c``, ``s`` and the range fitted on a pilot pass, and each bin also records the smallest and
  largest value that fell in it (scalar outputs) or the month's range (the fan chart). A reported
  quantile lies inside the bin where the cumulative count crosses the level, so the empirical CDF
  at the reported value is within that bin's mass of the level: the bound is reported.
- Sums are reduced per fixed block of ``BLOCK`` futures by an explicit pairwise tree (elementwise
  adds only, so every backend rounds alike) and folded on the host in float64 in global block
  order: identical numbers for every chunk size and device count.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "BLOCK",
    "BinMap",
    "bin_ranges",
    "symlog",
    "symexp",
    "bin_index",
    "bin_edges",
    "block_sums",
    "standard_error_method",
    "standard_errors",
    "histogram",
    "quantiles_from_histogram",
    "integer_quantiles",
]

NAN = float("nan")
BLOCK = 1024  # futures per block of the deterministic sum; chunk sizes are multiples of it


class BinMap(NamedTuple):
    """Binning uniform in ``symlog((x - center) / scale)``, one row per quantity."""

    center: np.ndarray
    scale: np.ndarray
    start: np.ndarray  # y of the first bin's lower edge
    inv_width: np.ndarray  # bins per unit of y


def symlog(t):
    """``sign(t) log(1 + |t|)``: linear near 0, logarithmic in the tails (jnp or np)."""
    xp = jnp if isinstance(t, jax.Array) else np
    return xp.sign(t) * xp.log1p(xp.abs(t))


def symexp(y):
    """The inverse of :func:`symlog`."""
    xp = jnp if isinstance(y, jax.Array) else np
    return xp.sign(y) * xp.expm1(xp.abs(y))


def bin_index(x: jax.Array, bmap: BinMap, j, bins: int) -> jax.Array:
    """Bin of each value of ``x`` under column ``j`` of ``bmap`` (clamped to the end bins)."""
    dtype = x.dtype
    t = (x - jnp.asarray(bmap.center, dtype)[j]) / jnp.asarray(bmap.scale, dtype)[j]
    y = symlog(t)
    pos = (y - jnp.asarray(bmap.start, dtype)[j]) * jnp.asarray(bmap.inv_width, dtype)[j]
    pos = jnp.where(jnp.isnan(pos), 0, jnp.clip(pos, 0, bins - 1))
    return pos.astype(jnp.int32)


def bin_edges(bmap: BinMap, bins: int) -> np.ndarray:
    """Edges in value space, shape (q, bins + 1) (host, float64)."""
    y = bmap.start[:, None] + np.arange(bins + 1)[None, :] / bmap.inv_width[:, None]
    return bmap.center[:, None] + bmap.scale[:, None] * symexp(y)


def bin_ranges(edges: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's value range given its edges (q, bins + 1) and each row's extremes: edges
    clipped to ``[lo, hi]``, and the end bins widened to the extremes (they hold the values that
    fell outside the map and were clamped into them)."""
    lower = np.clip(edges[:, :-1], lo[:, None], hi[:, None])
    upper = np.clip(edges[:, 1:], lo[:, None], hi[:, None])
    lower[:, 0], upper[:, -1] = lo, hi
    return lower, upper


def histogram(idx: jax.Array, valid: jax.Array, bins: int) -> jax.Array:
    """Counts of ``idx`` over ``bins`` bins, futures with ``valid == False`` left out (int32)."""
    return jnp.bincount(jnp.where(valid, idx, bins), length=bins + 1)[:bins].astype(jnp.int32)


def block_sums(x: jax.Array) -> jax.Array:
    """Sums over consecutive blocks of ``BLOCK`` rows by a fixed pairwise tree.

    (n, k) -> (n / BLOCK, k); only elementwise adds, so every backend rounds alike."""
    n, k = x.shape
    y = x.reshape(n // BLOCK, BLOCK, k)
    while y.shape[1] > 1:
        y = y[:, 0::2] + y[:, 1::2]
    return y[:, 0]


def standard_error_method(sums: dict[str, np.ndarray]) -> str:
    """How :func:`standard_errors` computes the SEs from these sums (for result descriptions)."""
    if "pairs" in sums:
        return "from the spread of antithetic pair means"
    if "rep_n" in sums:
        return f"from the spread of {len(sums['rep_n'])} Sobol' replicate means"
    return "iid formula"


def standard_errors(sums: dict[str, np.ndarray], n: int, recouped: int) -> tuple[float, float]:
    """Monte Carlo standard errors of P(recoup) and of mean NPV from the host-side sums.

    With pair sums (antithetic sampling, ``chunk.sum_columns(paired=True)``) they come from the
    spread of the independent pair means; with replicate sums (Sobol' sampling) from the spread
    of the independent replicate means; otherwise from the iid formulas (binomial, and the
    sample variance of NPV). Sums are float64 totals over every future of the run. With fewer
    than two independent units (futures, pairs, replicates) there is no spread: NaN."""

    def spread(units: np.ndarray) -> float:  # SE of the mean of independent unit means
        return float(np.std(units, ddof=1) / np.sqrt(units.size)) if units.size > 1 else NAN

    if "pairs" in sums:
        m = float(sums["pairs"][0])
        if m < 2:  # one pair: no spread to measure
            return NAN, NAN

        def se(total, squares):
            var = max(squares - total * total / m, 0.0) / (m - 1)
            return float(np.sqrt(var / m))

        return (
            se(float(sums["pair_p"][0]), float(sums["pair_p2"][0])),
            se(float(sums["pair_npv"][0]), float(sums["pair_npv2"][0])),
        )
    if "rep_n" in sums:
        counts = np.asarray(sums["rep_n"], np.float64)
        filled = counts > 0

        def replicate_means(totals) -> np.ndarray:
            return np.asarray(totals, np.float64)[filled] / counts[filled]

        return spread(replicate_means(sums["rep_p"])), spread(replicate_means(sums["rep_npv"]))
    if n < 2:
        return NAN, NAN
    p = recouped / n
    mean = float(sums["npv"][0]) / n
    var = max(float(sums["npv2"][0]) / n - mean**2, 0.0) * n / (n - 1)
    return float(np.sqrt(p * (1 - p) / n)), float(np.sqrt(var / n))


def quantiles_from_histogram(
    counts: np.ndarray,
    levels: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles from bin counts and each bin's value range ``[lower, upper]``.

    The quantile at level q lies in the bin where the cumulative count first reaches ``q * n``,
    interpolated linearly in rank between the bin's smallest and largest value. Returns the
    values and, per level, the mass of that bin (a bound on |ECDF(value) - q|), or 0 where
    every value in the bin is the same (the quantile is that value, exactly).
    """
    counts = np.asarray(counts, np.int64)
    n = counts.sum()
    if n == 0:
        return np.full(len(levels), np.nan), np.full(len(levels), np.nan)
    cum = np.cumsum(counts)
    values, bound = np.empty(len(levels)), np.empty(len(levels))
    for i, q in enumerate(np.asarray(levels, np.float64)):
        rank = q * n
        j = int(np.searchsorted(cum, max(rank, 1e-12), side="left"))
        j = min(j, len(counts) - 1)
        before = cum[j - 1] if j > 0 else 0
        frac = 0.0 if counts[j] == 0 else (rank - before) / counts[j]
        frac = min(max(frac, 0.0), 1.0)
        lo, hi = float(lower[j]), float(upper[j])
        values[i] = lo if hi == lo else lo + frac * (hi - lo)
        bound[i] = 0.0 if hi == lo else counts[j] / n  # a bin of equal values: exact
    return values, bound


def integer_quantiles(counts: np.ndarray, levels: np.ndarray, never: float = np.inf) -> np.ndarray:
    """Exact type-1 quantiles of an integer variable with counts per value 0..len-2 and the last
    entry counting "never" (reported as ``never``)."""
    counts = np.asarray(counts, np.int64)
    n = counts.sum()
    cum = np.cumsum(counts)
    out = np.empty(len(levels))
    for i, q in enumerate(np.asarray(levels, np.float64)):
        rank = q * n
        need = max(int(np.ceil(rank - 1e-12 * rank)), 1)  # slack for q * n's rounding only
        j = int(np.searchsorted(cum, need, side="left"))
        out[i] = never if j >= len(counts) - 1 else float(j)
    return out
