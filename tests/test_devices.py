"""A run spread over several (virtual CPU) devices gives the one-device numbers.

Sums are reduced per fixed block of futures and folded in global order, so the results are not
merely close: they are bit-identical. Virtual devices must be configured before JAX starts, so
each run is a fresh subprocess.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from script_result import script_result

SCRIPT = r"""
import json, sys, numpy as np, jax, mcengine
cfg = mcengine.load_config(overrides=json.loads(sys.argv[1]))
ds = mcengine.simulate(cfg)
out = {name: np.asarray(ds[name].values, float).ravel().tolist() for name in ds.data_vars}
out["_devices"] = len(jax.devices()); out["_chunk"] = int(ds.attrs["chunk_size"])
out["draws"] = ds.draws.values.tolist()
print("RESULT" + json.dumps(out))
"""

OVERRIDES = ["n_samples=30000", "horizon_months=36", "progress=false"]


def _run(devices: int, extra: list[str]) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    return script_result(SCRIPT, OVERRIDES + extra, env)


@pytest.mark.slow
def test_four_devices_equal_one_device():
    one = _run(1, ["chunk_size=8192"])
    four = _run(4, ["chunk_size=16384"])
    assert one["_devices"] == 1 and four["_devices"] == 4
    assert one["_chunk"] != four["_chunk"]
    for name, values in one.items():
        if name.startswith("_"):
            continue
        np.testing.assert_array_equal(np.array(four[name]), np.array(values), err_msg=name)
    # probabilities are exact counts: identical, not just close
    assert four["p_recoup"] == one["p_recoup"]
    assert four["p_breakeven_by"] == one["p_breakeven_by"]


@pytest.mark.slow
def test_a_standard_error_target_stops_at_the_same_point_on_any_device_count():
    from sensitivity_scenarios import overrides, spec

    target = overrides(
        {"market.price0": spec("uniform", low=2, high=5)},
        n_samples=1 << 20,
        **{"target.p_recoup_se": 0.0012},
    )
    env = lambda n: dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")  # noqa: E731
    one, four = script_result(SCRIPT, target, env(1)), script_result(SCRIPT, target, env(4))
    assert (one["_devices"], four["_devices"]) == (1, 4)
    for name, values in one.items():
        if not name.startswith("_"):
            np.testing.assert_array_equal(np.array(four[name]), np.array(values), err_msg=name)
