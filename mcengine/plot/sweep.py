"""Sweep plots: one variable over one or two swept config keys of a sweep Dataset.

A sweep Dataset (from ``mcengine.open_sweep``) is a results Dataset with extra dims, one per
swept config key (``swept_dims`` names them). ``sweep_heatmap`` draws a variable over two of
them and ``sweep_line`` over one; the variable's other dims are picked with ``sel`` or reduced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
import yaml
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.ticker import PercentFormatter

from ._format import (
    _is_fraction,
    _is_money,
    _label,
    _money_axis,
    _new_ax,
    _percent,
    _short_money,
    _value_axis,
    format_coord,
)

#: dims of a single run's results (``output``: of the Sobol' indices); any other dim of a sweep
#: Dataset is a swept config key
RESULT_DIMS = frozenset({"month", "quantile", "component", "input", "decile", "draws", "output"})


def _listed_dims(value: Any) -> list[str] | None:
    """The ``sweep_dims`` attribute as names: a list, one name, or the YAML/JSON text of a list
    (as a ``sweep.nc`` read without ``open_sweep_file`` holds it); None when absent or empty."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                pass
        if isinstance(value, str):
            return [value] if value else None
    if value is None:
        return None
    return [str(d) for d in np.atleast_1d(value)]


def swept_dims(ds: xr.Dataset | xr.DataArray) -> list[str]:
    """The sweep dims of ``ds``: its ``sweep_dims`` attribute (set by ``open_sweep``; a grid
    sweep lists its swept config keys, other sweeps ``job``), else every dim that is not a
    results dim. Empty for a single run."""
    names = _listed_dims(ds.attrs.get("sweep_dims"))
    if names is None:
        names = [str(d) for d in ds.dims if d not in RESULT_DIMS]
    return [d for d in names if d in ds.dims]


def _select(da: xr.DataArray, sel: Mapping[str, Any] | None) -> xr.DataArray:
    if not sel:
        return da
    for key, value in sel.items():
        try:
            da = da.sel({key: value})
        except (KeyError, ValueError):
            da = da.sel({key: value}, method="nearest")
    return da


def _reduce_to(
    da: xr.DataArray, keep: Sequence[str], sel: Mapping[str, Any] | None, reduce: str | None
) -> xr.DataArray:
    """Select ``sel``, then reduce the dims not in ``keep`` with ``reduce`` (or fail)."""
    missing = [k for k in keep if k not in da.dims]
    if missing:
        raise ValueError(f"{da.name!r} has no dims {missing}; its dims are {list(da.dims)}")
    da = _select(da, sel)
    others = [str(d) for d in da.dims if d not in keep]
    if others and reduce is None:
        raise ValueError(
            f"{da.name!r} has further dims {others}: pick values with sel={{...}} "
            f"or reduce them with reduce='mean' (or 'min', 'max', 'median')"
        )
    if others:
        attrs = da.attrs
        da = getattr(da, reduce)(dim=others)
        da.attrs = attrs
    return da


def _cell_text(value: float, da: xr.DataArray) -> str:
    if not np.isfinite(value):
        return "n/a" if np.isnan(value) else "never"
    if _is_money(da):
        return _short_money(value)
    if _is_fraction(da):
        return _percent(value, 2)
    return f"{value:.3g}"


def _heatmap_norm(values: np.ndarray, da: xr.DataArray) -> tuple[str, Normalize]:
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if _is_fraction(da) and lo >= 0.0 and hi <= 1.0:
        return "RdYlGn", Normalize(0.0, 1.0)
    if lo < 0.0 < hi:
        return "RdYlGn", TwoSlopeNorm(0.0, lo, hi)
    return "viridis", Normalize(lo, hi if hi > lo else lo + 1.0)


def sweep_heatmap(
    sweep_ds: xr.Dataset,
    x: str,
    y: str,
    var: str = "p_recoup",
    ax: Axes | None = None,
    sel: Mapping[str, Any] | None = None,
    reduce: str | None = None,
    annotate: bool = True,
) -> Axes:
    """Heatmap of ``var`` over two swept config keys ``x`` and ``y`` (dims of ``sweep_ds``).

    Other dims of ``var`` (further swept keys, ``quantile``, ...) must be picked with ``sel``
    (e.g. ``sel={"quantile": 0.5}``) or reduced with ``reduce="mean"``. Cells are annotated.
    """
    da = _reduce_to(sweep_ds[var], (x, y), sel, reduce).transpose(y, x)
    values = da.values.astype(float)
    ax = _new_ax(
        ax, figsize=(max(6.0, 1.1 * values.shape[1] + 3), max(4.0, 0.6 * values.shape[0] + 2))
    )
    cmap, norm = _heatmap_norm(values, da)
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap=cmap, norm=norm, origin="lower", aspect="auto"
    )
    ax.set_xticks(np.arange(values.shape[1]), [format_coord(v) for v in da[x].values])
    ax.set_yticks(np.arange(values.shape[0]), [format_coord(v) for v in da[y].values])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    bar = ax.figure.colorbar(image, ax=ax)
    bar.set_label(_label(da, var))
    if _is_money(da):
        _money_axis(bar.ax.yaxis)
    elif _is_fraction(da):
        bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if annotate:
        colormap = plt.get_cmap(cmap)
        for (i, j), value in np.ndenumerate(values):
            rgb = colormap(norm(value))[:3] if np.isfinite(value) else (1.0, 1.0, 1.0)
            dark = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 0.5
            ax.text(
                j,
                i,
                _cell_text(value, da),
                ha="center",
                va="center",
                fontsize="small",
                color="white" if dark else "black",
            )
    suffix = "".join(f", {k}={format_coord(v)}" for k, v in (sel or {}).items())
    ax.set_title(f"{var} by {x} and {y}{suffix}")
    return ax


def sweep_line(
    sweep_ds: xr.Dataset,
    x: str,
    var: str = "p_recoup",
    ax: Axes | None = None,
    sel: Mapping[str, Any] | None = None,
    reduce: str | None = None,
) -> Axes:
    """``var`` against one swept config key ``x`` (other dims: ``sel`` or ``reduce``)."""
    da = _reduce_to(sweep_ds[var], (x,), sel, reduce)
    ax = _new_ax(ax)
    values = da.values.astype(float)
    coord = da[x].values
    numeric = np.issubdtype(coord.dtype, np.number)
    xs = coord if numeric else np.arange(len(coord))
    ax.plot(xs, values, marker="o", color="C0")
    if not numeric:
        ax.set_xticks(xs, [format_coord(v) for v in coord])
    ax.set_xlabel(x)
    ax.set_ylabel(_label(da, var))
    _value_axis(ax.yaxis, da)
    ax.set_title(f"{var} by {x}")
    ax.grid(alpha=0.3)
    return ax
