"""The persistent compilation cache (``compile_cache``): a second run of the same config loads
the compiled step from the cache directory and gives bit-identical results. JAX reads its cache
settings once per process, so each run is a fresh subprocess."""

from __future__ import annotations

import os

import numpy as np
import pytest
from script_result import script_result

SCRIPT = r"""
import json, sys, numpy as np, mcengine
cfg = mcengine.load_config(overrides=json.loads(sys.argv[1]))
ds = mcengine.simulate(cfg)
out = {name: np.asarray(ds[name].values, float).ravel().tolist() for name in ds.data_vars}
print("RESULT" + json.dumps(out))
"""


def _run(overrides: list[str]) -> dict:
    # cache every compilation, however short, so that "the second run added nothing" is exact
    env = dict(os.environ, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return script_result(SCRIPT, overrides, env)


def test_second_run_loads_the_cached_step_and_gives_the_same_numbers(tmp_path):
    cache = tmp_path / "xla"
    overrides = ["n_samples=20000", "horizon_months=36", "progress=false"]
    first = _run([*overrides, f"compile_cache={cache}"])
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "the first run wrote no compiled executable to the cache"
    second = _run([*overrides, f"compile_cache={cache}"])
    # the second run added nothing: everything it compiled came from the cache
    assert sorted(p.name for p in cache.iterdir()) == entries
    uncached = _run([*overrides, "compile_cache=null"])
    for name, values in first.items():
        np.testing.assert_array_equal(second[name], values, err_msg=name)
        np.testing.assert_array_equal(uncached[name], values, err_msg=name)


def test_another_seed_reuses_the_compiled_step(tmp_path):
    """The seed is a runtime argument of the step, not a constant compiled into it: a seed
    sweep compiles once. Its numbers are still the seed's own."""
    cache = tmp_path / "xla"
    overrides = ["n_samples=20000", "horizon_months=36", "progress=false", f"compile_cache={cache}"]
    first = _run([*overrides, "seed=1"])
    entries = sorted(p.name for p in cache.iterdir())
    second = _run([*overrides, "seed=2"])
    assert sorted(p.name for p in cache.iterdir()) == entries
    assert second["npv_mean"] != first["npv_mean"]


def test_unusable_cache_directory_warns_once_and_is_skipped(tmp_path):
    from mcengine.api import usable_directory

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.warns(UserWarning, match="compile_cache: cannot use"):
        assert usable_directory(str(blocker / "xla")) is None
    created = usable_directory(str(tmp_path / "new" / "xla"))
    assert created == tmp_path / "new" / "xla" and created.is_dir()
