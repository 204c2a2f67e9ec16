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
from sensitivity_scenarios import config, spec

from mcengine.api import simulate
from mcengine.config import to_plain

LO, HI = 30_000.0, 44_000.0
N = 1 << 15


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
            "fleet.gpu_price": spec("uniform", low=35_000, high=39_000),
            "market.price0": spec("uniform", low=2, high=5),
        },
        n_samples=N,
    )
    return simulate(cfg)


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
    # the swing (decile 10 - decile 1) is b * 9 w
    swing = ds.sens_swing_npv.sel(input="fleet.gpu_price").item()
    assert swing == pytest.approx(b * 9 * w, rel=0.01)
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


def test_dominant_input_ranks_first(two_input_run):
    ds = two_input_run
    corr = np.abs(ds.sens_rank_corr_npv.to_series())
    swing = np.abs(ds.sens_swing_npv.to_series())
    assert corr.idxmax() == "market.price0" and swing.idxmax() == "market.price0"
    assert ds.sens_rank_corr_npv.sel(input="market.price0").item() > 0.9
    assert ds.sens_rank_corr_npv.sel(input="fleet.gpu_price").item() < 0
    # recoup is monotone in price0: never in its lowest decile, always in its highest
    p = ds.sens_p_recoup.sel(input="market.price0").values
    assert p[0] == 0.0 and p[-1] == 1.0
    assert ds.sens_swing_p_recoup.sel(input="market.price0").item() == 1.0
    assert abs(ds.sens_swing_p_recoup.sel(input="fleet.gpu_price").item()) < 1.0
    # tornado order is what the swing variables give
    assert list(ds.sens_swing_npv.dims) == ["input"]
