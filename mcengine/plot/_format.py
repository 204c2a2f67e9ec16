"""What the plot modules share: the backend choice, value formatting and axis helpers.

Importing this module picks matplotlib's Agg backend on a headless Linux box (unless a backend
was chosen already) before it imports ``pyplot``; ``mcengine.plot`` imports it first, so any
import of the package makes that choice. It also turns values into text in their units (money
with a k/M/B/T suffix, fractions as percent), labels axes and makes new ``Axes``.
"""

from __future__ import annotations

import os
import sys
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
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

_MONEY_UNITS = frozenset({"usd", "$", "dollar", "dollars", "us$"})
_FRACTION_UNITS = frozenset({"", "1", "dimensionless", "fraction", "probability"})


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


def _percent(fraction: float, significant: int) -> str:
    """``0.0002`` -> ``"0.02%"``: a fraction as percent to ``significant`` digits (whole
    percents from 10 % up), so that a small probability does not print as 0 %."""
    pct = 100 * fraction
    if pct == 0 or abs(pct) >= 10 ** (significant - 1):
        return f"{pct:.0f}%"
    return f"{pct:.{significant}g}%"


def format_value(value: float, da: xr.DataArray) -> str:
    """Human-readable value in ``da``'s units (money with suffix, fractions as percent)."""
    value = float(value)
    if not np.isfinite(value):
        return "n/a" if np.isnan(value) else ("never" if value > 0 else "-inf")
    if _is_money(da):
        return "$" + _short_money(value) if value >= 0 else "-$" + _short_money(-value)
    if _is_fraction(da):
        return _percent(value, 3)
    return f"{value:.3g}"


def format_coord(value: Any) -> str:
    """Short text for a coordinate value (tick labels, titles)."""
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


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
