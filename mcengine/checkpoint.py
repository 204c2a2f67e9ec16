"""Checkpoints of the folded aggregates on disk: the engine's ``checkpoint=`` strategy.

The engine knows nothing of files: it asks its checkpoint strategy to ``load`` a state for a
run fingerprint, to ``save`` one, and for a ``stop_flag`` that turns SIGTERM/SIGINT (SLURM's
warning before preemption, Ctrl-C) into a stop at the next chunk boundary.
"""

from __future__ import annotations

import os
import signal
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Checkpoint", "save", "load", "StopFlag"]


def save(path: Path, state: dict[str, np.ndarray], digest: str) -> None:
    """Write ``state`` to ``path``: a temporary file in the same folder, fsync, then rename."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, fingerprint=np.array(digest), **state)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path, digest: str) -> dict[str, np.ndarray] | None:
    """The saved state if ``path`` holds a readable checkpoint of the same fingerprint.

    Otherwise None, with a warning when a file is there: the run starts from the beginning and
    its first save replaces that file."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) == digest:
                return {key: data[key] for key in data.files if key != "fingerprint"}
            why = (
                "it was written by a run with another config, another version of mcengine, "
                "JAX or jaxlib, or on another backend or device kind"
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        why = f"it cannot be read ({type(err).__name__}: {err})"
    warnings.warn(
        f"not resuming from the checkpoint {path}: {why}. Starting from the first future; the "
        "checkpoint will be replaced (use another output directory to keep it).",
        stacklevel=2,
    )
    return None


class StopFlag:
    """Turns SIGTERM/SIGINT into a flag checked between chunks (main thread only)."""

    def __init__(self, enabled: bool):
        self.raised: int | None = None
        self.enabled = enabled
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if self.enabled:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except ValueError:  # not the main thread: leave signals alone
                    pass
        return self

    def _handle(self, signum, frame) -> None:
        self.raised = signum

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclass(frozen=True)
class Checkpoint:
    """Save the folded aggregates to ``path`` every ``every_s`` seconds (write, then rename);
    resume from it when a run of the same fingerprint starts again."""

    path: Path
    every_s: float = 30.0

    def load(self, digest: str) -> dict[str, np.ndarray] | None:
        return load(Path(self.path), digest)

    def save(self, state: dict[str, np.ndarray], digest: str) -> None:
        save(Path(self.path), state, digest)

    def stop_flag(self) -> StopFlag:
        return StopFlag(enabled=True)
