"""Variance-based (Sobol') first-order and total indices: Saltelli's design, Jansen's estimators.

Design (Saltelli 2002/2010): two independent ``N x k`` matrices ``A`` and ``B`` of input normal
scores (streams ``sobol/A/<path>`` and ``sobol/B/<path>``, row ``j`` drawn at index ``j``), and
for each input ``i`` the matrix ``AB_i`` = ``A`` with column ``i`` taken from ``B``: ``N (k + 2)``
model evaluations. Estimators, with ``V`` the variance of the pooled ``f(A), f(B)``:

- first order (Saltelli et al. 2010, table 2 (b)): ``S_i = mean(f(B) (f(AB_i) - f(A))) / V``
- total (Jansen 1999): ``ST_i = mean((f(A) - f(AB_i))^2) / (2 V)``

Outputs are centred on the mean of all evaluations first (as SALib does); confidence intervals
are percentile bootstrap intervals over the ``N`` rows.

The monthly shocks ``w`` (price and demand paths, arrivals) are one more, grouped input of
``f(x, w)``, and they follow the design like the other columns of ``A``: row ``j`` of ``A`` and of
every ``AB_i`` is simulated as future ``j`` (the same shocks ``w_j``), row ``j`` of ``B`` as future
``N + j`` (independent shocks). So ``f(B)`` shares only ``x_i`` with ``f(AB_i)``, and Saltelli's
first-order estimator is the classic main effect ``V_i / V``; ``f(A)`` and ``f(AB_i)`` differ only
in ``x_i``, and Jansen's ``ST_i`` is the total index of input ``i``, its interactions with the
shocks included. ``V`` is the full variance (shocks included), so ``1 - sum(ST)`` or
``1 - sum(S_i)`` is not the shocks' share by itself.

Correlated inputs (the Gaussian copula): the design is drawn on the independent raw scores and
the copula is applied to every matrix. For an input that belongs to a group of mutually
correlated inputs, ``AB_i`` swaps the raw scores of the *whole group*, so its indices are the
group's joint indices (the same for every member; ``sobol_group`` says which inputs share them).

This module is kernel layer (numpy and JAX only): :func:`sobol_run` returns a :class:`SobolRun` of
arrays; :func:`mcengine.sobol_results.sobol_dataset` (I/O layer) turns it into the ``sobol_*``
Dataset variables, and :func:`mcengine.sobol_results.model_sobol` does both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..random import normals, stream_key

__all__ = [
    "SobolError",
    "SobolRun",
    "saltelli_scores",
    "sobol_estimates",
    "sobol_indices",
    "sobol_run",
    "OUTPUTS",
]

OUTPUTS = ("npv", "recoup")


class SobolError(ValueError):
    """A Sobol' analysis that cannot be run as asked."""


def saltelli_scores(
    names: Sequence[str], seed: int, n: int, dtype=jnp.float32
) -> tuple[jax.Array, jax.Array]:
    """Independent standard-normal score matrices ``A``, ``B`` of shape ``(k, n)``: row ``j`` of
    input ``names[i]`` is drawn at index ``j`` of stream ``sobol/A/<name>`` (``sobol/B/<name>``)."""
    index = jnp.arange(n, dtype=jnp.uint32)

    def draw(tag: str) -> jax.Array:
        if not names:
            return jnp.zeros((0, n), dtype)
        return jnp.stack(
            [normals(stream_key(seed, f"sobol/{tag}/{p}"), index, 0, 1, dtype)[0] for p in names]
        )

    return draw("A"), draw("B")


def _estimates(yA, yB, yAB, centre):
    """Batched estimators: yA, yB (..., N); yAB (..., k, N)."""
    a, b, ab = yA - centre, yB - centre, yAB - centre
    pooled = np.concatenate([a, b], axis=-1)
    var = pooled.var(axis=-1)
    first = np.mean(b[..., None, :] * (ab - a[..., None, :]), axis=-1)
    total = 0.5 * np.mean((a[..., None, :] - ab) ** 2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = var > 0
        first = np.where(ok[..., None], first / np.where(ok, var, 1)[..., None], 0.0)
        total = np.where(ok[..., None], total / np.where(ok, var, 1)[..., None], 0.0)
    return first, total


def sobol_estimates(yA, yB, yAB) -> tuple[np.ndarray, np.ndarray]:
    """First-order (Saltelli 2010) and total (Jansen 1999) indices from ``f(A)`` (N,),
    ``f(B)`` (N,) and ``f(AB_i)`` (k, N). A constant output gives zeros."""
    yA, yB, yAB = (np.asarray(x, np.float64) for x in (yA, yB, yAB))
    centre = np.mean(np.concatenate([yA, yB, yAB.ravel()]))
    return _estimates(yA, yB, yAB, centre)


def sobol_indices(
    yA, yB, yAB, *, n_boot: int = 500, conf: float = 0.95, seed: int = 0, batch: int = 32
) -> dict[str, np.ndarray]:
    """Point estimates and percentile-bootstrap intervals (resampling the N rows with
    replacement, ``n_boot`` times): keys ``first``, ``total``, ``first_lo``, ``first_hi``,
    ``total_lo``, ``total_hi`` (each (k,))."""
    yA, yB, yAB = (np.asarray(x, np.float64) for x in (yA, yB, yAB))
    if not 0 < conf < 1:
        raise SobolError(f"conf must be in (0, 1), got {conf!r}")
    n = yA.shape[-1]
    centre = np.mean(np.concatenate([yA, yB, yAB.ravel()]))
    first, total = _estimates(yA, yB, yAB, centre)
    rng = np.random.default_rng(seed)
    boot_f, boot_t = [], []
    for start in range(0, n_boot, batch):
        r = rng.integers(0, n, size=(min(batch, n_boot - start), n))
        f, t = _estimates(yA[r], yB[r], np.moveaxis(yAB[:, r], 0, 1), centre)
        boot_f.append(f)
        boot_t.append(t)
    alpha = (1 - conf) / 2
    out = {"first": first, "total": total}
    if n_boot:
        bf, bt = np.concatenate(boot_f), np.concatenate(boot_t)
        out["first_lo"], out["first_hi"] = np.quantile(bf, [alpha, 1 - alpha], axis=0)
        out["total_lo"], out["total_hi"] = np.quantile(bt, [alpha, 1 - alpha], axis=0)
    else:
        for key in ("first_lo", "first_hi", "total_lo", "total_hi"):
            out[key] = np.full_like(first, np.nan)
    return out


def _swap_units(inputs) -> list[tuple[int, ...]]:
    """For each input, the inputs whose raw scores move together (its copula group or itself)."""
    unit = [(i,) for i in range(len(inputs.paths))]
    for members, _ in inputs.groups:
        for m in members:
            unit[m] = tuple(members)
    return unit


@dataclass(frozen=True)
class SobolRun:
    """What :func:`sobol_run` computed, as plain arrays.

    ``indices[output]`` (``output`` in :data:`OUTPUTS`) is the :func:`sobol_indices` dict of that
    output (each value (k,), in the order of ``inputs``); ``group`` (k,) is the copula group of
    each input (-1: uncorrelated); ``evaluations`` is the number of futures simulated."""

    inputs: tuple[str, ...]
    indices: dict[str, dict[str, np.ndarray]]
    group: np.ndarray
    n: int
    evaluations: int
    n_boot: int
    conf: float


def sobol_run(
    model,
    *,
    n: int,
    seed: int = 0,
    precision: str = "float32",
    n_boot: int = 500,
    conf: float = 0.95,
    batch: int = 1 << 14,
) -> SobolRun:
    """Sobol' indices of NPV and of the recoup indicator for ``model`` (a ``ModelSpec``) with ``n``
    base rows (``n (k + 2)`` futures simulated, fewer when inputs share a copula group), with
    ``n_boot`` bootstrap resamples for the ``conf`` intervals. For the ``xarray.Dataset`` use
    :func:`mcengine.sobol_results.model_sobol`."""
    from ..model.kernel import simulate

    paths = tuple(model.inputs.paths)
    if not paths:
        raise SobolError(
            "sensitivity.sobol=true needs at least one uncertain input; every input of this "
            "scenario is a constant"
        )
    if not 2 <= n < 2**31:
        raise SobolError(f"sensitivity.sobol_samples must be in [2, 2**31), got {n}")
    with jax.enable_x64(precision == "float64"):
        dtype = jnp.float64 if precision == "float64" else jnp.float32
        T = model.horizon
        k = len(paths)
        A, B = saltelli_scores(paths, seed, n, dtype)
        units = _swap_units(model.inputs)
        designs = list(dict.fromkeys(units))  # unique swap sets, in input order
        raws = [A, B]
        for swap in designs:
            rows = jnp.asarray(swap)
            raws.append(A.at[rows].set(B[rows]))
        raw = jnp.concatenate(raws, axis=1)  # (k, n * (2 + len(designs)))
        # the monthly shocks: row j of A and of every AB_i is future j, row j of B future n + j
        rows = jnp.arange(n, dtype=jnp.uint32)
        index = jnp.concatenate([rows, rows + jnp.uint32(n)] + [rows] * len(designs))

        @jax.jit
        def evaluate(raw_b, index_b):
            scores = model.inputs.normal_scores(seed, index_b, dtype, raw=raw_b)
            fut, _ = simulate(model, seed, index_b, dtype, lambda m, cum: None, scores=scores)
            return fut.npv, (fut.breakeven <= T).astype(dtype)

        total = raw.shape[1]
        size = min(batch, total)
        npv, rec = [], []
        for start in range(0, total, size):
            stop = min(start + size, total)
            rb, ib = raw[:, start:stop], index[start:stop]
            pad = size - (stop - start)
            if pad:
                rb = jnp.pad(rb, ((0, 0), (0, pad)))
                ib = jnp.pad(ib, (0, pad))
            y_npv, y_rec = jax.device_get(evaluate(rb, ib))
            npv.append(np.asarray(y_npv[: stop - start], np.float64))
            rec.append(np.asarray(y_rec[: stop - start], np.float64))
    results = {}
    for name, ys in (("npv", npv), ("recoup", rec)):
        y = np.concatenate(ys).reshape(2 + len(designs), n)
        yAB = np.stack([y[2 + designs.index(units[i])] for i in range(k)])
        if name == "npv" and not np.all(np.isfinite(y)):
            raise SobolError("the model returned non-finite NPVs; Sobol' indices are undefined")
        results[name] = sobol_indices(y[0], y[1], yAB, n_boot=n_boot, conf=conf, seed=seed)

    group = np.full(k, -1, np.int64)
    for g, (members, _) in enumerate(model.inputs.groups):
        group[list(members)] = g
    return SobolRun(paths, results, group, int(n), int(total), int(n_boot), float(conf))
