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
- ``convergence``: P(recoup) or mean NPV after n futures, with its 95 % band.
- ``sweep_heatmap`` / ``sweep_line``: one variable over one or two swept config keys.

The code is split by purpose: ``_format`` (matplotlib's Agg backend on a headless box, value
formatting, axis helpers), ``run`` (the single-run plots) and ``sweep`` (the sweep plots).
"""

# _format comes first: importing it picks the backend before anything imports pyplot
from ._format import format_coord, format_value
from .run import breakeven_curve, convergence, fan_chart, npv_distribution, tornado, waterfall
from .sweep import RESULT_DIMS, sweep_heatmap, sweep_line, swept_dims

__all__ = [
    "RESULT_DIMS",
    "swept_dims",
    "fan_chart",
    "breakeven_curve",
    "npv_distribution",
    "tornado",
    "waterfall",
    "convergence",
    "sweep_heatmap",
    "sweep_line",
    "format_value",
    "format_coord",
]
