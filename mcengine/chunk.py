"""The compiled per-chunk computation: simulate a chunk of futures and reduce it on device.

One executable per run serves both the pilot pass and the main pass: the histogram maps, the
NPV shift and the rank-transform knots are runtime arguments, not constants. The chunk is
spread over a 1-D device mesh (``shard_map``); counts are ``psum``-ed, extremes ``pmin``/
``pmax``-ed, and the per-block sums stay sharded in global block order.

Each device runs its share as a loop over tiles of a fixed size (``tile_size``): XLA's CPU
emitters compile the same arithmetic differently for different array sizes (their choice of
fused multiply-adds changes last bits), so a tile shape that never changes is what makes results
bit-identical for every chunk size and device count.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from . import accumulators as acc
from .model.kernel import COMPONENTS, simulate
from .model.spec import ModelSpec
from .sampling import REPLICATES

__all__ = [
    "MONTH_BINS",
    "SCALAR_BINS",
    "SCALARS",
    "DECILES",
    "ChunkArgs",
    "sum_columns",
    "tile_size",
    "make_step",
]

MONTH_BINS = 4096
SCALAR_BINS = 16384
SCALARS = ("npv", "gross_margin", "spend_to_revenue")
DECILES = 10
# an input is in decile q when its normal score passes q of these: ndtr(score) >= q / 10 without
# an erf per future (XLA:CPU would recompute it in every fusion that reads the deciles)
DECILE_EDGES = tuple(NormalDist().inv_cdf(q / DECILES) for q in range(1, DECILES))
AXIS = "futures"
OUTPUTS = (
    "month_counts", "month_min", "month_max", "scalar_counts", "scalar_lower", "scalar_upper",
    "event_counts", "decile_counts", "decile_recouped", "sums",
)  # fmt: skip


class ChunkArgs(NamedTuple):
    """Runtime arguments of the step: which futures, and how to bin and centre them."""

    offset: jax.Array  # uint32[1]: global index of the chunk's first future
    limit: jax.Array  # uint32[]: futures with index >= limit are padding
    month_map: acc.BinMap  # arrays of shape (T+1,)
    scalar_map: acc.BinMap  # arrays of shape (3,)
    knots: jax.Array  # (1025,) NPV quantiles: the rank transform for Spearman sums
    shift: jax.Array  # scalar subtracted from NPV before summing (numerical stability)
    seed: jax.Array  # uint32[2]: the run's root key (random.seed_key), so seeds share a compile


def tile_size(backend: str) -> int:
    """Futures per device per pass of the kernel: small enough for a CPU core's cache, large
    enough to fill a GPU (benchmarks/scaling.py sweeps it)."""
    return (1 << 13) if backend == "cpu" else (1 << 21)


_MERGE = {
    "month_min": jnp.minimum, "scalar_lower": jnp.minimum,
    "month_max": jnp.maximum, "scalar_upper": jnp.maximum,
}  # fmt: skip


def sum_columns(
    k: int, sensitivity: bool, paired: bool = False, replicates: int = 0
) -> dict[str, slice]:
    """Column layout of the per-block sums.

    Always: NPV (less the run's shift) and its square, the recouped indicator, and the present
    value of each component; with these per block the engine can state the estimates after any
    whole number of blocks (the convergence trace). ``paired`` (antithetic sampling) adds the
    sums over pairs ``(2j, 2j + 1)`` of the pair means of NPV and of the recouped indicator and
    of their squares, and the number of pairs;
    ``replicates`` (Sobol' sampling) adds NPV, recouped and count per replicate ``i % replicates``.
    Pairs and replicates are independent where the futures are not, so these give the standard
    errors."""
    layout = [("npv", 1), ("npv2", 1), ("recouped", 1), ("pv", len(COMPONENTS))]
    if sensitivity and k:
        layout += [("decile_npv", k * DECILES), ("u", k), ("ug", k), ("uu", k), ("g", 1), ("gg", 1)]
    if paired:
        layout += [("pair_npv", 1), ("pair_npv2", 1), ("pair_p", 1), ("pair_p2", 1), ("pairs", 1)]
    if replicates:
        layout += [("rep_npv", replicates), ("rep_p", replicates), ("rep_n", replicates)]
    out, start = {}, 0
    for name, width in layout:
        out[name] = slice(start, start + width)
        start += width
    return out


def _pair_columns(npv: jax.Array, recouped: jax.Array, weight: jax.Array) -> jax.Array:
    """(n, 5): pair mean of NPV and of the recouped indicator, their squares, and 1 per pair
    with a future in the run, on the first row of each pair ``(2j, 2j + 1)`` (0 on the second),
    so that the block sums add them up pair by pair. Inputs are already 0 outside the run."""
    count = weight.reshape(-1, 2).sum(axis=1)
    safe = jnp.maximum(count, 1)
    q = npv.reshape(-1, 2).sum(axis=1) / safe
    p = recouped.reshape(-1, 2).sum(axis=1) / safe
    per_pair = jnp.stack([q, q * q, p, p * p, (count > 0).astype(q.dtype)], axis=1)
    return jnp.stack([per_pair, jnp.zeros_like(per_pair)], axis=1).reshape(-1, 5)


def _local_step(model: ModelSpec, dtype, local_size: int, tile: int, columns, sampling: str):
    T = model.horizon
    k = len(model.inputs.paths)

    def local(args: ChunkArgs) -> dict[str, Any]:
        dev = jax.lax.axis_index(AXIS).astype(jnp.uint32)
        first = args.offset[0] + dev * jnp.uint32(local_size)

        def run_tile(merged, start):
            out = tile_aggregates(args, start + jnp.arange(tile, dtype=jnp.uint32))
            sums = out.pop("sums")
            out = {name: _MERGE.get(name, jnp.add)(merged[name], x) for name, x in out.items()}
            return out, sums

        def skip_tile(merged, start):  # every future of the tile is padding
            return merged, jnp.zeros(sums_shape.shape, sums_shape.dtype)

        def one_tile(merged, t):
            start = first + t * jnp.uint32(tile)
            # tiles past ``limit`` (the pilot pass, the last chunk) cost nothing
            return jax.lax.cond(start < args.limit, run_tile, skip_tile, merged, start)

        tiles = jnp.arange(local_size // tile, dtype=jnp.uint32)
        shapes = jax.eval_shape(tile_aggregates, args, jnp.zeros(tile, jnp.uint32))
        sums_shape = shapes.pop("sums")
        empty = {
            name: jnp.full(a.shape, jnp.inf if _MERGE.get(name) is jnp.minimum else
                           -jnp.inf if name in _MERGE else 0, a.dtype)
            for name, a in shapes.items()
        }  # fmt: skip
        merged, sums = jax.lax.scan(one_tile, empty, tiles)
        psum = lambda x: jax.lax.psum(x, AXIS)  # noqa: E731
        reduce = {jnp.minimum: lambda x: jax.lax.pmin(x, AXIS),
                  jnp.maximum: lambda x: jax.lax.pmax(x, AXIS)}  # fmt: skip
        out = {name: reduce.get(_MERGE.get(name), psum)(x) for name, x in merged.items()}
        out["sums"] = sums.reshape(-1, sums.shape[-1])
        return out

    def tile_aggregates(args: ChunkArgs, index: jax.Array) -> dict[str, Any]:
        valid = index < args.limit
        month_map = acc.BinMap(*(jnp.asarray(a, dtype) for a in args.month_map))
        scalar_map = acc.BinMap(*(jnp.asarray(a, dtype) for a in args.scalar_map))

        def month_stats(m, cum):
            idx = acc.bin_index(cum, month_map, m, MONTH_BINS)
            return (
                acc.histogram(idx, valid, MONTH_BINS),
                jnp.min(jnp.where(valid, cum, jnp.inf)),
                jnp.max(jnp.where(valid, cum, -jnp.inf)),
            )

        fut, (mh, mlo, mhi) = simulate(
            model, args.seed, index, dtype, month_stats, sampling=sampling
        )
        h0, lo0, hi0 = month_stats(0, fut.month0)

        scalar_counts, scalar_lower, scalar_upper = [], [], []
        for j, x in enumerate((fut.npv, fut.gross_margin, fut.spend_to_revenue)):
            idx = jnp.where(valid, acc.bin_index(x, scalar_map, j, SCALAR_BINS), SCALAR_BINS)
            scalar_counts.append(acc.histogram(idx, valid, SCALAR_BINS))
            scalar_lower.append(jnp.full(SCALAR_BINS + 1, jnp.inf, dtype).at[idx].min(x)[:-1])
            scalar_upper.append(jnp.full(SCALAR_BINS + 1, -jnp.inf, dtype).at[idx].max(x)[:-1])
        events = [acc.histogram(e, valid, T + 2) for e in (fut.breakeven, fut.payback)]

        w = valid.astype(dtype)
        dev_npv = (fut.npv - args.shift.astype(dtype)) * w
        recouped_w = (fut.breakeven <= T).astype(dtype) * w
        cols = [dev_npv[:, None], (dev_npv * dev_npv)[:, None], recouped_w[:, None]]
        cols.append(fut.pv * w[:, None])
        decile_counts = decile_recouped = jnp.zeros((k, DECILES), jnp.int32)
        if "u" in columns:
            # (n, k): each input's own CDF level. erf alone (not ndtr's erf/erfc branches) is
            # accurate to ~1e-7 absolute, all that a rank needs
            u = 0.5 + 0.5 * jax.lax.erf(fut.scores.T * jnp.asarray(math.sqrt(0.5), dtype))
            edges = jnp.asarray(DECILE_EDGES, dtype)
            dec = jnp.sum(fut.scores.T[:, :, None] >= edges, axis=-1, dtype=jnp.int32)
            onehot = (dec[:, :, None] == jnp.arange(DECILES)).astype(dtype)  # (n, k, 10)
            cols.append((onehot * dev_npv[:, None, None]).reshape(-1, k * DECILES))
            flat = (dec + DECILES * jnp.arange(k, dtype=jnp.int32)).reshape(-1)
            in_run = jnp.broadcast_to(valid[:, None], dec.shape).reshape(-1)
            recouped = jnp.broadcast_to((fut.breakeven <= T)[:, None], dec.shape).reshape(-1)
            decile_counts = acc.histogram(flat, in_run, k * DECILES).reshape(k, DECILES)
            decile_recouped = acc.histogram(flat, in_run & recouped, k * DECILES)
            decile_recouped = decile_recouped.reshape(k, DECILES)
            levels = jnp.linspace(0, 1, args.knots.shape[0], dtype=dtype)
            g = jnp.interp(fut.npv, args.knots.astype(dtype), levels)
            uw = u * w[:, None]
            gw = g * w
            cols += [uw, uw * g[:, None], uw * u, gw[:, None], (gw * g)[:, None]]
        if "pairs" in columns:
            cols.append(_pair_columns(dev_npv, recouped_w, w))
        if "rep_n" in columns:
            replicate = index % jnp.uint32(REPLICATES)
            rows = (replicate[:, None] == jnp.arange(REPLICATES, dtype=jnp.uint32)).astype(dtype)
            cols += [rows * dev_npv[:, None], rows * recouped_w[:, None], rows * w[:, None]]

        return {
            "month_counts": jnp.concatenate([h0[None], mh]),
            "month_min": jnp.concatenate([lo0[None], mlo]),
            "month_max": jnp.concatenate([hi0[None], mhi]),
            "scalar_counts": jnp.stack(scalar_counts),
            "scalar_lower": jnp.stack(scalar_lower),
            "scalar_upper": jnp.stack(scalar_upper),
            "event_counts": jnp.stack(events),
            "decile_counts": decile_counts,
            "decile_recouped": decile_recouped,
            "sums": acc.block_sums(jnp.concatenate(cols, axis=1)),
        }

    return local


def make_step(
    model: ModelSpec,
    dtype,
    mesh: Mesh,
    chunk: int,
    sensitivity: bool,
    sampling: str = "random",
    tile: int | None = None,
):
    """The jitted step ``ChunkArgs -> dict of aggregates`` and the layout of its sum columns.

    The seed is a runtime argument (``ChunkArgs.seed``): the step compiles once for every seed.
    ``chunk`` must be a multiple of ``tile`` (default ``tile_size`` of the mesh's backend) times
    the number of devices."""
    columns = sum_columns(
        len(model.inputs.paths),
        sensitivity,
        paired=sampling == "antithetic",
        replicates=REPLICATES if sampling == "sobol" else 0,
    )
    local_size = chunk // mesh.devices.size
    tile = tile_size(mesh.devices.flat[0].platform) if tile is None else tile
    if local_size % tile:
        raise ValueError(f"chunk {chunk} is not a multiple of tile {tile} x {mesh.devices.size}")
    if tile % acc.BLOCK:  # block sums (and so antithetic pairs) must not straddle tiles
        raise ValueError(f"tile {tile} is not a multiple of the sum block {acc.BLOCK}")
    local = _local_step(model, dtype, local_size, tile, columns, sampling)
    replicated = PartitionSpec()
    out_specs = {name: PartitionSpec(AXIS) if name == "sums" else replicated for name in OUTPUTS}
    mapped = jax.shard_map(
        local, mesh=mesh, in_specs=(replicated,), out_specs=out_specs, check_vma=False
    )
    return jax.jit(mapped), columns
