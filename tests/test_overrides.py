"""Override strings: the rewrite for Hydra and its inverse for records.

The CLI rewrites a mapping value of a model parameter to Hydra's ``~p +p=v`` and a spec field
to ``++p.field=v`` (``replace_mappings``); results and sweep tables must show what the user
typed (``as_written``), and that form must compose to the same config.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import mcengine
from mcengine.config import to_plain
from mcengine.overrides import as_written, replace_mappings
from mcengine.sweep import MissingJobsError, open_sweep

TYPED = [
    "market.price0={dist: lognormal, p05: 2, p95: 3}",
    "market.price_trend.mode=-0.3",
    "fleet.gpus=512",
    "correlations=[[market.price0, demand.utilization0, -0.5]]",
    "demand.growth=[0.1, 0.2]",
    "n_samples=1000",
    "hydra.run.dir=out",
]


def test_rewrite_then_inverse_gives_back_what_was_typed():
    rewritten = replace_mappings(TYPED)
    assert "~market.price0" in rewritten and "++market.price_trend.mode=-0.3" in rewritten
    assert as_written(rewritten) == TYPED


@pytest.mark.parametrize(
    "kept",
    [
        ["~market.price0"],  # a delete on its own is the user's, not ours
        ["+market.price0={dist: normal, mean: 3, sd: 0.1}"],
        ["~fleet.gpus", "+market.price0=3"],  # not a pair
        ["++n_samples=5"],  # not a spec field
        ["+new_key=1"],
    ],
)
def test_inverse_keeps_forms_it_did_not_make(kept):
    assert as_written(kept) == kept


def test_the_written_form_composes_to_the_same_config():
    round_trip = as_written(replace_mappings(TYPED[:3]))
    rewritten_cfg = to_plain(mcengine.load_config(overrides=round_trip))
    typed_cfg = to_plain(mcengine.load_config(overrides=TYPED[:3]))
    assert rewritten_cfg == typed_cfg
    assert rewritten_cfg["market"]["price0"] == {"dist": "lognormal", "p05": 2, "p95": 3}


def test_sweep_names_a_job_by_the_overrides_as_typed(tmp_path: Path):
    """A job directory records Hydra's rewritten overrides; the sweep's messages do not."""
    typed = "market.price0={dist: normal, mean: 3, sd: 0.1}"
    job_dir = tmp_path / "0" / ".hydra"
    job_dir.mkdir(parents=True)
    (job_dir / "overrides.yaml").write_text(yaml.safe_dump(replace_mappings([typed])))
    (job_dir / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": 0}}}))
    with pytest.raises(MissingJobsError) as err:
        open_sweep(tmp_path)
    assert typed in str(err.value) and "~market.price0" not in str(err.value)


def test_sweep_jobs_record_the_overrides_as_typed():
    """Hydra's sweeper hands each job the delete back as ``~path=null``."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    typed = ["market.price_trend={dist: uniform, low: -0.4, high: 0},-0.2", "n_samples=5"]
    parsed = OverridesParser.create().parse_overrides(replace_mappings(typed))
    (jobs,) = BasicSweeper.split_arguments(parsed, None)
    assert jobs[0][0] == "~market.price_trend=null"  # what the jobs get from Hydra
    assert [as_written(job) for job in jobs] == [
        ["market.price_trend={dist:uniform,low:-0.4,high:0}", "n_samples=5"],
        ["market.price_trend=-0.2", "n_samples=5"],
    ]
