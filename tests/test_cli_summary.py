"""The CLI's printed summary labels what it shows: the quantile levels the run really has,
and whether the run resumed from a checkpoint or stopped at its standard-error target."""

from __future__ import annotations

import numpy as np
import pytest
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
    assert "break-even month          median" not in text  # 0.5 was not computed


def test_resumed_and_early_stopped_runs_say_so():
    ds = small_run().copy()
    ds.attrs.update(resumed_from=1_048_576, stopped_by_target=1)
    first = summary(ds).splitlines()[0]
    assert "resumed from a checkpoint at 1,048,576 futures" in first
    assert "stopped early: the standard-error target was reached" in first


def _with_breakeven_months(months: list[float]):
    """small_run with its break-even outputs replaced by those of these futures (inf = never)."""
    ds = small_run().copy(deep=True)
    be = np.asarray(months)
    ds["p_breakeven_by"].values[:] = [(be <= m).mean() for m in ds.month.values]
    ds["p_recoup"].values = np.isfinite(be).mean()
    q = ds["quantile"].values
    ds["breakeven_month"].values[:] = np.quantile(be, q, method="inverted_cdf")
    return ds


def test_rarely_recouping_runs_show_the_median_among_those_that_recoup():
    ds = _with_breakeven_months([3, 5, 5, 9] + [np.inf] * 6)  # 40% recoup, median of them 5
    line = next(x for x in summary(ds).splitlines() if "break-even month" in x)
    assert "median never" in line
    assert line.endswith("; among the 40% that recoup: median 5")


def test_runs_whose_quantiles_all_recoup_need_no_conditional_median():
    line = next(
        x for x in summary(_with_breakeven_months([3, 5, 5, 9, 7])).splitlines() if "break" in x
    )
    assert "among" not in line and "never" not in line


@pytest.mark.parametrize(
    "p, se, text",
    [
        (0.0641, 0.0024, "0.0641 ± 0.0024 (SE)"),
        (0.06410, 0.000246, "0.06410 ± 0.00025 (SE)"),
        (0.068812, 0.0000451, "0.068812 ± 0.000045 (SE)"),  # 10^8 futures: not "± 0.0000"
        (0.5, 0.0, "0.5000 ± 0.0000 (SE)"),
    ],
)
def test_p_recoup_is_printed_with_its_standard_errors_digits(p, se, text):
    ds = small_run().copy(deep=True)
    ds["p_recoup"].values, ds["p_recoup_se"].values = np.asarray(p), np.asarray(se)
    assert f"P(recoup within {int(ds.month[-1])} months)  {text}" in summary(ds)


def test_cli_prints_the_summary_and_keeps_it_in_the_run_log(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "mcengine.cli", "n_samples=2000", "horizon_months=12"]
    proc = subprocess.run(
        [*cmd, "progress=false", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = [x for x in proc.stdout.splitlines() if "P(recoup within 12 months)" in x]
    assert printed and printed[0].startswith("  P(recoup")  # as is, no log prefix
    assert printed[0] in (tmp_path / "mcengine.log").read_text()
    # a warning (the 48-month loan runs past the 12-month horizon) is a log line, in the run log
    # too, without Python's "file:line: UserWarning" and source echo
    assert "warning: financing.term_months=48 runs past" in (tmp_path / "mcengine.log").read_text()
    assert "UserWarning" not in proc.stdout + proc.stderr


def test_cli_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """``mcengine ... | head -0``: the reader is gone before the first line; no logging
    traceback, exit status 0, and the results are still written."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "mcengine.cli", "n_samples=2000", "horizon_months=12"]
    proc = subprocess.Popen(
        [*cmd, "progress=false", f"hydra.run.dir={tmp_path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.close()  # every line the run prints now meets a closed pipe
    stderr = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, stderr[-3000:]
    assert "Logging error" not in stderr and "BrokenPipeError" not in stderr
    assert (tmp_path / "results.nc").exists()
