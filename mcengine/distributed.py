"""Several hosts: ``jax.distributed`` under SLURM (or any launcher that sets JAX's variables).

With one process per node or per GPU, every process runs the same command; after
``initialize`` each sees all devices of all hosts, the engine's mesh spans them, and each
process folds the same aggregates. Only the primary process (index 0) writes files.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

__all__ = ["agreed_signal", "initialize", "is_primary", "to_host", "wanted"]

_ENV_HINTS = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES")


def wanted(mode: str | bool | None) -> bool:
    """Whether to start ``jax.distributed``: ``True``/``False``, or ``"auto"``: when SLURM runs
    several tasks for this step or JAX's coordinator variables are set."""
    if isinstance(mode, bool):
        return mode
    if mode in (None, "auto"):
        tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 1)
        return tasks > 1 or any(os.environ.get(k) for k in _ENV_HINTS)
    raise ValueError(f"distributed must be true, false or auto, got {mode!r}")


def initialize(mode: str | bool | None = "auto", **kwargs: Any) -> bool:
    """Start ``jax.distributed`` once if ``wanted(mode)``; returns whether it is running.

    On SLURM, JAX reads the coordinator, process count and index from the environment; pass
    ``coordinator_address=``, ``num_processes=``, ``process_id=`` elsewhere. On CPU hosts the
    cross-process collectives use gloo.
    """
    if not wanted(mode):
        return False
    if jax.distributed.is_initialized():
        return True
    # CPU-only hosts need gloo for cross-process collectives; GPUs use NCCL regardless
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)
    return True


def is_primary() -> bool:
    """True in the process that writes results and checkpoints."""
    return jax.process_index() == 0


def to_host(tree: Any) -> Any:
    """Fetch a pytree of device arrays to numpy on every process.

    Replicated arrays (the psum'd counts) are read from a local copy; arrays sharded over
    several hosts (the per-block sums) are gathered in global order.
    """
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def fetch(x):
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree_util.tree_map(fetch, tree)


def agreed_signal(signum: int | None) -> int | None:
    """The stop signal as every process sees it: the largest one any process caught, or None.

    A signal reaches the processes of a job at slightly different moments; a process that
    stopped alone would leave the others waiting in the next chunk's collectives forever."""
    if jax.process_count() == 1:
        return signum
    from jax.experimental import multihost_utils

    seen = multihost_utils.process_allgather(np.array(signum or 0, np.int32))
    return int(np.max(seen)) or None
