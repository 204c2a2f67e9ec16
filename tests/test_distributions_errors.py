"""Bad specs are rejected with a SpecError naming the path, the problem and the fix."""

from __future__ import annotations

import math

import pytest

from mcengine.distributions import SpecError, from_spec

P = "fleet.gpu_price"
N01 = {"dist": "normal", "mean": 0, "sd": 1}

BAD = [
    (
        {"dist": "lognormall", "median": 1, "sd_log": 1},
        ["fleet.gpu_price.dist", "did you mean 'lognormal'"],
    ),
    ({"mean": 1}, ["no 'dist'"]),
    ({"dist": "normal", "mean": 0}, ["missing sd", "{mean, sd}"]),
    ({"dist": "normal", "mean": 0, "sd": 1, "sdd": 2}, ["sdd", "did you mean 'sd'"]),
    ({"dist": "lognormal", "median": 1, "sd_log": 1, "mean": 3}, ["extra", "mean", "p05, p95"]),
    ({"dist": "normal", "mean": 0, "sd": -1}, ["fleet.gpu_price.sd", "> 0"]),
    ({"dist": "normal", "mean": 0, "sd": 0}, ["fleet.gpu_price.sd"]),
    ({"dist": "lognormal", "p05": 40000, "p95": 25000}, ["p05", "below p95"]),
    ({"dist": "lognormal", "p05": 10, "p95": 10}, ["p05", "below p95"]),
    ({"dist": "lognormal", "p05": 1, "p95": 2, "p50": 1.5}, ["exactly two"]),
    ({"dist": "triangular", "min": 5, "mode": 1, "max": 10}, ["mode", "[min, max]"]),
    ({"dist": "pert", "min": 0, "mode": 11, "max": 10}, ["mode", "[min, max]"]),
    ({"dist": "pert", "min": 10, "mode": 10, "max": 10}, ["min = 10 must be below max"]),
    (
        {"dist": "discrete", "values": [1, 2], "probabilities": [0.5, 0.6]},
        ["sum to 1.1", "rescale"],
    ),
    (
        {"dist": "discrete", "values": [1, 2], "probabilities": [-0.5, 1.5]},
        ["probabilities[0]", ">= 0"],
    ),
    ({"dist": "discrete", "values": [1, 2, 3], "probabilities": [0.5, 0.5]}, ["2 entries", "3"]),
    ({"dist": "empirical", "data": []}, ["fleet.gpu_price.data", "empty"]),
    ({"dist": "empirical", "data": [1, 2, math.nan]}, ["fleet.gpu_price.data[2]", "finite"]),
    ({"dist": "normal", "mean": math.inf, "sd": 1}, ["fleet.gpu_price.mean", "finite"]),
    ({"dist": "normal", "mean": "nan", "sd": 1}, ["fleet.gpu_price.mean", "finite"]),
    (
        {
            "dist": "mixture",
            "weights": [0.5, 0.5],
            "components": [N01, {"dist": "normal", "mean": 0, "sd": [1, math.inf]}],
        },
        ["components[1].sd[1]"],
    ),
    (
        {"dist": "truncated", "base": {"dist": "lognormal", "median": 1, "sd_log": 1}, "high": -1},
        ["no probability"],
    ),
    ({"dist": "normal", "mean": 0, "sd": 1, "low": 2, "high": 1}, ["low = 2 must be below high"]),
    ({"dist": "normal", "mean": 0, "sd": 1, "low": 60}, ["no probability"]),
    ({"dist": "truncated", "base": N01}, ["missing"]),
    ({"dist": "discrete", "values": [1, 2], "probabilities": [0.5, 0.5], "low": 0}, ["continuous"]),
    ({"dist": "beta", "alpha": 0, "beta": 1}, ["fleet.gpu_price.alpha", "> 0"]),
    ({"dist": "beta", "alpha": 1, "beta": 1, "low": 0}, ["both low and high"]),
    ({"dist": "beta", "mean": 0.5, "sd": 0.6}, ["too large"]),
    ({"dist": "gamma", "shape": -1, "scale": 1}, ["fleet.gpu_price.shape", "> 0"]),
    ({"dist": "gamma", "shape": 1, "rate": 0}, ["fleet.gpu_price.rate"]),
    ({"dist": "gamma", "shape": 1, "scale": 1, "rate": 1}, ["extra", "{shape, rate}"]),
    ({"dist": "t", "df": 0}, ["fleet.gpu_price.df"]),
    ({"dist": "student_t", "df": 3, "scale": -2}, ["fleet.gpu_price.scale"]),
    ({"dist": "lognormal", "median": -1, "sd_log": 1}, ["fleet.gpu_price.median", "> 0"]),
    ({"dist": "lognormal", "mean": 1, "sd": 0}, ["fleet.gpu_price.sd"]),
    ({"dist": "loguniform", "low": 0, "high": 1}, ["fleet.gpu_price.low", "> 0"]),
    ({"dist": "uniform", "low": 1, "high": 1}, ["low = 1 must be below high"]),
    ({"dist": "mixture", "weights": [0.5, 0.4], "components": [N01, N01]}, ["weights", "sum"]),
    ({"dist": "mixture", "weights": [1.0], "components": [N01, N01]}, ["1 entries"]),
    (
        {"dist": "mixture", "weights": [0.5, 0.5], "components": [N01, 3.0]},
        ["components[1]", "continuous"],
    ),
    ({"dist": "normal", "mean": "abc", "sd": 1}, ["fleet.gpu_price.mean", "expected a number"]),
    ("abc", ["expected a number or a mapping"]),
    # low/high written on the family itself: the path is the user's, no internal "base"
    ({"dist": "normal", "mean": 0.1, "sd": -0.1, "low": -0.5}, [f"{P}.sd: must be > 0"]),
]


@pytest.mark.parametrize("spec, needles", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_spec_rejected(spec, needles):
    with pytest.raises(SpecError) as err:
        from_spec(spec, P)
    msg = str(err.value)
    assert msg.startswith(P)
    assert "Fix:" in msg
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"


def test_spec_error_is_value_error():
    assert issubclass(SpecError, ValueError)
