"""Self-contained HTML report of a run (and optionally a sweep).

``write_report(ds, out_dir, sweep=None)`` writes one PNG per plot of ``mcengine.plot`` into
``out_dir`` plus ``report.html``, which embeds the PNGs as base64 data URIs and shows a table of
headline numbers; it loads nothing from outside the file. ``main()`` is the console script
``mcengine-report PATH`` where PATH is a ``results.nc``, a ``sweep.nc`` written by
``mcengine-sweep`` (told by its attributes, whatever its name), a run directory (its results file
found as ``mcengine.open_results`` does), or a multirun sweep directory (read with
``mcengine.open_sweep``); the report is written next to the results.
"""

from __future__ import annotations

import argparse
import base64
import html
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from mcengine import plot
from mcengine.errors import cli_error
from mcengine.results import DEFAULT_RESULTS_FILE, is_run_dir, open_results, results_file
from mcengine.sweep import (
    MissingJobsError,
    NotMultirunError,
    is_sweep_file,
    open_sweep,
    open_sweep_file,
)

__all__ = ["write_report", "load_path", "main"]

REPORT_NAME = "report.html"
_DPI = 110


@dataclass(frozen=True)
class _Plot:
    """One figure of the report: file stem, caption, drawing function, variables it needs."""

    stem: str
    caption: str
    draw: Callable[[], object]
    needs: tuple[str, ...]


# --- figures ----------------------------------------------------------------------------------


def _run_plots(ds: xr.Dataset) -> list[_Plot]:
    return [
        _Plot(
            "fan_chart",
            "Discounted cumulative cash: quantile bands and median",
            lambda: plot.fan_chart(ds),
            ("cum_cash",),
        ),
        _Plot(
            "breakeven_curve",
            "Probability of discounted break-even by month",
            lambda: plot.breakeven_curve(ds),
            ("p_breakeven_by",),
        ),
        _Plot(
            "npv_distribution",
            "NPV distribution (CDF from the stored quantiles)",
            lambda: plot.npv_distribution(ds),
            ("npv",),
        ),
        _Plot(
            "waterfall",
            "Mean present value by component, from 0 to the mean NPV",
            lambda: plot.waterfall(ds),
            ("pv",),
        ),
        _Plot(
            "tornado_npv",
            "Sensitivity of mean NPV: input decile 1 vs decile 10",
            lambda: plot.tornado(ds, metric="npv"),
            ("sens_npv_mean",),
        ),
        _Plot(
            "tornado_p_recoup",
            "Sensitivity of P(recoup): input decile 1 vs decile 10",
            lambda: plot.tornado(ds, metric="p_recoup"),
            ("sens_p_recoup",),
        ),
        _Plot(
            "convergence",
            "P(recoup) after n futures with its 95% band: has the estimate settled?",
            lambda: plot.convergence(ds),
            ("convergence_p_recoup",),
        ),
    ]


def _sweep_plots(sweep: xr.Dataset) -> list[_Plot]:
    keys = plot.swept_dims(sweep)
    rest = keys[2:] if len(keys) >= 2 else keys[1:]
    note = f" (mean over {', '.join(rest)})" if rest else ""
    reduce = "mean" if rest else None
    plots = []
    for var in ("p_recoup", "npv_mean"):
        if len(keys) >= 2:

            def draw(var: str = var) -> object:
                return plot.sweep_heatmap(sweep, keys[0], keys[1], var=var, reduce=reduce)
        elif len(keys) == 1:

            def draw(var: str = var) -> object:
                return plot.sweep_line(sweep, keys[0], var=var)
        else:
            continue
        plots.append(
            _Plot(f"sweep_{var}", f"Sweep: {var} by {' and '.join(keys[:2])}{note}", draw, (var,))
        )
    return plots


def _render(p: _Plot, path: Path) -> Path:
    import matplotlib.pyplot as plt

    ax = p.draw()
    fig = ax.figure  # type: ignore[attr-defined]
    try:
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)
    return path


def _available(p: _Plot, ds: xr.Dataset) -> bool:
    return all(name in ds for name in p.needs)


# --- headline numbers -------------------------------------------------------------------------


def _at(da: xr.DataArray, level: float) -> float:
    q = da["quantile"].values
    hits = np.flatnonzero(np.isclose(q, level, atol=1e-9))
    if not hits.size:
        return float("nan")
    return float(da.isel(quantile=int(hits[0])))


def _month_text(value: float, horizon: int | None) -> str:
    if np.isnan(value):
        return "n/a"
    if np.isinf(value):
        return f"never (&gt; {horizon})" if horizon is not None else "never"
    return f"{value:g}"


def _headline_rows(ds: xr.Dataset) -> list[tuple[str, str]]:
    """(label, HTML-safe value) rows of the headline table."""
    rows: list[tuple[str, str]] = []
    if "p_recoup" in ds:
        se = float(ds["p_recoup_se"]) if "p_recoup_se" in ds else float("nan")
        rows.append(
            (
                "P(recoup within horizon) ± SE",
                f"{100 * float(ds['p_recoup']):.2f}% ± {100 * se:.2f}%",
            )
        )
    horizon = int(ds["month"].values[-1]) if "month" in ds.coords else None
    for var, name in (
        ("breakeven_month", "Break-even month (discounted)"),
        ("payback_month", "Payback month (undiscounted)"),
    ):
        if var in ds:
            da = ds[var]
            rows.append(
                (
                    f"{name}: median [P10, P90]",
                    f"{_month_text(_at(da, 0.5), horizon)} "
                    f"[{_month_text(_at(da, 0.1), horizon)}, "
                    f"{_month_text(_at(da, 0.9), horizon)}]",
                )
            )
    if "npv_mean" in ds:
        se = ds["npv_se"] if "npv_se" in ds else None
        text = plot.format_value(float(ds["npv_mean"]), ds["npv_mean"])
        if se is not None:
            text += f" ± {plot.format_value(float(se), se)}"
        rows.append(("NPV mean ± SE", html.escape(text)))
    for var, name in (("gross_margin", "Gross margin"), ("spend_to_revenue", "Spend / revenue")):
        if var in ds:
            rows.append(
                (f"{name}: median", html.escape(plot.format_value(_at(ds[var], 0.5), ds[var])))
            )
    return rows


def _quantile_table(da: xr.DataArray, title: str) -> str:
    q = da["quantile"].values
    head = "".join(f"<th>P{100 * level:g}</th>" for level in q)
    cells = "".join(f"<td>{html.escape(plot.format_value(v, da))}</td>" for v in da.values)
    return f"<h3>{html.escape(title)}</h3><table class='q'><tr>{head}</tr><tr>{cells}</tr></table>"


def _attr_text(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def _run_info(ds: xr.Dataset) -> str:
    keys = (
        "n_samples",
        "seed",
        "precision",
        "jax_backend",
        "device_count",
        "devices",
        "run_time_s",
        "compile_time_s",
        "mcengine_version",
        "git_commit",
        "quantile_method",
    )
    rows = "".join(
        f"<tr><th>{k}</th><td>{html.escape(_attr_text(ds.attrs[k]))}</td></tr>"
        for k in keys
        if k in ds.attrs
    )
    return f"<table class='info'>{rows}</table>" if rows else ""


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
table.q td, table.q th { text-align: right; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


def _figure_html(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(caption, quote=True)
    return (
        f"<figure><img id='{path.stem}' alt='{alt}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _html(ds: xr.Dataset, figures: Sequence[str], sweep_note: str) -> str:
    headline = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in _headline_rows(ds)
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>mcengine report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>mcengine report</h1>",
    ]
    if sweep_note:
        parts.append(f"<p>{html.escape(sweep_note)}</p>")
    parts.append(f"<h2>Headline numbers</h2><table class='headline'>{headline}</table>")
    if "npv" in ds:
        parts.append(_quantile_table(ds["npv"], "NPV percentiles"))
    parts.append("<h2>Figures</h2>")
    parts.extend(figures)
    parts.append("<h2>Run</h2>" + _run_info(ds))
    if "config" in ds.attrs:
        parts.append(
            "<details><summary>Resolved config</summary><pre>"
            f"{html.escape(str(ds.attrs['config']))}</pre></details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(ds: xr.Dataset, out_dir: str | Path, sweep: xr.Dataset | None = None) -> Path:
    """Write one PNG per plot and a self-contained ``report.html`` into ``out_dir``.

    ``ds`` is a single run's results Dataset; ``sweep`` (optional) a Dataset from
    ``mcengine.open_sweep`` whose extra dims are swept config keys. Plots whose variables are
    missing (e.g. sensitivity switched off) are skipped. Returns the path of ``report.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = [p for p in _run_plots(ds) if _available(p, ds)]
    if sweep is not None:
        plots += [p for p in _sweep_plots(sweep) if _available(p, sweep)]
    figures = [_figure_html(_render(p, out / f"{p.stem}.png"), p.caption) for p in plots]
    note = str(ds.attrs.get("mcengine_sweep_point", ""))
    path = out / REPORT_NAME
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(_html(ds, figures, note), encoding="utf-8")
    tmp.replace(path)
    return path


# --- command line -----------------------------------------------------------------------------


def _open_file(path: Path) -> xr.Dataset:
    """A run's results file, or a file written by ``mcengine-sweep`` whatever its name (told by
    its attributes), fully in memory."""
    try:
        return open_sweep_file(path) if is_sweep_file(path) else open_results(path)
    except (OSError, ValueError) as err:  # h5py's messages do not name the file
        raise ValueError(f"cannot read {path} as NetCDF results: {err}") from err


def _open_dir(path: Path) -> xr.Dataset:
    """A run directory's results file, else the combined jobs of a multirun directory."""
    if is_run_dir(path):
        file = results_file(path)
        # a missing file: open_results says which it looked for
        return _open_file(file) if file.is_file() else open_results(path)
    try:
        return open_sweep(path, allow_missing=True)
    except NotMultirunError:
        raise FileNotFoundError(
            f"{path} holds no results: it is neither a run directory (with {DEFAULT_RESULTS_FILE} "
            "or .hydra/) nor a multirun directory (with job directories holding .hydra/)"
        ) from None


def _sweep_point(sweep: xr.Dataset) -> xr.Dataset:
    """The middle point of every sweep dim as a single-run Dataset, with a note attribute.

    Per-job attributes that ``open_sweep`` turned into variables (``config``, ``seed``, ...:
    the ones without ``units``) go back to attributes.
    """
    point = {d: sweep.sizes[d] // 2 for d in plot.swept_dims(sweep)}
    ds = sweep.isel(point)
    where = ", ".join(f"{d}={plot.format_coord(ds[d].values.item())}" for d in point)
    per_job = [n for n, v in ds.data_vars.items() if v.ndim == 0 and "units" not in v.attrs]
    attrs = {k: v for k, v in ds.attrs.items() if k != "sweep_dims"}
    attrs.update({str(n): ds[n].values.item() for n in per_job})
    attrs["mcengine_sweep_point"] = f"Single-run figures and numbers show the sweep point {where}."
    ds = ds.drop_vars([*per_job, *point], errors="ignore")
    ds.attrs = attrs
    return ds


def load_path(path: str | Path) -> tuple[xr.Dataset, xr.Dataset | None, Path]:
    """Resolve ``PATH`` of ``mcengine-report`` into ``(run, sweep or None, output directory)``.

    FileNotFoundError when ``path`` holds no results (a run directory's message names the file
    looked for)."""
    path = Path(path)
    if path.is_file():
        ds, out = _open_file(path), path.parent
    elif path.is_dir():
        ds, out = _open_dir(path), path
    else:
        raise FileNotFoundError(f"no such file or directory: {path}")
    if plot.swept_dims(ds):
        return _sweep_point(ds), ds, out
    return ds, None, out


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``mcengine-report PATH [--out-dir DIR]``; exit status 2 when PATH holds
    no results, 1 when they cannot be read."""
    parser = argparse.ArgumentParser(
        prog="mcengine-report",
        description="Write PNG plots and a self-contained report.html for an mcengine run or "
        "sweep, next to its results.",
    )
    parser.add_argument(
        "path", help="results.nc, a sweep.nc, a run directory, or a multirun sweep directory"
    )
    parser.add_argument(
        "--out-dir", default=None, help="write here instead (default: next to the results)"
    )
    args = parser.parse_args(argv)
    try:
        ds, sweep, out = load_path(args.path)
    except (MissingJobsError, OSError, ValueError) as err:
        return cli_error("mcengine-report", err)
    report = write_report(ds, args.out_dir or out, sweep=sweep)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
