"""Decile sensitivity (tornado) on scenarios whose true sensitivities are known in closed form.

Scenario: ``gpu_cloud`` with every input constant and no stochastic processes or tax
(``sensitivity_scenarios``), so NPV = a + b * gpu_price exactly. With gpu_price ~ U(lo, hi), the
decile ``d`` of gpu_price is U(lo + (d-1) w, lo + d w), w = (hi - lo) / 10, hence
E[NPV | decile d] = a + b (lo + (d - 1/2) w): a and b come from the independent scalar hand
model (``tests/hand_model.py``) at two prices.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hand_model import hand_model
from scipy import stats
from sensitivity_scenarios import config, linear_cash, recoup_given, spec

from mcengine.api import simulate
from mcengine.config import to_plain

LO, HI = 30_000.0, 44_000.0
N = 1 << 15
G_BOX, P_BOX = (35_000.0, 39_000.0), (2.0, 5.0)  # the two-input scenario


@pytest.fixture(scope="module")
def linear_run():
    """gpu_price uniform; churn.retrain_cost uncertain but inert (release_rate = 0)."""
    cfg = config(
        {
            "fleet.gpu_price": spec("uniform", low=LO, high=HI),
            "churn.retrain_cost": spec("uniform", low=0, high=1e7),
        },
        n_samples=N,
        precision="float64",
    )
    return cfg, simulate(cfg)


@pytest.fixture(scope="module")
def two_input_run():
    """gpu_price narrow (weak), market.price0 wide (dominant, recoup threshold inside)."""
    cfg = config(
        {
            "fleet.gpu_price": spec("uniform", low=G_BOX[0], high=G_BOX[1]),
            "market.price0": spec("uniform", low=P_BOX[0], high=P_BOX[1]),
        },
        n_samples=N,
    )
    return cfg, simulate(cfg)


def _hand_npv(cfg, gpu_price: float) -> float:
    params = to_plain(cfg)
    params["fleet"]["gpu_price"] = gpu_price
    params["churn"]["retrain_cost"] = 0.0
    return hand_model(params)["npv"]


def test_decile_means_match_closed_form(linear_run):
    cfg, ds = linear_run
    a_lo, a_hi = _hand_npv(cfg, LO), _hand_npv(cfg, HI)
    b = (a_hi - a_lo) / (HI - LO)
    assert b < 0
    w = (HI - LO) / 10
    mids = LO + (np.arange(1, 11) - 0.5) * w
    expected = a_lo + b * (mids - LO)
    got = ds.sens_npv_mean.sel(input="fleet.gpu_price").values
    counts = ds.sens_count.sel(input="fleet.gpu_price").values
    assert counts.sum() == N
    # within a decile gpu_price is uniform over width w: sd w / sqrt(12)
    se = abs(b) * w / math.sqrt(12) / np.sqrt(counts)
    assert np.all(np.abs(got - expected) <= 4 * se + 1e-9 * abs(expected)), (got, expected, se)
    # the swing (decile 10 - decile 1) is b * 9 w, within the two decile means' SEs
    swing = ds.sens_swing_npv.sel(input="fleet.gpu_price").item()
    assert abs(swing - b * 9 * w) <= 4 * math.hypot(se[0], se[-1]) + 1e-9 * abs(b * 9 * w)
    # the only input that matters: Spearman = -1 (up to the pilot-CDF interpolation)
    assert ds.sens_rank_corr_npv.sel(input="fleet.gpu_price").item() < -0.999


def test_inert_input_shows_no_effect(linear_run):
    _, ds = linear_run
    sd = ds.npv_se.item() * math.sqrt(N)
    counts = ds.sens_count.sel(input="churn.retrain_cost").values
    se_swing = sd * math.sqrt(1 / counts[0] + 1 / counts[-1])
    assert abs(ds.sens_swing_npv.sel(input="churn.retrain_cost").item()) <= 4 * se_swing
    assert abs(ds.sens_rank_corr_npv.sel(input="churn.retrain_cost").item()) <= 4 / math.sqrt(N)
    # all deciles equally populated within binomial error
    assert np.all(np.abs(counts - N / 10) <= 4 * math.sqrt(N * 0.1 * 0.9))


def test_two_inputs_against_the_exact_sensitivities(two_input_run):
    """NPV and every month's cash are linear in (gpu_price, price0) (hand model), so a future
    recoups iff price0 >= p*(gpu_price): P(recoup | decile) of either input is an integral over
    the uniform box, done on a 4000-point grid (error ~1e-3 << the binomial SEs here)."""
    cfg, ds = two_input_run
    a, b, c = linear_cash(cfg, "fleet.gpu_price", G_BOX, "market.price0", P_BOX)
    given_g, given_p = recoup_given(a, b, c, G_BOX, P_BOX)  # 4000 points: 400 per decile
    exact = {
        "fleet.gpu_price": given_g.reshape(10, -1).mean(axis=1),
        "market.price0": given_p.reshape(10, -1).mean(axis=1),
    }
    for name, want in exact.items():
        got = ds.sens_p_recoup.sel(input=name).values
        n = ds.sens_count.sel(input=name).values
        se = np.sqrt(want * (1 - want) / n)
        assert np.all(np.abs(got - want) <= 4 * se + 1e-3), (name, got, want)
        swing = ds.sens_swing_p_recoup.sel(input=name).item()
        assert abs(swing - (want[-1] - want[0])) <= 4 * math.hypot(se[0], se[-1]) + 2e-3
    # price0 decides recoup at the ends of its range
    assert exact["market.price0"][0] == 0 and exact["market.price0"][-1] == 1

    # rank correlations with NPV = a_T + b_T g + c_T p: reference from 10^6 NumPy draws
    rng = np.random.default_rng(7)
    gs, ps = rng.uniform(*G_BOX, 10**6), rng.uniform(*P_BOX, 10**6)
    npv = a[-1] + b[-1] * gs + c[-1] * ps
    for name, x in (("fleet.gpu_price", gs), ("market.price0", ps)):
        rho = stats.spearmanr(x, npv).statistic
        got = ds.sens_rank_corr_npv.sel(input=name).item()
        # SE of a rank correlation ~ (1 - rho^2) sqrt(1.06 / N); NPV ranks come from quantile
        # knots fitted on the pilot, whose level error is ~1/sqrt(pilot) = 0.004
        assert abs(got - rho) <= 4 * (1 - rho**2) * math.sqrt(1.06 / N) + 0.004, (name, got, rho)
    # the tornado: price0 first by either measure
    corr = np.abs(ds.sens_rank_corr_npv.to_series())
    assert corr.idxmax() == "market.price0"
    assert np.abs(ds.sens_swing_npv.to_series()).idxmax() == "market.price0"
