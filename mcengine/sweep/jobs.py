"""Find and read the jobs of a Hydra multirun directory, and check for missing ones.

A job is a directory holding Hydra's ``.hydra/overrides.yaml`` (and usually its results file);
``multirun.yaml`` of the basic sweeper also names the jobs that never got a directory.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr
import yaml

from ..overrides import as_written
from ..results import is_run_dir, open_results, results_file

log = logging.getLogger(__name__)

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class NotMultirunError(FileNotFoundError):
    """The sweep directory does not exist, holds no job directories, or is a single run's."""


class MissingJobsError(RuntimeError):
    """Some jobs of the sweep have no results; the message and ``missing`` name them."""

    def __init__(
        self, sweep_dir: Path, missing: list[str], reasons: list[str], none_finished: bool = False
    ) -> None:
        self.missing = missing
        lines = "\n".join(f"  - {reason}" for reason in reasons)
        if none_finished:
            message = (
                f"no job of the sweep in {sweep_dir} has finished yet, so there is nothing to "
                f"combine; none of its {len(missing)} job(s) has results:\n{lines}"
            )
        else:
            message = (
                f"{len(missing)} job(s) of the sweep in {sweep_dir} have no results:\n{lines}\n"
                "Re-run them, or pass allow_missing=True (mcengine-sweep --allow-missing) to "
                "combine the others and record the missing ones in attrs['missing_jobs']."
            )
        super().__init__(message)


@dataclass
class Job:
    """One job of the sweep: its number, overrides and (if it finished) its results."""

    num: int
    overrides: list[str]
    directory: Path | None = None
    results: xr.Dataset | None = None
    problem: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Human-readable identity: job number and its overrides."""
        return f"{self.num}: {' '.join(self.overrides)}".rstrip(": ")


def _read_yaml(path: Path) -> Any:
    with path.open() as f:
        return yaml.safe_load(f)


def _job_dirs(sweep_dir: Path) -> list[Path]:
    """Directories under ``sweep_dir`` holding a Hydra job record (``.hydra/overrides.yaml``)."""
    found = [p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")]
    return sorted(d for d in found if ".submitit" not in d.relative_to(sweep_dir).parts)


def _job_num(job_dir: Path, sweep_dir: Path) -> int:
    """The job's ``hydra.job.num`` from ``.hydra/hydra.yaml``, else its directory name."""
    hydra_yaml = job_dir / ".hydra" / "hydra.yaml"
    if hydra_yaml.is_file():
        num = ((_read_yaml(hydra_yaml) or {}).get("hydra") or {}).get("job", {}).get("num")
        if isinstance(num, int):
            return num
    try:
        return int(job_dir.name)
    except ValueError as err:
        raise ValueError(
            f"cannot tell the job number of {job_dir.relative_to(sweep_dir)}: no hydra.job.num "
            "in .hydra/hydra.yaml and the directory name is not a number"
        ) from err


def _read_job(job_dir: Path, sweep_dir: Path) -> Job:
    """Read one job directory; a job without readable results gets ``problem`` set."""
    recorded = _read_yaml(job_dir / ".hydra" / "overrides.yaml") or []
    overrides = as_written([str(o) for o in recorded])  # as typed, not as rewritten for Hydra
    job = Job(num=_job_num(job_dir, sweep_dir), overrides=overrides, directory=job_dir)
    path = results_file(job_dir)
    rel = path.relative_to(sweep_dir)
    if not path.is_file():
        job.problem = f"no {rel} (the job failed, was cancelled or is still running)"
        return job
    try:
        job.results = open_results(path)
    except (OSError, ValueError) as err:
        job.problem = f"cannot read {rel}: {err}"
    return job


def _expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """The basic sweeper's job list, rebuilt from ``multirun.yaml``; None when unknown."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    hydra_cfg = (_read_yaml(path) or {}).get("hydra") or {}
    sweeper = hydra_cfg.get("sweeper") or {}
    if sweeper.get("_target_") != BASIC_SWEEPER:
        return None
    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    task = list((hydra_cfg.get("overrides") or {}).get("task") or [])
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(params + task)
        batches = BasicSweeper.split_arguments(parsed, None)
    except Exception as err:  # e.g. glob() over config groups needs a config loader
        log.debug("cannot rebuild the job list from %s: %s", path, err)
        return None
    return [list(job) for batch in batches for job in batch]


def _listed(dirs: Sequence[Path], root: Path, shown: int = 4) -> str:
    names = ", ".join(str(d.relative_to(root)) for d in dirs[:shown])
    return names + (f" and {len(dirs) - shown} more" if len(dirs) > shown else "")


def _is_single_run(job_dir: Path) -> bool:
    """Whether Hydra recorded ``job_dir`` as a single run (``hydra.mode: RUN``)."""
    hydra_yaml = job_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return False
    return str(((_read_yaml(hydra_yaml) or {}).get("hydra") or {}).get("mode")) == "RUN"


def _check_sweep_dir(sweep_dir: Path) -> None:
    """Raise :class:`NotMultirunError` when ``sweep_dir`` is missing, a single run's directory,
    or a folder above multiruns or runs (``multirun/DATE``, ``outputs/DATE``): name what is in
    it, so the user can pass the right one."""
    if not sweep_dir.is_dir():
        raise NotMultirunError(f"sweep directory {sweep_dir} does not exist")
    if is_run_dir(sweep_dir):
        raise NotMultirunError(
            f"{sweep_dir} is a single run's directory, not a multirun directory (one holding job "
            "directories with .hydra/); read it with mcengine.open_results or mcengine-report"
        )
    if (sweep_dir / "multirun.yaml").is_file():
        return
    sweeps = sorted(p.parent for p in sweep_dir.rglob("multirun.yaml"))
    if sweeps:
        raise NotMultirunError(
            f"{sweep_dir} is not a multirun directory; it holds {len(sweeps)}: "
            f"{_listed(sweeps, sweep_dir)}. Pass one of them, e.g. mcengine-sweep {sweeps[-1]}"
        )
    runs = _job_dirs(sweep_dir)
    if runs and all(_is_single_run(d) for d in runs):
        raise NotMultirunError(
            f"{sweep_dir} holds {len(runs)} single runs' directories ({_listed(runs, sweep_dir)}),"
            " not the jobs of a multirun; read each with mcengine.open_results or mcengine-report"
        )


def _collect_jobs(sweep_dir: Path) -> list[Job]:
    """All jobs: those with a directory, plus those ``multirun.yaml`` expects without one."""
    _check_sweep_dir(sweep_dir)
    jobs = {}
    for job_dir in _job_dirs(sweep_dir):
        job = _read_job(job_dir, sweep_dir)
        if job.num in jobs:
            raise ValueError(
                f"job number {job.num} appears twice: {jobs[job.num].directory} and {job_dir}"
            )
        jobs[job.num] = job
    for num, overrides in enumerate(_expected_jobs(sweep_dir) or []):
        if num not in jobs:
            jobs[num] = Job(num=num, overrides=overrides, problem="no job directory")
    if not jobs:
        raise NotMultirunError(
            f"no Hydra job directories (*/.hydra/overrides.yaml) under {sweep_dir}"
        )
    return [jobs[n] for n in sorted(jobs)]


def _sweeper_allows_grid(sweep_dir: Path) -> bool:
    """False for sweepers other than the basic one (optimisers): their jobs stay along ``job``."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return True
    sweeper = ((_read_yaml(path) or {}).get("hydra") or {}).get("sweeper") or {}
    target = sweeper.get("_target_")
    return target in (None, BASIC_SWEEPER)


def _parse_overrides(job: Job) -> None:
    """Fill ``job.values`` (parsed) and ``job.texts`` (as written) from its override strings."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text, override in zip(job.overrides, parser.parse_overrides(job.overrides), strict=True):
        if override.is_delete():
            continue
        key = override.key_or_group.replace("/", ".")
        job.values[key] = override.value()
        job.texts[key] = text.split("=", 1)[1] if "=" in text else ""


def _check_missing(sweep_dir: Path, jobs: Sequence[Job], allow_missing: bool) -> list[str]:
    """Names of missing jobs; raises unless ``allow_missing`` (then warns)."""
    bad = [job for job in jobs if job.results is None]
    if not bad:
        return []
    names = [job.name for job in bad]
    reasons = [f"job {job.name}: {job.problem}" for job in bad]
    none_finished = len(bad) == len(jobs)
    if none_finished or not allow_missing:
        raise MissingJobsError(sweep_dir, names, reasons, none_finished)
    message = f"{len(bad)} job(s) of {sweep_dir} left out of the sweep:\n" + "\n".join(reasons)
    warnings.warn(message, stacklevel=3)
    log.warning(message)
    return names
