"""Sobol' indices as ``xarray`` variables (I/O layer).

The kernel (:mod:`mcengine.sensitivity`) computes the indices as plain arrays
(:class:`~mcengine.sensitivity.SobolRun`); this module names them, with units and descriptions,
for the results Dataset (docs/architecture.md, docs/sensitivity.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .sensitivity.sobol import OUTPUTS, SobolRun, sobol_run

__all__ = ["sobol_dataset", "model_sobol"]

_MEANING = {
    "first": "first-order Sobol' index: the main effect (Saltelli 2010 estimator)",
    "total": "total Sobol' index, interactions with the monthly shocks included (Jansen 1999 "
    "estimator)",
}


def _index(dims: tuple[str, ...], data: np.ndarray, description: str) -> xr.Variable:
    return xr.Variable(dims, np.asarray(data), attrs={"units": "1", "description": description})


def sobol_dataset(run: SobolRun) -> xr.Dataset:
    """``sobol_first``, ``sobol_total`` (output, input) with their ``_lo``/``_hi`` bootstrap
    bounds, ``sobol_group`` (input), and the ``sobol_*`` attributes."""
    dims = ("output", "input")
    data = {}
    for kind in ("first", "total"):
        data[f"sobol_{kind}"] = _index(
            dims, np.stack([run.indices[o][kind] for o in OUTPUTS]), _MEANING[kind]
        )
        for bound, word in (("lo", "lower"), ("hi", "upper")):
            data[f"sobol_{kind}_{bound}"] = _index(
                dims,
                np.stack([run.indices[o][f"{kind}_{bound}"] for o in OUTPUTS]),
                f"{word} bound of the {run.conf:.0%} percentile bootstrap interval of sobol_{kind}",
            )
    data["sobol_group"] = _index(
        ("input",),
        run.group,
        "copula group of the input (-1: uncorrelated); inputs of one group share their (joint) "
        "Sobol' indices",
    )
    ds = xr.Dataset(data, coords={"output": ("output", list(OUTPUTS)), "input": list(run.inputs)})
    ds.attrs.update(
        {
            "sobol_samples": run.n,
            "sobol_evaluations": run.evaluations,
            "sobol_bootstrap": run.n_boot,
            "sobol_conf_level": run.conf,
            "sobol_method": "Saltelli design (A, B, AB_i; A and AB_i rows share monthly shocks, "
            "B rows have their own), Jansen total, Saltelli 2010 first order, percentile "
            "bootstrap",
        }
    )
    return ds


def model_sobol(model: Any, **options: Any) -> xr.Dataset:
    """Sobol' indices of ``model`` (a ``ModelSpec``) as a Dataset: the kernel's
    :func:`mcengine.sensitivity.sobol_run` (same keyword options: ``n``, ``seed``, ``precision``,
    ``n_boot``, ``conf``, ``batch``), then :func:`sobol_dataset`."""
    return sobol_dataset(sobol_run(model, **options))
