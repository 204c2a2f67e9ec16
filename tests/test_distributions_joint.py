"""JointInputs: reproducible, chunk-invariant, correlated sampling of all uncertain inputs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from mcengine.distributions import JointInputs, SpecError, from_spec
from mcengine.random import normals, stream_key

SPECS = {
    "fleet.gpu_price": {"dist": "lognormal", "p05": 25000, "p95": 40000},
    "market.price0": {"dist": "gamma", "mean": 2.0, "sd": 0.5},
    "demand.utilization0": {"dist": "pert", "min": 0.4, "mode": 0.7, "max": 0.95},
    "opex.energy_price": {"dist": "normal", "mean": 0.1, "sd": 0.02, "low": 0},
    "churn.rate": {
        "dist": "discrete",
        "values": [0.01, 0.02, 0.05],
        "probabilities": [0.5, 0.3, 0.2],
    },
    "horizon_months": 60,
    "tax.rate": {"dist": "constant", "value": 0.21},
}
CORR = [
    ["market.price0", "demand.utilization0", -0.4],
    ["fleet.gpu_price", "market.price0", 0.6],
    ["opex.energy_price", "demand.utilization0", 0.3],
]
N = 100_000


def test_build_collects_inputs_and_constants():
    ji = JointInputs.build(SPECS, CORR)
    assert ji.paths == tuple(
        sorted(p for p in SPECS if isinstance(SPECS[p], dict) and SPECS[p]["dist"] != "constant")
    )
    assert ji.constants == {"horizon_months": 60.0, "tax.rate": 0.21}
    assert hash(ji) == hash(JointInputs.build(SPECS, CORR))


def test_uncorrelated_scores_are_the_raw_streams():
    ji = JointInputs.build(SPECS)
    index = jnp.arange(1000, dtype=jnp.uint32)
    z = jax.jit(lambda i: ji.normal_scores(7, i))(index)
    raw = jax.jit(lambda i: [normals(stream_key(7, p), i, 0, 1)[0] for p in ji.paths])(index)
    for i in range(len(ji.paths)):
        np.testing.assert_array_equal(z[i], raw[i])


def test_chunk_invariance_bitwise():
    ji = JointInputs.build(SPECS, CORR)
    f = jax.jit(lambda i: ji.sample(3, i))
    whole = f(jnp.arange(10_000, dtype=jnp.uint32))
    parts = {p: [] for p in ji.paths}
    index = np.arange(10_000 + 37, dtype=np.uint32)
    for start in range(0, 10_000, 37):
        out = f(index[start : start + 37])  # the last chunk runs past the end
        for p in ji.paths:
            parts[p].append(np.asarray(out[p]))
    for p in ji.paths:
        np.testing.assert_array_equal(np.concatenate(parts[p])[:10_000], np.asarray(whole[p]))


def test_adding_an_uncorrelated_input_changes_nothing():
    index = jnp.arange(5000, dtype=jnp.uint32)
    a = jax.jit(lambda i: JointInputs.build(SPECS, CORR).sample(11, i))(index)
    more = dict(SPECS, **{"aaa.new": {"dist": "uniform", "low": 0, "high": 1}})
    b = jax.jit(lambda i: JointInputs.build(more, CORR).sample(11, i))(index)
    for p, v in a.items():
        np.testing.assert_array_equal(np.asarray(v), np.asarray(b[p]))


def test_rank_correlations_and_marginals():
    ji = JointInputs.build(SPECS, CORR)
    out = jax.jit(lambda i: ji.sample(0, i))(jnp.arange(N, dtype=jnp.uint32))
    x = {p: np.asarray(v, np.float64) for p, v in out.items()}
    # Fisher z of a rank correlation: sd sqrt(1.06 / (N - 3)) (Fieller et al. 1957)
    z_tol = 4 * math.sqrt(1.06 / (N - 3))
    for a, b, rho in CORR:
        r = stats.spearmanr(x[a], x[b]).statistic
        assert abs(math.atanh(r) - math.atanh(rho)) <= z_tol, (a, b, r)
    # an input correlated with nothing stays independent (null sd of Spearman: 1 / sqrt(N - 1))
    assert abs(stats.spearmanr(x["churn.rate"], x["market.price0"]).statistic) <= 4 / math.sqrt(
        N - 1
    )
    # marginals survive the copula: discrete frequencies (chi-square) and the continuous CDFs
    values, counts = np.unique(x["churn.rate"], return_counts=True)
    np.testing.assert_allclose(values, [0.01, 0.02, 0.05], rtol=1e-6)
    assert stats.chisquare(counts, N * np.array([0.5, 0.3, 0.2])).pvalue > 1e-3
    crit = stats.kstwo.ppf(0.999, N)
    z95 = stats.norm.ppf(0.95)
    mu, sigma = np.log(25000 * 40000) / 2, np.log(40000 / 25000) / (2 * z95)
    refs = {
        "fleet.gpu_price": stats.lognorm(sigma, scale=np.exp(mu)).cdf,
        "market.price0": stats.gamma(16.0, scale=0.125).cdf,
        "demand.utilization0": stats.beta(
            1 + 4 * 0.3 / 0.55, 1 + 4 * 0.25 / 0.55, loc=0.4, scale=0.55
        ).cdf,
        "opex.energy_price": stats.truncnorm(-5, np.inf, loc=0.1, scale=0.02).cdf,
    }
    for p, cdf in refs.items():
        assert stats.kstest(x[p], cdf).statistic < crit, p


def test_perfect_correlation_is_allowed():
    specs = {
        "a": {"dist": "normal", "mean": 0, "sd": 1},
        "b": {"dist": "normal", "mean": 5, "sd": 2},
    }
    ji = JointInputs.build(specs, [["a", "b", 1.0]])
    out = jax.jit(lambda i: ji.sample(0, i))(jnp.arange(1000, dtype=jnp.uint32))
    np.testing.assert_allclose(out["b"], 5 + 2 * out["a"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "corr, needles",
    [
        ([["market.price0", "demand.utilization0", 1.5]], ["correlations[0]", "[-1, 1]"]),
        ([["market.price0", "demand.utilisation0", 0.2]], ["unknown input", "demand.utilization0"]),
        ([["market.price0", "tax.rate", 0.2]], ["tax.rate", "constant"]),
        ([["market.price0", "horizon_months", 0.2]], ["horizon_months", "constant"]),
        ([["market.price0", "market.price0", 0.2]], ["itself"]),
        (
            [["market.price0", "churn.rate", 0.2], ["churn.rate", "market.price0", 0.1]],
            ["correlations[1]", "duplicate", "correlations[0]"],
        ),
        ([["market.price0", "churn.rate", float("nan")]], ["correlations[0]"]),
        ([["market.price0", "churn.rate"]], ["[path_a, path_b, rho]"]),
        (
            [
                ["fleet.gpu_price", "market.price0", 0.9],
                ["market.price0", "demand.utilization0", 0.9],
                ["fleet.gpu_price", "demand.utilization0", -0.9],
                ["churn.rate", "opex.energy_price", 0.5],
            ],
            ["not positive semi-definite", "{demand.utilization0, fleet.gpu_price, market.price0}"],
        ),
    ],
)
def test_bad_correlations(corr, needles):
    with pytest.raises(SpecError) as err:
        JointInputs.build(SPECS, corr, correlations_path="scenario.correlations")
    msg = str(err.value)
    assert msg.startswith("scenario.correlations")
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"


def test_bad_input_spec_names_path():
    with pytest.raises(SpecError, match=r"^fleet\.gpu_price"):
        JointInputs.build({"fleet.gpu_price": {"dist": "normal", "mean": 1, "sd": -1}})


def test_from_spec_and_joint_agree():
    ji = JointInputs.build(SPECS)
    assert ji.distributions["market.price0"] == from_spec(SPECS["market.price0"])
