"""``simulate(cfg)``: a config in, a results Dataset out. No Hydra needed (a dict works)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import xarray as xr
import yaml

from . import engine
from .checkpoint import Checkpoint
from .config import RunSettings, to_plain
from .model.spec import ModelSpec
from .results import to_dataset

__all__ = ["simulate", "provenance"]


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of the package's Python sources: part of the checkpoint fingerprint, so that a
    run never resumes from a checkpoint written by different code (its numbers could differ)."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# run keys that do not change the folded aggregates a checkpoint holds: a rerun that changes
# only these resumes (quantile levels and the target are applied to the aggregates afterwards;
# the aggregates do not depend on the chunk size; Sobol' indices are a separate pass)
NOT_IN_STATE = (
    "progress", "output", "report", "compile_cache", "checkpoint_every_s", "quantiles",
    "target", "chunk_size", "distributed",
)  # fmt: skip


def state_text(plain: dict) -> str:
    """What the checkpoint fingerprint covers: the config less ``NOT_IN_STATE`` (and less the
    Sobol' settings), and the package's source code."""
    kept = {k: v for k, v in plain.items() if k not in NOT_IN_STATE}
    if isinstance(kept.get("sensitivity"), dict):
        kept["sensitivity"] = {"deciles": kept["sensitivity"].get("deciles", True)}
    # one ``path: value`` line per leaf, so a checkpoint that does not match can name the keys
    lines = [f"{path}: {json.dumps(value, sort_keys=True)}" for path, value in _leaves(kept)]
    return "\n".join([*lines, f"code: {source_digest()}"]) + "\n"


def _leaves(tree: dict, prefix: str = ""):
    """``(dotted path, value)`` of every leaf of a nested mapping, in sorted order."""
    for key in sorted(tree, key=str):
        value, path = tree[key], f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def provenance(plain: dict, overrides: Sequence[str] | None) -> dict[str, Any]:
    """What a result needs to be reproduced from its file alone."""
    from . import __version__

    return {
        "config": yaml.safe_dump(plain, sort_keys=False),
        "overrides": yaml.safe_dump(list(overrides or []), default_flow_style=True).strip(),
        "seed": int(plain.get("seed", 0)),
        "mcengine_version": __version__,
        "jax_version": jax.__version__,
        "python_version": platform.python_version(),
        "git_commit": _git_commit(),
        "horizon_months": int(plain.get("horizon_months", 60)),
    }


def use_compile_cache(path: str | None) -> None:
    """Keep compiled executables in ``path`` (JAX's persistent compilation cache), so a run that
    compiles the same step again (a re-run, a resumed or requeued job, the other processes of a
    distributed run) loads it instead: on the 2-core CPU box, time to the first result drops
    from ~5 s to ~2 s. Left alone when ``path`` is None or JAX already has a cache directory."""
    if path is None or jax.config.jax_compilation_cache_dir:
        return
    directory = usable_directory(path)
    if directory is not None:
        jax.config.update("jax_compilation_cache_dir", str(directory))


def usable_directory(path: str) -> Path | None:
    """``path`` (``~`` expanded), created if missing, or None with one warning when it cannot be
    written (a read-only home on a cluster): JAX would warn at every compilation instead."""
    directory = Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        writable = os.access(directory, os.W_OK)
    except OSError as err:
        writable, why = False, str(err)
    else:
        why = "not writable"
    if not writable:
        warnings.warn(
            f"compile_cache: cannot use {directory} ({why}); running without the persistent "
            "compilation cache. Set compile_cache to a writable directory, or to null.",
            stacklevel=4,  # the caller of simulate()
        )
        return None
    return directory


def validate(cfg: Any) -> tuple[RunSettings, ModelSpec]:
    """Check a config without running it, exactly as :func:`simulate` does before any compute.

    Returns the run settings and the model spec; raises ``ConfigError`` or ``SpecError``
    naming the config path and the fix."""
    plain = to_plain(cfg)
    return RunSettings.from_config(plain), ModelSpec.from_config(plain)


def simulate(
    cfg: Any,
    *,
    output_dir: str | os.PathLike | None = None,
    overrides: Sequence[str] | None = None,
    devices: Sequence[Any] | None = None,
) -> xr.Dataset:
    """Run the scenario in ``cfg`` (a composed Hydra config or a plain nested dict).

    With ``output_dir``, the run checkpoints its aggregates there and resumes from an existing
    checkpoint of the same config. Returns the results Dataset (docs/architecture.md).
    """
    plain = to_plain(cfg)
    settings, model = validate(plain)
    use_compile_cache(settings.compile_cache)
    checkpoint = None
    if output_dir is not None:
        results = Path(output_dir) / settings.output  # as the CLI writes it (absolute stays)
        results.parent.mkdir(parents=True, exist_ok=True)
        path = results.with_name(f".{results.name}.checkpoint.npz")
        checkpoint = Checkpoint(path=path, every_s=settings.checkpoint_every_s)
    result = engine.run(
        model,
        n_samples=settings.n_samples,
        seed=settings.seed,
        quantiles=settings.quantiles,
        precision=settings.precision,
        chunking=engine.Chunking(settings.chunk_size),
        checkpoint=checkpoint,
        progress=engine.Progress(settings.progress),
        target=engine.Target(
            settings.target_p_recoup_se, settings.target_npv_se, settings.target_min_samples
        ),
        sensitivity=settings.deciles,
        devices=devices,
        fingerprint_text=state_text(plain),
        sampling=settings.sampling,
    )
    ds = to_dataset(result, attrs=provenance(plain, overrides))
    if settings.sobol:  # variance-based indices: a separate Saltelli design (issue 6)
        from .sobol_results import model_sobol

        indices = model_sobol(
            model, n=settings.sobol_samples, seed=settings.seed, precision=settings.precision
        )
        ds = xr.merge([ds, indices], combine_attrs="override")
        ds.attrs.update(indices.attrs)
    return ds
