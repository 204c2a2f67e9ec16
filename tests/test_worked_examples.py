"""Worked examples with constant inputs: hand model == NumPy reference == engine.

Every example is a deterministic future (no volatility, no arrivals). The scalar ``hand_model``
and the vectorised ``numpy_model`` must agree to 1e-9 relative; the engine, run at float64 on the
``gpu_cloud`` scenario with *every* model parameter overridden to a constant, must report each
quantile (and each month of ``cum_cash``) equal to the hand computation to float64 rounding.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from hand_model import hand_model
from numpy_model import COMPONENTS, DEFAULTS, simulate_numpy

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# The examples (nested dicts, MODEL.md names; missing parameters take MODEL.md's defaults)
# ---------------------------------------------------------------------------------------------

BASE = {
    "fleet": {"gpus": 8, "gpu_price": 25_000.0, "system_overhead": 0.25, "power_kw": 1.0},
    "market": {"price0": 2.5, "price_trend": -0.15},
    "demand": {"utilization0": 0.7, "growth": 0.1},
    "opex": {"electricity_price": 0.08},
}


def _with(base: dict, **sections) -> dict:
    """``base`` with some sections updated: ``_with(BASE, fleet={"gpus": 4})``."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for name, values in sections.items():
        if isinstance(values, dict):
            out[name] = {**out.get(name, {}), **values}
        else:
            out[name] = values
    return out


EXAMPLES = {
    "base": BASE,
    # 60 % debt at 8 % over 36 months: level annuity, interest deductible
    "financing": _with(
        BASE,
        financing={"debt_fraction": 0.6, "interest_rate": 0.08, "term_months": 36},
        tax={"rate": 0.21},
    ),
    "interest_free_loan": _with(
        BASE, financing={"debt_fraction": 0.5, "interest_rate": 0.0, "term_months": 24}
    ),
    # a loan whose term runs past the horizon: payments beyond T are outside it
    "loan_past_horizon": _with(
        BASE,
        horizon_months=24,
        financing={"debt_fraction": 0.7, "interest_rate": 0.09, "term_months": 48},
    ),
    "failures_no_replacement": _with(
        BASE, fleet={"annual_failure_rate": 0.08}, opex={"maintenance_per_gpu_month": 25.0}
    ),
    # replacements follow the price index and are depreciated after purchase
    "failures_replacement": _with(
        BASE,
        fleet={"annual_failure_rate": 0.08, "replace_failures": True},
        tax={"rate": 0.25, "depreciation_years": 2},
        horizon_months=48,
    ),
    # training expensed at month 0, carried forward; facility depreciated; salvage
    "tax_loss_carry_forward": _with(
        BASE,
        upfront={"training": 120_000.0, "facility": 60_000.0},
        tax={"rate": 0.21, "depreciation_years": 4, "facility_years": 3},
        fleet={"salvage_fraction": 0.15},
    ),
    "opex_escalations": _with(
        BASE,
        opex={
            "colocation_per_kw_month": 120.0,
            "colocation_escalation": 0.04,
            "electricity_trend": 0.05,
            "staff_per_month": 1_000.0,
            "maintenance_per_gpu_month": 15.0,
            "cost_per_unit": 0.02,
            "pue": 1.4,
            "idle_power_fraction": 0.25,
        },
        discount_rate=0.12,
    ),
    # an inference business: tokens per GPU-hour, channel fee, software gains, demand cap
    "revenue_share_efficiency_cap": _with(
        BASE,
        market={"units_per_gpu_hour": 3.0, "price0": 0.9, "revenue_share": 0.15},
        efficiency={"gain": 0.2},
        demand={"growth": 0.6, "max_utilization": 0.85},
    ),
    "never_recouped": _with(
        BASE, market={"price_trend": -0.6}, tax={"rate": 0.3}, upfront={"training": 50_000.0}
    ),
    "everything": {
        "horizon_months": 84,
        "discount_rate": 0.09,
        "fleet": {
            "gpus": 16,
            "gpu_price": 28_000.0,
            "system_overhead": 0.3,
            "power_kw": 1.3,
            "annual_failure_rate": 0.05,
            "replace_failures": True,
            "salvage_fraction": 0.1,
        },
        "upfront": {"facility": 150_000.0, "training": 200_000.0},
        "financing": {"debt_fraction": 0.6, "interest_rate": 0.08, "term_months": 36},
        "market": {
            "price0": 3.0,
            "price_trend": -0.12,
            "units_per_gpu_hour": 1.0,
            "revenue_share": 0.05,
        },
        "demand": {"utilization0": 0.55, "growth": 0.35, "max_utilization": 0.92},
        "efficiency": {"gain": 0.1},
        "opex": {
            "electricity_price": 0.09,
            "electricity_trend": 0.02,
            "pue": 1.25,
            "idle_power_fraction": 0.35,
            "colocation_per_kw_month": 100.0,
            "colocation_escalation": 0.03,
            "staff_per_month": 3_000.0,
            "maintenance_per_gpu_month": 20.0,
            "cost_per_unit": 0.03,
        },
        "tax": {"rate": 0.25, "depreciation_years": 4, "facility_years": 5},
    },
    # the hand-checked example of test_twelve_month_by_hand
    "twelve_months": {
        "horizon_months": 12,
        "discount_rate": 0.10,
        "fleet": {
            "gpus": 10,
            "gpu_price": 10_000.0,
            "system_overhead": 0.0,
            "power_kw": 1.0,
            "salvage_fraction": 0.25,
        },
        "market": {"price0": 2.0, "price_trend": 0.0},
        "demand": {"utilization0": 0.5, "growth": 0.0},
        "opex": {"electricity_price": 0.1, "pue": 1.0, "idle_power_fraction": 0.3},
    },
}


# ---------------------------------------------------------------------------------------------
# Hand model vs NumPy reference
# ---------------------------------------------------------------------------------------------


def _scale(h: dict) -> float:
    """Money scale of an example, for absolute tolerances on quantities that may cross 0."""
    return h["K"] + sum(abs(v) for v in h["pv"].values())


def assert_matches_hand(h: dict, got: dict, rtol: float = 1e-9) -> None:
    """``got`` (one future's numbers, NumPy-reference naming) equals the hand computation."""
    atol = rtol * _scale(h)
    for key in ("breakeven_month", "payback_month"):
        assert got[key] == h[key], (key, got[key], h[key])
    assert bool(got["recouped"]) == h["recouped"]
    np.testing.assert_allclose(got["npv"], h["npv"], rtol=rtol, atol=atol, err_msg="npv")
    for key in ("gross_margin", "spend_to_revenue"):
        np.testing.assert_allclose(got[key], h[key], rtol=rtol, err_msg=key)
    np.testing.assert_allclose(
        got["cum_cash"], h["cum_cash"], rtol=rtol, atol=atol, err_msg="cum_cash"
    )
    for c in COMPONENTS:
        np.testing.assert_allclose(
            got[f"pv_{c}"], h["pv"][c], rtol=rtol, atol=atol, err_msg=f"pv {c}"
        )


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_hand_vs_numpy(name):
    params = EXAMPLES[name]
    h = hand_model(params)
    out = simulate_numpy(params, 3, np.random.default_rng(0))
    for j in range(3):
        assert_matches_hand(h, {k: v[j] for k, v in out.items()})
    # the PV waterfall sums to the NPV
    assert math.isclose(sum(h["pv"].values()), h["npv"], rel_tol=1e-9, abs_tol=1e-9 * _scale(h))


def test_numpy_per_future_inputs():
    """Per-future input arrays: future j equals the hand model run with future j's values."""
    base = EXAMPLES["everything"]
    prices = np.array([2.0, 3.0, 4.5])
    debt = np.array([0.0, 0.4, 0.8])
    params = _with(base, market={"price0": prices}, financing={"debt_fraction": debt})
    out = simulate_numpy(params, 3, np.random.default_rng(0))
    for j in range(3):
        h = hand_model(
            _with(
                base,
                market={"price0": float(prices[j])},
                financing={"debt_fraction": float(debt[j])},
            )
        )
        assert_matches_hand(h, {k: v[j] for k, v in out.items()})


def test_hand_vs_numpy_given_shocks():
    """The stochastic terms, checked deterministically: the same explicit shocks in both."""
    params = _with(
        EXAMPLES["everything"],
        market={
            "price_volatility": 0.35,
            "generation_price_drop": 0.25,
            "generation_demand_shock": 1.15,
            "demand_correlation": -0.5,
        },
        demand={"volatility": 0.25},
        churn={"price_shock": 0.9, "demand_shock": 0.8, "retrain_cost": 40_000.0},
    )
    T = params["horizon_months"]
    rng = np.random.default_rng(7)
    z, z2 = rng.standard_normal(T), rng.standard_normal(T)
    n_gen, n_rel = rng.poisson(0.15, T), rng.poisson(0.3, T)
    assert n_gen.sum() > 0 and n_rel.sum() > 0
    h = hand_model(params, z=list(z), z2=list(z2), n_gen=list(n_gen), n_rel=list(n_rel))
    out = simulate_numpy(
        params,
        2,
        shocks={
            "z": z[:, None],
            "z2": z2[:, None],
            "n_gen": n_gen[:, None],
            "n_rel": n_rel[:, None],
        },
    )
    assert h["pv"]["churn"] < 0
    for j in range(2):
        assert_matches_hand(h, {k: v[j] for k, v in out.items()})


def test_twelve_month_by_hand():
    """Numbers checked with pencil and paper.

    10 GPUs at $10,000, no overhead: K = K_hw = 100,000 (all equity). 1 kW each, PUE 1, idle 0.3,
    $0.10/kWh. Price $2/GPU-hour flat, utilization 0.5 flat, 730 h/month:
      revenue R = 0.5 * 10 * 730 * 2                        = 7,300    per month
      energy  E = 10 * 1 * (0.3 + 0.7 * 0.5) * 1 * 730 * 0.1 =   474.5  per month
      cash    CF = 6,825.5 per month; salvage 25 % of K_hw   = 25,000   at month 12
    Discounting at 10 %/yr: d_12 = 1/1.1 exactly, sum_{m=1..12} d_m = (1 - 1/1.1) / r with
    r = 1.1^(1/12) - 1 = 0.0079741404, so sum d = 0.0909091 / 0.0079741404 = 11.400488
      NPV = -100,000 + 6,825.5 * 11.400488 + 25,000 / 1.1 = -100,000 + 77,814.03 + 22,727.27
          = +541.30, reached only at month 12 (thanks to the salvage): break-even = 12
      (month 11: -100,000 + 6,825.5 * (11.400488 - 1/1.1) = -28,390.97).
    Undiscounted: -100,000 + 12 * 6,825.5 + 25,000 = +6,906 at month 12, -24,919.5 at month 11:
      payback = 12.
    Gross margin: depreciation 100,000 / 60 per month, 20,000 over 12 months:
      (87,600 - 5,694 - 20,000) / 87,600 = 61,906 / 87,600 = 0.70669
    Spend to revenue: (100,000 + 5,694) / 87,600 = 1.20655
    """
    r = 1.1 ** (1 / 12) - 1
    sum_d = (1 - 1 / 1.1) / r
    assert math.isclose(sum_d, 11.400488, rel_tol=1e-7)
    npv = -100_000 + 6_825.5 * sum_d + 25_000 / 1.1
    assert math.isclose(npv, 541.30, abs_tol=0.01)

    h = hand_model(EXAMPLES["twelve_months"])
    assert math.isclose(h["npv"], npv, rel_tol=1e-9)
    assert h["breakeven_month"] == 12 and h["payback_month"] == 12 and h["recouped"]
    assert math.isclose(h["gross_margin"], 61_906 / 87_600, rel_tol=1e-12)
    assert math.isclose(h["spend_to_revenue"], 105_694 / 87_600, rel_tol=1e-12)
    assert math.isclose(h["pv"]["revenue"], 7_300 * sum_d, rel_tol=1e-12)
    assert math.isclose(h["pv"]["energy"], -474.5 * sum_d, rel_tol=1e-12)
    assert math.isclose(h["pv"]["salvage"], 25_000 / 1.1, rel_tol=1e-12)
    assert h["pv"]["upfront"] == -100_000
    month11 = -100_000 + 6_825.5 * (sum_d - 1 / 1.1)
    assert math.isclose(month11, -28_390.97, abs_tol=0.01)
    assert math.isclose(h["cum_cash"][11], month11, rel_tol=1e-12)


def test_financing_annuity_by_hand():
    """60 % of K borrowed at 8 % for 36 months: level payment; the balance is 0 after month 36."""
    params = EXAMPLES["financing"]
    h = hand_model(params)
    L = 0.6 * h["K"]
    assert h["K"] == 8 * 25_000 * 1.25
    i = 0.08 / 12
    payment = L * i / (1 - (1 + i) ** -36)
    debt = [mo["debt"] for mo in h["monthly"]]
    assert all(math.isclose(b, payment, rel_tol=1e-12) for b in debt[:36])
    assert all(b == 0 for b in debt[36:])
    principal = sum(mo["debt"] - mo["interest"] for mo in h["monthly"])
    assert math.isclose(principal, L, rel_tol=1e-12)
    assert math.isclose(h["monthly"][0]["interest"], L * i, rel_tol=1e-12)


def test_tax_loss_carry_forward_by_hand():
    """No tax is paid until the training loss and the early losses are used up."""
    h = hand_model(EXAMPLES["tax_loss_carry_forward"])
    cumulative_income = -120_000.0
    for mo in h["monthly"]:
        cumulative_income += mo["income"]
        expected = 0.21 * max(0.0, min(mo["income"], cumulative_income))
        assert math.isclose(mo["tax"], expected, rel_tol=1e-9, abs_tol=1e-9)
    assert h["pv"]["tax"] < 0 and h["monthly"][0]["tax"] == 0


# ---------------------------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------------------------


def _hydra_value(v) -> str:
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return repr(float(v))
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_hydra_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(_hydra_value(x) for x in v) + "]"
    return str(v)


def full_params(params: dict) -> dict:
    """Every MODEL.md parameter (flat ``a.b`` paths): ``params`` over MODEL.md's defaults."""
    from numpy_model import flatten

    flat = {k: v for k, v in DEFAULTS.items() if v is not None}
    flat.update(flatten({k: v for k, v in params.items() if k != "correlations"}))
    return flat


def model_overrides(params: dict, base: dict | None = None) -> list[str]:
    """Hydra override strings setting every model parameter (defaults filled in) to ``params``.

    ``++path=value`` adds or replaces a key; a distribution spec replacing a mapping that the
    scenario already holds at ``path`` (``base``, the flattened scenario) is deleted first
    (``~path``) since Hydra would otherwise merge the two mappings.
    """
    out = [f"++correlations={_hydra_value(params.get('correlations', []))}"]
    for path, value in full_params(params).items():
        if isinstance(value, dict) and base is not None and isinstance(base.get(path), dict):
            out += [f"~{path}", f"+{path}={_hydra_value(value)}"]
        else:
            out.append(f"++{path}={_hydra_value(value)}")
    return out


def run_engine(params: dict, *run_overrides: str):
    import mcengine

    cfg = mcengine.load_config(
        scenario="gpu_cloud", overrides=[*model_overrides(params), *run_overrides]
    )
    return mcengine.simulate(cfg)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_engine_worked_example(name):
    params = EXAMPLES[name]
    h = hand_model(params)
    past = name == "loan_past_horizon"  # the engine says the NPV leaves out the rest of the loan
    with pytest.warns(UserWarning, match="runs past horizon") if past else nullcontext():
        ds = run_engine(
            params,
            "n_samples=4096",
            "precision=float64",
            "seed=3",
            "++progress=false",
            "sensitivity.deciles=false",
        )
    rtol, atol = 1e-9, 1e-9 * _scale(h)
    T = int(full_params(params)["horizon_months"])
    assert ds.sizes["month"] == T + 1

    for key in ("npv", "breakeven_month", "payback_month", "gross_margin", "spend_to_revenue"):
        got = ds[key].values
        np.testing.assert_allclose(
            got,
            np.full(got.shape, h[key]),
            rtol=rtol,
            atol=atol if key == "npv" else 0.0,
            err_msg=f"{name}: {key} quantiles",
        )
    cum = ds["cum_cash"].transpose("month", "quantile").values
    expected = np.broadcast_to(np.asarray(h["cum_cash"])[:, None], cum.shape)
    bad = ~np.isclose(cum, expected, rtol=rtol, atol=atol)
    assert not bad.any(), (
        f"{name}: cum_cash differs at months "
        f"{sorted(set(np.nonzero(bad)[0].tolist()))}: "
        f"engine {cum[bad][:5]} vs hand {expected[bad][:5]}"
    )

    p = float(ds["p_recoup"])
    assert p in (0.0, 1.0) and p == float(h["recouped"]), (name, p, h["recouped"])
    np.testing.assert_allclose(float(ds["npv_mean"]), h["npv"], rtol=rtol, atol=atol)
    by = ds["p_breakeven_by"].values
    np.testing.assert_array_equal(
        by, (np.arange(T + 1) >= h["breakeven_month"]) * 1.0, err_msg=f"{name}: p_breakeven_by"
    )
    for c in COMPONENTS:
        np.testing.assert_allclose(
            float(ds["pv"].sel(component=c)),
            h["pv"][c],
            rtol=rtol,
            atol=atol,
            err_msg=f"{name}: pv {c}",
        )
