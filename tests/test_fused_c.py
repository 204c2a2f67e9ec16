"""benchmarks/fused_c.py: the hand-fused C month loop is still the engine's model.

The benchmark's verdict (how close to its own random numbers the model can run on a CPU) only
means something while the C loop computes what ``mcengine.model.kernel`` computes. Same futures,
same seed: every future's NPV must agree to float32 rounding and its break-even month exactly
(up to a month whose V_m rounds across zero), and the C aggregates must match NumPy on the C
run's own per-future outputs. The horizon, 72 months, takes the replacement ring past the
60-month depreciation life. A change to the model that the C loop does not follow fails here.
"""

from __future__ import annotations

import fused_c
import pytest

pytestmark = pytest.mark.slow


def test_fused_c_matches_the_engine():
    so = fused_c.build()
    if so is None:
        pytest.skip("no C compiler")
    spec, seed = fused_c.default_spec(72)
    n = 8192
    check = fused_c.verify(so, spec, seed, n)
    # float32 with another exp and growth factors as products instead of exp(m x): about
    # 120 roundings of 6e-8 per month's cash, summed over 72 months, relative to |V| or |V_0|
    assert check["npv_max_rel_diff"] < 1e-4
    assert check["breakeven_same"] >= 1 - 3 / n
    assert abs(check["p_recoup_c"] - check["p_recoup_engine"]) <= 3 / n
    assert 0.01 < check["p_recoup_engine"] < 0.99  # the comparison sees both outcomes
    assert check["month_counts_ok"] and check["events_ok"] and check["deciles_ok"]
    assert check["npv_sum_rel_diff"] < 1e-5
