"""Counter-based random streams: draw ``(seed, stream name, future index, counter)`` → numbers.

Every random number in the engine is a pure function of the run seed, a stream name (an input's
config path such as ``fleet.gpu_price`` or a process name such as ``process/price``), the global
index of the future and a small counter (e.g. the month). Nothing depends on how futures are
grouped into chunks or spread over devices, and adding a stream never shifts another stream's
numbers. The generator is JAX's threefry2x32 block cipher, applied directly to the counter pair
``(index, counter)``: one call yields 64 random bits.
"""

from __future__ import annotations

import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

__all__ = ["Seed", "seed_key", "stream_key", "threefry2x32", "random_bits", "uniforms", "normals"]

_SEED_SALT = np.uint32(0x6D63_6530)  # "mce0"

#: A run seed: the integer, or its root key ``seed_key(seed)``. Given as an array (a runtime
#: argument of a jitted function), one compiled step serves every seed.
Seed = int | jax.Array | np.ndarray


def seed_key(seed: int) -> np.ndarray:
    """The root key (uint32[2]) of an integer ``seed`` in ``[0, 2**64)``: its two halves."""
    if isinstance(seed, bool) or int(seed) != seed or not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    seed = int(seed)
    return np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)


def stream_key(seed: Seed, name: str) -> jax.Array:
    """The threefry key pair (uint32[2]) of stream ``name`` under run ``seed``.

    Derived by encrypting ``(crc32(name), salt)`` under the seed's root key, so keys of
    different names are unrelated and independent of which other streams exist.
    """
    root = jnp.asarray(seed if np.ndim(seed) == 1 else seed_key(seed), jnp.uint32)
    tag = np.uint32(zlib.crc32(name.encode()))
    return threefry_2x32(root, jnp.array([tag, _SEED_SALT], dtype=jnp.uint32))


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << jnp.uint32(r)) | (x >> jnp.uint32(32 - r))


def threefry2x32(key: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), written out as elementwise ops.

    Bit-identical to ``jax.extend.random.threefry_2x32`` (tested), but unrolled so that XLA fuses
    it with the arithmetic around it; JAX's own CPU lowering is a rolled loop that cannot fuse
    inside the month scan and costs several times more there.
    """
    k0, k1 = key[0], key[1]
    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(0x1BD11BDA))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + jnp.uint32(group + 1)
    return x0, x1


def random_bits(
    key: jax.Array, index: jax.Array, counter: int | jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Two uint32 words for each ``(index, counter)`` pair (broadcast against each other)."""
    index, counter = jnp.broadcast_arrays(
        jnp.asarray(index, jnp.uint32), jnp.asarray(counter, jnp.uint32)
    )
    return threefry2x32(jnp.asarray(key, jnp.uint32), index, counter)


def _open_unit_f32(word: jax.Array) -> jax.Array:
    # 23 random mantissa bits, centred in their cell: values in (0, 1), never 0 or 1.
    return ((word >> 9).astype(jnp.float32) + 0.5) * jnp.float32(2.0**-23)


def _open_unit_f64(hi: jax.Array, lo: jax.Array) -> jax.Array:
    # 52 random bits from two words, centred in their cell: (0, 1) open. The +0.5 needs a 53rd
    # bit of precision, so 53 random bits would round the largest value up to exactly 1.
    top = (hi >> 6).astype(jnp.float64)  # 26 bits
    bottom = (lo >> 6).astype(jnp.float64)  # 26 bits
    return (top * 2.0**26 + bottom + 0.5) * 2.0**-52


def uniforms(
    key: jax.Array, index: jax.Array, counter: int, count: int, dtype=jnp.float32
) -> list[jax.Array]:
    """``count`` independent uniforms on the open interval (0, 1) per future index.

    float32 takes 32 bits per value (two values per threefry call); float64 takes 64. Values use
    the counters ``counter * ceil(count * bits / 64) + c``, so callers give each draw site its own
    ``counter`` (e.g. the month) and the same ``count`` every time.
    """
    dtype = jnp.dtype(dtype)
    out: list[jax.Array] = []
    if dtype == jnp.float32:
        calls = (count + 1) // 2
        for c in range(calls):
            w0, w1 = random_bits(key, index, counter * calls + c)
            out += [_open_unit_f32(w0), _open_unit_f32(w1)]
        return out[:count]
    if dtype == jnp.float64:
        for c in range(count):
            w0, w1 = random_bits(key, index, counter * count + c)
            out.append(_open_unit_f64(w0, w1))
        return out
    raise TypeError(f"uniforms: dtype must be float32 or float64, got {dtype}")


def normals(
    key: jax.Array, index: jax.Array, counter: int, count: int, dtype=jnp.float32
) -> list[jax.Array]:
    """``count`` independent standard normals per future index (inverse-CDF of :func:`uniforms`)."""
    # sqrt(2) erfinv(2u - 1): cheaper than ndtri and exact at the grid of u values used
    root2 = math.sqrt(2.0)
    return [root2 * jax.lax.erf_inv(2 * u - 1) for u in uniforms(key, index, counter, count, dtype)]
