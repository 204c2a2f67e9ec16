"""Sensitivity analysis beyond the streaming deciles: variance-based (Sobol') indices.

Kernel layer: numpy and JAX only. The xarray Dataset of the indices is built in the I/O layer
(:mod:`mcengine.sobol_results`: ``sobol_dataset``, ``model_sobol``).
"""

from .sobol import (
    SobolError,
    SobolRun,
    saltelli_scores,
    sobol_estimates,
    sobol_indices,
    sobol_run,
)

__all__ = [
    "SobolError",
    "SobolRun",
    "saltelli_scores",
    "sobol_estimates",
    "sobol_indices",
    "sobol_run",
]
