"""Precision targets: a run stops once the Monte Carlo SE reaches ``target.*``, records what it
reached, equals a run of exactly that many futures, and stops at the same point whatever the
chunk size (and device count: tests/test_devices.py); a rerun in the same directory stays put."""

from __future__ import annotations

import math

import pytest
import xarray as xr
from sensitivity_scenarios import config, spec

from mcengine.api import simulate
from mcengine.chunk import tile_size
from mcengine.engine import TARGET_TILES
from mcengine.errors import ConfigError

CHUNK = 1 << 14
STEP = TARGET_TILES * tile_size("cpu")  # futures between two checks of the target: 131,072
# P(recoup) ~ 0.42 here: its SE is 0.00136 after one check interval and 0.00096 after two, so
# the run stops at the second check point
P_TARGET = 0.0012
UNCERTAIN = {"market.price0": spec("uniform", low=2, high=5)}


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def stopped():
    cfg = config(UNCERTAIN, n_samples=1 << 20, chunk_size=CHUNK, **{"target.p_recoup_se": P_TARGET})
    return simulate(cfg)


def test_target_stops_at_the_first_check_point_that_meets_it(stopped):
    ds = stopped
    n = ds.attrs["n_samples"]
    assert ds.attrs["stopped_by_target"] == 1
    assert n == 2 * STEP
    assert ds.p_recoup_se.item() <= P_TARGET
    # the check point before was short of the target (it is on the convergence trace's grid)
    at_prev = ds.convergence_p_recoup.sel(draws=n - STEP).item()
    assert binomial_se(at_prev, n - STEP) > P_TARGET
    assert ds.convergence_p_recoup_se.sel(draws=n - STEP).item() > P_TARGET
    assert ds.convergence_p_recoup.values[-1] == ds.p_recoup.item()
    assert ds.convergence_npv_mean.values[-1] == ds.npv_mean.item()


def test_stopped_run_equals_fixed_run(stopped):
    n = stopped.attrs["n_samples"]
    fixed = simulate(config(UNCERTAIN, n_samples=n, chunk_size=CHUNK))
    assert fixed.attrs["stopped_by_target"] == 0 and fixed.attrs["n_samples"] == n
    xr.testing.assert_identical(stopped.drop_attrs(deep=False), fixed.drop_attrs(deep=False))


def _without_chunking(ds: xr.Dataset) -> xr.Dataset:
    """Everything but the attributes (which record the chunk size and timings)."""
    return ds.drop_attrs(deep=False)


@pytest.mark.parametrize("chunk_size", [3 * tile_size("cpu"), 4 * STEP])
def test_stopping_point_is_independent_of_chunk_size(stopped, chunk_size):
    """A chunk that does not divide the check interval is shrunk to one that does."""
    cfg = config(
        UNCERTAIN, n_samples=1 << 20, chunk_size=chunk_size, **{"target.p_recoup_se": P_TARGET}
    )
    ds = simulate(cfg)
    assert STEP % ds.attrs["chunk_size"] == 0
    xr.testing.assert_identical(_without_chunking(ds), _without_chunking(stopped))


def test_rerun_in_the_same_directory_stops_where_it_stopped(tmp_path):
    cfg = config(UNCERTAIN, n_samples=1 << 20, **{"target.p_recoup_se": P_TARGET})
    first = simulate(cfg, output_dir=tmp_path)
    again = simulate(cfg, output_dir=tmp_path)
    assert again.attrs["resumed_from"] == first.attrs["n_samples"] == 2 * STEP
    assert again.attrs["stopped_by_target"] == 1 and again.attrs["n_chunks"] == 0
    xr.testing.assert_identical(_without_chunking(again), _without_chunking(first))


def test_min_samples_defers_the_stop_to_the_next_check_point(stopped):
    floor = 2 * STEP + 1  # the target is met at 2 * STEP (the ``stopped`` run)
    cfg = config(
        UNCERTAIN,
        n_samples=1 << 20,
        chunk_size=CHUNK,
        **{"target.p_recoup_se": P_TARGET, "target.min_samples": floor},
    )
    ds = simulate(cfg)
    assert ds.attrs["stopped_by_target"] == 1 and ds.attrs["n_samples"] == 3 * STEP
    # the first 2 * STEP futures are the stopped run's
    at = ds.sel(draws=2 * STEP)
    assert at.convergence_p_recoup.item() == stopped.p_recoup.item()


def test_min_samples_must_be_a_whole_number_of_futures():
    with pytest.raises(ConfigError, match=r"target.min_samples=-1 is out of range"):
        simulate(config(UNCERTAIN, n_samples=1000, **{"target.min_samples": -1}))


def test_no_recoup_yet_does_not_meet_a_small_target():
    """P(recoup) = 0 has a binomial SE of 0; the check must not take that as precision."""
    never = {"market.price0": spec("uniform", low=0.2, high=0.3)}  # far below cost
    target = 1e-6  # (1/(n+2)) needs n ~ 1e6 futures to reach it
    ds = simulate(
        config(never, n_samples=2 * STEP, horizon_months=12, **{"target.p_recoup_se": target})
    )
    assert ds.p_recoup.item() == 0.0
    assert ds.attrs["stopped_by_target"] == 0 and ds.attrs["n_samples"] == 2 * STEP


def test_npv_se_target():
    target = 2e5
    ds = simulate(
        config(UNCERTAIN, n_samples=4 * STEP, chunk_size=1 << 13, **{"target.npv_se": target})
    )
    n = ds.attrs["n_samples"]
    assert ds.attrs["stopped_by_target"] == 1
    assert n < 4 * STEP and n % STEP == 0
    assert ds.npv_se.item() <= target
    assert ds.draws.values[-1] == n and ds.convergence_npv_mean_se.values[-1] == ds.npv_se.item()
