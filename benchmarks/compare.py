"""Head to head: mcengine vs plain vectorised NumPy vs a peer library (squigglepy).

Same scenario, same number of futures, same horizon, in one run. Two races:

1. **Full model** (the default scenario, every stochastic process on): ``mcengine.simulate``
   against ``benchmarks/numpy_model.py`` (``sample_inputs`` + ``simulate_numpy``, float64,
   a Python loop over months, run over chunks of ``--numpy-chunk`` futures so memory stays
   bounded — that is faster than one big block too — plus the aggregation a user would need:
   P(recoup), NPV mean/SE, break-even histogram, NPV histogram).
2. **Static sub-model** (what squigglepy can express): the same scenario with the monthly
   processes and the path-dependent parts switched off (price and demand volatility, generations,
   model churn, tax, failure replacements; see ``STATIC_OVERRIDES``). Then every month's cash
   flow is a closed-form function of the per-future inputs, which is the natural squigglepy
   program: inputs as squigglepy distributions (``sq.lognorm``, ``sq.pert``, ... correlated
   with ``sq.correlate``, Iman-Conover on rank correlations like the engine's copula), sampled
   with ``sq.sample`` and pushed through a vectorised monthly discounted cash-flow grid.
   mcengine and the NumPy baseline run on the same sub-model.

Fairness check: each implementation's P(recoup) is compared with mcengine's; the z-score of the
difference (independent random streams) should be |z| < ~3. Ratios are throughputs relative to
mcengine's engine-timed run (compile excluded; compile time reported separately).

Run: ``python benchmarks/compare.py [--quick] [--n 1000000] [--months 120]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping

import _harness as H
import numpy as np

# The static sub-model: no monthly random processes, nothing path dependent.
STATIC_OVERRIDES = [
    "market.price_volatility=0",
    "demand.volatility=0",
    "market.generation_rate=0",
    "churn.release_rate=0",
    "churn.retrain_cost=0",
    "tax.rate=0",
    "fleet.replace_failures=false",
]


def plain_config(cfg) -> dict:
    """A resolved nested dict of a DictConfig (or a dict already)."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:
        pass
    return dict(cfg)


# --------------------------------------------------------------------------------------------
# NumPy baseline
# --------------------------------------------------------------------------------------------


def run_numpy(config: Mapping, n: int, T: int, chunk: int, seed: int = 12345) -> dict:
    """End to end NumPy: inputs, model, aggregation over chunks. Returns timing and estimates."""
    from numpy_model import sample_inputs, simulate_numpy

    rng = np.random.default_rng(seed)
    recouped = 0
    npv_sum = npv_sq = 0.0
    be_hist = np.zeros(T + 2, np.int64)  # months 1..T, last bin = never
    npv_edges = None
    npv_hist = None
    t0 = time.perf_counter()
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        params = sample_inputs(config, m, rng)
        out = simulate_numpy(params, m, rng, horizon_months=T)
        # aggregation a user would do
        recouped += int(out["recouped"].sum())
        npv = out["npv"]
        npv_sum += float(npv.sum())
        npv_sq += float(np.square(npv).sum())
        be = np.where(np.isfinite(out["breakeven_month"]), out["breakeven_month"], T + 1)
        be_hist += np.bincount(be.astype(np.int64), minlength=T + 2)
        if npv_edges is None:  # fixed bins from the first chunk
            lo, hi = np.quantile(npv, [0.0005, 0.9995])
            npv_edges = np.linspace(lo, hi, 1025)
            npv_hist = np.zeros(1024, np.int64)
        npv_hist += np.histogram(npv, bins=npv_edges)[0]
    secs = time.perf_counter() - t0
    p = recouped / n
    mean = npv_sum / n
    sd = math.sqrt(max(npv_sq / n - mean**2, 0.0))
    return {
        "run_time_s": secs,
        "msps": H.msps(n * T, secs),
        "p_recoup": p,
        "p_recoup_se": H.binom_se(p, n),
        "npv_mean": mean,
        "npv_se": sd / math.sqrt(n),
    }


# --------------------------------------------------------------------------------------------
# squigglepy peer (static sub-model)
# --------------------------------------------------------------------------------------------


def _sq_dist(sq, spec: Mapping, path: str):
    """A squigglepy distribution for one engine distribution spec (the common families)."""
    kind = spec["dist"]
    if kind == "constant":
        return sq.const(float(spec["value"]))
    if kind == "normal":
        return sq.norm(mean=spec["mean"], sd=spec["sd"])
    if kind == "lognormal":
        if "median" in spec:
            return sq.lognorm(norm_mean=math.log(spec["median"]), norm_sd=spec["sd_log"])
        if "p05" in spec:  # squigglepy's default credibility is the 90 % interval
            return sq.lognorm(spec["p05"], spec["p95"])
        return sq.lognorm(lognorm_mean=spec["mean"], lognorm_sd=spec["sd"])
    if kind == "uniform":
        return sq.uniform(spec["low"], spec["high"])
    if kind == "loguniform":
        return sq.dist_exp(sq.uniform(math.log(spec["low"]), math.log(spec["high"])))
    if kind == "triangular":
        return sq.triangular(spec["min"], spec["mode"], spec["max"])
    if kind == "pert":
        return sq.pert(spec["min"], spec["mode"], spec["max"], lam=spec.get("lambda", 4))
    if kind == "beta" and "alpha" in spec:
        lo, hi = spec.get("low", 0.0), spec.get("high", 1.0)
        return sq.beta(spec["alpha"], spec["beta"]) * (hi - lo) + lo
    if kind == "gamma" and "shape" in spec:
        return sq.gamma(spec["shape"], spec.get("scale", 1.0))
    raise NotImplementedError(f"{path}: {kind} {sorted(spec)} has no squigglepy mapping here")


def squigglepy_inputs(sq, config: Mapping, n: int) -> dict[str, np.ndarray]:
    """Sample every uncertain input of ``config`` with squigglepy: flat ``{path: (n,) array}``."""
    from numpy_model import flatten

    flat = flatten({k: v for k, v in config.items() if k != "correlations"})
    dists = {p: _sq_dist(sq, v, p) for p, v in flat.items() if isinstance(v, Mapping)}
    pairs = [(a, b, r) for a, b, r in (config.get("correlations") or [])]
    if pairs:  # one correlation group with the full rank-correlation matrix
        names = sorted({a for a, _, _ in pairs} | {b for _, b, _ in pairs})
        corr = np.eye(len(names))
        for a, b, r in pairs:
            corr[names.index(a), names.index(b)] = corr[names.index(b), names.index(a)] = r
        for name, d in zip(names, sq.correlate(tuple(dists[x] for x in names), corr), strict=True):
            dists[name] = d
    out = {
        p: np.asarray(v, np.float64)
        for p, v in flat.items()
        if not isinstance(v, Mapping) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    for p, d in dists.items():
        out[p] = np.asarray(sq.sample(d, n=n, verbose=False), np.float64)
    return out


def static_npv_grid(
    x: Mapping[str, np.ndarray], T: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form monthly cash flows of the static sub-model on a (futures, months) grid.

    With no volatility, jumps, tax or replacements each month is a closed-form function of the
    inputs (MODEL.md): price and demand follow their expected paths. Returns (npv, recouped).
    """
    from numpy_model import DEFAULTS, HOURS_PER_MONTH

    n = next(v.size for v in x.values() if np.ndim(v) == 1)

    def g(key):
        v = x.get(key, DEFAULTS.get(key))
        return np.broadcast_to(np.asarray(v, np.float64), (n,))

    npv = np.empty(n)
    rec = np.empty(n, bool)
    m = np.arange(1, T + 1, dtype=np.float64)[None, :]
    for a in range(0, n, chunk):
        sl = slice(a, min(n, a + chunk))

        def p(key, sl=sl):
            return g(key)[sl][:, None]

        G, price = p("fleet.gpus"), p("fleet.gpu_price")
        K_hw = G * price * (1 + p("fleet.system_overhead"))
        facility, training = p("upfront.facility"), p("upfront.training")
        K = K_hw + facility + training
        L = p("financing.debt_fraction") * K
        i, nt = p("financing.interest_rate") / 12, p("financing.term_months")
        with np.errstate(divide="ignore", invalid="ignore"):
            pay = np.where(i == 0, L / nt, L * i / (1 - (1 + i) ** -nt))
        pay = np.where(L == 0, 0.0, pay)
        r = (1 + p("discount_rate")) ** (1 / 12) - 1
        s = (1 - p("fleet.annual_failure_rate")) ** (1 / 12)
        units = p("market.units_per_gpu_hour")
        A = G * s**m
        C = A * HOURS_PER_MONTH * units * (1 + p("efficiency.gain")) ** (m / 12)
        P = p("market.price0") * (1 + p("market.price_trend")) ** (m / 12)
        D = (
            p("demand.utilization0")
            * G
            * HOURS_PER_MONTH
            * units
            * (1 + p("demand.growth")) ** (m / 12)
        )
        U = np.minimum(p("demand.max_utilization"), D / C)
        S = U * C
        R = S * P * (1 - p("market.revenue_share"))
        idle, kw = p("opex.idle_power_fraction"), p("fleet.power_kw")
        E = (
            A
            * kw
            * (idle + (1 - idle) * U)
            * p("opex.pue")
            * HOURS_PER_MONTH
            * p("opex.electricity_price")
            * (1 + p("opex.electricity_trend")) ** (m / 12)
        )
        F = (
            G
            * kw
            * p("opex.colocation_per_kw_month")
            * (1 + p("opex.colocation_escalation")) ** (m / 12)
        )
        M = p("opex.staff_per_month") + A * p("opex.maintenance_per_gpu_month")
        V = S * p("opex.cost_per_unit")
        B = np.where(m <= nt, pay, 0.0)
        cf = R - E - F - M - V - B
        cf[:, -1] += (p("fleet.salvage_fraction") * K_hw)[:, 0]
        cum = -(K - L) + np.cumsum(cf * (1 + r) ** -m, axis=1)
        npv[sl] = cum[:, -1]
        rec[sl] = (cum >= 0).any(axis=1)
    return npv, rec


def run_squigglepy(config: Mapping, n: int, T: int, chunk: int, seed: int = 777) -> dict:
    import squigglepy as sq

    sq.set_seed(seed)
    t0 = time.perf_counter()
    x = squigglepy_inputs(sq, config, n)
    t1 = time.perf_counter()
    npv, rec = static_npv_grid(x, T, chunk)
    secs = time.perf_counter() - t0
    p = float(rec.mean())
    return {
        "run_time_s": secs,
        "sampling_s": t1 - t0,
        "msps": H.msps(n * T, secs),
        "p_recoup": p,
        "p_recoup_se": H.binom_se(p, n),
        "npv_mean": float(npv.mean()),
        "npv_se": float(npv.std(ddof=1) / math.sqrt(n)),
        "squigglepy_version": sq.__version__,
    }


# --------------------------------------------------------------------------------------------


def race(label: str, scenario, overrides: list[str], n: int, T: int, args, peer: bool) -> list:
    ov = [f"n_samples={n}", f"horizon_months={T}", *overrides]
    print(f"\n== {label}: {n:,} futures x {T} months  overrides={overrides or '-'}", flush=True)
    rows = []
    eng = H.run_engine(scenario, ov, repeats=args.repeats)
    rows.append(
        {
            "impl": "mcengine",
            **{
                k: eng[k]
                for k in (
                    "run_time_s",
                    "msps",
                    "compile_time_s",
                    "p_recoup",
                    "p_recoup_se",
                    "npv_mean",
                )
            },
        }
    )
    config = plain_config(H.load_cfg(scenario, [*H.QUIET, *ov]))
    if not args.skip_numpy:
        print("  numpy ...", flush=True)
        rows.append({"impl": "numpy (numpy_model.py)", **run_numpy(config, n, T, args.numpy_chunk)})
    if peer:
        print("  squigglepy ...", flush=True)
        try:
            rows.append(
                {
                    "impl": "squigglepy + numpy grid",
                    **run_squigglepy(config, n, T, args.numpy_chunk),
                }
            )
        except (ImportError, NotImplementedError) as exc:
            print(f"  squigglepy skipped: {exc!r}")
            rows.append({"impl": "squigglepy", "error": repr(exc)})
    base = rows[0]
    for r in rows:
        if "msps" in r:
            r["speedup_of_mcengine"] = base["msps"] / r["msps"]
            r["z_vs_mcengine"] = H.zscore(
                r["p_recoup"], r["p_recoup_se"], base["p_recoup"], base["p_recoup_se"]
            )
    H.print_table(
        rows,
        [
            "impl",
            "run_time_s",
            "msps",
            "speedup_of_mcengine",
            "p_recoup",
            "p_recoup_se",
            "z_vs_mcengine",
            "npv_mean",
            "compile_time_s",
        ],
        title=f"{label} (msps = sample-months/s, end to end excl. compile)",
    )
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=None, help="scenario name (default: the config's)")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3, help="mcengine runs (best taken)")
    ap.add_argument("--numpy-chunk", type=int, default=65_536)
    ap.add_argument("--skip-numpy", action="store_true")
    ap.add_argument("--quick", action="store_true", help="n = 100 000, 1 engine repeat")
    ap.add_argument("--no-json", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 100_000, 1
    full = race(
        "full model (default scenario)", args.scenario, [], args.n, args.months, args, peer=False
    )
    static = race(
        "static sub-model (what squigglepy expresses)",
        args.scenario,
        STATIC_OVERRIDES,
        args.n,
        args.months,
        args,
        peer=True,
    )
    out = {
        "n_samples": args.n,
        "horizon_months": args.months,
        "scenario": args.scenario,
        "static_overrides": STATIC_OVERRIDES,
        "full_model": full,
        "static_model": static,
    }
    if not args.no_json:
        H.write_json("compare", out)
    return out


if __name__ == "__main__":
    main()
