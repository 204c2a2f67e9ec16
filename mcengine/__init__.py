"""mcengine: a GPU-accelerated Monte Carlo engine for the economics of AI compute.

Notebook API::

    import mcengine
    cfg = mcengine.load_config(scenario="gpu_cloud", overrides=["n_samples=200000"])
    ds = mcengine.simulate(cfg)              # xarray.Dataset
    ds = mcengine.open_results("outputs/.../results.nc")
"""

import os as _os
import sys as _sys
from importlib.metadata import PackageNotFoundError, version


def _one_host_device_per_core() -> None:
    """On CPU, one XLA device per core runs chunks in parallel: 1.4x faster than one
    multi-threaded device on this 2-core machine (benchmarks/README.md), with bit-identical
    results. Only possible before JAX starts; opt out with MCENGINE_HOST_DEVICES=1 (or a
    count), or set --xla_force_host_platform_device_count in XLA_FLAGS yourself."""
    flags = _os.environ.get("XLA_FLAGS", "")
    if "jax" in _sys.modules or "xla_force_host_platform_device_count" in flags:
        return
    wanted = _os.environ.get("MCENGINE_HOST_DEVICES", "auto")
    count = (_os.cpu_count() or 1) if wanted == "auto" else int(wanted)
    if count > 1:
        _os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


_one_host_device_per_core()

try:
    __version__ = version("mcengine")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from . import distributions
from .api import simulate, validate
from .checkpoint import Checkpoint
from .config import load_config
from .engine import Chunking, Progress, Target, run
from .errors import ConfigError
from .model.spec import ModelSpec
from .results import open_results, write_netcdf

__all__ = [
    "__version__",
    "Checkpoint",
    "Chunking",
    "ConfigError",
    "ModelSpec",
    "Progress",
    "Target",
    "distributions",
    "load_config",
    "open_results",
    "open_sweep",
    "plot",
    "run",
    "simulate",
    "validate",
    "write_netcdf",
]


def __getattr__(name: str):
    # open_sweep lives in the I/O layer of sweeps; imported lazily to keep import time low
    if name == "open_sweep":
        from .sweep import open_sweep

        return open_sweep
    if name in ("plot", "report"):  # matplotlib is only imported when pictures are wanted
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mcengine' has no attribute {name!r}")
