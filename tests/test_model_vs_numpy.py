"""The engine against the independent NumPy reference, with uncertainty.

Same config in both (uncertain inputs of several families, price and demand volatility with
correlated shocks, generation and churn Poisson jumps, financing, failures with replacement,
tax), each with its own random numbers; statistics must agree within 4 combined standard errors.
Quantiles are compared through the reference CDF: at the engine's q-quantile x, the reference's
P(X <= x) must be q within 4 SE of a proportion (plus the engine's declared quantile CDF error
bound); for the discrete break-even month, x must be a q-quantile of the reference within that
tolerance, i.e. P_ref(X < x) <= q + tol and P_ref(X <= x) >= q - tol.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy_model import COMPONENTS, flatten, sample_inputs, simulate_numpy
from scipy import stats
from test_worked_examples import full_params, model_overrides

N = 200_000
Z = 4.0  # standard errors allowed

CONFIG = {
    "horizon_months": 60,
    "discount_rate": {"dist": "uniform", "low": 0.08, "high": 0.12},
    "fleet": {
        "gpus": 64,
        "gpu_price": {"dist": "lognormal", "median": 25_000.0, "sd_log": 0.15},
        "system_overhead": {"dist": "triangular", "min": 0.15, "mode": 0.25, "max": 0.4},
        "power_kw": 1.2,
        "annual_failure_rate": 0.05,
        "replace_failures": True,
        "salvage_fraction": 0.1,
    },
    "upfront": {"training": 100_000.0, "facility": 50_000.0},
    "financing": {"debt_fraction": 0.5, "interest_rate": 0.08, "term_months": 36},
    "market": {
        "price0": {"dist": "pert", "min": 3.0, "mode": 4.0, "max": 5.0},
        "price_trend": {"dist": "normal", "mean": -0.1, "sd": 0.08, "low": -0.9},
        "price_volatility": 0.3,
        "generation_rate": 0.5,
        "generation_price_drop": {
            "dist": "beta",
            "alpha": 2.0,
            "beta": 5.0,
            "low": 0.05,
            "high": 0.45,
        },
        "generation_demand_shock": 1.1,
        "demand_correlation": 0.5,
        "revenue_share": 0.05,
    },
    "churn": {
        "release_rate": 2.0,
        "price_shock": 0.95,
        "demand_shock": 0.97,
        "retrain_cost": {"dist": "lognormal", "p05": 5_000.0, "p95": 20_000.0},
    },
    "demand": {
        "utilization0": {"dist": "beta", "alpha": 6.0, "beta": 3.0},
        "growth": {"dist": "normal", "mean": 0.15, "sd": 0.15, "low": 0.0},
        "volatility": 0.25,
        "max_utilization": 0.95,
    },
    "efficiency": {"gain": 0.1},
    "opex": {
        "electricity_price": {"dist": "triangular", "min": 0.05, "mode": 0.08, "max": 0.14},
        "colocation_per_kw_month": 60.0,
        "staff_per_month": 2_000.0,
        "maintenance_per_gpu_month": 15.0,
        "cost_per_unit": 0.02,
    },
    "tax": {"rate": 0.21},
    # the copula path, end to end: rank correlations between uncertain inputs
    "correlations": [
        ["market.price0", "demand.utilization0", -0.4],
        ["fleet.gpu_price", "market.price_trend", 0.3],
    ],
}


def reference(config: dict = CONFIG, n: int = N, seed: int = 12345) -> dict:
    rng = np.random.default_rng(seed)
    return simulate_numpy(sample_inputs(config, n, rng), n, rng)


@pytest.fixture(scope="module")
def ref():
    return reference()


@pytest.fixture(scope="module")
def engine():
    import mcengine

    scenario = flatten(_container(mcengine.load_config(scenario="gpu_cloud")))
    cfg = mcengine.load_config(
        scenario="gpu_cloud",
        overrides=[
            *model_overrides(CONFIG, base=scenario),
            f"n_samples={N}",
            "seed=2024",
            "++progress=false",
            "sensitivity.deciles=false",
        ],
    )
    resolved = flatten(_container(cfg))
    assert resolved["correlations"] == CONFIG["correlations"]
    for path, value in full_params(CONFIG).items():  # the engine really got this config
        assert resolved.get(path) == value, (path, resolved.get(path), value)
    return mcengine.simulate(cfg)


def _container(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def _cdf_bound(ds) -> float:
    return float(ds.attrs.get("quantile_cdf_error_bound", 0.0) or 0.0)


def _prop_tol(p: float, n_ref: int, n_eng: int) -> float:
    """4 combined SE of a proportion p estimated from two independent samples."""
    p = min(max(p, 1.0 / n_ref), 1 - 1.0 / n_ref)  # never a zero tolerance
    return Z * math.sqrt(p * (1 - p) * (1 / n_ref + 1 / n_eng))


def test_reference_self_consistency(ref):
    """The reference's own waterfall sums to its NPV and its break-even implies recouping."""
    total = sum(ref[f"pv_{c}"] for c in COMPONENTS)
    np.testing.assert_allclose(total, ref["npv"], rtol=1e-9, atol=1e-6)
    assert np.array_equal(np.isfinite(ref["breakeven_month"]), ref["recouped"])
    assert (ref["payback_month"] <= ref["breakeven_month"]).all()  # discounting only delays
    np.testing.assert_array_equal(ref["cum_cash"][:, -1], ref["npv"])
    p = ref["recouped"].mean()
    assert 0.3 < p < 0.9, p  # a config where recouping is genuinely uncertain


def test_p_recoup(engine, ref):
    n_eng = int(engine.attrs.get("n_samples", N))
    p_ref = ref["recouped"].mean()
    p_eng = float(engine["p_recoup"])
    assert abs(p_eng - p_ref) <= _prop_tol(p_ref, N, n_eng), (p_eng, p_ref)
    assert math.isclose(
        float(engine["p_recoup_se"]), math.sqrt(p_eng * (1 - p_eng) / n_eng), rel_tol=1e-3
    )


def test_npv_mean(engine, ref):
    n_eng = int(engine.attrs.get("n_samples", N))
    sd = ref["npv"].std(ddof=1)
    diff = float(engine["npv_mean"]) - ref["npv"].mean()
    assert abs(diff) <= Z * sd * math.sqrt(1 / N + 1 / n_eng), (
        float(engine["npv_mean"]),
        ref["npv"].mean(),
    )
    # the engine's SE is its sample sd / sqrt(n); two sample sds of NPV (kurtosis k) differ by
    # a relative sd of sqrt((k - 1) / 4 * (1 / n1 + 1 / n2))
    k = stats.kurtosis(ref["npv"], fisher=False)
    rel = Z * math.sqrt((k - 1) / 4 * (1 / N + 1 / n_eng))
    assert math.isclose(float(engine["npv_se"]), sd / math.sqrt(n_eng), rel_tol=rel)


def test_p_breakeven_by(engine, ref):
    n_eng = int(engine.attrs.get("n_samples", N))
    by = engine["p_breakeven_by"]
    assert float(by.sel(month=0)) == 0.0
    for month in (12, 18, 24, 36, 48, 60):
        p_ref = (ref["breakeven_month"] <= month).mean()
        p_eng = float(by.sel(month=month))
        assert abs(p_eng - p_ref) <= _prop_tol(p_ref, N, n_eng), (month, p_eng, p_ref)
    np.testing.assert_allclose(float(by.sel(month=60)), float(engine["p_recoup"]), rtol=1e-6)


@pytest.mark.parametrize("key", ["breakeven_month", "payback_month"])
def test_discrete_quantiles(engine, ref, key):
    """Each engine quantile of the month is a quantile of the reference (median included)."""
    n_eng = int(engine.attrs.get("n_samples", N))
    x = ref[key]
    bound = _cdf_bound(engine)
    levels = engine["quantile"].values
    assert np.isclose(levels, 0.5).any(), "the median must be reported"
    for q, m in zip(levels, engine[key].values, strict=True):
        tol = _prop_tol(q, N, n_eng) + bound
        below, at_most = (x < m).mean(), (x <= m).mean()
        assert below <= q + tol and at_most >= q - tol, (key, q, m, below, at_most)


@pytest.mark.parametrize("key", ["npv", "gross_margin", "spend_to_revenue"])
def test_continuous_quantiles(engine, ref, key):
    """At the engine's q-quantile the reference CDF is q (medians included)."""
    n_eng = int(engine.attrs.get("n_samples", N))
    x = ref[key]
    bound = _cdf_bound(engine)
    for q, value in zip(engine["quantile"].values, engine[key].values, strict=True):
        cdf = (x <= value).mean()
        assert abs(cdf - q) <= _prop_tol(q, N, n_eng) + bound, (key, q, value, cdf)


def test_cum_cash_fan(engine, ref):
    """The fan chart at a few months, every quantile, through the reference CDF at that month."""
    n_eng = int(engine.attrs.get("n_samples", N))
    bound = _cdf_bound(engine)
    for month in (0, 1, 12, 30, 60):
        x = ref["cum_cash"][:, month]
        for q in engine["quantile"].values:
            value = float(engine["cum_cash"].sel(month=month, quantile=q))
            cdf = (x <= value).mean()
            assert abs(cdf - q) <= _prop_tol(q, N, n_eng) + bound, (month, q, value, cdf)


def test_pv_means(engine, ref):
    n_eng = int(engine.attrs.get("n_samples", N))
    pv = engine["pv"]
    assert [str(c) for c in pv["component"].values] == list(COMPONENTS)
    for c in COMPONENTS:
        x = ref[f"pv_{c}"]
        tol = Z * x.std(ddof=1) * math.sqrt(1 / N + 1 / n_eng) + 1e-5 * abs(x).mean()
        got = float(pv.sel(component=c))
        assert abs(got - x.mean()) <= tol, (c, got, x.mean(), tol)
    np.testing.assert_allclose(
        float(pv.sum()), float(engine["npv_mean"]), rtol=1e-5, atol=1e-6 * float(abs(pv).sum())
    )


def test_sample_inputs_families():
    """The reference's sampler draws each family's textbook distribution (KS against scipy)
    and the requested rank correlation (Fisher z)."""
    n = 100_000
    cfg = {
        "a": {
            "normal": {"dist": "normal", "mean": 2.0, "sd": 0.5},
            "ln_median": {"dist": "lognormal", "median": 3.0, "sd_log": 0.4},
            "ln_q": {"dist": "lognormal", "p05": 0.1, "p95": 0.3},
            "unif": {"dist": "uniform", "low": -1.0, "high": 3.0},
            "pert": {"dist": "pert", "min": 1.0, "mode": 2.0, "max": 6.0},
            "tri": {"dist": "triangular", "min": 1.0, "mode": 2.0, "max": 6.0},
            "beta": {"dist": "beta", "alpha": 6.0, "beta": 3.0},
            "trunc": {"dist": "normal", "mean": 0.15, "sd": 0.15, "low": 0.0},
            "plain": 7.0,
        }
    }
    x = sample_inputs(cfg, n, np.random.default_rng(5))["a"]
    assert x["plain"] == 7.0
    z95 = stats.norm.ppf(0.95)
    want = {  # the textbook distributions, from scipy
        "normal": stats.norm(2.0, 0.5),
        "ln_median": stats.lognorm(0.4, scale=3.0),
        "ln_q": stats.lognorm(math.log(3) / (2 * z95), scale=math.sqrt(0.1 * 0.3)),
        "unif": stats.uniform(-1.0, 4.0),
        "pert": stats.beta(1 + 4 * 1 / 5, 1 + 4 * 4 / 5, loc=1.0, scale=5.0),
        "tri": stats.triang(0.2, loc=1.0, scale=5.0),
        "beta": stats.beta(6.0, 3.0),
        "trunc": stats.truncnorm(-1.0, np.inf, loc=0.15, scale=0.15),
    }
    crit = stats.kstwo.ppf(0.999, n)  # one-sample KS at the 0.1 % level
    for name, dist in want.items():
        assert stats.kstest(x[name], dist.cdf).statistic < crit, name
    corr = sample_inputs(
        {**cfg, "correlations": [["a.normal", "a.unif", 0.6]]}, n, np.random.default_rng(6)
    )["a"]
    r = stats.spearmanr(corr["normal"], corr["unif"]).statistic
    assert abs(math.atanh(r) - math.atanh(0.6)) <= 4 * math.sqrt(1.06 / (n - 3))
