"""Every shipped scenario (conf/scenario/*.yaml) loads, validates and runs, and cites its numbers.

Two checks per scenario file:
- it composes with Hydra, passes validation and runs 20,000 futures in float32 with finite
  outputs, and its P(recoup) and mean NPV agree with the independent NumPy reference
  (``benchmarks/numpy_model.py``, its own random numbers) within 4 combined standard errors;
- a crude lint: every line that sets a model parameter carries a ``#`` comment, either on the
  same line or as a comment-only line directly above it (the source or "[U] our assumption").
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest
from numpy_model import sample_inputs, simulate_numpy

import mcengine
from mcengine.config import config_dir, to_plain
from mcengine.model.params import PARAMS, SECTIONS

SCENARIO_DIR = config_dir() / "scenario"
SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
# results that must be finite (break-even months may be +inf: "never")
FINITE = ("p_recoup", "p_recoup_se", "npv", "npv_mean", "npv_se", "cum_cash", "pv")

_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*:(?P<rest>.*)$")


def test_there_are_scenarios():
    assert "gpu_cloud" in SCENARIOS and len(SCENARIOS) >= 4, SCENARIOS


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_runs(name):
    cfg = mcengine.load_config(
        scenario=name,
        overrides=[
            "n_samples=20000",
            "precision=float32",
            "progress=false",
            "sensitivity.deciles=false",  # sensitivity is tested elsewhere; this keeps it fast
        ],
    )
    ds = mcengine.simulate(cfg)
    for var in FINITE:
        values = np.asarray(ds[var].values, dtype=float)
        assert np.all(np.isfinite(values)), f"{name}: {var} has non-finite values"
    n = int(ds.attrs["n_samples"])
    assert n == 20000
    plain = to_plain(cfg)
    model = {k: v for k, v in plain.items() if k in SECTIONS or k in PARAMS or k == "correlations"}
    rng = np.random.default_rng(11)
    ref = simulate_numpy(sample_inputs(model, n, rng), n, rng)
    p_ref, p = ref["recouped"].mean(), float(ds.p_recoup)
    se_p = math.sqrt(max(p_ref * (1 - p_ref), 1 / n) * 2 / n)
    assert abs(p - p_ref) <= 4 * se_p, (name, p, p_ref)
    se_npv = ref["npv"].std(ddof=1) * math.sqrt(2 / n)
    assert abs(float(ds.npv_mean) - ref["npv"].mean()) <= 4 * se_npv, name


def uncommented_keys(text: str) -> list[str]:
    """Model parameters set in a scenario file without a comment on their line or just above."""
    lines = text.splitlines()
    missing = []
    section = None
    for i, line in enumerate(lines):
        m = _KEY.match(line)
        if not m or line.lstrip().startswith("#"):
            continue
        key, rest = m["key"], m["rest"].strip()
        if not m["indent"]:
            section = key if key in SECTIONS else None
            path = key
        elif section is not None:
            path = f"{section}.{key}"
        else:
            continue
        if path not in PARAMS:
            continue  # a section header, a run key or something else
        above = lines[i - 1].strip() if i > 0 else ""
        if "#" not in rest and not above.startswith("#"):
            missing.append(f"line {i + 1}: {path}")
    return missing


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_numbers_are_commented(name):
    text = (SCENARIO_DIR / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_"), f"{name}: must start with # @package _global_"
    missing = uncommented_keys(text)
    assert not missing, (
        f"{name}.yaml sets these model parameters without a comment citing a source "
        f"(economics.md section and tag) or '[U] our assumption': {', '.join(missing)}"
    )


def test_lint_catches_a_bare_key():
    text = (
        "fleet:\n  gpus: 8  # [U]\n  # cited\n  gpu_price: 1\n  power_kw: 1\n"
        "market:  # a section comment does not cite its keys\n  price0:\n    dist: pert\n"
    )
    assert uncommented_keys(text) == ["line 5: fleet.power_kw", "line 7: market.price0"]


def test_config_doc_is_current():
    """docs/config.md's model table matches params.py (regenerate: scripts/gen_config_doc.py)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "gen_config_doc.py"
    spec = importlib.util.spec_from_file_location("gen_config_doc", script)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.DOC.read_text()
    assert gen.render(text) == text, "docs/config.md is stale: run python scripts/gen_config_doc.py"
