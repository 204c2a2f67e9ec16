"""Combine the per-job results of a Hydra multirun into one labeled ``xarray.Dataset``.

A multirun ``mcengine -m market.price_trend=-0.2,-0.4 fleet.gpus=64,128`` leaves one job
directory per parameter combination under the sweep directory, each holding the job's
``results.nc`` and Hydra's ``.hydra/{config,overrides,hydra}.yaml``. :func:`open_sweep` reads them
all and returns a single Dataset whose dimensions are the swept config keys::

    ds = open_sweep("multirun/2025-01-01/12-00-00")
    ds.p_recoup.sel({"market.price_trend": -0.2, "fleet.gpus": 128})

Rules:

* Swept keys are the override keys whose value differs across jobs; they are named by their
  config path (a group override ``a/b=c`` becomes ``a.b``) and their values are parsed with
  Hydra's own override grammar (``1e3`` is the number 1000.0, ``abc`` a string).
* When the jobs form a full grid over the swept keys (Hydra's basic sweeper), each swept key is
  a dimension. Otherwise (optimisation sweepers, experiment lists, list- or distribution-valued
  overrides) the jobs lie along a ``job`` dimension with the swept values as coordinates on it.
* Each job's resolved config and override list stay available as the string variables
  ``config`` and ``overrides``. Result attributes that differ across jobs (``run_time_s``, ...)
  become variables too; identical ones stay attributes.
* Missing or failed jobs (a job directory without its results file, or a job that
  ``multirun.yaml`` expects but whose directory does not exist) are named in an error. With
  ``allow_missing=True`` they are left out instead: their grid cells read NaN (``""`` for the
  string variables), the boolean variable ``job_ok`` marks which cells hold results, and the
  attribute ``missing_jobs`` and a warning name them.

:func:`write_sweep` writes the combined Dataset to ``<sweep_dir>/sweep.nc`` atomically; the
``mcengine-sweep SWEEP_DIR`` console script calls it.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import sys
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from .results import NETCDF_ENGINE, write_netcdf

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.nc"
DEFAULT_RESULTS_FILE = "results.nc"
JOB_DIM = "job"
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# Per-job attributes that always become string variables along the sweep dimensions.
PER_JOB_TEXT = ("config", "overrides")
# Attributes of the combined Dataset that are lists in memory and YAML strings in the file.
LIST_ATTRS = ("sweep_dims", "swept_keys", "fixed_overrides", "missing_jobs")


class MissingJobsError(RuntimeError):
    """Some jobs of the sweep have no results; the message and ``missing`` name them."""

    def __init__(self, sweep_dir: Path, missing: list[str], reasons: list[str]) -> None:
        self.missing = missing
        lines = "\n".join(f"  - {reason}" for reason in reasons)
        super().__init__(
            f"{len(missing)} job(s) of the sweep in {sweep_dir} have no results:\n{lines}\n"
            "Re-run them, or pass allow_missing=True (mcengine-sweep --allow-missing) to combine "
            "the others and record the missing ones in attrs['missing_jobs']."
        )


@dataclass
class Job:
    """One job of the sweep: its number, overrides and (if it finished) its results."""

    num: int
    overrides: list[str]
    directory: Path | None = None
    results: xr.Dataset | None = None
    problem: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Human-readable identity: job number and its overrides."""
        return f"{self.num}: {' '.join(self.overrides)}".rstrip(": ")


# --------------------------------------------------------------------------- reading job dirs


def _read_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def _job_dirs(sweep_dir: Path) -> list[Path]:
    """Directories under ``sweep_dir`` holding a Hydra job record (``.hydra/overrides.yaml``)."""
    found = [p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")]
    return sorted(d for d in found if ".submitit" not in d.relative_to(sweep_dir).parts)


def _job_num(job_dir: Path, sweep_dir: Path) -> int:
    """The job's ``hydra.job.num`` from ``.hydra/hydra.yaml``, else its directory name."""
    hydra_yaml = job_dir / ".hydra" / "hydra.yaml"
    if hydra_yaml.is_file():
        num = ((_read_yaml(hydra_yaml) or {}).get("hydra") or {}).get("job", {}).get("num")
        if isinstance(num, int):
            return num
    try:
        return int(job_dir.name)
    except ValueError as err:
        raise ValueError(
            f"cannot tell the job number of {job_dir.relative_to(sweep_dir)}: no hydra.job.num "
            "in .hydra/hydra.yaml and the directory name is not a number"
        ) from err


def _results_file(job_dir: Path) -> Path:
    """The job's results file: the ``output`` key of its config, else ``results.nc``."""
    config_yaml = job_dir / ".hydra" / "config.yaml"
    name = DEFAULT_RESULTS_FILE
    if config_yaml.is_file():
        output = (_read_yaml(config_yaml) or {}).get("output")
        if isinstance(output, str) and output:
            name = output
    return job_dir / name


def _load_results(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return ds.load()


def _read_job(job_dir: Path, sweep_dir: Path) -> Job:
    """Read one job directory; a job without readable results gets ``problem`` set."""
    overrides = [str(o) for o in (_read_yaml(job_dir / ".hydra" / "overrides.yaml") or [])]
    job = Job(num=_job_num(job_dir, sweep_dir), overrides=overrides, directory=job_dir)
    path = _results_file(job_dir)
    rel = path.relative_to(sweep_dir)
    if not path.is_file():
        job.problem = f"no {rel} (the job failed, was cancelled or is still running)"
        return job
    try:
        job.results = _load_results(path)
    except (OSError, ValueError) as err:
        job.problem = f"cannot read {rel}: {err}"
    return job


def _expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """The basic sweeper's job list, rebuilt from ``multirun.yaml``; None when unknown."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    hydra_cfg = (_read_yaml(path) or {}).get("hydra") or {}
    sweeper = hydra_cfg.get("sweeper") or {}
    if sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    task = list((hydra_cfg.get("overrides") or {}).get("task") or [])
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(params + task)
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception as err:  # e.g. glob() over config groups needs a config loader
        log.debug("cannot rebuild the job list from %s: %s", path, err)
        return None
    return [list(job) for batch in batches for job in batch]


def _collect_jobs(sweep_dir: Path) -> list[Job]:
    """All jobs: those with a directory, plus those ``multirun.yaml`` expects without one."""
    jobs = {}
    for job_dir in _job_dirs(sweep_dir):
        job = _read_job(job_dir, sweep_dir)
        if job.num in jobs:
            raise ValueError(
                f"job number {job.num} appears twice: {jobs[job.num].directory} and {job_dir}"
            )
        jobs[job.num] = job
    for num, overrides in enumerate(_expected_jobs(sweep_dir) or []):
        if num not in jobs:
            jobs[num] = Job(num=num, overrides=overrides, problem="no job directory")
    if not jobs:
        raise FileNotFoundError(
            f"no Hydra job directories (*/.hydra/overrides.yaml) under {sweep_dir}"
        )
    return [jobs[n] for n in sorted(jobs)]


# --------------------------------------------------------------------------- swept keys


def _parse_overrides(job: Job) -> None:
    """Fill ``job.values`` (parsed) and ``job.texts`` (as written) from its override strings."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text, override in zip(job.overrides, parser.parse_overrides(job.overrides), strict=True):
        if override.is_delete():
            continue
        key = override.key_or_group.replace("/", ".")
        job.values[key] = override.value()
        job.texts[key] = text.split("=", 1)[1] if "=" in text else ""


def _swept_keys(jobs: Sequence[Job]) -> list[str]:
    """Keys, in first-seen order, whose value differs across jobs (or is absent from some)."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.values))
    missing = object()
    return [
        k for k in keys if len({repr(job.values.get(k, missing)) for job in jobs}) > 1
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def _coord_values(jobs: Sequence[Job], key: str) -> list[Any]:
    """One coordinate value per job: numbers and bools as such, anything else as its text."""
    values = [job.values.get(key) for job in jobs]
    if all(_is_number(v) for v in values) or all(isinstance(v, bool) for v in values):
        return values
    return [job.texts.get(key, "") for job in jobs]


def _unique_sorted(values: Sequence[Any]) -> list[Any]:
    """Distinct values: numbers ascending, anything else in order of first appearance."""
    distinct = list(dict.fromkeys(values))
    return sorted(distinct) if all(_is_number(v) for v in distinct) else distinct


def _is_full_grid(jobs: Sequence[Job], keys: Sequence[str]) -> bool:
    """Whether the jobs are exactly the Cartesian product of their swept values (scalars)."""
    if not keys:
        return False
    if not all(_is_scalar(job.values.get(k)) for job in jobs for k in keys):
        return False
    cells = [tuple(job.values[k] for k in keys) for job in jobs]
    sizes = [len({job.values[k] for job in jobs}) for k in keys]
    return len(set(cells)) == len(cells) == math.prod(sizes)


# --------------------------------------------------------------------------- combining


def _normalize(ds: xr.Dataset) -> xr.Dataset:
    """Give every dimension an index so that jobs of different lengths align by label."""
    missing = {d: np.arange(n) for d, n in ds.sizes.items() if d not in ds.indexes}
    return ds.assign_coords(missing)


def _per_job_attrs(present: Sequence[Job], keys: Sequence[str]) -> tuple[dict, list[str]]:
    """Attributes equal in every job (kept as attrs) and names of those that differ."""
    names = list(dict.fromkeys(a for job in present for a in job.results.attrs))
    common, varying = {}, []
    for name in names:
        values = [job.results.attrs.get(name) for job in present]
        if name in PER_JOB_TEXT or any(repr(v) != repr(values[0]) for v in values):
            if name not in keys:
                varying.append(name)
        else:
            common[name] = values[0]
    return common, varying


def _attr_variable(jobs: Sequence[Job], name: str) -> xr.DataArray:
    """A per-job attribute as a variable along ``job`` (text for config/overrides/mixed)."""
    values = [job.results.attrs.get(name) for job in jobs]
    if name not in PER_JOB_TEXT and all(_is_number(v) for v in values):
        return xr.DataArray(np.asarray(values, dtype=float), dims=JOB_DIM)
    text = [v if isinstance(v, str) else ("" if v is None else str(v)) for v in values]
    return xr.DataArray(np.asarray(text, dtype=object), dims=JOB_DIM)


def _fallback_text(jobs: Sequence[Job], name: str) -> list[str]:
    """config/overrides text for jobs whose results lack the attribute: from ``.hydra``."""
    out = []
    for job in jobs:
        text = job.results.attrs.get(name)
        if text is None and job.directory is not None:
            path = job.directory / ".hydra" / f"{name}.yaml"
            text = path.read_text() if path.is_file() else ""
        out.append(text or "")
    return out


def _stack_jobs(present: Sequence[Job], keys: Sequence[str]) -> tuple[xr.Dataset, dict]:
    """Concatenate the present jobs' results along ``job`` with per-job variables added."""
    parts = [_normalize(job.results.drop_attrs(deep=False)) for job in present]
    ds = xr.concat(parts, dim=JOB_DIM, join="outer", data_vars="all", coords="different",
                   compat="equals")
    common, varying = _per_job_attrs(present, keys)
    for name in varying:
        ds[name] = _attr_variable(present, name)
    for name in PER_JOB_TEXT:
        ds[name] = xr.DataArray(np.asarray(_fallback_text(present, name), dtype=object),
                                dims=JOB_DIM)
    ds["config"].attrs["description"] = "the job's resolved config (YAML)"
    ds["overrides"].attrs["description"] = "the job's override strings (YAML list)"
    ds = ds.assign_coords({JOB_DIM: [job.num for job in present]})
    return ds, common


def _assign_swept(ds: xr.Dataset, jobs: Sequence[Job], keys: Sequence[str]) -> xr.Dataset:
    coords = {k: (JOB_DIM, _coord_values(jobs, k), {"description": "swept config key"})
              for k in keys}
    return ds.assign_coords(coords)


def _fill_values(ds: xr.Dataset) -> dict[Hashable, Any]:
    """Missing-cell values: NaN for numbers, "" for text, False/-1 for job_ok/job_num."""
    fills: dict[Hashable, Any] = {}
    for name, var in ds.data_vars.items():
        if var.dtype == object or var.dtype.kind in "SU":
            fills[name] = ""
        elif var.dtype == bool:
            fills[name] = False
        elif name == "job_num":
            fills[name] = -1
        else:
            fills[name] = np.nan
    return fills


def _to_grid(ds: xr.Dataset, jobs: Sequence[Job], keys: Sequence[str]) -> xr.Dataset:
    """Reshape the ``job`` dimension into one dimension per swept key.

    ``jobs`` (present and missing) form a full grid, so every cell is a job number; cells of
    missing jobs get the values of :func:`_fill_values`.
    """
    levels = [_unique_sorted(_coord_values(jobs, k)) for k in keys]
    cell_of = {tuple(v[i] for v in (_coord_values(jobs, k) for k in keys)): job.num
               for i, job in enumerate(jobs)}
    cells = list(itertools.product(*levels))
    ds = ds.drop_vars(list(keys)).reindex({JOB_DIM: [cell_of[c] for c in cells]},
                                           fill_value=_fill_values(ds))
    full = pd.MultiIndex.from_tuples(cells, names=list(keys))
    ds = ds.drop_vars(JOB_DIM).assign_coords(xr.Coordinates.from_pandas_multiindex(full, JOB_DIM))
    ds = ds.unstack(JOB_DIM)
    for k in keys:
        ds[k].attrs["description"] = "swept config key"
    return ds.transpose(*keys, ...)


def _fixed_overrides(jobs: Sequence[Job], keys: Sequence[str]) -> list[str]:
    first = jobs[0]
    return [f"{k}={first.texts[k]}" for k in first.values if k not in keys]


def _check_missing(sweep_dir: Path, jobs: Sequence[Job], allow_missing: bool) -> list[str]:
    """Names of missing jobs; raises unless ``allow_missing`` (then warns)."""
    bad = [job for job in jobs if job.results is None]
    if not bad:
        return []
    names = [job.name for job in bad]
    reasons = [f"job {job.name}: {job.problem}" for job in bad]
    if not allow_missing:
        raise MissingJobsError(sweep_dir, names, reasons)
    if len(bad) == len(jobs):
        raise MissingJobsError(sweep_dir, names, reasons)
    message = f"{len(bad)} job(s) of {sweep_dir} left out of the sweep:\n" + "\n".join(reasons)
    warnings.warn(message, stacklevel=3)
    log.warning(message)
    return names


def open_sweep(
    sweep_dir: str | os.PathLike[str],
    *,
    allow_missing: bool = False,
    grid: bool | None = None,
) -> xr.Dataset:
    """Combine the results of the multirun in ``sweep_dir`` into one labeled Dataset.

    Args:
        sweep_dir: the multirun's ``hydra.sweep.dir``.
        allow_missing: leave out jobs without results (recorded in ``attrs['missing_jobs']``, the
            ``job_ok`` variable, and a warning) instead of raising :class:`MissingJobsError`.
        grid: True to require one dimension per swept key (ValueError if the jobs are not a full
            grid), False to always use the ``job`` dimension, None (default) to decide: grid when
            the jobs come from Hydra's basic sweeper (or an unknown one) and form a full grid.

    Returns:
        The combined Dataset; see the module docstring for its layout.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep directory {root} does not exist")
    jobs = _collect_jobs(root)
    for job in jobs:
        _parse_overrides(job)
    keys = _swept_keys(jobs)
    missing = _check_missing(root, jobs, allow_missing)
    present = [job for job in jobs if job.results is not None]

    is_grid = _is_full_grid(jobs, keys) and _sweeper_allows_grid(root)
    if grid is True and not _is_full_grid(jobs, keys):
        raise ValueError(f"the jobs in {root} do not form a full grid over {keys}")
    use_grid = is_grid if grid is None else grid

    ds, common = _stack_jobs(present, keys)
    ds["job_ok"] = xr.DataArray(np.ones(len(present), dtype=bool), dims=JOB_DIM,
                                attrs={"description": "the job finished and its results are here"})
    ds = _assign_swept(ds, present, keys)
    if use_grid:
        ds["job_num"] = xr.DataArray(np.asarray([j.num for j in present]), dims=JOB_DIM,
                                     attrs={"description": "Hydra job number (-1: missing)"})
        ds = _to_grid(ds, jobs, keys)
    ds.attrs = {
        **common,
        "sweep_dir": str(root.resolve()),
        "sweep_dims": list(keys) if use_grid else [JOB_DIM],
        "swept_keys": list(keys),
        "fixed_overrides": _fixed_overrides(jobs, keys),
        "n_jobs": len(jobs),
        "missing_jobs": missing,
    }
    return ds


def _sweeper_allows_grid(sweep_dir: Path) -> bool:
    """False for sweepers other than the basic one (optimisers): their jobs stay along ``job``."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return True
    sweeper = ((_read_yaml(path) or {}).get("hydra") or {}).get("sweeper") or {}
    target = sweeper.get("_target_")
    return target in (None, BASIC_SWEEPER)


# --------------------------------------------------------------------------- writing


def _netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy whose attributes NetCDF can store: list attributes as YAML strings."""
    attrs = {}
    for name, value in ds.attrs.items():
        if value is None:
            continue
        if name in LIST_ATTRS:
            value = yaml.safe_dump(list(value), default_flow_style=None).strip()
        elif isinstance(value, bool | np.bool_):
            value = int(value)
        attrs[name] = value
    out = ds.copy(deep=False)
    out.attrs = attrs
    return out


def write_sweep(
    sweep_dir: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    *,
    allow_missing: bool = False,
    grid: bool | None = None,
) -> Path:
    """Combine the sweep (:func:`open_sweep`) and write it atomically; returns the file written.

    ``path`` defaults to ``<sweep_dir>/sweep.nc``.
    """
    ds = open_sweep(sweep_dir, allow_missing=allow_missing, grid=grid)
    target = Path(path) if path is not None else Path(sweep_dir) / SWEEP_FILE
    write_netcdf(_netcdf_ready(ds), target)
    return target


def open_sweep_file(path: str | os.PathLike[str]) -> xr.Dataset:
    """Load a written ``sweep.nc`` into memory, with its list attributes as lists again."""
    ds = _load_results(Path(path))
    for name in LIST_ATTRS:
        if isinstance(ds.attrs.get(name), str):
            ds.attrs[name] = list(yaml.safe_load(ds.attrs[name]) or [])
    return ds


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcengine-sweep",
        description="Combine the per-job results of an mcengine multirun into one sweep.nc.",
    )
    parser.add_argument("sweep_dir", help="the multirun's sweep directory (hydra.sweep.dir)")
    parser.add_argument("-o", "--output", help="output file (default: SWEEP_DIR/sweep.nc)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="combine the finished jobs and record the missing ones")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--grid", dest="grid", action="store_const", const=True, default=None,
                        help="require a full grid (one dimension per swept key)")
    layout.add_argument("--job-dim", dest="grid", action="store_const", const=False,
                        help="always put jobs along a 'job' dimension")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``mcengine-sweep SWEEP_DIR``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the missing jobs are logged already
            out = write_sweep(args.sweep_dir, args.output, allow_missing=args.allow_missing,
                              grid=args.grid)
    except (MissingJobsError, FileNotFoundError, ValueError) as err:
        print(f"mcengine-sweep: error: {err}", file=sys.stderr)
        return 1
    ds = open_sweep_file(out)
    dims = ", ".join(f"{d}={n}" for d, n in ds.sizes.items() if d in ds.attrs["sweep_dims"])
    print(f"wrote {out} ({dims})")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "MissingJobsError",
    "main",
    "open_sweep",
    "open_sweep_file",
    "write_sweep",
]
