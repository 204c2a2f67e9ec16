"""Arrange the jobs' results into one Dataset: a grid of swept dimensions, or a ``job`` dimension.

:func:`open_sweep` is the entry point; see :mod:`mcengine.sweep` for the layout it produces.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .jobs import Job, _check_missing, _collect_jobs, _parse_overrides, _sweeper_allows_grid
from .keys import (
    _coord_values,
    _fixed_overrides,
    _is_full_grid,
    _is_number,
    _swept_keys,
    _unique_sorted,
)

JOB_DIM = "job"
# Per-job attributes that always become string variables along the sweep dimensions.
PER_JOB_TEXT = ("config", "overrides")


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
    ds = xr.concat(
        parts, dim=JOB_DIM, join="outer", data_vars="all", coords="different", compat="equals"
    )
    common, varying = _per_job_attrs(present, keys)
    for name in varying:
        ds[name] = _attr_variable(present, name)
    for name in PER_JOB_TEXT:
        ds[name] = xr.DataArray(
            np.asarray(_fallback_text(present, name), dtype=object), dims=JOB_DIM
        )
    ds["config"].attrs["description"] = "the job's resolved config (YAML)"
    ds["overrides"].attrs["description"] = "the job's override strings (YAML list)"
    ds = ds.assign_coords({JOB_DIM: [job.num for job in present]})
    return ds, common


def _assign_swept(ds: xr.Dataset, jobs: Sequence[Job], keys: Sequence[str]) -> xr.Dataset:
    coords = {
        k: (JOB_DIM, _coord_values(jobs, k), {"description": "swept config key"}) for k in keys
    }
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
    cell_of = {
        tuple(v[i] for v in (_coord_values(jobs, k) for k in keys)): job.num
        for i, job in enumerate(jobs)
    }
    cells = list(itertools.product(*levels))
    ds = ds.drop_vars(list(keys)).reindex(
        {JOB_DIM: [cell_of[c] for c in cells]}, fill_value=_fill_values(ds)
    )
    full = pd.MultiIndex.from_tuples(cells, names=list(keys))
    ds = ds.drop_vars(JOB_DIM).assign_coords(xr.Coordinates.from_pandas_multiindex(full, JOB_DIM))
    ds = ds.unstack(JOB_DIM)
    for k in keys:
        ds[k].attrs["description"] = "swept config key"
    return ds.transpose(*keys, ...)


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
        The combined Dataset; see the :mod:`mcengine.sweep` docstring for its layout.
    """
    root = Path(sweep_dir)
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
    ds["job_ok"] = xr.DataArray(
        np.ones(len(present), dtype=bool),
        dims=JOB_DIM,
        attrs={"description": "the job finished and its results are here"},
    )
    ds = _assign_swept(ds, present, keys)
    if use_grid:
        ds["job_num"] = xr.DataArray(
            np.asarray([j.num for j in present]),
            dims=JOB_DIM,
            attrs={"description": "Hydra job number (-1: missing)"},
        )
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
