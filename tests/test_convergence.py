"""The convergence trace: estimates after the first n futures on a fixed grid of n.

Futures are numbered, so the first n futures of a run are the futures of a run of n: each point
of the trace must be exactly what that shorter run reports, whatever the chunk size."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import xarray as xr
from sensitivity_scenarios import config, spec

from mcengine.api import simulate

UNCERTAIN = {"market.price0": spec("uniform", low=2, high=5)}
N = 100_000  # not a multiple of the 1,024-future block: the trace ends off the grid


def grid(n: int) -> list[int]:
    """1024 x (1, 2, 3, 4, 6, 8, 12, ...) up to n, then n itself."""
    blocks = sorted({2**j for j in range(20)} | {3 * 2**j for j in range(20)})
    points = [1024 * b for b in blocks if 1024 * b <= n]
    return points if points[-1] == n else points + [n]


@functools.cache
def _run(sampling: str) -> xr.Dataset:
    return simulate(config(UNCERTAIN, n_samples=N, sampling=sampling))


@pytest.fixture(params=["random", "antithetic", "sobol"])
def run(request):
    return request.param, _run(request.param)


def test_trace_is_on_the_fixed_grid(run):
    _, ds = run
    np.testing.assert_array_equal(ds.draws.values, grid(N))
    last = ds.isel(draws=-1)
    assert last.convergence_p_recoup.item() == ds.p_recoup.item()
    assert last.convergence_p_recoup_se.item() == ds.p_recoup_se.item()
    assert last.convergence_npv_mean.item() == ds.npv_mean.item()
    assert last.convergence_npv_mean_se.item() == ds.npv_se.item()


@pytest.mark.parametrize("n", [8192, 49152])
def test_each_point_is_the_run_of_that_many_futures(run, n):
    sampling, ds = run
    short = simulate(config(UNCERTAIN, n_samples=n, sampling=sampling))
    point = ds.sel(draws=n)
    assert point.convergence_p_recoup.item() == short.p_recoup.item()
    assert point.convergence_p_recoup_se.item() == short.p_recoup_se.item()
    assert point.convergence_npv_mean.item() == short.npv_mean.item()
    assert point.convergence_npv_mean_se.item() == short.npv_se.item()


def test_binomial_standard_errors_along_the_trace():
    ds = _run("random")
    p, n = ds.convergence_p_recoup.values, ds.draws.values
    assert 0 < p[-1] < 1
    np.testing.assert_allclose(ds.convergence_p_recoup_se.values, np.sqrt(p * (1 - p) / n))


def test_trace_does_not_depend_on_the_chunk_size():
    ds = _run("random")
    other = simulate(config(UNCERTAIN, n_samples=N, chunk_size=3 * 8192))
    assert other.attrs["chunk_size"] != ds.attrs["chunk_size"]
    trace = [name for name in ds.data_vars if name.startswith("convergence")]
    xr.testing.assert_identical(
        other[trace].drop_attrs(deep=False), ds[trace].drop_attrs(deep=False)
    )
