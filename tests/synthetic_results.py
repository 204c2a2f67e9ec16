"""Small results for the plot/report/notebook tests.

``synthetic_results()`` builds a Dataset that follows the results schema of
``docs/architecture.md`` exactly (names, dims, units) from a toy numpy model, so plots can be
checked without the engine; ``write_synthetic_sweep()`` writes such results as the jobs of a
multirun-like sweep directory over ``market.price_trend`` x ``fleet.gpu_price``.
``small_run()`` / ``small_run_dir()`` give a small *real* run (``MCENGINE_TEST_SAMPLES``
futures, default 2048). ``small_sweep()`` / ``small_sweep_dir()`` give synthetic jobs (a real 2x2
sweep costs four engine compiles; set ``MCENGINE_TEST_REAL_SWEEP=1`` for one), always combined
by the real ``mcengine.sweep.open_sweep``. Everything is cached per process.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
COMPONENTS = (
    "revenue energy colocation staff_upkeep variable churn replacements financing tax upfront "
    "salvage"
).split()
INPUTS = ("fleet.gpu_price", "market.price_trend", "demand.utilization")
SWEEP_X = "market.price_trend"
SWEEP_Y = "fleet.gpu_price"

# share of monthly revenue spent on each outflow component (toy numbers)
_OUTFLOW_SHARE = {
    "energy": 0.12,
    "colocation": 0.08,
    "staff_upkeep": 0.05,
    "variable": 0.04,
    "churn": 0.03,
    "replacements": 0.04,
    "tax": 0.06,
}


def _var(data, dims, units: str, description: str) -> xr.Variable:
    return xr.Variable(
        dims, np.asarray(data, dtype=float), {"units": units, "description": description}
    )


def _first_crossing(cum: np.ndarray) -> np.ndarray:
    """First month with cumulative cash >= 0 after month 0, ``inf`` if never."""
    ok = cum[:, 1:] >= 0
    first = np.argmax(ok, axis=1).astype(float) + 1
    first[~ok.any(axis=1)] = np.inf
    return first


def _simulate_toy(n: int, horizon: int, price_trend: float, gpu_price: float, seed: int) -> dict:
    """A tiny cash-flow model with three uncertain inputs; returns per-future arrays."""
    rng = np.random.default_rng(seed)
    x = {
        "fleet.gpu_price": gpu_price * rng.lognormal(0.0, 0.15, n),
        "market.price_trend": price_trend + 0.01 * rng.standard_normal(n),
        "demand.utilization": rng.beta(8, 2, n),
    }
    months = np.arange(1, horizon + 1)
    disc = (1 + 0.10) ** (-months / 12)
    capex = 1e4 * x["fleet.gpu_price"]  # 10k GPUs
    loan = 0.5 * capex
    rev = (
        2.2e4
        * 730
        * x["demand.utilization"][:, None]
        * np.exp(x["market.price_trend"][:, None] * months / 12)
    )
    rev = rev * (1 + 0.05 * rng.standard_normal((n, horizon)))
    pv = {"revenue": (rev * disc).sum(1)}
    for name, share in _OUTFLOW_SHARE.items():
        pv[name] = -share * pv["revenue"]
    debt_payment = loan[:, None] / 36 * (months <= 36)
    pv["financing"] = loan - (debt_payment * disc).sum(-1)
    pv["upfront"] = -capex
    pv["salvage"] = 0.1 * capex * disc[-1]
    net = rev * (1 - sum(_OUTFLOW_SHARE.values())) - debt_payment
    cum = np.concatenate(
        [(loan - capex)[:, None], (loan - capex)[:, None] + np.cumsum(net * disc, 1)], 1
    )
    cum[:, -1] += pv["salvage"]
    cum_undisc = np.concatenate(
        [(loan - capex)[:, None], (loan - capex)[:, None] + np.cumsum(net, 1)], 1
    )
    return {"x": x, "pv": pv, "cum": cum, "cum_undisc": cum_undisc, "rev": rev}


def synthetic_results(
    n: int = 4000,
    horizon: int = 60,
    price_trend: float = -0.15,
    gpu_price: float = 30_000.0,
    seed: int = 0,
) -> xr.Dataset:
    """A results Dataset with the engine's schema, computed from a toy numpy model."""
    toy = _simulate_toy(n, horizon, price_trend, gpu_price, seed)
    q = np.asarray(QUANTILES)
    cum = toy["cum"]
    npv = cum[:, -1]
    be = _first_crossing(cum)
    pb = _first_crossing(toy["cum_undisc"])
    months = np.arange(horizon + 1)
    p_by = (be[None, :] <= months[:, None]).mean(1)
    p = float(np.isfinite(be).mean())
    deciles = np.arange(1, 11)
    sens_p = np.empty((len(INPUTS), 10))
    sens_npv = np.empty((len(INPUTS), 10))
    rank_corr = np.empty(len(INPUTS))
    npv_rank = np.argsort(np.argsort(npv))
    for i, name in enumerate(INPUTS):
        xv = toy["x"][name]
        rank = np.argsort(np.argsort(xv))
        dec = rank * 10 // n
        for d in range(10):
            sens_p[i, d] = np.isfinite(be[dec == d]).mean()
            sens_npv[i, d] = npv[dec == d].mean()
        rank_corr[i] = np.corrcoef(rank, npv_rank)[0, 1]
    rev_tot = toy["rev"].sum(1)
    depreciation = toy["x"]["fleet.gpu_price"] * 1e4
    margin = np.quantile(1 - 0.32 - depreciation / rev_tot, q)
    pv = np.array([toy["pv"][c].mean() for c in COMPONENTS])
    chunks = np.arange(1, 5) * (n // 4)
    conv_p = np.array([np.isfinite(be[:k]).mean() for k in chunks])
    conv_p_se = np.sqrt(conv_p * (1 - conv_p) / chunks)
    conv_npv = np.array([npv[:k].mean() for k in chunks])
    conv_npv_se = np.array([npv[:k].std(ddof=1) / np.sqrt(k) for k in chunks])
    spend = (toy["x"]["fleet.gpu_price"] * 5e3 + 0.42 * rev_tot) / rev_tot
    data = {
        "p_recoup": _var(p, (), "1", "P(discounted break-even within the horizon)"),
        "p_recoup_se": _var(
            np.sqrt(p * (1 - p) / n), (), "1", "binomial standard error of p_recoup"
        ),
        "p_breakeven_by": _var(p_by, ("month",), "1", "P(break-even month <= month)"),
        "breakeven_month": _var(
            np.quantile(be, q, method="inverted_cdf"),
            ("quantile",),
            "month",
            "discounted break-even month",
        ),
        "payback_month": _var(
            np.quantile(pb, q, method="inverted_cdf"),
            ("quantile",),
            "month",
            "undiscounted payback month",
        ),
        "npv": _var(np.quantile(npv, q), ("quantile",), "USD", "net present value"),
        "npv_mean": _var(npv.mean(), (), "USD", "mean NPV"),
        "npv_se": _var(npv.std() / np.sqrt(n), (), "USD", "standard error of npv_mean"),
        "cum_cash": _var(
            np.quantile(cum, q, axis=0).T,
            ("month", "quantile"),
            "USD",
            "discounted cumulative cash",
        ),
        "pv": _var(pv, ("component",), "USD", "mean present value per component (signed)"),
        "gross_margin": _var(margin, ("quantile",), "1", "gross margin over months 1..T"),
        "spend_to_revenue": _var(
            np.quantile(spend, q), ("quantile",), "1", "total spend / revenue"
        ),
        "sens_p_recoup": _var(
            sens_p, ("input", "decile"), "1", "P(recoup) given the input's decile"
        ),
        "sens_npv_mean": _var(
            sens_npv, ("input", "decile"), "USD", "mean NPV given the input's decile"
        ),
        "sens_rank_corr_npv": _var(rank_corr, ("input",), "1", "Spearman correlation with NPV"),
        "convergence_p_recoup": _var(conv_p, ("draws",), "1", "P(recoup) after `draws` futures"),
        "convergence_p_recoup_se": _var(conv_p_se, ("draws",), "1", "its standard error"),
        "convergence_npv_mean": _var(conv_npv, ("draws",), "USD", "mean NPV after `draws` futures"),
        "convergence_npv_mean_se": _var(conv_npv_se, ("draws",), "USD", "its standard error"),
    }
    coords = {
        "month": months,
        "quantile": q,
        "component": list(COMPONENTS),
        "input": list(INPUTS),
        "decile": deciles,
        "draws": chunks,
    }
    attrs = {
        "config": f"n_samples: {n}\nseed: {seed}\nhorizon_months: {horizon}\n",
        "overrides": "[]",
        "seed": seed,
        "n_samples": n,
        "mcengine_version": "0.0.0+synthetic",
        "jax_version": "none",
        "jax_backend": "numpy",
        "device_count": 1,
        "devices": "cpu",
        "git_commit": "unknown",
        "precision": "float64",
        "chunk_size": n // 4,
        "run_time_s": 0.0,
        "compile_time_s": 0.0,
        "quantile_method": "exact",
        "quantile_cdf_error_bound": 0.0,
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _sweep_grid(trends: tuple[float, ...], prices: tuple[float, ...]) -> list[list[str]]:
    return [[f"{SWEEP_X}={t:g}", f"{SWEEP_Y}={p:g}"] for p in prices for t in trends]


def _write_job(job_dir: Path, overrides: list[str], results: xr.Dataset) -> None:
    """A Hydra-like job directory: ``.hydra/overrides.yaml`` and ``results.nc``."""
    (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (job_dir / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in overrides), encoding="utf-8"
    )
    _write(results, job_dir / "results.nc")


def write_synthetic_sweep(
    root: Path,
    trends: tuple[float, ...] = (-0.3, -0.15, 0.0),
    prices: tuple[float, ...] = (20_000.0, 40_000.0),
    n: int = 1000,
) -> Path:
    """A multirun-like sweep directory over ``market.price_trend`` x ``fleet.gpu_price`` whose
    jobs hold synthetic results; read it with ``mcengine.sweep.open_sweep(root)``."""
    for num, overrides in enumerate(_sweep_grid(trends, prices)):
        values = dict(o.split("=") for o in overrides)
        ds = synthetic_results(
            n=n, price_trend=float(values[SWEEP_X]), gpu_price=float(values[SWEEP_Y]), seed=num
        )
        _write_job(root / str(num), overrides, ds)
    return root


# --- small real runs (engine required) --------------------------------------------------------

#: futures per real test run; the engine compiles for ~10-20 s on a small CPU box, so keep it small
TEST_SAMPLES = int(os.environ.get("MCENGINE_TEST_SAMPLES", "2048"))


def real_run(*overrides: str, n_samples: int = TEST_SAMPLES) -> xr.Dataset:
    """A real run of the default scenario with ``overrides``."""
    import mcengine

    cfg = mcengine.load_config(overrides=[f"n_samples={n_samples}", *overrides])
    return mcengine.simulate(cfg).load()


@functools.cache
def small_run() -> xr.Dataset:
    """A small real run of the default scenario (cached)."""
    return real_run()


def _temp_dir(prefix: str) -> Path:
    """A temporary directory removed when the process exits."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def _write(ds: xr.Dataset, path: Path) -> Path:
    from mcengine.results import write_netcdf

    return write_netcdf(ds, path)


@functools.cache
def small_run_dir() -> Path:
    """A temporary run directory holding ``results.nc`` of ``small_run()`` (cached per process)."""
    root = _temp_dir("mcengine-run-")
    _write(small_run(), root / "results.nc")
    return root


def write_real_sweep(root: Path, n_samples: int = TEST_SAMPLES) -> Path:
    """Run a 2x2 sweep with the engine, job by job, into a multirun-like directory (slow: one
    compile per job)."""
    for num, overrides in enumerate(_sweep_grid((-0.3, 0.0), (20_000.0, 40_000.0))):
        _write_job(root / str(num), overrides, real_run(*overrides, n_samples=n_samples))
    return root


@functools.cache
def small_sweep_dir() -> Path:
    """A temporary multirun-like sweep directory (cached per process): synthetic 3x2 jobs, or
    a real 2x2 sweep when ``MCENGINE_TEST_REAL_SWEEP=1`` and the engine is available."""
    root = _temp_dir("mcengine-sweep-")
    if os.environ.get("MCENGINE_TEST_REAL_SWEEP") == "1":
        return write_real_sweep(root)
    return write_synthetic_sweep(root)


@functools.cache
def small_sweep() -> xr.Dataset:
    """``small_sweep_dir()`` combined by ``mcengine.sweep.open_sweep``."""
    from mcengine.sweep import open_sweep

    return open_sweep(small_sweep_dir())
