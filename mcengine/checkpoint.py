"""Checkpoints of the folded aggregates on disk: the engine's ``checkpoint=`` strategy.

The engine knows nothing of files: it asks its checkpoint strategy to ``load`` a state for a
run fingerprint, to ``save`` one, and for a ``stop_flag`` that turns SIGTERM/SIGINT (SLURM's
warning before preemption, Ctrl-C) into a stop at the next chunk boundary.
"""

from __future__ import annotations

import json
import os
import signal
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Checkpoint", "save", "load", "StopFlag"]


def save(
    path: Path, state: dict[str, np.ndarray], digest: str, parts: Mapping[str, str] | None = None
) -> None:
    """Write ``state`` to ``path``: a temporary file in the same folder, fsync, then rename.

    ``parts`` (what the fingerprint ``digest`` was computed from, by name) is kept beside it so
    that a run that does not match can say what differs."""
    tmp = path.with_name(path.name + ".tmp")
    described = json.dumps(dict(parts or {}), sort_keys=True)
    try:
        with open(tmp, "wb") as fh:
            meta = {"fingerprint": np.array(digest), "fingerprint_parts": np.array(described)}
            np.savez(fh, **meta, **state)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


METADATA = ("fingerprint", "fingerprint_parts")
_SHOWN = 4  # differences named in the warning


def _lines(text: str) -> dict[str, str]:
    """``key: value`` lines as a mapping (the config part of a fingerprint is such lines)."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def differences(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """What differs between two fingerprints' parts, as ``name old -> new`` (config keys by
    their path)."""
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, "(none)"), new.get(name, "(none)")
        if a == b:
            continue
        if "\n" in a or "\n" in b:  # the config: name the keys that differ
            la, lb = _lines(a), _lines(b)
            for key in sorted(set(la) | set(lb)):
                was, now = la.get(key, "(unset)"), lb.get(key, "(unset)")
                if was != now:
                    out.append("mcengine's code" if key == "code" else f"{key} {was} -> {now}")
        else:
            out.append(f"{name} {a} -> {b}")
    return list(dict.fromkeys(out))  # a run key can be both in the config and a part


def load(
    path: Path, digest: str, parts: Mapping[str, str] | None = None
) -> dict[str, np.ndarray] | None:
    """The saved state if ``path`` holds a readable checkpoint of the same fingerprint.

    Otherwise None, with a warning when a file is there: the run starts from the beginning and
    its first save replaces that file. Given this run's ``parts``, the warning names what
    differs from the run that wrote the checkpoint."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) == digest:
                return {key: data[key] for key in data.files if key not in METADATA}
            why = (
                "it was written by a run with another config, another version of mcengine, "
                "JAX or jaxlib, or on another backend or device kind"
            )
            if parts is not None and "fingerprint_parts" in data.files:
                found = differences(json.loads(str(data["fingerprint_parts"])), parts)
                if found:
                    more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
                    listed = ", ".join(found[:_SHOWN]) + more
                    why = f"this run differs from the one that wrote it in {listed} (then -> now)"
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

    def load(
        self, digest: str, parts: Mapping[str, str] | None = None
    ) -> dict[str, np.ndarray] | None:
        return load(Path(self.path), digest, parts)

    def save(
        self, state: dict[str, np.ndarray], digest: str, parts: Mapping[str, str] | None = None
    ) -> None:
        save(Path(self.path), state, digest, parts)

    def stop_flag(self) -> StopFlag:
        return StopFlag(enabled=True)
