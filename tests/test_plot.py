"""Every plot of ``mcengine.plot`` renders a non-blank PNG from a small run / sweep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from synthetic_results import SWEEP_X, SWEEP_Y, small_run, small_sweep  # noqa: E402

from mcengine import plot  # noqa: E402

RUN_PLOTS: dict[str, Callable[[xr.Dataset], object]] = {
    "fan_chart": plot.fan_chart,
    "breakeven_curve": plot.breakeven_curve,
    "npv_distribution": plot.npv_distribution,
    "tornado_npv": lambda ds: plot.tornado(ds, metric="npv"),
    "tornado_p_recoup": lambda ds: plot.tornado(ds, metric="p_recoup"),
    "waterfall": plot.waterfall,
    "convergence_p_recoup": plot.convergence,
    "convergence_npv": lambda ds: plot.convergence(ds, metric="npv"),
}


def assert_png(path: Path, min_px: int = 200) -> np.ndarray:
    """``path`` is a readable PNG of at least ``min_px`` x ``min_px`` that is not blank."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] >= min_px and image.shape[1] >= min_px, image.shape
    assert float(image[..., :3].var()) > 0.0, f"{path} is blank"
    return image


def _save(ax: object, path: Path) -> Path:
    fig = ax.figure  # type: ignore[attr-defined]
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("name", sorted(RUN_PLOTS))
def test_run_plot_renders_png(name: str, tmp_path: Path) -> None:
    ax = RUN_PLOTS[name](small_run())
    assert ax.get_title()  # type: ignore[attr-defined]
    assert_png(_save(ax, tmp_path / f"{name}.png"))


def test_plots_draw_on_given_axes() -> None:
    _fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    ds = small_run()
    assert plot.fan_chart(ds, ax=axes[0, 0]) is axes[0, 0]
    assert plot.breakeven_curve(ds, ax=axes[0, 1]) is axes[0, 1]
    assert plot.npv_distribution(ds, ax=axes[0, 2]) is axes[0, 2]
    assert plot.tornado(ds, ax=axes[1, 0]) is axes[1, 0]
    assert plot.waterfall(ds, ax=axes[1, 1]) is axes[1, 1]
    assert len(plt.get_fignums()) == 1


def test_units_in_labels() -> None:
    ds = small_run()
    units = ds["cum_cash"].attrs["units"]
    assert f"[{units}]" in plot.fan_chart(ds).get_ylabel()
    assert f"[{ds['npv'].attrs['units']}]" in plot.npv_distribution(ds).get_xlabel()
    assert f"[{ds['pv'].attrs['units']}]" in plot.waterfall(ds).get_ylabel()


def test_fan_chart_has_one_band_per_symmetric_quantile_pair() -> None:
    ds = small_run()
    q = ds["quantile"].values
    pairs = sum(1 for level in q if level < 0.5 and np.isclose(q, 1 - level).any())
    ax = plot.fan_chart(ds)
    assert len(ax.collections) == pairs
    assert any(line.get_label() == "median" for line in ax.lines) == bool(np.isclose(q, 0.5).any())
    # legend swatches get darker toward the median, as the overlapping bands do
    swatches = [h for h in ax.get_legend().legend_handles if h.get_label().startswith("P")]
    assert len(swatches) == pairs
    alphas = [h.get_alpha() for h in swatches]
    assert all(a < b for a, b in zip(alphas, alphas[1:], strict=False))


def test_waterfall_ends_at_mean_npv() -> None:
    ds = small_run()
    ax = plot.waterfall(ds)
    bars = ax.patches
    assert len(bars) == ds.sizes["component"] + 1
    np.testing.assert_allclose(bars[-1].get_height(), float(ds["npv_mean"]), rtol=1e-6)
    np.testing.assert_allclose(
        bars[-2].get_y() + bars[-2].get_height(), float(ds["npv_mean"]), rtol=1e-6
    )


@pytest.mark.parametrize("metric", ["npv", "p_recoup"])
def test_convergence_band_is_the_95_percent_interval(metric: str) -> None:
    ds = small_run()
    name = {"npv": "convergence_npv_mean", "p_recoup": "convergence_p_recoup"}[metric]
    est, se = ds[name].values, ds[f"{name}_se"].values
    ax = plot.convergence(ds, metric=metric)
    line = next(x for x in ax.lines if "after n futures" in x.get_label())
    np.testing.assert_array_equal(line.get_xdata(), ds.draws.values)
    np.testing.assert_array_equal(line.get_ydata(), est)
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx((est - 1.96 * se).min())
    assert band[:, 1].max() == pytest.approx((est + 1.96 * se).max())
    assert ax.get_xscale() == "log"


def test_convergence_rejects_unknown_metric() -> None:
    with pytest.raises(ValueError, match="metric"):
        plot.convergence(small_run(), metric="irr")


@pytest.mark.parametrize("metric", ["npv", "p_recoup"])
def test_tornado_sorted_by_swing(metric: str) -> None:
    ds = small_run()
    var = {"npv": "sens_npv_mean", "p_recoup": "sens_p_recoup"}[metric]
    ax = plot.tornado(ds, metric=metric, top=None)
    swing = np.abs(ds[var].isel(decile=-1) - ds[var].isel(decile=0)).to_series()
    swing = swing[np.isfinite(swing)]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == swing.idxmax()  # largest swing on top
    assert sorted(labels) == sorted(swing.index)


@pytest.mark.parametrize("metric", ["npv", "p_recoup"])
def test_tornado_without_deciles_says_how_to_get_them(metric: str) -> None:
    ds = small_run().drop_vars(["sens_npv_mean", "sens_p_recoup"])
    with pytest.raises(ValueError, match="no variable 'sens_.*sensitivity.deciles=true"):
        plot.tornado(ds, metric=metric)


def test_run_plot_without_its_variable_names_it() -> None:
    with pytest.raises(ValueError, match="no variable 'pv'"):
        plot.waterfall(small_run().drop_vars("pv"))


@pytest.mark.parametrize("name", sorted(RUN_PLOTS))
def test_run_plots_on_a_sweep_say_select_a_point(name: str) -> None:
    sweep = small_sweep()
    with pytest.raises(ValueError, match=r"sweep Dataset.*ds\.sel\(.*sweep_heatmap / sweep_line"):
        RUN_PLOTS[name](sweep)
    point = {SWEEP_X: sweep[SWEEP_X].values[0], SWEEP_Y: sweep[SWEEP_Y].values[0]}
    assert RUN_PLOTS[name](sweep.sel(point)).get_title()  # type: ignore[attr-defined]


def test_tornado_rejects_unknown_metric() -> None:
    with pytest.raises(ValueError, match="metric"):
        plot.tornado(small_run(), metric="irr")


def test_sweep_heatmap_renders_annotated_png(tmp_path: Path) -> None:
    sweep = small_sweep()
    assert plot.swept_dims(sweep) == [SWEEP_X, SWEEP_Y]
    ax = plot.sweep_heatmap(sweep, SWEEP_X, SWEEP_Y, var="p_recoup")
    assert len(ax.texts) == sweep.sizes[SWEEP_X] * sweep.sizes[SWEEP_Y]
    assert ax.get_xlabel() == SWEEP_X and ax.get_ylabel() == SWEEP_Y
    assert_png(_save(ax, tmp_path / "heatmap.png"))


def test_sweep_heatmap_needs_other_dims_picked() -> None:
    sweep = small_sweep()
    with pytest.raises(ValueError, match="quantile"):
        plot.sweep_heatmap(sweep, SWEEP_X, SWEEP_Y, var="npv")
    ax = plot.sweep_heatmap(sweep, SWEEP_X, SWEEP_Y, var="npv", sel={"quantile": 0.5})
    assert "quantile=0.5" in ax.get_title()
    ax = plot.sweep_heatmap(sweep, SWEEP_X, SWEEP_Y, var="breakeven_month", reduce="median")
    assert ax.texts


def test_sweep_line(tmp_path: Path) -> None:
    ax = plot.sweep_line(small_sweep(), SWEEP_X, var="npv_mean", reduce="mean")
    assert_png(_save(ax, tmp_path / "line.png"))


def test_single_run_has_no_swept_dims() -> None:
    assert plot.swept_dims(small_run()) == []


@pytest.mark.parametrize(
    "text", [f"[{SWEEP_X}, {SWEEP_Y}]", f'["{SWEEP_X}", "{SWEEP_Y}"]', f"[{SWEEP_X}, {SWEEP_Y}]\n"]
)
def test_swept_dims_reads_a_list_written_as_text(text: str) -> None:
    """A sweep.nc opened without open_sweep_file holds its sweep_dims as YAML/JSON text."""
    sweep = small_sweep().copy()
    sweep.attrs["sweep_dims"] = text
    assert plot.swept_dims(sweep) == [SWEEP_X, SWEEP_Y]
    sweep.attrs["sweep_dims"] = SWEEP_Y
    assert plot.swept_dims(sweep) == [SWEEP_Y]


@pytest.mark.parametrize(
    "p, legend, cell",
    [
        (0.453, "45.3%", "45%"),
        (0.0641, "6.41%", "6.4%"),
        (0.0002, "0.02%", "0.02%"),
        (0, "0%", "0%"),
    ],
)
def test_small_probabilities_are_not_printed_as_zero(p: float, legend: str, cell: str) -> None:
    from mcengine.plot.sweep import _cell_text

    da = small_run()["p_recoup"]
    assert plot.format_value(p, da) == legend
    assert _cell_text(p, da) == cell
