"""The CLI's printed summary labels what it shows: the quantile levels the run really has,
and whether the run resumed from a checkpoint or stopped at its standard-error target."""

from __future__ import annotations

from synthetic_results import small_run

from mcengine.cli import _money, summary


def test_default_levels_are_labelled_as_computed():
    ds = small_run()
    text = summary(ds)
    for level, label in ((0.05, "P5"), (0.5, "P50"), (0.95, "P95")):
        assert f"{label} {_money(float(ds.npv.sel(quantile=level)))}" in text
    assert "break-even month          median " in text and "P10 " in text and "P90 " in text
    assert "resumed" not in text and "stopped early" not in text


def test_other_quantile_levels_are_labelled_with_their_own_level():
    ds = small_run().sel(quantile=[0.25, 0.75])  # as if run with quantiles=[0.25, 0.75]
    text = summary(ds)
    npv_line = next(line for line in text.splitlines() if line.lstrip().startswith("NPV"))
    assert f"P25 {_money(float(ds.npv.sel(quantile=0.25)))}" in npv_line
    assert f"P75 {_money(float(ds.npv.sel(quantile=0.75)))}" in npv_line
    assert "P5 " not in npv_line and "P50" not in npv_line and "P95" not in npv_line
    assert "median" not in text  # 0.5 was not computed


def test_resumed_and_early_stopped_runs_say_so():
    ds = small_run().copy()
    ds.attrs.update(resumed_from=1_048_576, stopped_by_target=1)
    first = summary(ds).splitlines()[0]
    assert "resumed from a checkpoint at 1,048,576 futures" in first
    assert "stopped early: the standard-error target was reached" in first
