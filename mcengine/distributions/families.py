"""Distribution families: frozen, hashable dataclasses with a jittable ``from_normal`` map.

Every family samples as ``from_normal(z)`` with ``z`` standard normal; the map is monotone
non-decreasing, so a Gaussian copula on ``z`` works for every family. Host-side ``mean``,
``std`` and ``support`` (properties) and ``quantile`` and ``cdf`` (methods) are exact (scipy,
float64). ``quantile`` and ``cdf`` keep the shape of their argument: a scalar gives a float, an
array an array of the same shape.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr as jndtr
from scipy import stats
from scipy.special import ndtr, ndtri

from .tables import Z_HI, Z_LO, ZTable, build_table

__all__ = [
    "Distribution",
    "Constant",
    "Normal",
    "LogNormal",
    "Uniform",
    "LogUniform",
    "Triangular",
    "Pert",
    "Beta",
    "Gamma",
    "StudentT",
    "Truncated",
    "Mixture",
    "Discrete",
    "Empirical",
]


@dataclass(frozen=True)
class Distribution:
    """Base class. ``sample = from_normal(standard normal)``; host methods are float64 numpy."""

    family: ClassVar[str] = ""
    is_constant: ClassVar[bool] = False
    is_continuous: ClassVar[bool] = True

    def from_normal(self, z: jax.Array) -> jax.Array:
        """Monotone non-decreasing map from standard-normal scores to the variable (jittable)."""
        raise NotImplementedError

    def sample(self, key: jax.Array, shape: tuple[int, ...] = (), dtype=jnp.float32) -> jax.Array:
        """Draws of shape ``shape`` from a ``jax.random`` key (jittable, vmappable)."""
        return self.from_normal(jax.random.normal(key, shape, dtype))

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def std(self) -> float:
        raise NotImplementedError

    @property
    def support(self) -> tuple[float, float]:
        raise NotImplementedError

    def quantile(self, q) -> float | np.ndarray:
        """Quantile at level(s) ``q``: a float for a scalar ``q``, else an array of its shape."""
        return _same_shape(self._quantile, q)

    def cdf(self, x) -> float | np.ndarray:
        """``P(X <= x)``: a float for a scalar ``x``, else an array of ``x``'s shape."""
        return _same_shape(self._cdf, x)

    def _quantile(self, q: np.ndarray) -> np.ndarray:
        """Quantiles of a 1-D float64 array of levels."""
        raise NotImplementedError

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        """CDF at a 1-D float64 array of points."""
        raise NotImplementedError


def _same_shape(f, a) -> float | np.ndarray:
    """``f`` applied to ``a`` flattened to 1-D float64, reshaped to ``a``'s shape; a 0-d result is
    returned as a ``numpy.float64`` (a ``float``)."""
    a = np.asarray(a, np.float64)
    return np.asarray(f(a.ravel()), np.float64).reshape(a.shape)[()]


@dataclass(frozen=True)
class Constant(Distribution):
    value: float
    family: ClassVar[str] = "constant"
    is_constant: ClassVar[bool] = True
    is_continuous: ClassVar[bool] = False

    def from_normal(self, z):
        return jnp.full_like(z, self.value)

    mean = property(lambda self: float(self.value))
    std = property(lambda self: 0.0)
    support = property(lambda self: (float(self.value), float(self.value)))

    def _quantile(self, q):
        return np.full(q.shape, float(self.value))

    def _cdf(self, x):
        return (x >= self.value).astype(np.float64)


# ----------------------------------------------------------------------------- continuous


@dataclass(frozen=True)
class _Continuous(Distribution):
    """Host interface: ``_cdf``, ``_sf`` and ``_ppf2(p, s)`` (quantile at p = 1 - s, both exact),
    all elementwise on arrays of any shape."""

    def _sf(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _ppf2(self, p: np.ndarray, s: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def x_of_z(self, z: np.ndarray) -> np.ndarray:
        """Host float64 ``F^{-1}(Phi(z))``."""
        z = np.asarray(z, np.float64)
        return self._ppf2(ndtr(z), ndtr(-z))

    def _quantile(self, q):
        return self._ppf2(q, 1.0 - q)


@dataclass(frozen=True)
class _Scipy(_Continuous):
    """Host side from a frozen ``scipy.stats`` distribution."""

    def _make_rv(self):
        raise NotImplementedError

    def _rv(self):
        return _frozen_rv(self)

    def _cdf(self, x):
        return self._rv().cdf(x)

    def _sf(self, x):
        return self._rv().sf(x)

    def _ppf2(self, p, s):
        rv = self._rv()
        p, s = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(s, np.float64))
        lower = p <= 0.5
        out = np.empty(p.shape)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the table build checks accuracy
            out[lower] = rv.ppf(p[lower])
            out[~lower] = rv.isf(s[~lower])
        return out

    @property
    def mean(self):
        return float(self._rv().mean())

    @property
    def std(self):
        return float(self._rv().std())

    @property
    def support(self):
        lo, hi = self._rv().support()
        return float(lo), float(hi)


@functools.lru_cache(maxsize=4096)
def _frozen_rv(d: _Scipy):
    return d._make_rv()  # building a frozen scipy distribution is slow (~0.2 ms)


@dataclass(frozen=True)
class _Tabulated(_Continuous):
    """Sampled through a host-built z-space quantile table (see :mod:`.tables`)."""

    table: ZTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", build_table(self.x_of_z, self._cdf, self._sf))

    def from_normal(self, z):
        return self.table(jnp.asarray(z))


@dataclass(frozen=True)
class Normal(_Scipy):
    loc: float
    scale: float
    family: ClassVar[str] = "normal"

    def _make_rv(self):
        return stats.norm(self.loc, self.scale)

    def from_normal(self, z):
        return self.loc + self.scale * z


@dataclass(frozen=True)
class LogNormal(_Scipy):
    mu: float
    sigma: float
    family: ClassVar[str] = "lognormal"

    def _make_rv(self):
        return stats.lognorm(self.sigma, scale=math.exp(self.mu))

    def from_normal(self, z):
        return jnp.exp(self.mu + self.sigma * z)


@dataclass(frozen=True)
class Uniform(_Scipy):
    low: float
    high: float
    family: ClassVar[str] = "uniform"

    def _make_rv(self):
        return stats.uniform(self.low, self.high - self.low)

    def from_normal(self, z):
        return jnp.clip(self.low + (self.high - self.low) * jndtr(z), self.low, self.high)


@dataclass(frozen=True)
class LogUniform(_Scipy):
    low: float
    high: float
    family: ClassVar[str] = "loguniform"

    def _make_rv(self):
        return stats.loguniform(self.low, self.high)

    def from_normal(self, z):
        a, b = math.log(self.low), math.log(self.high)
        return jnp.clip(jnp.exp(a + (b - a) * jndtr(z)), self.low, self.high)


@dataclass(frozen=True)
class Triangular(_Scipy):
    low: float
    mode: float
    high: float
    family: ClassVar[str] = "triangular"

    def _make_rv(self):
        w = self.high - self.low
        return stats.triang((self.mode - self.low) / w, loc=self.low, scale=w)

    def from_normal(self, z):
        a, c, b = self.low, self.mode, self.high
        u, v = jndtr(z), jndtr(-z)  # v = 1 - u, exact in the upper tail
        left = a + jnp.sqrt(u * ((b - a) * (c - a)))
        right = b - jnp.sqrt(v * ((b - a) * (b - c)))
        return jnp.clip(jnp.where(u < (c - a) / (b - a), left, right), a, b)


@dataclass(frozen=True)
class Beta(_Tabulated, _Scipy):
    alpha: float
    beta: float
    low: float = 0.0
    high: float = 1.0
    family: ClassVar[str] = "beta"

    def _make_rv(self):
        return stats.beta(self.alpha, self.beta, loc=self.low, scale=self.high - self.low)


@dataclass(frozen=True)
class Pert(_Tabulated, _Scipy):
    """PERT(min, mode, max): Beta(1 + 4(mode-min)/(max-min), 1 + 4(max-mode)/(max-min))."""

    low: float
    mode: float
    high: float
    family: ClassVar[str] = "pert"

    def _make_rv(self):
        w = self.high - self.low
        a = 1 + 4 * (self.mode - self.low) / w
        b = 1 + 4 * (self.high - self.mode) / w
        return stats.beta(a, b, loc=self.low, scale=w)


@dataclass(frozen=True)
class Gamma(_Tabulated, _Scipy):
    shape: float
    scale: float
    family: ClassVar[str] = "gamma"

    def _make_rv(self):
        return stats.gamma(self.shape, scale=self.scale)


@dataclass(frozen=True)
class StudentT(_Tabulated, _Scipy):
    df: float
    loc: float = 0.0
    scale: float = 1.0
    family: ClassVar[str] = "student_t"

    def _make_rv(self):
        return stats.t(self.df, self.loc, self.scale)

    @property
    def mean(self):
        return self.loc if self.df > 1 else math.nan

    @property
    def std(self):
        if self.df <= 1:
            return math.nan
        return self.scale * math.sqrt(self.df / (self.df - 2)) if self.df > 2 else math.inf


def _zgrid_moments(d: _Continuous) -> tuple[float, float]:
    z = np.linspace(-9.0, 9.0, 36001)
    wts = stats.norm.pdf(z) * (z[1] - z[0])
    x = d.x_of_z(z)
    m = float(np.sum(wts * x) / np.sum(wts))
    v = float(np.sum(wts * (x - m) ** 2) / np.sum(wts))
    return m, math.sqrt(max(v, 0.0))


def truncation_ends(base: _Continuous, low: float, high: float) -> tuple[float, ...]:
    """``(F(low), S(low), F(high), S(high), mass)`` of ``base``; mass without cancellation."""
    lo, hi = np.array([low], np.float64), np.array([high], np.float64)
    fa, sa = float(base._cdf(lo)[0]), float(base._sf(lo)[0])
    fb, sb = float(base._cdf(hi)[0]), float(base._sf(hi)[0])
    mass = sa - sb if fa > 0.5 else (fb - fa if fb < 0.5 else 1.0 - fa - sb)
    return fa, sa, fb, sb, mass


@dataclass(frozen=True)
class Truncated(_Tabulated):
    """``base`` conditioned on ``low <= x <= high``."""

    base: _Continuous
    low: float = -math.inf
    high: float = math.inf
    family: ClassVar[str] = "truncated"

    def _ends(self) -> tuple[float, float, float, float, float]:
        return truncation_ends(self.base, self.low, self.high)

    def _cdf(self, x):
        fa, sa, fb, sb, m = self._ends()
        x = np.clip(x, self.low, self.high)
        c = (sa - self.base._sf(x)) / m if fa > 0.5 else (self.base._cdf(x) - fa) / m
        return np.clip(c, 0.0, 1.0)

    def _sf(self, x):
        fa, sa, fb, sb, m = self._ends()
        x = np.clip(x, self.low, self.high)
        s = (fb - self.base._cdf(x)) / m if fb < 0.5 else (self.base._sf(x) - sb) / m
        return np.clip(s, 0.0, 1.0)

    def _ppf2(self, p, s):
        fa, sa, fb, sb, m = self._ends()
        x = self.base._ppf2(fa + m * np.asarray(p), sb + m * np.asarray(s))
        return np.clip(x, self.low, self.high)

    @property
    def support(self):
        lo, hi = self.base.support
        return max(lo, self.low), min(hi, self.high)

    def _moments(self) -> tuple[float, float]:
        bm, bs = self.base.mean, self.base.std
        bounded = math.isfinite(self.low) and math.isfinite(self.high)
        m, s = _zgrid_moments(self)
        if not bounded and not math.isfinite(bm):
            m = bm
        if not bounded and not math.isfinite(bs):
            s = bs
        return m, s

    mean = property(lambda self: self._moments()[0])
    std = property(lambda self: self._moments()[1])


def _bisect_quantile(cdf, sf, p, s, lo, hi, iters: int = 100) -> np.ndarray:
    """Vectorised float64 bisection for x with F(x) = p (p <= 1/2) or S(x) = s (otherwise)."""
    lo, hi = lo.astype(np.float64).copy(), hi.astype(np.float64).copy()
    upper = p > 0.5
    tol = 1e-16 * (np.abs(lo) + np.abs(hi)) + 1e-300
    act = np.flatnonzero(hi - lo > tol)
    for _ in range(iters):
        if act.size == 0:
            break
        a, b = lo[act], hi[act]
        mid = a + 0.5 * (b - a)
        up = upper[act]
        below = np.empty(act.size, bool)
        below[up] = sf(mid[up]) > s[act][up]
        below[~up] = cdf(mid[~up]) < p[act][~up]
        lo[act] = np.where(below, mid, a)
        hi[act] = np.where(below, b, mid)
        act = act[hi[act] - lo[act] > tol[act]]
    return hi


@dataclass(frozen=True)
class Mixture(_Tabulated):
    """Weighted mixture of continuous components; quantiles by float64 bisection of the CDF."""

    weights: tuple[float, ...]
    components: tuple[_Continuous, ...]
    family: ClassVar[str] = "mixture"

    def _cdf(self, x):
        return sum(w * c._cdf(x) for w, c in zip(self.weights, self.components, strict=True))

    def _sf(self, x):
        return sum(w * c._sf(x) for w, c in zip(self.weights, self.components, strict=True))

    def _ppf2(self, p, s):
        p, s = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(s, np.float64))
        shape, p, s = p.shape, p.ravel(), s.ravel()  # the bisection works on 1-D arrays
        qs = np.stack([c._ppf2(p, s) for c in self.components])
        lo, hi = qs.min(axis=0), qs.max(axis=0)
        return _bisect_quantile(self._cdf, self._sf, p, s, lo, hi).reshape(shape)

    @property
    def mean(self):
        return float(sum(w * c.mean for w, c in zip(self.weights, self.components, strict=True)))

    @property
    def std(self):
        m = self.mean
        v = sum(
            w * (c.std**2 + c.mean**2) for w, c in zip(self.weights, self.components, strict=True)
        )
        return math.sqrt(max(v - m * m, 0.0)) if math.isfinite(v) else float(v)

    @property
    def support(self):
        sup = [c.support for c in self.components]
        return min(s[0] for s in sup), max(s[1] for s in sup)


# ----------------------------------------------------------------------------- discrete


_GUIDE_CELLS = 4096
_GUIDE_H = (Z_HI - Z_LO) / _GUIDE_CELLS


def _guide(th: np.ndarray) -> tuple[np.ndarray, int]:
    """Guide table for threshold search: per z-cell, the count of thresholds surely below it, and
    the largest number of thresholds that can fall in one cell (with a margin for rounding)."""
    edges = Z_LO + np.arange(_GUIDE_CELLS + 1) * _GUIDE_H
    margin = 1e-3 * _GUIDE_H
    lo = np.concatenate([[-np.inf], edges[1:-1] - margin])
    hi = np.concatenate([edges[1:-1] + margin, [np.inf]])
    guide = np.searchsorted(th, lo, side="left")
    count = np.searchsorted(th, hi, side="right") - guide
    return guide.astype(np.int32), int(count.max())


@dataclass(frozen=True)
class Discrete(Distribution):
    """Finite distribution: sorted distinct ``values`` with positive ``probs``."""

    values: tuple[float, ...]
    probs: tuple[float, ...]
    family: ClassVar[str] = "discrete"
    is_continuous: ClassVar[bool] = False

    def thresholds(self) -> np.ndarray:
        """z-space cut points ``Phi^{-1}(P(X <= v_k))``, k < m-1 (upper half via the tail sum)."""
        p = np.asarray(self.probs, np.float64)
        lower = np.cumsum(p)[:-1]
        upper = np.cumsum(p[::-1])[::-1][1:]
        return np.where(lower <= 0.5, ndtri(lower), -ndtri(upper))

    def from_normal(self, z):
        z = jnp.asarray(z)
        vals = jnp.asarray(np.asarray(self.values), z.dtype)
        th = self.thresholds().astype(z.dtype)
        if th.size <= 16:
            idx = jnp.sum(z[..., None] >= jnp.asarray(th), axis=-1)
            return vals.at[idx].get(mode="promise_in_bounds")
        guide, k = _guide(th.astype(np.float64))
        t = jnp.clip(jnp.floor((z - Z_LO) * (1.0 / _GUIDE_H)), 0, _GUIDE_CELLS - 1)
        start = jnp.asarray(guide).at[t.astype(jnp.int32)].get(mode="promise_in_bounds")
        th_pad = jnp.asarray(np.concatenate([th, np.full(k, np.inf, th.dtype)]))
        idx = start
        for j in range(k):  # k = most thresholds near one guide cell (usually 1-3)
            idx = idx + (z >= th_pad.at[start + j].get(mode="promise_in_bounds"))
        return vals.at[idx].get(mode="promise_in_bounds")

    @property
    def mean(self):
        return float(np.dot(self.values, self.probs))

    @property
    def std(self):
        v, p = np.asarray(self.values), np.asarray(self.probs)
        return float(math.sqrt(max(np.dot(p, (v - np.dot(p, v)) ** 2), 0.0)))

    @property
    def support(self):
        return float(self.values[0]), float(self.values[-1])

    def _quantile(self, q):
        cum = np.cumsum(self.probs)
        idx = np.minimum(np.searchsorted(cum, q - 1e-12, side="left"), len(self.values) - 1)
        return np.asarray(self.values)[idx]

    def _cdf(self, x):
        cum = np.concatenate([[0.0], np.cumsum(self.probs)])
        idx = np.searchsorted(np.asarray(self.values), x, side="right")
        return np.minimum(cum[idx], 1.0)


@dataclass(frozen=True)
class Empirical(Discrete):
    """Resampling of observations: each observation equally likely (ties merged)."""

    family: ClassVar[str] = "empirical"
