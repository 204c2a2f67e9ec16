"""Every shipped scenario (conf/scenario/*.yaml) loads, validates and runs, and cites its numbers.

Two checks per scenario file:
- it composes with Hydra, passes validation and runs 20,000 futures in float32 with finite
  outputs and P(recoup) in [0, 1];
- a crude lint: every line that sets a model parameter carries a ``#`` comment, either on the
  same line or as a comment-only line directly above it (the source or "[U] our assumption").
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import mcengine
from mcengine.config import config_dir
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
    p = float(ds.p_recoup)
    assert 0.0 <= p <= 1.0, f"{name}: p_recoup={p}"
    assert int(ds.attrs["n_samples"]) == 20000


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
