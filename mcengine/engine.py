"""The streaming engine: simulate futures chunk by chunk and fold them into running aggregates.

``run(model, ...)`` is the one entry point. It takes the model (a validated ``ModelSpec``) and
strategy objects for what users tune: ``Chunking``, ``Progress``, ``Target``, and a checkpoint
store (``mcengine.checkpoint.Checkpoint`` on disk; anything with ``load``/``save``/``stop_flag``).
One executable is compiled per run (see ``chunk.py``) and spread over every device (a 1-D mesh
over the futures axis, across hosts under ``jax.distributed``). Results do not depend on the
chunk size or the number of devices.

A run has two passes through that executable:
1. **pilot**: the first 65,536 futures (whatever ``n_samples``, so the bins depend on the seed
   and config alone) with wide, data-independent bins; its
   coarse histograms, extremes and sums fit the real bin maps, the NPV shift and the rank knots;
2. **main**: all futures, folded into host-side aggregates (``tally.fold``) in global order.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from jax.sharding import Mesh

from . import accumulators as acc
from .chunk import MONTH_BINS, SCALAR_BINS, SCALARS, ChunkArgs, make_step, tile_size
from .distributed import agreed_signal, is_primary, to_host
from .errors import ConfigError
from .model.spec import ModelSpec
from .random import seed_key
from .sampling import METHODS as SAMPLING_METHODS
from .tally import close_trace, fold, fresh_state, target_reached

__all__ = [
    "Chunking",
    "Progress",
    "Target",
    "RunResult",
    "Interrupted",
    "run",
]

PILOT = 1 << 16
TARGET_TILES = 16  # a standard-error target is checked every 16 tiles of futures (Target)
COARSE_RANGE = 30.0  # the pilot's bins span symlog(x) in [-30, 30]: |x| up to ~1e13
KNOTS = 1025


@dataclass(frozen=True)
class Chunking:
    """How many futures one compiled step simulates (``None``: a backend-dependent default).

    Sizes round up to whole tiles per device (``chunk.tile_size``: 8,192 futures on CPU, 2^21 on
    GPU), the unit in which results are reproducible bit for bit. Memory follows the tile, not
    the chunk, so the CPU default takes 16 tiles per device to amortise the per-step dispatch
    and host fold (benchmarks/scaling.py, [chunk])."""

    size: int | None = None

    def resolve(self, n_samples: int, n_devices: int, backend: str) -> int:
        unit = tile_size(backend) * n_devices
        size = (16 if backend == "cpu" else 1) * unit if self.size is None else self.size
        size = max(unit, int(math.ceil(size / unit)) * unit)
        # no point in a chunk larger than the run (rounded up to whole blocks per device)
        return min(size, int(math.ceil(n_samples / unit)) * unit)


@dataclass(frozen=True)
class Progress:
    """A progress bar (tqdm) on stderr, shown once a run has taken longer than ``delay_s``."""

    enabled: bool | None = None  # None: when stderr is a terminal
    delay_s: float = 2.0


@dataclass(frozen=True)
class Target:
    """Stop early once the Monte Carlo standard error of P(recoup) is at most ``p_recoup_se`` or
    that of mean NPV at most ``npv_se``.

    The SEs are those of the results (``accumulators.standard_errors``: from the pair means under
    antithetic sampling, the replicate means under Sobol' sampling, else the iid formulas; see
    docs/sensitivity.md). They are checked only after every ``TARGET_TILES`` tiles of futures
    (131,072 on CPU), whatever the chunk size and device count, so the stopping point, and every
    result, is reproducible. While no future (or every future) has recouped, the binomial SE
    would be 0; the check uses ``(recouped + 1) / (n + 2)`` instead, so that a first chunk
    without events cannot meet the target. With ``min_samples`` the run does not stop before
    that many futures (it stops at the first check point at or after it that meets the target)."""

    p_recoup_se: float | None = None
    npv_se: float | None = None
    min_samples: int = 0


class Interrupted(RuntimeError):
    """Raised after a SIGTERM/SIGINT once the checkpoint is written; rerun to resume."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum  # the signal that stopped the run


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


def _target_chunk(chunk: int, unit: int, every: int) -> tuple[int, int]:
    """A chunk that divides the target's check interval ``every``, and the interval itself.

    The chunk becomes the largest whole number of ``unit`` (tiles x devices) that divides
    ``every`` and is at most the chunk asked for (``every`` itself for a larger chunk). When no
    multiple of ``unit`` divides ``every`` (a device count that does not divide
    ``TARGET_TILES``), checks happen every ``lcm(chunk, every)`` futures, which depends on the
    device count: warned."""
    if every % chunk == 0:
        return chunk, every
    fits = [m * unit for m in range(1, every // unit + 1) if every % (m * unit) == 0]
    if fits:
        return (every if chunk > every else max(f for f in fits if f <= chunk)), every
    coarser = math.lcm(chunk, every)
    warnings.warn(
        f"target: the chunk of {chunk} futures does not divide the check interval of {every} "
        f"futures, so the standard-error target is checked every {coarser} futures and where "
        "the run stops depends on the device count. Use a device count that divides "
        f"{TARGET_TILES} for a stopping point that does not.",
        stacklevel=4,
    )
    return chunk, coarser


# ---------------------------------------------------------------------------------------------
# pilot: fit the bin maps on a fixed set of futures (independent of chunking)


def _coarse_map(q: int, bins: int) -> acc.BinMap:
    return acc.BinMap(
        np.zeros(q), np.ones(q), np.full(q, -COARSE_RANGE), np.full(q, bins / (2 * COARSE_RANGE))
    )


def _refine(counts, lower, upper, lo, hi, bins: int, margin: float = 0.05) -> acc.BinMap:
    """Bin maps centred on each quantity's median, scaled by its interquartile range, spanning
    its extremes (rows of ``counts`` are quantities; ``lower``/``upper`` their bins' ranges)."""
    q = counts.shape[0]
    center, scale = np.zeros(q), np.ones(q)
    start, inv_width = np.full(q, -0.5), np.full(q, float(bins))
    for j in range(q):
        if counts[j].sum() == 0 or not (np.isfinite(lo[j]) and np.isfinite(hi[j])):
            continue
        q25, q50, q75 = acc.quantiles_from_histogram(
            counts[j], np.array([0.25, 0.5, 0.75]), lower[j], upper[j]
        )[0]
        c = float(np.clip(q50, lo[j], hi[j]))
        s = (q75 - q25) / 2
        if not s > 0:
            s = max(hi[j] - lo[j], 0.0) / 100
        if not s > 0:
            s = max(abs(c), 1.0) * 1e-6
        y_lo, y_hi = acc.symlog((lo[j] - c) / s), acc.symlog((hi[j] - c) / s)
        pad = max(margin * (y_hi - y_lo), 1e-3)
        center[j], scale[j] = c, s
        start[j], inv_width[j] = y_lo - pad, bins / (y_hi - y_lo + 2 * pad)
    return acc.BinMap(center, scale, start, inv_width)


def _fit_from_pilot(state, T: int):
    coarse = _coarse_map(T + 1, MONTH_BINS)
    edges = acc.bin_edges(coarse, MONTH_BINS)
    lower, upper = acc.bin_ranges(edges, state["month_min"], state["month_max"])
    month_map = _refine(
        state["month_counts"], lower, upper, state["month_min"], state["month_max"], MONTH_BINS
    )
    s_lo = np.where(np.isfinite(state["scalar_lower"]), state["scalar_lower"], np.inf).min(axis=1)
    s_hi = np.where(np.isfinite(state["scalar_upper"]), state["scalar_upper"], -np.inf).max(axis=1)
    scalar_map = _refine(
        state["scalar_counts"],
        state["scalar_lower"],
        state["scalar_upper"],
        s_lo,
        s_hi,
        SCALAR_BINS,
    )
    knots = acc.quantiles_from_histogram(
        state["scalar_counts"][0],
        np.linspace(0, 1, KNOTS),
        state["scalar_lower"][0],
        state["scalar_upper"][0],
    )[0]
    knots = np.maximum.accumulate(np.nan_to_num(knots, nan=0.0, posinf=0.0, neginf=0.0))
    n = max(int(state["n_done"]), 1)
    shift = float(state["sums"][0] / n)
    return month_map, scalar_map, knots, (shift if math.isfinite(shift) else 0.0)


FIT_KEY = "fit_shift"  # the pilot's fit, stored in the state (and so in checkpoints)


def _pack_fit(month_map, scalar_map, knots, shift) -> dict[str, np.ndarray]:
    return {
        "fit_month_map": np.stack(month_map),
        "fit_scalar_map": np.stack(scalar_map),
        "fit_knots": np.asarray(knots, np.float64),
        FIT_KEY: np.asarray(shift, np.float64),
    }


def _unpack_fit(state) -> tuple[acc.BinMap, acc.BinMap, np.ndarray, float]:
    return (
        acc.BinMap(*state["fit_month_map"]),
        acc.BinMap(*state["fit_scalar_map"]),
        state["fit_knots"],
        float(state[FIT_KEY]),
    )


def _args(root, offset, limit, month_map, scalar_map, knots, shift) -> ChunkArgs:
    return ChunkArgs(
        jnp.array([offset], jnp.uint32),
        jnp.asarray(limit, jnp.uint32),
        acc.BinMap(*(jnp.asarray(a) for a in month_map)),
        acc.BinMap(*(jnp.asarray(a) for a in scalar_map)),
        jnp.asarray(knots),
        jnp.asarray(shift),
        jnp.asarray(root, jnp.uint32),
    )


def _progress_bar(progress: Progress, n_samples: int, n_chunks: int):
    from tqdm.auto import tqdm

    enabled = progress.enabled if is_primary() else False
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
    checkpoint: Any = None,
    progress: Progress = Progress(),
    target: Target = Target(),
    sensitivity: bool = True,
    devices: Sequence[Any] | None = None,
    fingerprint_text: str = "",
    sampling: str = "random",
) -> RunResult:
    """Simulate ``n_samples`` futures of ``model`` and return the folded aggregates."""
    if not 1 <= n_samples < 2**32:
        raise ValueError(f"n_samples must be in [1, 2**32), got {n_samples}")
    if precision not in ("float32", "float64"):
        raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
    if sampling not in SAMPLING_METHODS:
        raise ValueError(f"sampling must be one of {SAMPLING_METHODS}, got {sampling!r}")
    with jax.enable_x64(precision == "float64"):
        return _run(
            model, n_samples, int(seed), np.asarray(quantiles, np.float64), precision, chunking,
            checkpoint, progress, target, sensitivity, devices, fingerprint_text, sampling,
        )  # fmt: skip


def _run(model, n_samples, seed, levels, precision, chunking, checkpoint, progress, target,
         sensitivity, devices, fingerprint_text, sampling):  # fmt: skip
    t_start = time.perf_counter()
    dtype = jnp.float64 if precision == "float64" else jnp.float32
    devices = list(devices) if devices is not None else jax.devices()
    mesh = Mesh(np.array(devices), ("futures",))
    backend = devices[0].platform
    chunk = chunking.resolve(n_samples, len(devices), backend)
    check_every = None  # futures between two checks of the target
    if target.p_recoup_se is not None or target.npv_se is not None:
        unit = tile_size(backend) * len(devices)
        chunk, check_every = _target_chunk(chunk, unit, TARGET_TILES * tile_size(backend))
    if -(-n_samples // chunk) * chunk > 2**32:  # the last chunk's indices would wrap to 0
        raise ConfigError(
            f"n_samples={n_samples} in chunks of {chunk} futures would number futures past "
            f"2**32 - 1 (future indices are uint32). Fix: n_samples <= {2**32 // chunk * chunk}, "
            "or a chunk_size that divides 2**32."
        )
    T, k = model.horizon, len(model.inputs.paths)
    step, columns = make_step(model, dtype, mesh, chunk, sensitivity, sampling)
    root = seed_key(seed)
    n_columns = max(s.stop for s in columns.values())

    # a checkpoint of the same run holds its folded futures and the bins they were folded in;
    # another JAX or jaxlib (XLA) version, backend or device kind rounds the same arithmetic
    # differently (docs/architecture)
    fingerprint = {
        "config": fingerprint_text,
        "seed": str(seed),
        "n_samples": str(n_samples),
        "dtype": jnp.dtype(dtype).name,
        "layout": f"{acc.BLOCK} {n_columns} {MONTH_BINS} {SCALAR_BINS} {PILOT} {COARSE_RANGE}",
        "sampling": sampling,
        "backend": backend,
        "device kind": str(devices[0].device_kind),
        "JAX": jax.__version__,
        "jaxlib": jaxlib.__version__,
    }
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    state = checkpoint.load(digest, fingerprint) if checkpoint is not None else None
    resumed_from = int(state["n_done"]) if state is not None else 0

    stop_flag = checkpoint.stop_flag() if checkpoint is not None else nullcontext()
    bar = None

    def save_or_stop(done: int, due: bool) -> bool:
        """Save the checkpoint when ``due`` or after a signal, then stop on the signal (raise
        ``Interrupted``); whether it saved."""
        signum = agreed_signal(stop.raised)
        saved = bool(signum or due) and is_primary()
        if saved:
            checkpoint.save(state, digest, fingerprint)
        if signum:
            if bar is not None:
                bar.close()
            raise Interrupted(
                f"stopped by signal {signum} after {done} futures; checkpoint written: run the "
                "same config with the same output directory to resume",
                signum=signum,
            )
        return saved

    # from here a SIGINT/SIGTERM (with a checkpoint) stops the run at the next safe point:
    # after the compilation and pilot, or after a chunk, never inside XLA
    with stop_flag as stop:
        # pass 1: the pilot, with wide data-independent bins (skipped on resume: the fit is
        # kept in the checkpoint, so a job requeued on another machine bins like the first did)
        t_compile = time.perf_counter()
        if state is None or FIT_KEY not in state:
            pilot = fresh_state(T, k, n_columns)
            coarse = (_coarse_map(T + 1, MONTH_BINS), _coarse_map(len(SCALARS), SCALAR_BINS))
            for offset in range(0, PILOT, chunk):
                out = to_host(step(_args(root, offset, PILOT, *coarse, np.zeros(KNOTS), 0.0)))
                fold(pilot, out, min(chunk, PILOT - offset), 0.0, columns)
            fit = _fit_from_pilot(pilot, T)
            state = fresh_state(T, k, n_columns) if state is None else state
            state.update(_pack_fit(*fit))
        month_map, scalar_map, knots, shift = _unpack_fit(state)
        compile_time = time.perf_counter() - t_compile  # compile + pilot pass (0 on resume)
        if checkpoint is not None:
            save_or_stop(int(state["n_done"]), due=False)

        # pass 2: every future, from where the checkpoint left off
        offsets = list(range(resumed_from, n_samples, chunk))

        def at_check(done: int) -> bool:
            return check_every is not None and done % check_every == 0 and done < n_samples

        stopped_by_target = False
        if resumed_from and at_check(resumed_from) and target_reached(state, columns, target):
            offsets, stopped_by_target = [], True  # a rerun of a run that stopped at its target

        def launch(offset):
            return step(_args(root, offset, n_samples, month_map, scalar_map, knots, shift))

        n_chunks = 0
        last_save = time.perf_counter()
        t_main = time.perf_counter()
        bar = _progress_bar(progress, n_samples, len(offsets))
        bar.update(min(resumed_from, n_samples))
        pending = launch(offsets[0]) if offsets else None
        for j, offset in enumerate(offsets):
            nxt = launch(offsets[j + 1]) if j + 1 < len(offsets) else None  # keep devices busy
            fold(state, to_host(pending), min(chunk, n_samples - offset), shift, columns)
            pending = nxt
            bar.update(min(chunk, n_samples - offset))
            bar.set_postfix_str(f"chunk {j + 1}/{len(offsets)}", refresh=False)
            n_chunks += 1
            done = int(state["n_done"])
            if at_check(done) and target_reached(state, columns, target):
                stopped_by_target = True
                break
            now = time.perf_counter()
            if checkpoint is not None and save_or_stop(done, now - last_save >= checkpoint.every_s):
                last_save = now
    bar.close()
    main_time = time.perf_counter() - t_main
    close_trace(state, columns, shift)
    if checkpoint is not None and is_primary():
        checkpoint.save(state, digest, fingerprint)

    meta = {
        "chunk_size": chunk,
        "n_chunks": n_chunks,  # run by this call (not those before a resume)
        "devices": ", ".join(str(d) for d in devices),
        "device_count": len(devices),
        "process_count": jax.process_count(),
        "jax_backend": backend,
        "precision": precision,
        "sampling": sampling,
        "run_time_s": time.perf_counter() - t_start,
        "compile_time_s": compile_time,
        "simulate_time_s": main_time,
        "resumed_from": resumed_from,
        "stopped_by_target": int(stopped_by_target),
    }
    return RunResult(
        n=int(state["n_done"]),
        levels=levels,
        horizon=T,
        month_counts=state["month_counts"],
        month_edges=acc.bin_edges(month_map, MONTH_BINS),
        month_min=state["month_min"],
        month_max=state["month_max"],
        scalar_counts=state["scalar_counts"],
        scalar_lower=state["scalar_lower"],
        scalar_upper=state["scalar_upper"],
        event_counts=state["event_counts"],
        sums={name: state["sums"][sl] for name, sl in columns.items()},
        shift=shift,
        inputs=tuple(model.inputs.paths),
        decile_counts=state["decile_counts"],
        decile_recouped=state["decile_recouped"],
        convergence={
            "n": state["conv_n"],
            "p_recoup": state["conv_p"],
            "p_recoup_se": state["conv_p_se"],
            "npv_mean": state["conv_npv"],
            "npv_mean_se": state["conv_npv_se"],
        },
        meta=meta,
    )
