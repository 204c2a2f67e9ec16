"""Sampling throughput of every distribution family (``python benchmarks/distributions.py``).

Prints a table and writes ``benchmarks/results/distributions.json``: samples/s at n = 1e6 per call
(best of 5, compile and warm-up excluded), the ratio to the normal family measured in the same
run, ``jax.random.beta``/``gamma`` for reference, and ``JointInputs.sample`` for 5 inputs with
and without correlations.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

try:
    from mcengine.distributions import JointInputs, from_spec
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mcengine.distributions import JointInputs, from_spec

N = 1_000_000
REPEATS = 5
OUT = Path(__file__).with_name("results") / "distributions.json"

SPECS: dict[str, dict] = {
    "normal": {"dist": "normal", "mean": 0.0, "sd": 1.0},
    "lognormal": {"dist": "lognormal", "p05": 25000, "p95": 40000},
    "uniform": {"dist": "uniform", "low": 0, "high": 1},
    "loguniform": {"dist": "loguniform", "low": 1, "high": 100},
    "triangular": {"dist": "triangular", "min": 0, "mode": 2, "max": 10},
    "pert": {"dist": "pert", "min": 0, "mode": 2, "max": 10},
    "beta": {"dist": "beta", "alpha": 2, "beta": 5},
    "gamma": {"dist": "gamma", "shape": 0.7, "scale": 2},
    "student_t": {"dist": "student_t", "df": 3, "loc": 0, "scale": 1},
    "truncated": {"dist": "normal", "mean": 0, "sd": 1, "low": 0},
    "discrete": {"dist": "discrete", "values": [1, 2, 3, 4], "probabilities": [0.1, 0.2, 0.3, 0.4]},
    "empirical": {"dist": "empirical", "data": list(np.round(np.linspace(0, 10, 1000) ** 2, 3))},
    "mixture": {
        "dist": "mixture",
        "weights": [0.7, 0.3],
        "components": [
            {"dist": "lognormal", "median": 1, "sd_log": 0.3},
            {"dist": "normal", "mean": 5, "sd": 1},
        ],
    },
}


def best_time(fn, *args) -> float:
    jax.block_until_ready(fn(*args))  # compile + warm-up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return min(times)


def family_rates() -> dict[str, float]:
    key = jax.random.key(0)
    rates = {}
    for name, spec in SPECS.items():
        d = from_spec(spec, name)
        fn = jax.jit(lambda k, d=d: d.sample(k, (N,)))
        rates[name] = N / best_time(fn, key)
    rates["jax.random.beta(2,5)"] = N / best_time(
        jax.jit(lambda k: jax.random.beta(k, 2.0, 5.0, (N,))), key
    )
    rates["jax.random.gamma(0.7)"] = N / best_time(
        jax.jit(lambda k: jax.random.gamma(k, 0.7, (N,))), key
    )
    return rates


def joint_rates() -> dict[str, float]:
    specs = {
        "a.x": SPECS["normal"],
        "b.y": SPECS["lognormal"],
        "c.z": SPECS["gamma"],
        "d.w": SPECS["pert"],
        "e.v": SPECS["beta"],
    }
    corr = [["a.x", "b.y", 0.5], ["b.y", "c.z", 0.3], ["c.z", "d.w", -0.2], ["d.w", "e.v", 0.4]]
    index = jnp.arange(N, dtype=jnp.uint32)
    out = {}
    for label, c in (("joint 5 inputs uncorrelated", None), ("joint 5 inputs correlated", corr)):
        ji = JointInputs.build(specs, c)
        fn = jax.jit(lambda i, ji=ji: ji.sample(0, i))
        out[label] = 5 * N / best_time(fn, index)
    return out


def main() -> None:
    rates = family_rates()
    joint = joint_rates()
    base = rates["normal"]
    rows = [(k, v, v / base) for k, v in rates.items()]
    print(f"{'family':32s} {'Msamples/s':>11s} {'vs normal':>10s}")
    for k, v, r in rows:
        print(f"{k:32s} {v / 1e6:11.1f} {r:10.2f}")
    ratio = joint["joint 5 inputs correlated"] / joint["joint 5 inputs uncorrelated"]
    for k, v in joint.items():
        print(f"{k:32s} {v / 1e6:11.1f} (input values/s)")
    print(f"correlated / uncorrelated speed: {ratio:.2f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "n": N,
                "repeats": REPEATS,
                "device": str(jax.devices()[0]),
                "backend": jax.default_backend(),
                "machine": platform.machine(),
                "jax_version": jax.__version__,
                "samples_per_s": rates,
                "ratio_to_normal": {k: r for k, _, r in rows},
                "joint_values_per_s": joint,
                "joint_correlated_over_uncorrelated": ratio,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
