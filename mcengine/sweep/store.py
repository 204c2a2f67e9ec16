"""Write the combined sweep to ``sweep.nc`` and read it back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from ..results import NETCDF_ENGINE, open_results, write_netcdf
from .combine import open_sweep

SWEEP_FILE = "sweep.nc"
# Attributes of the combined Dataset that are lists in memory and YAML strings in the file.
LIST_ATTRS = ("sweep_dims", "swept_keys", "fixed_overrides", "missing_jobs")


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


def is_sweep_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a file written by :func:`write_sweep`, whatever its name: it has the
    ``sweep_dims`` attribute (only the file's header is read)."""
    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        return "sweep_dims" in ds.attrs


def open_sweep_file(path: str | os.PathLike[str]) -> xr.Dataset:
    """Load a written ``sweep.nc`` into memory, with its list attributes as lists again."""
    ds = open_results(path)
    for name in LIST_ATTRS:
        if isinstance(ds.attrs.get(name), str):
            ds.attrs[name] = list(yaml.safe_load(ds.attrs[name]) or [])
    return ds
