"""Sampling designs for the static (once-per-future) inputs: random, antithetic, Sobol'.

``raw_normal_scores(paths, seed, index, method)`` returns the *uncorrelated* standard-normal scores
``(k, n)`` of the ``k`` uncertain inputs for the global future indices ``index``; the Gaussian
copula is applied afterwards by ``JointInputs.normal_scores(..., raw=...)``. Every method is
index-addressable (future ``i`` gets the same scores whatever the chunk size or device count):

- ``random``: ``normals(stream_key(seed, path), i)``, exactly what ``JointInputs`` draws itself.
- ``antithetic``: futures ``2j`` and ``2j + 1`` get ``+z`` and ``-z`` with
  ``z = normals(stream_key(seed, path), j)``. Monthly shocks are not mirrored (they stay
  independent per future), so only the variance due to the static inputs is reduced.
- ``sobol``: randomised QMC in ``REPLICATES`` independent replicates, interleaved: future ``i``
  is point ``i // REPLICATES`` of the Sobol' sequence (direction numbers of Joe & Kuo as tabulated
  in ``scipy.stats.qmc.Sobol``, gray-code order, 32 bits), computed from the index alone, under
  the *random digital shift* of replicate ``i % REPLICATES`` (XOR with one uniform uint32 per
  input and replicate, drawn from the seed). A digital shift is the only scrambling (no Owen or
  linear matrix scrambling): each point is marginally uniform, so estimates are unbiased over
  seeds, and the replicates are independent of each other.

Under ``antithetic`` and ``sobol`` the futures are no longer independent. The engine's standard
errors come from the spread of independent units instead: the pair means for ``antithetic``, the
replicate means for ``sobol`` (docs/sensitivity.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .random import Seed, normals, random_bits, stream_key

__all__ = [
    "METHODS",
    "REPLICATES",
    "raw_normal_scores",
    "sobol_points_uint32",
    "direction_numbers",
]

METHODS = ("random", "antithetic", "sobol")
BITS = 32
# independently shifted Sobol' replicates: their spread gives the standard error (15 degrees of
# freedom); a power of two, so that a power-of-two run gives each replicate a power-of-two net
REPLICATES = 16


@functools.lru_cache(maxsize=16)
def direction_numbers(k: int) -> np.ndarray:
    """Sobol' direction numbers ``(k, 32)`` uint32 (bit 31 = most significant), from SciPy's
    Joe-Kuo table: ``x_i = XOR_b V[:, b] * bit_b(gray(i))``."""
    from scipy.stats import qmc

    if k == 0:
        return np.zeros((0, BITS), np.uint32)
    gen = qmc.Sobol(d=k, scramble=False, bits=BITS)
    sv = getattr(gen, "_sv", None)
    if sv is None or np.shape(sv) != (k, BITS):  # pragma: no cover - SciPy internals changed
        raise RuntimeError(
            "scipy.stats.qmc.Sobol no longer exposes its direction numbers (_sv); "
            "mcengine.sampling needs updating for this SciPy version"
        )
    return np.asarray(sv, np.uint32)


def sobol_points_uint32(index: jax.Array, k: int) -> jax.Array:
    """Unshifted Sobol' points ``(k, n)`` as uint32 (point ``i`` / 2**32), index-addressable."""
    index = jnp.asarray(index, jnp.uint32)
    gray = index ^ (index >> jnp.uint32(1))
    v = jnp.asarray(direction_numbers(k))  # (k, 32)
    x = jnp.zeros((k, *index.shape), jnp.uint32)
    for b in range(BITS):
        bit = ((gray >> jnp.uint32(b)) & jnp.uint32(1)).astype(bool)
        x = x ^ jnp.where(bit[None], v[:, b].reshape((k,) + (1,) * index.ndim), jnp.uint32(0))
    return x


def _to_normal(words: jax.Array, dtype) -> jax.Array:
    """uint32 → open (0, 1) cell centres → standard normal scores (as in ``mcengine.random``)."""
    if jnp.dtype(dtype) == jnp.float32:
        u = ((words >> jnp.uint32(9)).astype(jnp.float32) + 0.5) * jnp.float32(2.0**-23)
    else:
        u = (words.astype(jnp.float64) + 0.5) * 2.0**-32
    return math.sqrt(2.0) * jax.lax.erf_inv(2 * u - 1)


def raw_normal_scores(
    paths: Sequence[str],
    seed: Seed,
    index: jax.Array,
    method: str = "random",
    dtype=jnp.float32,
) -> jax.Array:
    """Uncorrelated standard-normal scores ``(len(paths), *index.shape)`` of the inputs ``paths``
    (in this order) for the global future indices ``index`` under sampling ``method``."""
    index = jnp.asarray(index, jnp.uint32)
    k = len(paths)
    if method not in METHODS:
        raise ValueError(f"sampling must be one of {', '.join(METHODS)}, got {method!r}")
    if k == 0:
        return jnp.zeros((0, *index.shape), dtype)
    if method == "random":
        raw = [normals(stream_key(seed, p), index, 0, 1, dtype)[0] for p in paths]
        return jnp.stack(raw)
    if method == "antithetic":
        pair = index >> jnp.uint32(1)
        sign = (1 - 2 * (index & jnp.uint32(1)).astype(jnp.int32)).astype(dtype)
        raw = [normals(stream_key(seed, p), pair, 0, 1, dtype)[0] for p in paths]
        return jnp.stack(raw) * sign[None]
    # sobol: a digital shift per input and replicate, from the input's own stream
    replicate = index % jnp.uint32(REPLICATES)
    shift = jnp.stack(
        [random_bits(stream_key(seed, f"sampling/sobol-shift/{p}"), replicate, 0)[0] for p in paths]
    )
    words = sobol_points_uint32(index // jnp.uint32(REPLICATES), k) ^ shift
    return _to_normal(words, dtype)
