"""The month loop of the kernel: months in blocks that share their random draws, blocks in epochs
that share a replacement window.

Model-agnostic: ``month_loop`` runs any ``step(carry, (month, shocks, leaving))`` and knows
nothing of the economics in ``kernel.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["MAX_BLOCK", "block_length", "month_loop", "pack", "unpack"]

MAX_BLOCK = 12  # months whose random shocks are drawn together


def block_length(span: int) -> int:
    """Months per block: the largest divisor of ``span`` up to ``MAX_BLOCK``."""
    return max(d for d in range(1, min(MAX_BLOCK, span) + 1) if span % d == 0)


def pack(a: jax.Array | None, b: jax.Array | None) -> jax.Array | None:
    """Two real arrays as one complex array, so that XLA computes them in one fusion."""
    if a is None or b is None:
        return b if a is None else a
    return jax.lax.complex(a, b)


def unpack(packed: jax.Array | None, a: bool, b: bool) -> tuple[Any, Any]:
    """The inverse of ``pack`` given which of the two arrays were present."""
    if a and b:
        return jnp.real(packed), jnp.imag(packed)
    return (packed, None) if a else (None, packed)


def month_loop(
    step: Callable,
    draw: Callable[[jax.Array], Any],
    carry0: dict[str, Any],
    T: int,
    epoch: int | None,
    dtype,
) -> tuple[dict[str, Any], Any]:
    """Run ``step`` over months 1..T; returns the final carry and the stacked observations.

    ``step(carry, (month, shocks, leaving))`` returns ``(carry, (observation, bought))``.

    Months run in blocks of up to ``MAX_BLOCK``: the random shocks of a whole block are drawn by
    ``draw(months)`` before its months run. Drawn inside the month step, each shock's cipher was
    recomputed by every fusion that used it (XLA:CPU has no multi-output fusion); drawn per
    block, each is computed once and read back from cache.

    Replacement depreciation needs what was bought ``epoch`` months ago (``leaving``). Keeping a
    ring buffer in the carry makes XLA copy it every month, so months run in epochs of that
    length: each epoch's ``bought`` outputs are the inner scans' output and the next epoch's
    read-only input. With ``epoch=None`` the whole horizon is one epoch and nothing leaves.
    """
    span = T if epoch is None else epoch
    n_epochs = -(-T // span)
    B = block_length(span)
    n_blocks = span // B
    months = jnp.arange(1, n_epochs * span + 1, dtype=jnp.int32)
    months = months.reshape(n_epochs, n_blocks, B)

    def run_block(state, x):
        block_months, leaving = x
        xs = (block_months, draw(block_months), leaving)
        return jax.lax.scan(step, state, xs)

    def run_epoch(carry, epoch_months):
        state, bought_before = carry
        state, (observed, bought) = jax.lax.scan(run_block, state, (epoch_months, bought_before))
        return (state, bought if epoch is not None else bought_before), observed

    none_bought = jnp.zeros((n_blocks, B), dtype)  # read as "nothing leaves" when no ring
    if epoch is not None:
        none_bought = jnp.zeros((n_blocks, B) + carry0["cum"].shape, dtype)
    (final, _), observed = jax.lax.scan(run_epoch, (carry0, none_bought), months)
    flat = jax.tree_util.tree_map(lambda y: y.reshape((-1,) + y.shape[3:])[:T], observed)
    return final, flat
