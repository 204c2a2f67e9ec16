"""Checkpoints of the folded aggregates: atomic writes, a config fingerprint, signal handling."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fingerprint", "save", "load", "StopFlag"]


def fingerprint(*parts: Any) -> str:
    """A digest of everything that must match for a checkpoint to be resumed."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


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
    """The saved state if ``path`` holds a readable checkpoint of the same fingerprint."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != digest:
                return None
            return {key: data[key] for key in data.files if key != "fingerprint"}
    except (OSError, ValueError, KeyError):
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
