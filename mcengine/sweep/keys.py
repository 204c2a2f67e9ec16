"""The swept keys of a sweep: which override keys vary across jobs, and their values.

Also tells whether the jobs form a full grid over those keys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .jobs import Job


def _swept_keys(jobs: Sequence[Job]) -> list[str]:
    """Keys, in first-seen order, whose value differs across jobs (or is absent from some)."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.values))
    missing = object()
    return [k for k in keys if len({repr(job.values.get(k, missing)) for job in jobs}) > 1]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def _coord_values(jobs: Sequence[Job], key: str) -> list[Any]:
    """One coordinate value per job: numbers and bools as such, anything else as its text."""
    values = [job.values.get(key) for job in jobs]
    if all(_is_number(v) for v in values) or all(isinstance(v, bool) for v in values):
        return values
    return [job.texts.get(key, "") for job in jobs]


def _unique_sorted(values: Sequence[Any]) -> list[Any]:
    """Distinct values: numbers ascending, anything else in order of first appearance."""
    distinct = list(dict.fromkeys(values))
    return sorted(distinct) if all(_is_number(v) for v in distinct) else distinct


def _is_full_grid(jobs: Sequence[Job], keys: Sequence[str]) -> bool:
    """Whether the jobs are exactly the Cartesian product of their swept values (scalars)."""
    if not keys:
        return False
    if not all(_is_scalar(job.values.get(k)) for job in jobs for k in keys):
        return False
    cells = [tuple(job.values[k] for k in keys) for job in jobs]
    sizes = [len({job.values[k] for job in jobs}) for k in keys]
    return len(set(cells)) == len(cells) == math.prod(sizes)


def _fixed_overrides(jobs: Sequence[Job], keys: Sequence[str]) -> list[str]:
    first = jobs[0]
    return [f"{k}={first.texts[k]}" for k in first.values if k not in keys]
