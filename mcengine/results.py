"""Results as an ``xarray.Dataset``: names, units and descriptions, and atomic NetCDF I/O."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import yaml

from .accumulators import (
    bin_ranges,
    integer_quantiles,
    quantiles_from_histogram,
    standard_error_method,
    standard_errors,
)
from .engine import RunResult
from .model.kernel import COMPONENTS

__all__ = [
    "to_dataset",
    "write_netcdf",
    "open_results",
    "results_file",
    "is_run_dir",
    "NETCDF_ENGINE",
    "DEFAULT_RESULTS_FILE",
]

NETCDF_ENGINE = "h5netcdf"
DEFAULT_RESULTS_FILE = "results.nc"  # the config's default ``output``
COARSE_QUANTILES = 0.01  # quantile_cdf_error_bound above which a run warns (5x the target)


def _var(dims, data, units: str, description: str) -> xr.Variable:
    return xr.Variable(dims, np.asarray(data), attrs={"units": units, "description": description})


def _month_quantiles(r: RunResult) -> tuple[np.ndarray, float]:
    lower, upper = bin_ranges(r.month_edges, r.month_min, r.month_max)
    out = np.empty((r.horizon + 1, len(r.levels)))
    worst = 0.0
    for m in range(r.horizon + 1):
        out[m], bound = quantiles_from_histogram(r.month_counts[m], r.levels, lower[m], upper[m])
        worst = max(worst, float(np.nanmax(bound)))
    return out, worst


TRACE_GRID = (
    "futures simulated: 1024 x 1, 2, 3, 4, 6, 8, 12, ... (a grid that does not depend on the "
    "chunk size or device count), and the run's total"
)


def _convergence(trace: dict[str, np.ndarray]) -> dict[str, xr.Variable]:
    """The running estimates after the first ``draws`` futures, with their standard errors:
    each point is what a run of that many futures reports."""
    after = "after the first `draws` futures"
    return {
        "convergence_p_recoup": _var(("draws",), trace["p_recoup"], "1", f"P(recoup) {after}"),
        "convergence_p_recoup_se": _var(
            ("draws",), trace["p_recoup_se"], "1", f"Monte Carlo SE of P(recoup) {after}"
        ),
        "convergence_npv_mean": _var(("draws",), trace["npv_mean"], "USD", f"mean NPV {after}"),
        "convergence_npv_mean_se": _var(
            ("draws",), trace["npv_mean_se"], "USD", f"Monte Carlo SE of mean NPV {after}"
        ),
    }


def _sensitivity(r: RunResult) -> dict[str, xr.Variable]:
    s, n = r.sums, r.n
    if "u" not in s or not r.inputs:
        return {}
    empty = r.decile_counts == 0  # tiny runs: no future fell in the decile, nothing to report
    counts = np.where(empty, 1, r.decile_counts)
    k = len(r.inputs)
    decile_npv = np.where(empty, np.nan, r.shift + s["decile_npv"].reshape(k, 10) / counts)
    mean_u, mean_g = s["u"] / n, s["g"][0] / n
    cov = s["ug"] / n - mean_u * mean_g
    var_u = s["uu"] / n - mean_u**2
    var_g = s["gg"][0] / n - mean_g**2
    with np.errstate(invalid="ignore", divide="ignore"):
        rank_corr = cov / np.sqrt(var_u * var_g)
    dims = ("input", "decile")
    p_dec = np.where(empty, np.nan, r.decile_recouped / counts)
    return {
        "sens_swing_npv": _var(
            ("input",),
            decile_npv[:, -1] - decile_npv[:, 0],
            "USD",
            "tornado swing: mean NPV in the input's top decile minus its bottom decile",
        ),
        "sens_swing_p_recoup": _var(
            ("input",),
            p_dec[:, -1] - p_dec[:, 0],
            "1",
            "tornado swing: P(recoup) in the input's top decile minus its bottom decile",
        ),
        "sens_p_recoup": _var(
            dims,
            p_dec,
            "1",
            "P(recoup) given the input lies in this decile of its own distribution",
        ),
        "sens_npv_mean": _var(
            dims, decile_npv, "USD", "mean NPV given the input lies in this decile"
        ),
        "sens_count": _var(dims, r.decile_counts, "futures", "futures in each input decile"),
        "sens_rank_corr_npv": _var(
            ("input",), rank_corr, "1", "Spearman rank correlation of the input with NPV"
        ),
    }


def to_dataset(r: RunResult, attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Build the results Dataset (see docs/architecture.md for the names)."""
    T, n, q = r.horizon, r.n, r.levels
    months = np.arange(T + 1)
    recouped = int(r.event_counts[0, : T + 1].sum())
    p = recouped / n
    by_month = np.cumsum(r.event_counts[0, : T + 1]) / n
    npv_mean = r.shift + r.sums["npv"][0] / n
    se_p, se_npv = standard_errors(r.sums, n, recouped)
    se_how = standard_error_method(r.sums)
    scalars, bounds = [], []
    for j in range(3):
        values, bound = quantiles_from_histogram(
            r.scalar_counts[j], q, r.scalar_lower[j], r.scalar_upper[j]
        )
        scalars.append(values)
        bounds.append(np.nanmax(bound))
    cum_cash, month_bound = _month_quantiles(r)
    data = {
        "p_recoup": _var((), p, "1", "probability that discounted cash breaks even by month T"),
        "p_recoup_se": _var((), se_p, "1", f"Monte Carlo standard error ({se_how})"),
        "p_breakeven_by": _var(
            ("month",), by_month, "1", "probability that break-even has come by this month"
        ),
        "breakeven_month": _var(
            ("quantile",),
            integer_quantiles(r.event_counts[0], q),
            "month",
            "first month with discounted cumulative cash >= 0 (inf: never within the horizon)",
        ),
        "payback_month": _var(
            ("quantile",),
            integer_quantiles(r.event_counts[1], q),
            "month",
            "first month with undiscounted cumulative cash >= 0 (inf: never)",
        ),
        "npv": _var(("quantile",), scalars[0], "USD", "net present value to equity"),
        "npv_mean": _var((), npv_mean, "USD", "mean net present value"),
        "npv_se": _var((), se_npv, "USD", f"Monte Carlo standard error of npv_mean ({se_how})"),
        "cum_cash": _var(
            ("month", "quantile"), cum_cash, "USD", "discounted cumulative cash to equity"
        ),
        "pv": _var(
            ("component",),
            r.sums["pv"] / n,
            "USD",
            "mean present value per cash-flow component, signed (outflows negative; they sum "
            "to npv_mean); upfront = -K, financing = loan - PV(debt payments)",
        ),
        "gross_margin": _var(
            ("quantile",),
            scalars[1],
            "1",
            "(revenue - energy - colocation - upkeep - variable - depreciation) / revenue",
        ),
        "spend_to_revenue": _var(
            ("quantile",), scalars[2], "1", "all outflows (equity upfront included) / revenue"
        ),
        **_convergence(r.convergence),
    }
    data.update(_sensitivity(r))
    coords = {
        "month": ("month", months, {"units": "month", "description": "months since investment"}),
        "quantile": ("quantile", q, {"description": "quantile level"}),
        "component": (
            "component",
            list(COMPONENTS),
            {"description": "cash-flow line of the waterfall (MODEL.md); signed present values"},
        ),
        "draws": ("draws", r.convergence["n"], {"description": TRACE_GRID}),
    }
    if r.inputs and "sens_p_recoup" in data:
        described = {"description": "uncertain input (config path)"}
        coords["input"] = ("input", list(r.inputs), described)
        coords["decile"] = (
            "decile",
            np.arange(1, 11),
            {"description": "decile of the input's own distribution: 1 = lowest tenth"},
        )
    ds = xr.Dataset(data, coords=coords)
    cdf_bound = float(max(max(bounds), month_bound))
    if cdf_bound > COARSE_QUANTILES:
        if cdf_bound <= 2.0 / n:  # a bin holds a future or two: the run is just small
            why = f"With {n} futures one future is {1 / n:.3g} of the probability; more "
            why += "n_samples give finer quantiles."
        else:
            why = (
                "An output with a very heavy tail stretches the histogram bins fitted on the "
                "pilot. Means, SEs and probabilities are unaffected; narrow the inputs' tails "
                "(truncate them) for finer quantiles."
            )
        warnings.warn(
            f"quantile_cdf_error_bound={cdf_bound:.3g}: this run's quantiles are coarse (each may "
            f"be off by that much probability; the target is 0.002). {why}",
            stacklevel=2,
        )
    meta = {
        "n_samples": n,
        "quantile_method": "exact integer histograms with symlog bins fitted on a pilot; "
        "interpolation within the crossing bin (see docs/quantiles.md)",
        "quantile_cdf_error_bound": cdf_bound,
        **r.meta,
        **(attrs or {}),
    }
    ds.attrs.update({key: _attr(value) for key, value in meta.items()})
    return ds


def _attr(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if value is None:
        return ""
    if isinstance(value, str | int | float | np.integer | np.floating):
        return value
    return str(value)


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file in the same folder, then rename.

    A reader never sees a partial file, and a failed write leaves any previous file untouched.
    The file gets the usual permissions (``0o666`` less the umask), like any file the user
    writes, not the private mode of a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem, _, ext = path.name.partition(".")
    suffix = f".{ext}.tmp" if ext else ".tmp"  # "*.nc.tmp" is git-ignored
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine=NETCDF_ENGINE, invalid_netcdf=True)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _configured_output(run_dir: Path) -> str | None:
    """The ``output`` key of the run's ``.hydra/config.yaml`` (as Hydra saved it), if any."""
    config_yaml = run_dir / ".hydra" / "config.yaml"
    if not config_yaml.is_file():
        return None
    output = (yaml.safe_load(config_yaml.read_text()) or {}).get("output")
    return output if isinstance(output, str) and output else None


def results_file(run_dir: str | os.PathLike) -> Path:
    """The results file of a run (or sweep job) directory: the ``output`` of its
    ``.hydra/config.yaml``, else ``results.nc``."""
    run_dir = Path(run_dir)
    return run_dir / (_configured_output(run_dir) or DEFAULT_RESULTS_FILE)


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a single run's directory: it holds Hydra's ``.hydra/`` record of the
    run or a results file (a multirun directory holds them in its job directories)."""
    path = Path(path)
    return (path / ".hydra").is_dir() or results_file(path).is_file()


def _no_results(path: Path) -> str:
    """Why ``path`` (a results file, or a run directory) holds no results file."""
    if not path.is_dir():
        return f"no such results file: {path}"
    output = _configured_output(path)
    looked = (
        f"{output} (the output named in .hydra/config.yaml)"
        if output
        else f"{DEFAULT_RESULTS_FILE} (no .hydra/config.yaml names another output)"
    )
    return f"no results in the run directory {path}: looked for {looked}"


def open_results(path: str | os.PathLike) -> xr.Dataset:
    """Load a results file, or the results file of a run directory (:func:`results_file`), into
    memory. FileNotFoundError names the directory and the file looked for when there is none."""
    path = Path(path)
    file = results_file(path) if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(_no_results(path))
    with xr.open_dataset(file, engine=NETCDF_ENGINE) as ds:
        return ds.load()
