"""Gaussian copula helpers: Spearman → Pearson, PSD diagnosis, semidefinite Cholesky."""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = ["spearman_to_pearson", "min_eigenvalue", "non_psd_subsets", "cholesky_psd", "PSD_TOL"]

PSD_TOL = 1e-10


def spearman_to_pearson(rho: np.ndarray | float) -> np.ndarray:
    """Pearson r of normal scores with rank correlation ``rho``: ``2 sin(pi rho / 6)``."""
    return 2.0 * np.sin(np.pi * np.asarray(rho, np.float64) / 6.0)


def min_eigenvalue(r: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(r).min()) if r.size else 1.0


def non_psd_subsets(r: np.ndarray, max_size: int = 5, limit: int = 10) -> list[tuple[int, ...]]:
    """Smallest principal submatrices (size 3..max_size) that are not PSD, up to ``limit``."""
    k = r.shape[0]
    for size in range(3, min(max_size, k) + 1):
        bad = [
            s for s in combinations(range(k), size) if min_eigenvalue(r[np.ix_(s, s)]) < -PSD_TOL
        ]
        if bad:
            return bad[:limit]
    return []


def cholesky_psd(r: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L @ L.T == r`` for PSD ``r`` (zero pivots allowed)."""
    k = r.shape[0]
    L = np.zeros((k, k))
    for j in range(k):
        d = r[j, j] - L[j, :j] @ L[j, :j]
        if d > PSD_TOL:
            L[j, j] = np.sqrt(d)
            L[j + 1 :, j] = (r[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L
