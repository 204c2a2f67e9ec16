"""Plots of a results Dataset (see ``docs/architecture.md`` for the variable names).

Every function takes a results ``xr.Dataset`` (or, for the sweep plots, a Dataset from
``mcengine.open_sweep`` whose extra dims are swept config paths), draws on ``ax`` when given
(else on a new figure) and returns the ``Axes``. Nothing here calls ``plt.show``; in a notebook
the figures display themselves, in scripts save them with ``ax.figure.savefig(...)``.

- ``fan_chart``: discounted cumulative cash ``cum_cash(month, quantile)`` as quantile bands.
- ``breakeven_curve``: ``p_breakeven_by(month)``, P(break-even by month).
- ``npv_distribution``: the NPV quantile function drawn as a CDF, with the mean and 0 marked.
- ``tornado``: decile-1 vs decile-10 conditional mean NPV or P(recoup) for each input.
- ``waterfall``: mean PV per component from 0 to the mean NPV.
- ``sweep_heatmap`` / ``sweep_line``: one variable over one or two swept config keys.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import xarray as xr


def _use_agg_without_display() -> None:
    """Select the non-interactive Agg backend on a headless Linux box, unless one was chosen."""
    if os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules:
        return
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        matplotlib.use("Agg")


_use_agg_without_display()

import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import Normalize, TwoSlopeNorm  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

__all__ = [
    "RESULT_DIMS",
    "swept_dims",
    "fan_chart",
    "breakeven_curve",
    "npv_distribution",
    "tornado",
    "waterfall",
    "sweep_heatmap",
    "sweep_line",
    "format_value",
    "format_coord",
]

#: dims of a single run's results; any other dim of a sweep Dataset is a swept config key
RESULT_DIMS = frozenset({"month", "quantile", "component", "input", "decile", "draws"})
_MONEY_UNITS = frozenset({"usd", "$", "dollar", "dollars", "us$"})
_FRACTION_UNITS = frozenset({"", "1", "dimensionless", "fraction", "probability"})
_LOW_COLOR, _HIGH_COLOR = "#d62728", "#1f77b4"
_TORNADO = {
    "npv": ("sens_npv_mean", "npv_mean", "mean NPV"),
    "p_recoup": ("sens_p_recoup", "p_recoup", "P(recoup)"),
}


# --- small helpers ----------------------------------------------------------------------------


def swept_dims(ds: xr.Dataset | xr.DataArray) -> list[str]:
    """The sweep dims of ``ds``: its ``sweep_dims`` attribute (set by ``open_sweep``; a grid
    sweep lists its swept config keys, other sweeps ``job``), else every dim that is not a
    results dim. Empty for a single run."""
    listed = ds.attrs.get("sweep_dims")
    if listed is not None and not isinstance(listed, str | bytes):
        names = [str(d) for d in np.atleast_1d(listed)]
    elif listed:
        names = [str(listed)]
    else:
        names = [str(d) for d in ds.dims if d not in RESULT_DIMS]
    return [d for d in names if d in ds.dims]


def _units(da: xr.DataArray) -> str:
    return str(da.attrs.get("units", "")).strip()


def _is_money(da: xr.DataArray) -> bool:
    return _units(da).lower() in _MONEY_UNITS


def _is_fraction(da: xr.DataArray) -> bool:
    return _units(da).lower() in _FRACTION_UNITS


def _label(da: xr.DataArray, name: str | None = None) -> str:
    """Axis label ``name [units]``; unitless quantities get no brackets."""
    text = name or str(da.attrs.get("long_name") or da.name)
    units = _units(da)
    return text if units.lower() in _FRACTION_UNITS else f"{text} [{units}]"


def _short_money(value: float) -> str:
    """``-1.23e8`` -> ``"-123M"``: three significant digits with a k/M/B/T suffix."""
    if not np.isfinite(value):
        return str(value)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def format_value(value: float, da: xr.DataArray) -> str:
    """Human-readable value in ``da``'s units (money with suffix, fractions as percent)."""
    value = float(value)
    if not np.isfinite(value):
        return "n/a" if np.isnan(value) else ("never" if value > 0 else "-inf")
    if _is_money(da):
        return "$" + _short_money(value) if value >= 0 else "-$" + _short_money(-value)
    if _is_fraction(da):
        return f"{100 * value:.1f}%"
    return f"{value:.3g}"


def _money_axis(axis: Any) -> None:
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _short_money(v)))


def _value_axis(axis: Any, da: xr.DataArray) -> None:
    """Tick labels for ``da``'s values: short money ($12M), percentages, or matplotlib's own."""
    if _is_money(da):
        _money_axis(axis)
    elif _is_fraction(da):
        axis.set_major_formatter(PercentFormatter(1.0))


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (8.0, 4.5)) -> Axes:
    if ax is not None:
        return ax
    _fig, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def _quantile_index(q: np.ndarray, level: float) -> int | None:
    hits = np.flatnonzero(np.isclose(q, level, atol=1e-9))
    return int(hits[0]) if hits.size else None


def _symmetric_pairs(q: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)`` with ``q[i] + q[j] == 1`` and ``q[i] < 0.5``, outermost first."""
    pairs = []
    for i in np.argsort(q):
        if q[i] >= 0.5:
            break
        j = _quantile_index(q, 1.0 - q[i])
        if j is not None:
            pairs.append((int(i), j))
    return pairs


def _pct(level: float) -> str:
    return f"P{100 * level:g}"


def _finite_scalar(ds: xr.Dataset, name: str) -> float | None:
    if name not in ds:
        return None
    value = float(ds[name])
    return value if np.isfinite(value) else None


def _median_breakeven(ds: xr.Dataset) -> float | None:
    if "breakeven_month" not in ds:
        return None
    da = ds["breakeven_month"]
    i = _quantile_index(da["quantile"].values, 0.5)
    if i is None:
        return None
    value = float(da.isel(quantile=i))
    return value if np.isfinite(value) else None


# --- single-run plots -------------------------------------------------------------------------


def fan_chart(ds: xr.Dataset, ax: Axes | None = None, var: str = "cum_cash") -> Axes:
    """Fan chart of discounted cumulative cash: bands between symmetric quantiles, median, 0."""
    ax = _new_ax(ax)
    da = ds[var].transpose("month", "quantile")
    month = da["month"].values
    q = da["quantile"].values
    values = da.values
    pairs = _symmetric_pairs(q)
    for lo, hi in pairs:  # outermost first; overlapping bands darken toward the centre
        ax.fill_between(
            month,
            values[:, lo],
            values[:, hi],
            color="C0",
            alpha=0.18,
            lw=0,
            label=f"{_pct(q[lo])}–{_pct(q[hi])}",
        )
    mid = _quantile_index(q, 0.5)
    if mid is not None:
        ax.plot(month, values[:, mid], color="C0", lw=2, label="median")
    ax.axhline(0.0, color="black", lw=0.8)
    be = _median_breakeven(ds)
    if be is not None:
        ax.axvline(be, color="C2", ls=":", lw=1.2, label=f"median break-even (month {be:g})")
    ax.set_xlim(month[0], month[-1])
    ax.set_xlabel("month")
    ax.set_ylabel(_label(da, "discounted cumulative cash"))
    if _is_money(da):
        _money_axis(ax.yaxis)
    ax.set_title("Discounted cumulative cash (quantile bands)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def breakeven_curve(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """P(discounted break-even by month) as a step curve, with P(recoup) ± SE marked."""
    ax = _new_ax(ax)
    da = ds["p_breakeven_by"]
    month = da["month"].values
    ax.step(month, da.values, where="post", color="C0", lw=2, label="P(break-even ≤ month)")
    p = _finite_scalar(ds, "p_recoup")
    se = (_finite_scalar(ds, "p_recoup_se") or 0.0) if p is not None else 0.0
    if p is not None:
        ax.axhspan(p - 1.96 * se, p + 1.96 * se, color="C1", alpha=0.2, lw=0)
        ax.axhline(
            p,
            color="C1",
            ls="--",
            lw=1,
            label=f"P(recoup) = {100 * p:.1f}% ± {100 * se:.2f}% SE (band: 95% CI)",
        )
    be = _median_breakeven(ds)
    if be is not None:
        ax.axvline(be, color="C2", ls=":", lw=1.2, label=f"median break-even (month {be:g})")
    ax.set_xlim(month[0], month[-1])
    ax.set_ylim(0.0, _probability_top(np.nanmax(da.values), p, se))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("month")
    ax.set_ylabel("P(break-even month ≤ month)")
    ax.set_title("Probability of discounted break-even by month")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def _probability_top(curve_max: float, p: float | None, se: float) -> float:
    """Upper y limit: the full 0..1 scale unless every probability shown is small."""
    top = max(curve_max, (p or 0.0) + 2 * se)
    return 1.02 if not np.isfinite(top) or top > 0.4 else max(1.25 * top, 0.01)


def npv_distribution(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """NPV distribution as its CDF (quantile function with axes swapped); mean and 0 marked."""
    ax = _new_ax(ax)
    da = ds["npv"]
    q = da["quantile"].values
    order = np.argsort(q)
    x, y = da.values[order], q[order]
    ax.plot(x, y, color="C0", lw=2, marker="o", ms=4, label="NPV quantiles")
    ax.axvline(0.0, color="black", lw=0.8, label="NPV = 0")
    mean = _finite_scalar(ds, "npv_mean")
    if mean is not None:
        ax.axvline(
            mean, color="C1", ls="--", lw=1.2, label=f"mean = {format_value(mean, ds['npv_mean'])}"
        )
    finite = np.isfinite(x)
    if finite.sum() >= 2 and x[finite][0] <= 0.0 <= x[finite][-1]:
        p_loss = float(np.interp(0.0, x[finite], y[finite]))
        ax.annotate(
            f"P(NPV < 0) ≈ {100 * p_loss:.0f}%",
            (0.0, p_loss),
            xytext=(8, -4),
            textcoords="offset points",
            fontsize="small",
        )
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(_label(da, "NPV"))
    if _is_money(da):
        _money_axis(ax.xaxis)
    ax.set_ylabel("cumulative probability")
    ax.set_title("NPV distribution (CDF from quantiles)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def tornado(
    ds: xr.Dataset, ax: Axes | None = None, metric: str = "npv", top: int | None = 15
) -> Axes:
    """Tornado chart: the metric given decile 1 vs decile 10 of each input, around its overall
    value; inputs sorted by swing (largest on top). ``metric`` is ``"npv"`` or ``"p_recoup"``."""
    if metric not in _TORNADO:
        raise ValueError(f"metric must be one of {sorted(_TORNADO)}, got {metric!r}")
    var, base_var, name = _TORNADO[metric]
    da = ds[var].transpose("input", "decile")
    deciles = da["decile"].values
    low = da.sel(decile=deciles.min()).values
    high = da.sel(decile=deciles.max()).values
    base = float(ds[base_var]) if base_var in ds else float(np.nanmean(da.values))
    swing = np.abs(high - low)
    order = [i for i in np.argsort(swing) if np.isfinite(swing[i])]  # ascending: largest on top
    if top is not None:
        order = order[-top:]
    ax = _new_ax(ax, figsize=(8.0, 1.8 + 0.4 * max(len(order), 1)))
    _tornado_bars(ax, low[order] - base, high[order] - base, base)
    names = [str(v) for v in da["input"].values[order]]
    y = np.arange(len(order))
    ax.axvline(base, color="black", lw=1, label=f"overall = {format_value(base, da)}")
    ax.set_yticks(y, names)
    ax.set_xlabel(_label(da, name))
    _value_axis(ax.xaxis, da)
    ax.set_title(f"Sensitivity of {name} to each input (decile {deciles.min()} vs {deciles.max()})")
    handles = [
        Patch(color=_LOW_COLOR, label=f"decile {deciles.min()} (lowest input values)"),
        Patch(color=_HIGH_COLOR, label=f"decile {deciles.max()} (highest input values)"),
        *ax.get_lines(),
    ]
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.9)
    ax.grid(axis="x", alpha=0.3)
    return ax


def _tornado_bars(ax: Axes, low: np.ndarray, high: np.ndarray, base: float) -> None:
    """Bars from ``base`` by ``low`` and by ``high``; where both point the same way the longer
    is drawn first so that the shorter stays visible on top of it."""
    y = np.arange(len(low))
    low_first = np.abs(low) >= np.abs(high)
    for first in (True, False):
        pick_low = low_first == first
        widths = np.where(pick_low, low, high)
        colors = np.where(pick_low, _LOW_COLOR, _HIGH_COLOR)
        ax.barh(y, widths, left=base, color=colors, height=0.7 if first else 0.45)


def waterfall(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """Waterfall of mean PV per component: start at 0, add each signed component, end at NPV."""
    da = ds["pv"]
    names = [str(c) for c in da["component"].values]
    values = da.values.astype(float)
    ends = np.cumsum(values)
    starts = ends - values
    total = float(ends[-1]) if len(ends) else 0.0
    ax = _new_ax(ax, figsize=(max(8.0, 0.75 * (len(names) + 1)), 4.5))
    x = np.arange(len(names) + 1)
    colors = ["C2" if v >= 0 else "C3" for v in values] + ["C0"]
    heights = np.append(values, total)
    bottoms = np.append(starts, 0.0)
    ax.bar(x, heights, bottom=bottoms, color=colors, edgecolor="black", lw=0.5)
    for i in range(len(names)):  # connectors from each bar's end to the next bar
        ax.plot([x[i] - 0.4, x[i + 1] + 0.4], [ends[i], ends[i]], color="grey", lw=0.6, ls=":")
    fmt = (lambda v: format_value(v, da)) if _is_money(da) else (lambda v: f"{v:.3g}")
    for xi, b, h in zip(x, bottoms, heights, strict=True):
        ax.annotate(
            fmt(h),
            (xi, b + h if h >= 0 else b + h),
            ha="center",
            va="bottom" if h >= 0 else "top",
            fontsize="x-small",
            xytext=(0, 2 if h >= 0 else -2),
            textcoords="offset points",
        )
    ax.axhline(0.0, color="black", lw=0.8)
    ax.margins(y=0.12)
    ax.set_xticks(x, names + ["NPV (mean)"], rotation=40, ha="right")
    ax.set_ylabel(_label(da, "mean present value"))
    if _is_money(da):
        _money_axis(ax.yaxis)
    ax.set_title("Mean PV by component: from 0 to mean NPV")
    ax.grid(axis="y", alpha=0.3)
    return ax


# --- sweep plots ------------------------------------------------------------------------------


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


def format_coord(value: Any) -> str:
    """Short text for a coordinate value (tick labels, titles)."""
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


def _cell_text(value: float, da: xr.DataArray) -> str:
    if not np.isfinite(value):
        return "n/a" if np.isnan(value) else "never"
    if _is_money(da):
        return _short_money(value)
    if _is_fraction(da):
        return f"{100 * value:.0f}%"
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
