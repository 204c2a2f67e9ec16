"""The multi-host path: two processes started the way SLURM starts one task per node.

SLURM's variables are faked on localhost so that ``jax.distributed.initialize()`` takes the
same auto-detection path as on a cluster; each process has one CPU device, the mesh spans both,
and the result must equal a one-process run bit for bit. Only process 0 writes results.nc.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest

from mcengine.results import open_results

ARGS = ["n_samples=20000", "horizon_months=24", "chunk_size=4096", "progress=false"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "XLA_FLAGS"))}
    env.update(JAX_PLATFORMS="cpu", MCENGINE_HOST_DEVICES="1", **extra)
    return env


@pytest.mark.slow
def test_two_slurm_tasks_equal_one_process(tmp_path):
    single = tmp_path / "single"
    subprocess.run(
        [sys.executable, "-m", "mcengine.cli", *ARGS, f"hydra.run.dir={single}"],
        env=_env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    multi = tmp_path / "multi"
    job = str(random.randint(1, 4000))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mcengine.cli", *ARGS, f"hydra.run.dir={multi}"],
            env=_env(
                SLURM_JOB_ID=job,
                SLURM_STEP_NODELIST="localhost",
                SLURM_NTASKS="2",
                SLURM_PROCID=str(rank),
                SLURM_LOCALID=str(rank),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n----\n".join(x[-3000:] for x in logs)
    a, b = open_results(single / "results.nc"), open_results(multi / "results.nc")
    assert int(b.attrs["device_count"]) == 2 and int(a.attrs["device_count"]) == 1
    for name in [*a.data_vars, "draws"]:
        np.testing.assert_array_equal(b[name].values, a[name].values, err_msg=name)
    assert "results" in logs[0] and "results" not in logs[1]  # only process 0 reports/writes
