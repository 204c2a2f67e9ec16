"""Host-built quantile tables in z-space, interpolated cheaply under ``jax.jit``.

A table stores ``x(z) = F^{-1}(Phi(z))`` at knots on ``[Z_LO, Z_HI]``: ``N_CELLS`` equal cells,
each split into ``2**lg`` equal sub-cells (``lg`` chosen per cell). Knots are computed on the host
in float64. At build time every sub-cell with probability ``Phi(z_b) - Phi(z_a) > TOL / 2`` is
checked at its quarter, mid and three-quarter points: ``|F(x_interp(z)) - Phi(z)| <= TOL / 2``
(using the survival function in the upper half); cells that fail are split further. Sub-cells with
probability ``<= TOL / 2`` meet the bound by monotonicity of ``F``; the factor 2 leaves room
for float32 arithmetic when sampling. Sampling is one gather of the
cell's packed ``(start, lg)``, two gathers of knots and a linear interpolation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from scipy.special import ndtr

__all__ = ["TableError", "ZTable", "build_table", "Z_LO", "Z_HI", "N_CELLS", "TOL"]

Z_LO, Z_HI = -8.0, 8.0
N_CELLS = 2048  # cell width 1/128 (exact in binary)
TOL = 1e-6  # documented bound on |F(x(z)) - Phi(z)|
_CHECK_TOL = TOL / 2  # build target at the check points, leaving room for sampling arithmetic
MAX_LG = 16
_H = (Z_HI - Z_LO) / N_CELLS


class TableError(ValueError):
    """The table could not meet the accuracy bound."""


@dataclass(frozen=True, eq=False)
class ZTable:
    """Knots ``values`` (float64) and per-cell ``info = start << 5 | lg`` (int32)."""

    values: np.ndarray
    info: np.ndarray
    uniform: bool
    max_error: float

    def __call__(self, z: jnp.ndarray) -> jnp.ndarray:
        dt = z.dtype
        big = np.finfo(np.dtype(dt)).max
        vals = jnp.asarray(np.clip(self.values, -big, big), dt)
        t = (z - Z_LO) * (1.0 / _H)
        c = jnp.clip(jnp.floor(t), 0, N_CELLS - 1)
        f = jnp.clip(t - c, 0, 1)
        ci = c.astype(jnp.int32)
        if self.uniform:
            j, w = ci, f
        else:
            info = jnp.asarray(self.info).at[ci].get(mode="promise_in_bounds")
            nsub = jnp.left_shift(1, info & 31)
            s = f * nsub.astype(dt)
            jj = jnp.minimum(jnp.floor(s).astype(jnp.int32), nsub - 1)
            w = s - jj.astype(dt)
            j = jnp.right_shift(info, 5) + jj
        a = vals.at[j].get(mode="promise_in_bounds")
        b = vals.at[j + 1].get(mode="promise_in_bounds")
        return jnp.clip(a + w * (b - a), a, b)


def _err(z: np.ndarray, x: np.ndarray, cdf: Callable, sf: Callable) -> np.ndarray:
    lower = z <= 0
    e = np.empty(z.shape)
    with np.errstate(all="ignore"):
        e[lower] = np.abs(cdf(x[lower]) - ndtr(z[lower]))
        e[~lower] = np.abs(sf(x[~lower]) - ndtr(-z[~lower]))
    return np.where(np.isnan(e), np.inf, e)


def _sub_knots(cells: np.ndarray, lg: int) -> np.ndarray:
    """z of knots 0..2**lg of each cell, shape (cells, 2**lg + 1)."""
    i = np.arange((1 << lg) + 1) / (1 << lg)
    return Z_LO + (cells[:, None] + i[None, :]) * _H


def build_table(
    x_of_z: Callable[[np.ndarray], np.ndarray],
    cdf: Callable[[np.ndarray], np.ndarray],
    sf: Callable[[np.ndarray], np.ndarray],
) -> ZTable:
    """Build and verify the table of a continuous distribution given host float64 functions.

    Raises :class:`TableError` when the bound cannot be met with ``2**MAX_LG`` sub-cells per cell.
    """
    lgs = np.zeros(N_CELLS, dtype=np.int64)
    knots: list[np.ndarray | None] = [None] * N_CELLS
    pending = np.arange(N_CELLS)
    worst = 0.0
    for lg in range(MAX_LG + 1):
        if pending.size == 0:
            break
        zk = _sub_knots(pending, lg)
        xk = x_of_z(zk.ravel()).reshape(zk.shape)
        za, zb, xa, xb = zk[:, :-1], zk[:, 1:], xk[:, :-1], xk[:, 1:]
        prob = np.where(zb <= 0, ndtr(zb) - ndtr(za), ndtr(-za) - ndtr(-zb))
        need = prob > _CHECK_TOL
        err = np.zeros(za.shape)
        for frac in (0.25, 0.5, 0.75):
            zm = za[need] + frac * (zb[need] - za[need])
            with np.errstate(invalid="ignore"):
                xm = xa[need] + frac * (xb[need] - xa[need])
            err[need] = np.maximum(err[need], _err(zm, xm, cdf, sf))
        cell_err = err.max(axis=1)
        ok = cell_err <= _CHECK_TOL
        if ok.any():
            worst = max(worst, float(cell_err[ok].max()))
        for c, row in zip(pending[ok], xa[ok], strict=True):
            knots[c] = row
        lgs[pending] = lg
        pending = pending[~ok]
    if pending.size:
        raise TableError(
            f"quantile table did not reach CDF error {TOL:g} near z = {Z_LO + pending[0] * _H:g}"
        )
    counts = 1 << lgs
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    values = np.concatenate([*knots, x_of_z(np.array([Z_HI]))]).astype(np.float64)
    values = np.maximum.accumulate(values)
    info = (starts << 5 | lgs).astype(np.int32)
    return ZTable(values=values, info=info, uniform=bool((lgs == 0).all()), max_error=worst)
