"""Antithetic and randomised-QMC (digitally shifted Sobol') sampling of the static inputs:
index-addressable (chunking does not matter) and unbiased."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from scipy import stats
from scipy.stats import qmc
from sensitivity_scenarios import config, spec

from mcengine.api import simulate
from mcengine.config import to_plain
from mcengine.model.kernel import simulate as kernel_simulate
from mcengine.model.spec import ModelSpec
from mcengine.sampling import REPLICATES, raw_normal_scores, sobol_points_uint32

PATHS = ("a.x", "b.y", "c.z")
# a scenario with monthly shocks (price volatility) and a correlated pair of inputs
UNCERTAIN = {
    "fleet.gpu_price": spec("uniform", low=30_000, high=44_000),
    "market.price0": spec("pert", min=1.7, mode=2.4, max=3.0),
    "demand.utilization0": spec("pert", min=0.45, mode=0.65, max=0.85),
    "market.price_trend": spec("triangular", min=-0.4, mode=-0.2, max=0.0),
}
OVERRIDES = {"market.price_volatility": 0.25}
CORR = "[[market.price0,demand.utilization0,-0.3]]"
BATCH = 1 << 12


def test_sobol_points_match_scipy():
    n = 256
    ref = qmc.Sobol(d=5, scramble=False, bits=32).random(n)
    got = np.asarray(sobol_points_uint32(jnp.arange(n, dtype=jnp.uint32), 5)).T / 2.0**32
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("method", ["random", "antithetic", "sobol"])
def test_scores_are_index_addressable(method):
    index = jnp.arange(1000, dtype=jnp.uint32)
    full = np.asarray(raw_normal_scores(PATHS, 7, index, method))
    part = np.asarray(raw_normal_scores(PATHS, 7, index[333:777], method))
    np.testing.assert_array_equal(full[:, 333:777], part)
    assert np.all(np.isfinite(full))


def test_antithetic_pairs_and_random_matches_joint_inputs():
    index = jnp.arange(64, dtype=jnp.uint32)
    z = np.asarray(raw_normal_scores(PATHS, 3, index, "antithetic"))
    np.testing.assert_array_equal(z[:, 1::2], -z[:, 0::2])
    # "random" is what JointInputs draws by itself
    model = ModelSpec.from_config(to_plain(config(UNCERTAIN)))
    paths = model.inputs.paths
    np.testing.assert_array_equal(
        np.asarray(model.inputs.normal_scores(3, index)),
        np.asarray(model.inputs.normal_scores(3, index, raw=raw_normal_scores(paths, 3, index))),
    )


def test_sobol_shift_depends_on_seed_and_is_uniform():
    index = jnp.arange(1 << 10, dtype=jnp.uint32)
    z0 = np.asarray(raw_normal_scores(PATHS, 0, index, "sobol"))
    z1 = np.asarray(raw_normal_scores(PATHS, 1, index, "sobol"))
    assert not np.array_equal(z0, z1)
    u = np.asarray(jax.scipy.special.ndtr(z0), np.float64)
    for r in range(REPLICATES):
        # replicate r (futures r, r + 16, ...): a digitally shifted (0, m, d)-net of 64 points,
        # so exactly 64 / 16 = 4 points in each 1/16 slice per input
        mine = u[:, r::REPLICATES]
        counts = np.stack([np.bincount((mine[i] * 16).astype(int), minlength=16) for i in range(3)])
        assert np.all(counts == 4), r


def test_sobol_replicates_are_the_sequence_under_their_own_shift():
    """Future i is Sobol' point i // 16 XOR the shift of replicate i % 16; shifts differ."""
    with jax.enable_x64(True):  # float64 scores keep all 32 bits of each point
        index = jnp.arange(1 << 8, dtype=jnp.uint32)
        z = np.asarray(raw_normal_scores(PATHS, 5, index, "sobol", jnp.float64))
    cells = np.floor(stats.norm.cdf(z) * 2.0**32).astype(np.uint64)
    points = np.asarray(sobol_points_uint32(jnp.arange(16, dtype=jnp.uint32), 3), np.uint64)
    shifts = cells[:, :REPLICATES] ^ points[:, :1]  # point 0 is 0: the shift itself
    for i in range(index.size):
        r, j = i % REPLICATES, i // REPLICATES
        np.testing.assert_array_equal(cells[:, i], points[:, j] ^ shifts[:, r], err_msg=str(i))
    assert len({tuple(col) for col in shifts.T}) == REPLICATES


@pytest.fixture(scope="module")
def evaluator():
    """``run(method, seed, n)``: NPV of futures 0..n-1 with the inputs drawn under ``method`` and
    ``seed``. The scenario has no monthly shocks (they would come from seed 0 in every run), so
    runs with different seeds are independent and their spread is the whole error."""
    cfg = config(UNCERTAIN, correlations=CORR)
    model = ModelSpec.from_config(to_plain(cfg))

    @jax.jit
    def npv(raw, index):
        scores = model.inputs.normal_scores(0, index, raw=raw)
        fut, _ = kernel_simulate(model, 0, index, jnp.float32, lambda m, c: None, scores=scores)
        return fut.npv

    def run(method: str, seed: int, n: int) -> np.ndarray:
        out = []
        for start in range(0, n, BATCH):
            index = jnp.arange(start, start + BATCH, dtype=jnp.uint32)
            raw = raw_normal_scores(model.inputs.paths, seed, index, method)
            out.append(np.asarray(npv(raw, index), np.float64))
        return np.concatenate(out)

    return run


def test_estimates_unbiased(evaluator):
    ref = evaluator("random", 100, 1 << 16)
    ref_mean, ref_se = ref.mean(), ref.std(ddof=1) / math.sqrt(ref.size)

    anti = evaluator("antithetic", 101, 1 << 14)
    pairs = anti.reshape(-1, 2).mean(axis=1)  # pair means are independent
    anti_se = pairs.std(ddof=1) / math.sqrt(pairs.size)
    assert abs(anti.mean() - ref_mean) <= 4 * math.hypot(ref_se, anti_se)

    # randomised QMC: independent digital shifts (seeds) give independent unbiased estimates
    reps = np.array([evaluator("sobol", 200 + s, 1 << 12).mean() for s in range(8)])
    rqmc_se = reps.std(ddof=1) / math.sqrt(reps.size)
    assert abs(reps.mean() - ref_mean) <= 4 * math.hypot(ref_se, rqmc_se)


@pytest.mark.parametrize("method", ["antithetic", "sobol"])
def test_engine_results_independent_of_chunk_size(method):
    n = (3 << 14) + 1  # odd, and more than one chunk at the smaller size
    runs = [
        simulate(
            config(
                UNCERTAIN,
                correlations=CORR,
                n_samples=n,
                chunk_size=c,
                sampling=method,
                **OVERRIDES,
            )
        )
        for c in (1 << 14, 1 << 16)
    ]
    assert runs[0].attrs["sampling"] == method
    assert runs[0].attrs["chunk_size"] != runs[1].attrs["chunk_size"]
    for ds in runs:
        assert ds.attrs["n_samples"] == n
    keep = [v for v in runs[0].data_vars if not v.startswith("convergence")]
    xr.testing.assert_identical(
        runs[0][keep].drop_attrs(deep=False), runs[1][keep].drop_attrs(deep=False)
    )


def _pair_se(x: np.ndarray) -> float:
    """SE of the mean from the spread of the pair means of futures (2j, 2j + 1); a last future
    without its partner is a pair of one."""
    pairs = [x[i : i + 2].mean() for i in range(0, x.size, 2)]
    return float(np.std(pairs, ddof=1) / math.sqrt(len(pairs)))


def test_antithetic_standard_errors_come_from_pair_means():
    n = (3 << 12) + 1  # odd: the last future has no partner
    cfg = config(UNCERTAIN, correlations=CORR, n_samples=n, sampling="antithetic", **OVERRIDES)
    ds = simulate(cfg)
    model = ModelSpec.from_config(to_plain(cfg))
    T = model.horizon
    index = jnp.arange(n, dtype=jnp.uint32)
    run = jax.jit(lambda i: kernel_simulate(model, 0, i, jnp.float32, None, sampling="antithetic"))
    fut, _ = run(index)
    npv = np.asarray(fut.npv, np.float64)
    recouped = (np.asarray(fut.breakeven) <= T).astype(np.float64)
    assert float(ds.p_recoup) == recouped.mean()
    want_p, want_npv = _pair_se(recouped), _pair_se(npv)
    # the pairs are not iid futures: the iid formulas would give something else
    iid_npv = npv.std(ddof=1) / math.sqrt(n)
    assert abs(iid_npv / want_npv - 1) > 0.05
    np.testing.assert_allclose(float(ds.p_recoup_se), want_p, rtol=1e-9)
    np.testing.assert_allclose(float(ds.npv_se), want_npv, rtol=1e-4)
    assert "antithetic pair" in ds.npv_se.attrs["description"]


def _replicate_se(x: np.ndarray) -> float:
    """SE of the mean from the spread of the means of replicates ``i % 16``."""
    means = [x[r::REPLICATES].mean() for r in range(REPLICATES)]
    return float(np.std(means, ddof=1) / math.sqrt(REPLICATES))


def test_sobol_standard_errors_come_from_replicate_means():
    n = (3 << 12) + 5  # replicates of unequal size
    cfg = config(UNCERTAIN, correlations=CORR, n_samples=n, sampling="sobol", **OVERRIDES)
    ds = simulate(cfg)
    model = ModelSpec.from_config(to_plain(cfg))
    index = jnp.arange(n, dtype=jnp.uint32)
    run = jax.jit(lambda i: kernel_simulate(model, 0, i, jnp.float32, None, sampling="sobol"))
    fut, _ = run(index)
    npv = np.asarray(fut.npv, np.float64)
    recouped = (np.asarray(fut.breakeven) <= model.horizon).astype(np.float64)
    assert float(ds.p_recoup) == recouped.mean()
    np.testing.assert_allclose(float(ds.p_recoup_se), _replicate_se(recouped), rtol=1e-6)
    np.testing.assert_allclose(float(ds.npv_se), _replicate_se(npv), rtol=1e-4)
    assert "16 Sobol' replicate means" in ds.npv_se.attrs["description"]


def test_sobol_replicate_standard_error_measures_the_error(evaluator):
    """Across independent seeds, the spread of the estimates matches the replicate SE: the
    variance ratio is F-like with 15 and 16 x 15 degrees of freedom (two-sided 0.1 %). Measured:
    ratio 1.3, while the iid SE is 12x too large on this shock-free scenario."""
    seeds = 16
    runs = [evaluator("sobol", 300 + s, 1 << 12) for s in range(seeds)]
    estimates = np.array([x.mean() for x in runs])
    reported = np.array([_replicate_se(x) for x in runs])
    ratio = estimates.var(ddof=1) / np.mean(reported**2)
    dfn, dfd = seeds - 1, seeds * (REPLICATES - 1)
    low, high = stats.f.ppf([0.0005, 0.9995], dfn, dfd)
    assert low < ratio < high, ratio
    # the iid formula, which ignores the QMC gain, would be far off here
    iid = np.array([x.std(ddof=1) / math.sqrt(x.size) for x in runs])
    assert estimates.var(ddof=1) / np.mean(iid**2) < low


def test_random_sampling_keeps_iid_standard_errors():
    ds = simulate(config(UNCERTAIN, correlations=CORR, n_samples=1 << 13, **OVERRIDES))
    p, n = float(ds.p_recoup), 1 << 13
    assert float(ds.p_recoup_se) == pytest.approx(math.sqrt(p * (1 - p) / n), rel=1e-12)
    assert "iid" in ds.npv_se.attrs["description"]
