"""mcengine.random: the unrolled threefry against the published test vectors and JAX's own,
and the seed given as an integer or as its root key (a runtime argument) drawing the same."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32

from mcengine.random import normals, seed_key, stream_key, threefry2x32

# Threefry-2x32, 20 rounds: known-answer vectors of Random123 (Salmon et al. 2011), as
# (key, counter, output)
KNOWN_ANSWERS = [
    ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key, counter, expected", KNOWN_ANSWERS)
def test_threefry_known_answers(key, counter, expected):
    x0, x1 = (jnp.array([c], jnp.uint32) for c in counter)
    out = threefry2x32(jnp.array(key, jnp.uint32), x0, x1)
    assert (int(out[0][0]), int(out[1][0])) == expected


def test_threefry_is_bit_identical_to_jax():
    rng = np.random.default_rng(0)
    key = rng.integers(0, 2**32, 2, dtype=np.uint32)
    x0, x1 = rng.integers(0, 2**32, (2, 4096), dtype=np.uint32)
    mine = jax.jit(threefry2x32)(key, x0, x1)
    theirs = threefry_2x32(key, np.concatenate([x0, x1]))  # JAX splits the count in halves
    np.testing.assert_array_equal(np.concatenate(mine), theirs)


@pytest.mark.parametrize("seed", [0, 7, 2**32 + 5, 2**64 - 1])
def test_a_seed_and_its_root_key_draw_the_same(seed):
    index = jnp.arange(1000, dtype=jnp.uint32)

    def draw(s):
        return normals(stream_key(s, "fleet.gpu_price"), index, 3, 2)

    as_int = draw(seed)
    traced = jax.jit(draw)(seed_key(seed))  # the root key as a runtime argument
    for a, b in zip(as_int, traced, strict=True):
        np.testing.assert_array_equal(a, b)
    assert seed_key(seed).tolist() == [seed >> 32, seed & 0xFFFFFFFF]


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, True])
def test_seed_key_rejects_what_is_not_a_64_bit_seed(bad):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
        seed_key(bad)
