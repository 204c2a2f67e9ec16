"""The monthly Poisson arrival draw (inverse CDF, term by term) against scipy.stats.poisson,
up to the largest rate a config admits (600 a year = 50 a month)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import mcengine
from mcengine.config import to_plain
from mcengine.model.kernel import _poisson
from mcengine.model.params import MAX_RATE
from mcengine.model.spec import ModelSpec


@pytest.mark.parametrize("annual", [0.5, 6.0, 60.0, MAX_RATE])
def test_counts_follow_the_poisson_law_in_float32(annual):
    lam = annual / 12
    cfg = to_plain(mcengine.load_config(overrides=[f"churn.release_rate={annual}"]))
    terms = ModelSpec.from_config(cfg).poisson_terms["release"]
    # every float32 uniform cell centre of a 2^22 grid: the counts' exact distribution
    u = (jnp.arange(1 << 22, dtype=jnp.float32) + 0.5) / (1 << 22)
    counts = np.asarray(jax.jit(lambda u: _poisson(u, jnp.float32(lam), terms))(u), np.int64)
    got = np.bincount(counts) / counts.size
    want = stats.poisson.pmf(np.arange(got.size), lam)
    # each probability within the grid resolution plus float32 rounding of the CDF sum
    np.testing.assert_allclose(got, want, atol=2.0**-22 * 4 + 1e-6)
    assert stats.poisson.sf(counts.max(), lam) < 1e-6  # the tail is not cut short
