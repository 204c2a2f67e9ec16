"""benchmarks/ablation.py: its stubs still fit the kernel, and each removes what it says.

The stubs replace private pieces of ``mcengine.model.kernel`` (the month step, the shock draws)
and of the chunk's month histogram; a kernel change that breaks them should fail here, not in
the next benchmark run. Each row runs in a fresh process, as the benchmark does. The horizon
(72 months, past the 60-month depreciation life and not a multiple of it) takes the default
scenario's replacement ring and its padded last epoch, as the benchmark's 120 months do.
"""

from __future__ import annotations

import math

import _harness as H
import ablation
import pytest

pytestmark = pytest.mark.slow

T = 72
OVERRIDES = ["n_samples=16384", f"horizon_months={T}"]


def _run(ablate: tuple[str, ...]) -> dict:
    res = H.run_child(
        ablation.__file__, "ablated", ablate=list(ablate), overrides=OVERRIDES, repeats=1
    )
    assert "error" not in res, res.get("error")
    assert res["ablate"] == list(ablate) and res["msps"] > 0
    return res


def _same(a: float, b: float) -> bool:  # same arithmetic up to XLA's fusion-dependent rounding
    return math.isclose(a, b, rel_tol=1e-6)


def test_each_stub_removes_only_its_part():
    engine = _run(())
    step = _run(("step",))
    no_hist = _run(("step", "histograms"))
    no_sens = _run(("step", "histograms", "sensitivity"))
    no_draws = _run(("step", "histograms", "sensitivity", "draws"))
    # the stub step computes another V: the NPV changes
    assert not math.isclose(step["npv_mean"], engine["npv_mean"], rel_tol=1e-3)
    # it still feeds the month histograms: every month's cash quantiles are there
    assert engine["cum_cash_months_filled"] == step["cum_cash_months_filled"] == T + 1
    # the histogram stub leaves months 1..T empty (month 0 is binned outside the loop) ...
    assert no_hist["cum_cash_months_filled"] == 1
    # ... and, like switching sensitivity off, only observes V: the NPV stays
    assert _same(no_hist["npv_mean"], step["npv_mean"])
    assert step["has_sensitivity"] and no_hist["has_sensitivity"]
    assert not no_sens["has_sensitivity"] and _same(no_sens["npv_mean"], step["npv_mean"])
    # constant shocks move every path: the NPV changes again
    assert not math.isclose(no_draws["npv_mean"], no_sens["npv_mean"], rel_tol=1e-3)


def test_histograms_need_the_stub_step():
    with pytest.raises(ValueError, match="ablate 'step' too"):
        ablation.task_ablated(["histograms"], OVERRIDES, repeats=1)
