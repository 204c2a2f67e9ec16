"""Single-run plots: pictures of one run's results Dataset.

- ``fan_chart``: discounted cumulative cash ``cum_cash(month, quantile)`` as quantile bands.
- ``breakeven_curve``: ``p_breakeven_by(month)``, P(break-even by month).
- ``npv_distribution``: the NPV quantile function drawn as a CDF, with the mean and 0 marked.
- ``tornado``: decile-1 vs decile-10 conditional mean NPV or P(recoup) for each input.
- ``waterfall``: mean PV per component from 0 to the mean NPV.
- ``convergence``: the running estimate of P(recoup) or mean NPV against futures drawn, with
  its 95 % confidence band: did the run draw enough?
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from ._format import _is_money, _label, _money_axis, _new_ax, _value_axis, format_value
from .sweep import swept_dims

_LOW_COLOR, _HIGH_COLOR = "#d62728", "#1f77b4"
_BAND_ALPHA = 0.18  # one fan-chart band; overlapping bands darken toward the median
_TORNADO = {
    "npv": ("sens_npv_mean", "npv_mean", "mean NPV"),
    "p_recoup": ("sens_p_recoup", "p_recoup", "P(recoup)"),
}
_RESULTS_HINT = "; single-run plots take a run's results (mcengine.simulate, mcengine.open_results)"
_CONVERGENCE = {
    "p_recoup": ("convergence_p_recoup", "P(recoup)"),
    "npv": ("convergence_npv_mean", "mean NPV"),
}
_DECILES_HINT = "; run with sensitivity.deciles=true to get it"


def _run_var(ds: xr.Dataset, name: str, hint: str = _RESULTS_HINT) -> xr.DataArray:
    """``ds[name]`` of a single run's results; a ValueError that says what to do for a sweep
    Dataset or a Dataset without ``name`` (``hint`` tells how to get it)."""
    dims = swept_dims(ds)
    if dims:
        point = {d: ds[d][0].item() for d in dims}
        raise ValueError(
            f"this is a sweep Dataset (swept dims {dims}); single-run plots show one point: "
            f"select it first, e.g. ds.sel({point!r}), or plot across the sweep with "
            "sweep_heatmap / sweep_line"
        )
    if name not in ds:
        raise ValueError(f"the Dataset has no variable {name!r}{hint}")
    return ds[name]


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
    da = _run_var(ds, var).transpose("month", "quantile")
    month = da["month"].values
    q = da["quantile"].values
    values = da.values
    pairs = _symmetric_pairs(q)
    handles = []
    for depth, (lo, hi) in enumerate(pairs, start=1):  # outermost first: bands overlap
        ax.fill_between(month, values[:, lo], values[:, hi], color="C0", alpha=_BAND_ALPHA, lw=0)
        # the legend swatch shows the shade where ``depth`` bands overlap
        shade = 1 - (1 - _BAND_ALPHA) ** depth
        handles.append(Patch(color="C0", alpha=shade, lw=0, label=f"{_pct(q[lo])}–{_pct(q[hi])}"))
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
    lines, labels = ax.get_legend_handles_labels()
    ax.legend(handles=handles + lines, loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def breakeven_curve(ds: xr.Dataset, ax: Axes | None = None) -> Axes:
    """P(discounted break-even by month) as a step curve, with P(recoup) ± SE marked."""
    ax = _new_ax(ax)
    da = _run_var(ds, "p_breakeven_by")
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
    da = _run_var(ds, "npv")
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
    da = _run_var(ds, var, _DECILES_HINT).transpose("input", "decile")
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
    da = _run_var(ds, "pv")
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


def convergence(ds: xr.Dataset, ax: Axes | None = None, metric: str = "p_recoup") -> Axes:
    """The estimate of ``metric`` (``p_recoup`` or ``npv``, its mean) after the first ``draws``
    futures, with a 95 % band (± 1.96 SE), on a log axis of futures: the band should narrow
    like 1/sqrt(draws) around a settled estimate."""
    if metric not in _CONVERGENCE:
        raise ValueError(f"metric must be one of {sorted(_CONVERGENCE)}, got {metric!r}")
    name, what = _CONVERGENCE[metric]
    ax = _new_ax(ax)
    da = _run_var(ds, name)
    draws, est = da["draws"].values, da.values
    se = ds[f"{name}_se"].values if f"{name}_se" in ds else np.zeros_like(est)
    ax.fill_between(draws, est - 1.96 * se, est + 1.96 * se, color="C0", alpha=0.2, lw=0,
                    label="95% confidence band")  # fmt: skip
    ax.plot(draws, est, color="C0", lw=2, marker="o", ms=3, label=f"{what} after n futures")
    ax.axhline(est[-1], color="C1", ls="--", lw=1,
               label=f"final: {format_value(float(est[-1]), da)}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("futures simulated")
    ax.set_ylabel(_label(da, what))
    _value_axis(ax.yaxis, da)
    ax.set_title(f"Convergence of {what}")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return ax
