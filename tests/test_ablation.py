"""benchmarks/ablation.py: its stubs still fit the kernel, and each removes what it says.

The stubs replace private pieces of ``mcengine.model.kernel`` (the month step, the shock draws)
and of the chunk's month histogram; a kernel change that breaks them should fail here, not in
the next benchmark run. Each row runs in a fresh process, as the benchmark does.
"""

from __future__ import annotations

import _harness as H
import ablation
import pytest

pytestmark = pytest.mark.slow

OVERRIDES = ["n_samples=16384", "horizon_months=12"]


def _run(ablate: tuple[str, ...]) -> dict:
    res = H.run_child(
        ablation.__file__, "ablated", ablate=list(ablate), overrides=OVERRIDES, repeats=1
    )
    assert "error" not in res, res.get("error")
    assert res["ablate"] == list(ablate) and res["msps"] > 0
    return res


def test_each_stub_removes_only_its_part():
    engine = _run(())
    step = _run(("step",))
    no_hist = _run(("step", "histograms"))
    no_sens = _run(("step", "histograms", "sensitivity"))
    no_draws = _run(("step", "histograms", "sensitivity", "draws"))
    # the stub step computes another V: the NPV changes
    assert step["npv_mean"] != engine["npv_mean"]
    # histograms and sensitivity only observe V: the NPV is the same to the last bit
    assert no_hist["npv_mean"] == step["npv_mean"]
    assert no_sens["npv_mean"] == step["npv_mean"]
    # constant shocks move every path: the NPV changes again
    assert no_draws["npv_mean"] != no_sens["npv_mean"]
