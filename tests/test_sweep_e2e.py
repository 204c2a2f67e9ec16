"""End to end: a real ``mcengine -m`` multirun through submitit's local executor.

The ``SweepCallback`` of ``conf/config.yaml`` must leave ``sweep.nc`` in the sweep dir, with one
dimension per swept key and, in every cell, exactly that job's own ``results.nc``.

Four jobs compile the engine in parallel (submitit's local executor runs them at once, on the CPU:
it hides GPUs unless ``hydra.launcher.gpus_per_node`` is set), which takes minutes on a small
machine, hence ``slow``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mcengine.sweep import open_sweep_file

ROOT = Path(__file__).resolve().parents[1]
TRENDS = [-0.2, -0.4]
GPUS = [64, 128]


def _mcengine() -> list[str]:
    exe = shutil.which("mcengine")
    return [exe] if exe else [sys.executable, "-m", "mcengine.cli"]


def _load(path: Path):
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


@pytest.mark.slow
def test_submitit_local_multirun_writes_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    cmd = [
        *_mcengine(),
        "-m",
        "hydra/launcher=submitit_local",
        f"market.price_trend={','.join(map(str, TRENDS))}",
        f"fleet.gpus={','.join(map(str, GPUS))}",
        "n_samples=20000",
        "progress=false",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.launcher.timeout_min=20",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    ds = open_sweep_file(sweep_dir / "sweep.nc")
    assert ds["p_recoup"].dims == ("market.price_trend", "fleet.gpus")
    assert ds["cum_cash"].dims[:2] == ("market.price_trend", "fleet.gpus")
    assert ds["market.price_trend"].values.tolist() == sorted(TRENDS)
    assert ds["fleet.gpus"].values.tolist() == GPUS
    assert ds.attrs["missing_jobs"] == []
    assert ds.attrs["fixed_overrides"] == ["n_samples=20000", "progress=False"]
    assert bool(ds["job_ok"].all())

    for num in range(len(TRENDS) * len(GPUS)):
        job_dir = sweep_dir / str(num)
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
        values = dict(o.split("=", 1) for o in overrides)
        cell = ds.sel(
            {
                "market.price_trend": float(values["market.price_trend"]),
                "fleet.gpus": int(values["fleet.gpus"]),
            }
        )
        job = _load(job_dir / "results.nc")
        assert int(cell["job_num"]) == num
        for name, var in job.data_vars.items():
            got = cell[name].sel({d: var[d] for d in var.dims})
            np.testing.assert_array_equal(got.values, var.values, err_msg=f"job {num}: {name}")
        assert cell["config"].item() == job.attrs["config"]
        assert cell["overrides"].item() == job.attrs["overrides"]
        cfg = yaml.safe_load(cell["config"].item())
        assert cfg["fleet"]["gpus"] == int(values["fleet.gpus"])
