"""Variance reduction: standard error per unit of compute for random vs antithetic vs Sobol'.

For each sampling method, ``R`` independent replications of the estimator (mean NPV and
P(recoup) over ``n`` futures of the default ``gpu_cloud`` scenario) are run:

- random / antithetic: replication ``r`` simulates futures ``r n .. (r + 1) n - 1`` of one seed
  (disjoint index ranges are independent; antithetic pairs never straddle them);
- sobol: replication ``r`` uses Sobol' points ``0 .. n - 1`` with its own digital shift (seed
  ``r``) and, for the monthly shocks, the futures ``r n ..`` (as above).

The SE of each method is the standard deviation across replications (divided by nothing: it is
the SE of one ``n``-future estimate), and ``t`` the median wall time of one replication (input
scores + model, compiled once beforehand). ``reported/actual`` compares it with the SE the engine
reports for one run under that method (root mean square over the replications): the iid formula
for random, the spread of pair means for antithetic, the spread of the 16 replicate means for
Sobol'; near 1 means the reported SE is honest. The figure of merit is the variance-time product
``SE^2 t`` (lower is better); ``efficiency`` is random's ``SE^2 t`` over the method's (> 1: it
pays). Usage: ``python benchmarks/variance_reduction.py [--quick] [--n N] [--reps R]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from _harness import load_cfg, print_table, write_json

METHODS = ("random", "antithetic", "sobol")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small n and few replications")
    ap.add_argument("--n", type=int, default=None, help="futures per replication")
    ap.add_argument("--reps", type=int, default=None, help="replications per method")
    ap.add_argument("--scenario", default="gpu_cloud")
    args = ap.parse_args()
    n = args.n or (1 << 12 if args.quick else 1 << 14)
    reps = args.reps or (8 if args.quick else 24)

    import jax
    import jax.numpy as jnp
    import numpy as np

    from mcengine.config import to_plain
    from mcengine.model.kernel import simulate
    from mcengine.model.spec import ModelSpec
    from mcengine.sampling import REPLICATES, raw_normal_scores

    model = ModelSpec.from_config(to_plain(load_cfg(args.scenario)))
    paths, T = model.inputs.paths, model.horizon

    @jax.jit
    def estimate(raw, index):
        scores = model.inputs.normal_scores(0, index, raw=raw)
        fut, _ = simulate(model, 0, index, jnp.float32, lambda m, c: None, scores=scores)
        return fut.npv, (fut.breakeven <= T).astype(jnp.float32)

    def reported_se(method: str, x: np.ndarray) -> float:
        """The SE the engine reports for one run (accumulators.standard_errors), from scratch."""
        if method == "antithetic":
            units = x.reshape(-1, 2).mean(axis=1)
        elif method == "sobol":
            units = x.reshape(-1, REPLICATES).mean(axis=0)
        else:
            units = x
        return float(units.std(ddof=1) / math.sqrt(units.size))

    def one(method: str, r: int):
        index = jnp.arange(r * n, (r + 1) * n, dtype=jnp.uint32)
        if method == "sobol":
            raw = raw_normal_scores(paths, r, jnp.arange(n, dtype=jnp.uint32), "sobol")
        else:
            raw = raw_normal_scores(paths, 0, index, method)
        npv, recouped = (np.asarray(a, np.float64) for a in jax.device_get(estimate(raw, index)))
        ses = [reported_se(method, npv), reported_se(method, recouped)]
        return [npv.mean(), recouped.mean(), *ses]

    t0 = time.perf_counter()
    one("random", reps)  # compile (same shapes for every method)
    compile_s = time.perf_counter() - t0

    rows, raw_results = [], {}
    for method in METHODS:
        values, times = [], []
        for r in range(reps):
            t = time.perf_counter()
            values.append(one(method, r))
            times.append(time.perf_counter() - t)
        v = np.asarray(values)
        se_npv, se_p = v[:, :2].std(axis=0, ddof=1)
        rep_npv, rep_p = np.sqrt(np.mean(v[:, 2:] ** 2, axis=0))
        t_rep = statistics.median(times)
        raw_results[method] = {
            "npv_mean": v[:, 0].tolist(),
            "p_recoup": v[:, 1].tolist(),
            "reported_se_npv": v[:, 2].tolist(),
            "reported_se_p": v[:, 3].tolist(),
            "times_s": times,
        }
        rows.append(
            {
                "method": method,
                "npv_mean": v[:, 0].mean(),
                "se_npv": se_npv,
                "p_recoup": v[:, 1].mean(),
                "se_p": se_p,
                "t_rep_s": t_rep,
                "se_npv_at_1s": se_npv * math.sqrt(t_rep),
                "se_p_at_1s": se_p * math.sqrt(t_rep),
                "reported/actual_npv": rep_npv / se_npv,
                "reported/actual_p": rep_p / se_p if se_p > 0 else float("nan"),
            }
        )
    base = rows[0]
    for row in rows:
        row["eff_npv"] = (base["se_npv"] ** 2 * base["t_rep_s"]) / (
            row["se_npv"] ** 2 * row["t_rep_s"]
        )
        row["eff_p"] = (
            (base["se_p"] ** 2 * base["t_rep_s"]) / (row["se_p"] ** 2 * row["t_rep_s"])
            if row["se_p"] > 0
            else float("nan")
        )
    print_table(
        rows,
        [
            "method",
            "npv_mean",
            "se_npv",
            "p_recoup",
            "se_p",
            "t_rep_s",
            "se_npv_at_1s",
            "se_p_at_1s",
            "eff_npv",
            "eff_p",
            "reported/actual_npv",
            "reported/actual_p",
        ],
        title=f"{args.scenario}: {reps} replications x {n} futures (compile {compile_s:.1f} s); "
        "eff = random's SE^2 t / method's",
    )
    write_json(
        "variance_reduction",
        {
            "scenario": args.scenario,
            "n_per_replication": n,
            "replications": reps,
            "compile_s": compile_s,
            "rows": rows,
            "replications_raw": raw_results,
        },
    )


if __name__ == "__main__":
    main()
