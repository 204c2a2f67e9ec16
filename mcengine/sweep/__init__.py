"""Combine the per-job results of a Hydra multirun into one labeled ``xarray.Dataset``.

A multirun ``mcengine -m market.price_trend=-0.2,-0.4 fleet.gpus=64,128`` leaves one job
directory per parameter combination under the sweep directory, each holding the job's
``results.nc`` and Hydra's ``.hydra/{config,overrides,hydra}.yaml``. :func:`open_sweep` reads them
all and returns a single Dataset whose dimensions are the swept config keys::

    ds = open_sweep("multirun/2025-01-01/12-00-00")
    ds.p_recoup.sel({"market.price_trend": -0.2, "fleet.gpus": 128})

Rules:

* Swept keys are the override keys whose value differs across jobs; they are named by their
  config path (a group override ``a/b=c`` becomes ``a.b``) and their values are parsed with
  Hydra's own override grammar (``1e3`` is the number 1000.0, ``abc`` a string).
* When the jobs form a full grid over the swept keys (Hydra's basic sweeper), each swept key is
  a dimension. Otherwise (optimisation sweepers, experiment lists, list- or distribution-valued
  overrides) the jobs lie along a ``job`` dimension with the swept values as coordinates on it.
* Each job's resolved config and override list stay available as the string variables
  ``config`` and ``overrides``. Result attributes that differ across jobs (``run_time_s``, ...)
  become variables too; identical ones stay attributes.
* Missing or failed jobs (a job directory without its results file, or a job that
  ``multirun.yaml`` expects but whose directory does not exist) are named in an error. With
  ``allow_missing=True`` they are left out instead: their grid cells read NaN (``""`` for the
  string variables), the boolean variable ``job_ok`` marks which cells hold results, and the
  attribute ``missing_jobs`` and a warning name them. When no job has results there is nothing
  to combine, and :class:`MissingJobsError` says so even then.
* A directory that is not a multirun's (missing, without job directories, or a single run's
  directory with ``.hydra/`` or its results file in it) raises :class:`NotMultirunError`, a
  ``FileNotFoundError``.

:func:`write_sweep` writes the combined Dataset to ``<sweep_dir>/sweep.nc`` atomically; the
``mcengine-sweep SWEEP_DIR`` console script calls it.

The package's modules: :mod:`~mcengine.sweep.jobs` finds and reads the jobs and checks for
missing ones, :mod:`~mcengine.sweep.keys` tells the swept keys and whether the jobs form a grid,
:mod:`~mcengine.sweep.combine` assembles the Dataset (:func:`open_sweep`),
:mod:`~mcengine.sweep.store` writes and reads ``sweep.nc`` (and tells one by its attributes,
:func:`is_sweep_file`), and :mod:`~mcengine.sweep.cli` is the console script.
"""

from ..results import DEFAULT_RESULTS_FILE as DEFAULT_RESULTS_FILE
from .cli import main
from .combine import JOB_DIM as JOB_DIM
from .combine import PER_JOB_TEXT as PER_JOB_TEXT
from .combine import open_sweep
from .jobs import BASIC_SWEEPER as BASIC_SWEEPER
from .jobs import Job as Job
from .jobs import MissingJobsError, NotMultirunError
from .store import LIST_ATTRS as LIST_ATTRS
from .store import SWEEP_FILE as SWEEP_FILE
from .store import is_sweep_file, open_sweep_file, write_sweep

__all__ = [
    "MissingJobsError",
    "NotMultirunError",
    "is_sweep_file",
    "main",
    "open_sweep",
    "open_sweep_file",
    "write_sweep",
]
