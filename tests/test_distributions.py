"""Distribution language: sampling vs scipy.stats, parameterisations, API properties."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from omegaconf import OmegaConf
from scipy import optimize, stats

from mcengine.distributions import FAMILIES, Distribution, from_spec, is_spec, is_uncertain

N = 100_000
KS_CRIT = stats.kstwo.ppf(0.999, N)  # KS statistic critical value at alpha = 0.001


def _gamma_from_quantiles(q1, x1, q2, x2):
    f = lambda a: stats.gamma.ppf(q2, a) / stats.gamma.ppf(q1, a) - x2 / x1  # noqa: E731
    a = optimize.brentq(f, 1e-2, 1e4, xtol=1e-14)
    return stats.gamma(a, scale=x1 / stats.gamma.ppf(q1, a))


def _lognormal_from_quantiles(q1, x1, q2, x2):
    z1, z2 = stats.norm.ppf(q1), stats.norm.ppf(q2)
    s = (np.log(x2) - np.log(x1)) / (z2 - z1)
    return stats.lognorm(s, scale=np.exp(np.log(x1) - s * z1))


class _Trunc:
    """Reference truncation built directly from a scipy distribution."""

    def __init__(self, rv, a=-np.inf, b=np.inf):
        self.rv, self.a, self.b = rv, a, b
        self.m = rv.cdf(b) - rv.cdf(a)

    def cdf(self, x):
        return np.clip(
            (self.rv.cdf(np.clip(x, self.a, self.b)) - self.rv.cdf(self.a)) / self.m, 0, 1
        )

    def moments(self):
        f = lambda x, k: x**k * self.rv.pdf(x) / self.m  # noqa: E731
        m = _quad(lambda x: f(x, 1), self.a, self.b)
        return m, math.sqrt(_quad(lambda x: f(x, 2), self.a, self.b) - m * m)


def _quad(f, a, b):
    from scipy.integrate import quad

    return quad(f, a, b, limit=200)[0]


class _Mix:
    def __init__(self, weights, rvs):
        self.w, self.rvs = weights, rvs

    def cdf(self, x):
        return sum(w * r.cdf(x) for w, r in zip(self.w, self.rvs, strict=True))

    def moments(self):
        m = sum(w * r.mean() for w, r in zip(self.w, self.rvs, strict=True))
        v = sum(w * (r.var() + r.mean() ** 2) for w, r in zip(self.w, self.rvs, strict=True))
        return m, math.sqrt(v - m * m)


def _sc(rv):
    return rv, (rv.mean(), rv.std())


ln_mean_sd = math.log1p(0.25)
CASES = {
    "normal": ({"dist": "normal", "mean": 3, "sd": 2}, _sc(stats.norm(3, 2))),
    "lognormal_median": (
        {"dist": "lognormal", "median": 30000, "sd_log": 0.4},
        _sc(stats.lognorm(0.4, scale=30000)),
    ),
    "lognormal_mean_log": (
        {"dist": "lognormal", "mean_log": 1.0, "sd_log": 0.8},
        _sc(stats.lognorm(0.8, scale=math.e)),
    ),
    "lognormal_mean_sd": (
        {"dist": "lognormal", "mean": 100, "sd": 50},
        _sc(stats.lognorm(math.sqrt(ln_mean_sd), scale=100 * math.exp(-ln_mean_sd / 2))),
    ),
    "lognormal_p05_p95": (
        {"dist": "lognormal", "p05": 25000, "p95": 40000},
        _sc(_lognormal_from_quantiles(0.05, 25000, 0.95, 40000)),
    ),
    "lognormal_p10_p90": (
        {"dist": "lognormal", "p90": 8, "p10": 2},
        _sc(_lognormal_from_quantiles(0.1, 2, 0.9, 8)),
    ),
    "uniform": ({"dist": "uniform", "low": 2, "high": 5}, _sc(stats.uniform(2, 3))),
    "loguniform": ({"dist": "loguniform", "low": 1, "high": 1000}, _sc(stats.loguniform(1, 1000))),
    "triangular": (
        {"dist": "triangular", "min": 0, "mode": 2, "max": 10},
        _sc(stats.triang(0.2, loc=0, scale=10)),
    ),
    "triangular_mode_at_max": (
        {"dist": "triangular", "min": 1, "mode": 3, "max": 3},
        _sc(stats.triang(1.0, loc=1, scale=2)),
    ),
    "pert": (
        {"dist": "pert", "min": 0, "mode": 2, "max": 10},
        _sc(stats.beta(1 + 4 * 2 / 10, 1 + 4 * 8 / 10, loc=0, scale=10)),
    ),
    "beta": ({"dist": "beta", "alpha": 0.5, "beta": 0.7}, _sc(stats.beta(0.5, 0.7))),
    "beta_mean_sd_rescaled": (
        {"dist": "beta", "mean": 30, "sd": 5, "low": 10, "high": 60},
        # m = 0.4, v = 0.01 -> nu = 0.24 / 0.01 - 1 = 23 -> alpha 9.2, beta 13.8
        _sc(stats.beta(9.2, 13.8, loc=10, scale=50)),
    ),
    "gamma_shape_scale": (
        {"dist": "gamma", "shape": 0.5, "scale": 2},
        _sc(stats.gamma(0.5, scale=2)),
    ),
    "gamma_shape_rate": ({"dist": "gamma", "shape": 3, "rate": 0.5}, _sc(stats.gamma(3, scale=2))),
    "gamma_mean_sd": ({"dist": "gamma", "mean": 10, "sd": 4}, _sc(stats.gamma(6.25, scale=1.6))),
    "gamma_p05_p95": (
        {"dist": "gamma", "p05": 10, "p95": 40},
        _sc(_gamma_from_quantiles(0.05, 10, 0.95, 40)),
    ),
    "student_t": ({"dist": "t", "df": 3, "loc": 1, "scale": 2}, _sc(stats.t(3, 1, 2))),
    "student_t_heavy": ({"dist": "student_t", "df": 1.5}, (stats.t(1.5), None)),
    "truncated_normal_direct": (
        {"dist": "normal", "mean": 1, "sd": 2, "low": 0},
        _sc(stats.truncnorm(-0.5, np.inf, loc=1, scale=2)),
    ),
    "truncated_normal_far_tail": (
        {"dist": "truncated", "base": {"dist": "normal", "mean": 0, "sd": 1}, "low": 6},
        _sc(stats.truncnorm(6, np.inf)),
    ),
    "truncated_lognormal": (
        {"dist": "truncated", "base": {"dist": "lognormal", "median": 1, "sd_log": 1}, "high": 3},
        (lambda t: (t, t.moments()))(_Trunc(stats.lognorm(1.0), b=3)),
    ),
    "truncated_t_both": (
        {"dist": "student_t", "df": 1, "low": -2, "high": 5},
        (lambda t: (t, t.moments()))(_Trunc(stats.t(1), -2, 5)),
    ),
    "mixture": (
        {
            "dist": "mixture",
            "weights": [0.3, 0.7],
            "components": [
                {"dist": "normal", "mean": 0, "sd": 1},
                {"dist": "lognormal", "median": 20, "sd_log": 0.2},
            ],
        },
        (lambda m: (m, m.moments()))(
            _Mix([0.3, 0.7], [stats.norm(), stats.lognorm(0.2, scale=20)])
        ),
    ),
}


@pytest.fixture(scope="module")
def key():
    return jax.random.key(20240601)


def _draw(d: Distribution, key) -> np.ndarray:
    return np.asarray(jax.jit(d.sample, static_argnums=1)(key, (N,)), np.float64)


@pytest.mark.parametrize("name", list(CASES))
def test_samples_match_scipy(name, key):
    spec, (ref, moments) = CASES[name]
    d = from_spec(spec, f"test.{name}")
    x = _draw(d, key)
    assert np.isfinite(x).all()
    ks = stats.kstest(x, ref.cdf)
    assert ks.statistic < KS_CRIT, f"KS {ks.statistic:.5f} >= critical {KS_CRIT:.5f}"
    if moments is not None:
        mean, sd = moments
        assert abs(x.mean() - mean) < 4 * sd / math.sqrt(N)
        assert d.mean == pytest.approx(mean, rel=1e-6, abs=1e-9)
        assert d.std == pytest.approx(sd, rel=1e-5)
    lo, hi = d.support
    assert lo <= x.min() and x.max() <= hi
    qs = np.array([0.01, 0.3, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(d.cdf(d.quantile(qs)), qs, rtol=1e-7)
    np.testing.assert_allclose(ref.cdf(d.quantile(qs)), qs, rtol=1e-6)


def test_undefined_moments():
    d = from_spec({"dist": "t", "df": 1.5})
    assert d.std == math.inf
    c = from_spec({"dist": "t", "df": 1})
    assert math.isnan(c.mean)


def _discrete_ref(values, probs):
    return stats.rv_discrete(values=(values, probs))


# every family: the continuous cases above (scipy reference with a cdf), plus the discrete ones
# (scipy reference with ppf and cdf) and the constant (no reference)
SHAPE_CASES = {
    **{name: (spec, ref) for name, (spec, (ref, _)) in CASES.items()},
    "constant": ({"dist": "constant", "value": 4.5}, None),
    "discrete": (
        {"dist": "discrete", "values": [1, 2, 10], "probabilities": [0.2, 0.3, 0.5]},
        _discrete_ref([1, 2, 10], [0.2, 0.3, 0.5]),
    ),
    "empirical": (
        {"dist": "empirical", "data": [0.8, 0.85, 0.85, 0.9]},
        _discrete_ref([0.8, 0.85, 0.9], [0.25, 0.5, 0.25]),
    ),
}
LEVELS = np.array([[0.05, 0.3], [0.5, 0.95], [0.001, 0.999]])


def test_shape_cases_cover_every_family():
    assert {from_spec(spec).family for spec, _ in SHAPE_CASES.values()} == set(FAMILIES)


@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_quantile_and_cdf_keep_the_argument_shape(name):
    """Scalar in: a float out; array (or nested list) in: an array of the same shape out, with
    the same values as the scalar calls and as scipy.stats."""
    spec, ref = SHAPE_CASES[name]
    d = from_spec(spec)
    for level in (0.05, np.float64(0.05), np.array(0.05), np.float32(0.05)):
        for out in (d.quantile(level), d.cdf(level)):
            assert isinstance(out, float) and np.shape(out) == (), (level, out)
    for q in (LEVELS, LEVELS.tolist(), LEVELS[0], [0.05], LEVELS[:0]):
        x = d.quantile(q)
        assert isinstance(x, np.ndarray) and x.shape == np.shape(q) and x.dtype == np.float64
        c = d.cdf(x)
        assert isinstance(c, np.ndarray) and c.shape == np.shape(q) and c.dtype == np.float64
    x = d.quantile(LEVELS)
    np.testing.assert_array_equal(x.ravel(), [d.quantile(q) for q in LEVELS.ravel()])
    np.testing.assert_array_equal(d.cdf(x).ravel(), [d.cdf(v) for v in x.ravel()])
    if ref is None:
        np.testing.assert_array_equal(x, np.full(LEVELS.shape, 4.5))
    elif d.is_continuous:
        np.testing.assert_allclose(ref.cdf(x), LEVELS, rtol=1e-6)
        np.testing.assert_allclose(d.cdf(x), ref.cdf(x), rtol=1e-7)
    else:
        np.testing.assert_array_equal(x, ref.ppf(LEVELS))
        np.testing.assert_allclose(d.cdf(x), ref.cdf(x), rtol=1e-12)


@pytest.mark.parametrize(
    "spec, pairs",
    [
        ({"dist": "lognormal", "p05": 25000, "p95": 40000}, [(0.05, 25000), (0.95, 40000)]),
        ({"dist": "lognormal", "p2.5": 3, "p97_5": 9}, [(0.025, 3), (0.975, 9)]),
        ({"dist": "gamma", "p10": 1.5, "p90": 7}, [(0.1, 1.5), (0.9, 7)]),
        ({"dist": "gamma", "p05": 10, "p95": 40}, [(0.05, 10), (0.95, 40)]),
    ],
)
def test_quantile_parameterisations_reproduce_quantiles(spec, pairs):
    d = from_spec(spec)
    for q, x in pairs:
        assert float(d.quantile(q)) == pytest.approx(x, rel=1e-9)


def test_discrete_frequencies(key):
    d = from_spec(
        {"dist": "discrete", "values": [3, 1, 2, 10], "probabilities": [0.1, 0.2, 0.3, 0.4]}
    )
    x = _draw(d, key)
    vals, counts = np.unique(x, return_counts=True)
    np.testing.assert_array_equal(vals, [1, 2, 3, 10])
    expected = N * np.array([0.2, 0.3, 0.1, 0.4])
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    assert abs(x.mean() - d.mean) < 4 * d.std / math.sqrt(N)
    np.testing.assert_allclose(d.cdf([0, 1, 2.5, 10]), [0, 0.2, 0.5, 1.0])
    np.testing.assert_allclose(d.quantile([0.1, 0.2, 0.21, 0.95]), [1, 1, 2, 10])


def test_empirical_frequencies(key):
    data = np.random.default_rng(3).gamma(2.0, size=500).round(1)
    d = from_spec({"dist": "empirical", "data": data.tolist()})
    x = _draw(d, key)
    vals, expected_counts = np.unique(data, return_counts=True)
    got = np.array([(x == np.float32(v)).sum() for v in vals])
    assert got.sum() == N
    assert stats.chisquare(got, N * expected_counts / data.size).pvalue > 1e-3


def test_constant_forms(key):
    for spec in (
        4.5,
        "4.5",
        {"dist": "constant", "value": 4.5},
        {"dist": "discrete", "values": [4.5], "probabilities": [1]},
    ):
        d = from_spec(spec)
        assert d.is_constant and not is_uncertain(
            spec if isinstance(spec, dict) else {"dist": "constant", "value": 4.5}
        )
        assert float(d.sample(key)) == 4.5 and d.std == 0.0
    assert is_uncertain({"dist": "normal", "mean": 0, "sd": 1})
    assert not is_spec(3.0)


def test_accepts_omegaconf_and_string_numbers():
    cfg = OmegaConf.create({"x": {"dist": "lognormal", "p05": "2.5e4", "p95": 40000}})
    d = from_spec(cfg.x, "fleet.gpu_price")
    assert float(d.quantile(0.05)) == pytest.approx(25000, rel=1e-9)
    m = OmegaConf.create(
        {
            "dist": "mixture",
            "weights": [0.5, 0.5],
            "components": [
                {"dist": "normal", "mean": 0, "sd": 1},
                {"dist": "uniform", "low": 0, "high": 1},
            ],
        }
    )
    assert from_spec(m).is_continuous


def test_hashable_jit_static_and_vmap(key):
    a = from_spec({"dist": "gamma", "shape": 2, "scale": 3})
    b = from_spec({"dist": "gamma", "mean": 6, "sd": math.sqrt(18)})
    assert hash(a) == hash(from_spec({"dist": "gamma", "shape": 2, "scale": 3}))
    assert {a, b}
    f = jax.jit(lambda d, z: d.from_normal(z), static_argnums=0)
    z = jnp.linspace(-3, 3, 7)
    np.testing.assert_allclose(f(a, z), a.quantile(stats.norm.cdf(np.asarray(z))), rtol=1e-5)
    keys = jax.random.split(key, 4)
    out = jax.jit(jax.vmap(lambda k: a.sample(k, (3,))))(keys)
    assert out.shape == (4, 3)


@pytest.mark.parametrize("name", list(CASES))
def test_from_normal_monotone(name):
    d = from_spec(CASES[name][0])
    z = jnp.linspace(-8.5, 8.5, 200_001, dtype=jnp.float32)
    x = np.asarray(jax.jit(d.from_normal)(z))
    assert np.all(np.diff(x) >= 0)


class _Mixture:
    """scipy has no mixture: 0.5 N(0, 1) + 0.5 N(30, 1) by hand."""

    @staticmethod
    def cdf(x):
        return 0.5 * stats.norm.cdf(x) + 0.5 * stats.norm.cdf(x, 30)

    @staticmethod
    def sf(x):
        return 0.5 * stats.norm.sf(x) + 0.5 * stats.norm.sf(x, 30)


@pytest.mark.parametrize(
    "spec, reference",
    [
        ({"dist": "gamma", "shape": 0.5, "scale": 1}, stats.gamma(0.5)),
        ({"dist": "beta", "alpha": 0.5, "beta": 3}, stats.beta(0.5, 3)),
        ({"dist": "t", "df": 2}, stats.t(2)),
        ({"dist": "normal", "mean": 0, "sd": 1, "low": -1, "high": 0.5}, stats.truncnorm(-1, 0.5)),
        (
            {
                "dist": "mixture",
                "weights": [0.5, 0.5],
                "components": [
                    {"dist": "normal", "mean": 0, "sd": 1},
                    {"dist": "normal", "mean": 30, "sd": 1},
                ],
            },
            _Mixture,
        ),
    ],
    ids=["gamma", "beta", "t", "truncnorm", "mixture"],
)
def test_table_cdf_error_bound(spec, reference):
    """|F(x(z)) - Phi(z)| stays within the documented 1e-6 (+ float32 rounding of x), with F
    from scipy (not the engine's own CDF)."""
    d = from_spec(spec)
    assert d.table.max_error <= 0.5e-6
    z = np.linspace(-6, 6, 200_001, dtype=np.float32)
    x = np.asarray(jax.jit(d.from_normal)(jnp.asarray(z)), np.float64)
    zz = z.astype(np.float64)
    err = np.where(
        zz <= 0,
        np.abs(reference.cdf(x) - stats.norm.cdf(zz)),
        np.abs(reference.sf(x) - stats.norm.sf(zz)),
    )
    fx = np.abs(np.spacing(np.float32(x))).astype(np.float64)  # float32 rounding of x ...
    slack = (reference.cdf(x + fx) - reference.cdf(x - fx)).max()  # ... moves F at most this
    assert err.max() <= 1e-6 + slack + 1e-9
