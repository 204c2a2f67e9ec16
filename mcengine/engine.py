"""The streaming engine: simulate futures chunk by chunk and fold them into running aggregates.

``run(model, ...)`` is the one entry point. It takes the model (a validated ``ModelSpec``) and
strategy objects for the parts users tune: ``Chunking``, ``Checkpoint``, ``Progress``, ``Target``.
The chunk function is compiled once per run and spread over every local JAX device (a 1-D mesh
over the futures axis); results do not depend on the chunk size or the number of devices.
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from . import accumulators as acc
from .model.kernel import COMPONENTS, simulate
from .model.spec import ModelSpec

__all__ = [
    "Chunking",
    "Checkpoint",
    "Progress",
    "Target",
    "RunResult",
    "Interrupted",
    "run",
    "MONTH_BINS",
    "SCALAR_BINS",
]

MONTH_BINS = 4096
SCALAR_BINS = 16384
SCALARS = ("npv", "gross_margin", "spend_to_revenue")
PILOT = 1 << 16
DECILES = 10


@dataclass(frozen=True)
class Chunking:
    """How many futures one compiled step simulates (``None``: a backend-dependent default)."""

    size: int | None = None

    def resolve(self, n_samples: int, n_devices: int, backend: str) -> int:
        unit = acc.BLOCK * n_devices
        size = self.size
        if size is None:
            per_device = (1 << 15) if backend == "cpu" else (1 << 21)
            size = per_device * n_devices
        size = max(unit, int(math.ceil(size / unit)) * unit)
        # no point in a chunk larger than the run (rounded up to whole blocks per device)
        return min(size, int(math.ceil(n_samples / unit)) * unit)


@dataclass(frozen=True)
class Checkpoint:
    """Save the folded aggregates to ``path`` every ``every_s`` seconds (write, then rename)."""

    path: Path | None = None
    every_s: float = 30.0


@dataclass(frozen=True)
class Progress:
    """A progress bar (tqdm) on stderr, shown once a run has taken longer than ``delay_s``."""

    enabled: bool | None = None  # None: when stderr is a terminal or in CI logs
    delay_s: float = 2.0


@dataclass(frozen=True)
class Target:
    """Stop early once the Monte Carlo standard error of P(recoup) is at most ``p_recoup_se``
    (checked after each chunk, so the stopping point is reproducible)."""

    p_recoup_se: float | None = None
    npv_se: float | None = None
    min_samples: int = 0


class Interrupted(RuntimeError):
    """Raised after a SIGTERM/SIGINT once the checkpoint is written; rerun to resume."""


@dataclass
class RunResult:
    """Host-side aggregates of a finished run (numpy), plus what produced them."""

    n: int
    levels: np.ndarray
    horizon: int
    month_counts: np.ndarray  # (T+1, MONTH_BINS)
    month_edges: np.ndarray  # (T+1, MONTH_BINS+1)
    month_min: np.ndarray
    month_max: np.ndarray
    scalar_counts: np.ndarray  # (3, SCALAR_BINS)
    scalar_lower: np.ndarray
    scalar_upper: np.ndarray
    event_counts: np.ndarray  # (2, T+2): breakeven, payback; index T+1 = never
    sums: dict[str, np.ndarray]
    shift: float
    inputs: tuple[str, ...]
    decile_counts: np.ndarray  # (k, 10)
    decile_recouped: np.ndarray
    convergence: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# the per-chunk computation


def _sum_columns(k: int, sensitivity: bool) -> dict[str, slice]:
    layout = [("npv", 1), ("npv2", 1), ("pv", len(COMPONENTS))]
    if sensitivity and k:
        layout += [("decile_npv", k * DECILES), ("u", k), ("ug", k), ("uu", k), ("g", 1), ("gg", 1)]
    out, start = {}, 0
    for name, width in layout:
        out[name] = slice(start, start + width)
        start += width
    return out


def _chunk_function(model, seed, dtype, maps, n_samples, mesh, sensitivity, pilot_knots, shift):
    T = model.horizon
    k = len(model.inputs.paths)
    month_map, scalar_map = maps
    columns = _sum_columns(k, sensitivity)
    n_dev = mesh.devices.size

    def local(offset):
        dev = jax.lax.axis_index("futures").astype(jnp.uint32)
        index = offset[0] + dev * jnp.uint32(local_size) + jnp.arange(local_size, dtype=jnp.uint32)
        valid = index < jnp.uint32(n_samples)

        def month_stats(m, cum):
            idx = acc.bin_index(cum, month_map, m, MONTH_BINS)
            return (
                acc.histogram(idx, valid, MONTH_BINS),
                jnp.min(jnp.where(valid, cum, jnp.inf)),
                jnp.max(jnp.where(valid, cum, -jnp.inf)),
            )

        fut, (mh, mlo, mhi) = simulate(model, seed, index, dtype, month_stats)
        h0, lo0, hi0 = month_stats(0, fut.month0)
        month_counts = jnp.concatenate([h0[None], mh])
        month_min = jnp.concatenate([lo0[None], mlo])
        month_max = jnp.concatenate([hi0[None], mhi])

        scalar_counts, scalar_lower, scalar_upper = [], [], []
        for j, x in enumerate((fut.npv, fut.gross_margin, fut.spend_to_revenue)):
            idx = jnp.where(valid, acc.bin_index(x, scalar_map, j, SCALAR_BINS), SCALAR_BINS)
            scalar_counts.append(acc.histogram(idx, valid, SCALAR_BINS))
            scalar_lower.append(jnp.full(SCALAR_BINS + 1, jnp.inf, dtype).at[idx].min(x)[:-1])
            scalar_upper.append(jnp.full(SCALAR_BINS + 1, -jnp.inf, dtype).at[idx].max(x)[:-1])

        events = [acc.histogram(e, valid, T + 2) for e in (fut.breakeven, fut.payback)]

        w = valid.astype(dtype)
        dev_npv = (fut.npv - jnp.asarray(shift, dtype)) * w
        cols = [dev_npv[:, None], (dev_npv * dev_npv)[:, None], fut.pv * w[:, None]]
        decile_counts = decile_recouped = jnp.zeros((k, DECILES), jnp.int32)
        if "u" in columns:
            u = jax.scipy.special.ndtr(fut.scores)  # (k, n): the input's own CDF level
            dec = jnp.clip((u * DECILES).astype(jnp.int32), 0, DECILES - 1)
            onehot = (dec[:, :, None] == jnp.arange(DECILES)).astype(dtype)  # (k, n, 10)
            cols.append(
                (onehot * dev_npv[None, :, None]).transpose(1, 0, 2).reshape(-1, k * DECILES)
            )
            flat = dec + DECILES * jnp.arange(k, dtype=jnp.int32)[:, None]
            recouped = fut.breakeven <= T
            decile_counts = acc.histogram(flat.T.reshape(-1), jnp.repeat(valid, k), k * DECILES)
            decile_recouped = acc.histogram(
                flat.T.reshape(-1), jnp.repeat(valid & recouped, k), k * DECILES
            )
            decile_counts = decile_counts.reshape(k, DECILES)
            decile_recouped = decile_recouped.reshape(k, DECILES)
            levels = jnp.linspace(0, 1, pilot_knots.shape[0], dtype=dtype)
            g = jnp.interp(fut.npv, jnp.asarray(pilot_knots, dtype), levels)
            uw = u.T * w[:, None]
            gw = g * w
            cols += [uw, uw * g[:, None], uw * u.T, gw[:, None], (gw * g)[:, None]]
        sums = acc.block_sums(jnp.concatenate(cols, axis=1))

        psum = lambda x: jax.lax.psum(x, "futures")  # noqa: E731
        return {
            "month_counts": psum(month_counts),
            "month_min": jax.lax.pmin(month_min, "futures"),
            "month_max": jax.lax.pmax(month_max, "futures"),
            "scalar_counts": psum(jnp.stack(scalar_counts)),
            "scalar_lower": jax.lax.pmin(jnp.stack(scalar_lower), "futures"),
            "scalar_upper": jax.lax.pmax(jnp.stack(scalar_upper), "futures"),
            "event_counts": psum(jnp.stack(events)),
            "decile_counts": psum(decile_counts),
            "decile_recouped": psum(decile_recouped),
            "sums": sums,
        }

    local_size = None  # set by build()

    def build(chunk: int):
        nonlocal local_size
        local_size = chunk // n_dev
        replicated = PartitionSpec()
        out_specs = {
            name: (PartitionSpec("futures") if name == "sums" else replicated)
            for name in (
                "month_counts",
                "month_min",
                "month_max",
                "scalar_counts",
                "scalar_lower",
                "scalar_upper",
                "event_counts",
                "decile_counts",
                "decile_recouped",
                "sums",
            )
        }
        mapped = jax.shard_map(
            local, mesh=mesh, in_specs=(replicated,), out_specs=out_specs, check_vma=False
        )
        return jax.jit(mapped)

    return build, columns


# ---------------------------------------------------------------------------------------------
# pilot: fit the histogram maps on a fixed set of futures (independent of chunking)


def _pilot(model: ModelSpec, seed: int, dtype, n_samples: int):
    size = min(n_samples, PILOT)
    index = jnp.arange(size, dtype=jnp.uint32)

    @jax.jit
    def raw(index):
        fut, paths = simulate(model, seed, index, dtype, lambda m, cum: cum)
        return fut, paths

    fut, paths = jax.device_get(raw(index))
    months = np.concatenate([np.asarray(fut.month0)[None], np.asarray(paths)], axis=0).T
    month_map = acc.fit_bins(months, MONTH_BINS)
    scalars = np.stack([fut.npv, fut.gross_margin, fut.spend_to_revenue], axis=1)
    scalar_map = acc.fit_bins(scalars, SCALAR_BINS)
    npv = np.asarray(fut.npv, np.float64)
    finite = npv[np.isfinite(npv)]
    knots = np.quantile(finite, np.linspace(0, 1, 1025)) if finite.size else np.zeros(1025)
    knots = np.maximum.accumulate(knots)
    shift = float(np.mean(finite)) if finite.size else 0.0
    return (month_map, scalar_map), knots, shift


# ---------------------------------------------------------------------------------------------
# host-side state


def _fresh_state(T: int, k: int, n_columns: int) -> dict[str, np.ndarray]:
    return {
        "month_counts": np.zeros((T + 1, MONTH_BINS), np.int64),
        "month_min": np.full(T + 1, np.inf),
        "month_max": np.full(T + 1, -np.inf),
        "scalar_counts": np.zeros((len(SCALARS), SCALAR_BINS), np.int64),
        "scalar_lower": np.full((len(SCALARS), SCALAR_BINS), np.inf),
        "scalar_upper": np.full((len(SCALARS), SCALAR_BINS), -np.inf),
        "event_counts": np.zeros((2, T + 2), np.int64),
        "decile_counts": np.zeros((k, DECILES), np.int64),
        "decile_recouped": np.zeros((k, DECILES), np.int64),
        "sums": np.zeros(n_columns, np.float64),
        "n_done": np.zeros((), np.int64),
        "conv_n": np.zeros(0, np.int64),
        "conv_p": np.zeros(0, np.float64),
        "conv_npv": np.zeros(0, np.float64),
    }


def _fold(state: dict[str, np.ndarray], out: dict[str, np.ndarray], n_new: int, shift: float):
    for name in (
        "month_counts",
        "scalar_counts",
        "event_counts",
        "decile_counts",
        "decile_recouped",
    ):
        state[name] = state[name] + np.asarray(out[name], np.int64)
    for name in ("month_min", "scalar_lower"):
        state[name] = np.minimum(state[name], np.asarray(out[name], np.float64))
    for name in ("month_max", "scalar_upper"):
        state[name] = np.maximum(state[name], np.asarray(out[name], np.float64))
    blocks = np.asarray(out["sums"], np.float64)
    # fold block by block in global order (sequential accumulate), never a tree over chunks
    state["sums"] = np.add.accumulate(np.vstack([state["sums"][None], blocks]), axis=0)[-1]
    state["n_done"] = state["n_done"] + n_new
    n = int(state["n_done"])
    recouped = int(state["event_counts"][0, :-1].sum())
    state["conv_n"] = np.append(state["conv_n"], n)
    state["conv_p"] = np.append(state["conv_p"], recouped / n)
    state["conv_npv"] = np.append(state["conv_npv"], shift + state["sums"][0] / n)


def _standard_errors(state, shift) -> tuple[float, float]:
    n = int(state["n_done"])
    p = state["event_counts"][0, :-1].sum() / n
    mean = state["sums"][0] / n
    var = max(state["sums"][1] / n - mean**2, 0.0) * n / max(n - 1, 1)
    return math.sqrt(p * (1 - p) / n), math.sqrt(var / n)


def _fingerprint(model_yaml: str, seed: int, n_samples: int, dtype, n_columns: int) -> str:
    text = f"{model_yaml}|{seed}|{n_samples}|{jnp.dtype(dtype).name}|{acc.BLOCK}|{n_columns}"
    text += f"|{MONTH_BINS}|{SCALAR_BINS}|{PILOT}"
    return hashlib.sha256(text.encode()).hexdigest()


def _save_checkpoint(path: Path, state, fingerprint: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, fingerprint=np.array(fingerprint), **state)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _load_checkpoint(path: Path, fingerprint: str):
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fingerprint:
                return None
            return {key: data[key] for key in data.files if key != "fingerprint"}
    except (OSError, ValueError, KeyError):
        return None


class _StopFlag:
    """Turns SIGTERM/SIGINT into a flag checked between chunks (main thread only)."""

    def __init__(self, enabled: bool):
        self.raised: int | None = None
        self._old: dict[int, Any] = {}
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    self._old[sig] = signal.signal(sig, self._handle)
                except ValueError:  # not the main thread
                    pass
        return self

    def _handle(self, signum, frame):
        self.raised = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _progress_bar(progress: Progress, n_samples: int, n_chunks: int):
    from tqdm.auto import tqdm

    enabled = progress.enabled
    disable = (not enabled) if enabled is not None else None  # None: tqdm decides (non-tty off)
    return tqdm(
        total=n_samples,
        unit="futures",
        unit_scale=True,
        delay=progress.delay_s,
        disable=disable,
        desc=f"mcengine {n_chunks} chunks",
        dynamic_ncols=True,
    )


# ---------------------------------------------------------------------------------------------


def run(
    model: ModelSpec,
    *,
    n_samples: int,
    seed: int = 0,
    quantiles: Sequence[float] = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99),
    precision: str = "float32",
    chunking: Chunking = Chunking(),
    checkpoint: Checkpoint = Checkpoint(),
    progress: Progress = Progress(),
    target: Target = Target(),
    sensitivity: bool = True,
    devices: Sequence[Any] | None = None,
    fingerprint_text: str = "",
) -> RunResult:
    """Simulate ``n_samples`` futures of ``model`` and return the folded aggregates."""
    if not 1 <= n_samples < 2**32:
        raise ValueError(f"n_samples must be in [1, 2**32), got {n_samples}")
    if precision not in ("float32", "float64"):
        raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
    with jax.enable_x64(precision == "float64"):
        return _run(
            model,
            n_samples,
            int(seed),
            np.asarray(quantiles, np.float64),
            precision,
            chunking,
            checkpoint,
            progress,
            target,
            sensitivity,
            devices,
            fingerprint_text,
        )


def _run(
    model,
    n_samples,
    seed,
    levels,
    precision,
    chunking,
    checkpoint,
    progress,
    target,
    sensitivity,
    devices,
    fingerprint_text,
):
    t_start = time.perf_counter()
    dtype = jnp.float64 if precision == "float64" else jnp.float32
    devices = list(devices) if devices is not None else jax.devices()
    mesh = Mesh(np.array(devices), ("futures",))
    backend = devices[0].platform
    chunk = chunking.resolve(n_samples, len(devices), backend)
    n_chunks = int(math.ceil(n_samples / chunk))
    T, k = model.horizon, len(model.inputs.paths)

    maps, knots, shift = _pilot(model, seed, dtype, n_samples)
    build, columns = _chunk_function(
        model, seed, dtype, maps, n_samples, mesh, sensitivity, knots, shift
    )
    n_columns = max(s.stop for s in columns.values())
    step = build(chunk)

    fingerprint = _fingerprint(fingerprint_text, seed, n_samples, dtype, n_columns)
    ckpt_path = Path(checkpoint.path) if checkpoint.path is not None else None
    state = _load_checkpoint(ckpt_path, fingerprint) if ckpt_path else None
    resumed_from = int(state["n_done"]) if state is not None else 0
    if state is None:
        state = _fresh_state(T, k, n_columns)
    offsets = list(range(resumed_from, n_samples, chunk))

    def launch(offset):
        return step(jnp.array([offset], dtype=jnp.uint32))

    t_compile = time.perf_counter()
    pending = launch(offsets[0]) if offsets else None
    if pending is not None:
        jax.block_until_ready(pending)
    compile_time = time.perf_counter() - t_compile  # first chunk, compilation included

    stopped_by_target = False
    last_save = time.perf_counter()
    bar = _progress_bar(progress, n_samples, n_chunks)
    bar.update(min(resumed_from, n_samples))
    with _StopFlag(enabled=ckpt_path is not None) as stop:
        for j, offset in enumerate(offsets):
            nxt = launch(offsets[j + 1]) if j + 1 < len(offsets) else None  # keep devices busy
            out = jax.device_get(pending)
            n_new = min(chunk, n_samples - offset)
            _fold(state, out, n_new, shift)
            bar.update(n_new)
            pending = nxt
            se_p, se_npv = _standard_errors(state, shift)
            done = int(state["n_done"])
            reached = (target.p_recoup_se is not None and se_p <= target.p_recoup_se) or (
                target.npv_se is not None and se_npv <= target.npv_se
            )
            if reached and target.min_samples <= done < n_samples:
                stopped_by_target = True
                break
            now = time.perf_counter()
            if ckpt_path is not None and (stop.raised or now - last_save >= checkpoint.every_s):
                _save_checkpoint(ckpt_path, state, fingerprint)
                last_save = now
            if stop.raised:
                bar.close()
                raise Interrupted(
                    f"stopped by signal {stop.raised} after {done} futures; checkpoint "
                    f"{ckpt_path} written, rerun the same command to resume"
                )
    bar.close()
    if ckpt_path is not None:
        _save_checkpoint(ckpt_path, state, fingerprint)

    sums = {name: state["sums"][sl] for name, sl in columns.items()}
    month_edges = acc.bin_edges(maps[0], MONTH_BINS)
    meta = {
        "chunk_size": chunk,
        "n_chunks": n_chunks,
        "devices": ", ".join(str(d) for d in devices),
        "device_count": len(devices),
        "jax_backend": backend,
        "precision": precision,
        "run_time_s": time.perf_counter() - t_start,
        "compile_time_s": compile_time,
        "resumed_from": resumed_from,
        "stopped_by_target": int(stopped_by_target),
    }
    return RunResult(
        n=int(state["n_done"]),
        levels=levels,
        horizon=T,
        month_counts=state["month_counts"],
        month_edges=month_edges,
        month_min=state["month_min"],
        month_max=state["month_max"],
        scalar_counts=state["scalar_counts"],
        scalar_lower=state["scalar_lower"],
        scalar_upper=state["scalar_upper"],
        event_counts=state["event_counts"],
        sums=sums,
        shift=shift,
        inputs=tuple(model.inputs.paths),
        decile_counts=state["decile_counts"],
        decile_recouped=state["decile_recouped"],
        convergence={
            "n": state["conv_n"],
            "p_recoup": state["conv_p"],
            "npv_mean": state["conv_npv"],
        },
        meta=meta,
    )
