"""Precision targets: a run stops once the Monte Carlo SE reaches ``target.*``, records what it
reached, and equals a run of exactly that many futures (same chunk size)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from sensitivity_scenarios import config, spec

from mcengine.api import simulate

CHUNK = 1 << 14
# P(recoup) ~ 0.42 here; SE 0.0018 is reached after 5 chunks (81,920 futures), past the engine's
# 65,536-future pilot, so the stopped run and a plain run of that size share their pilot too
P_TARGET = 0.0018
UNCERTAIN = {"market.price0": spec("uniform", low=2, high=5)}


@pytest.fixture(scope="module")
def stopped():
    cfg = config(UNCERTAIN, n_samples=1 << 20, chunk_size=CHUNK, **{"target.p_recoup_se": P_TARGET})
    return simulate(cfg)


def test_target_stops_early_with_se_reached(stopped):
    ds = stopped
    n = ds.attrs["n_samples"]
    assert ds.attrs["stopped_by_target"] == 1
    assert n < 1 << 20 and n % CHUNK == 0
    assert ds.p_recoup_se.item() <= P_TARGET
    # it stopped at the first chunk boundary where the target was met
    p_prev = ds.convergence_p_recoup.values[-2]
    n_prev = ds.draws.values[-2]
    assert math.sqrt(p_prev * (1 - p_prev) / n_prev) > P_TARGET
    # convergence records every chunk, ending at the reported estimates
    np.testing.assert_array_equal(ds.draws.values, np.arange(1, n // CHUNK + 1) * CHUNK)
    assert ds.convergence_p_recoup.values[-1] == ds.p_recoup.item()
    assert ds.convergence_npv_mean.values[-1] == pytest.approx(ds.npv_mean.item(), rel=1e-12)


def test_stopped_run_equals_fixed_run(stopped):
    n = stopped.attrs["n_samples"]
    fixed = simulate(config(UNCERTAIN, n_samples=n, chunk_size=CHUNK))
    assert fixed.attrs["stopped_by_target"] == 0 and fixed.attrs["n_samples"] == n
    xr.testing.assert_identical(stopped.drop_attrs(deep=False), fixed.drop_attrs(deep=False))


def test_npv_se_target():
    target = 2e5
    ds = simulate(
        config(UNCERTAIN, n_samples=1 << 17, chunk_size=1 << 12, **{"target.npv_se": target})
    )
    assert ds.attrs["stopped_by_target"] == 1
    assert ds.attrs["n_samples"] < 1 << 17
    assert ds.npv_se.item() <= target
    assert ds.sizes["draws"] == ds.attrs["n_samples"] // ds.attrs["chunk_size"]
