"""Scaling of mcengine: futures, horizon, optional model parts, correlations, chunk size.

Every point runs in a **fresh Python subprocess** (``_harness.run_child``): the child builds the
config, runs ``mcengine.simulate`` once (compiling), and reports the engine's own
``compile_time_s`` and ``run_time_s`` plus its peak RSS (``VmHWM``, whole process: Python, JAX,
XLA's compiled code and buffers) and the RSS right after imports. So memory is per point and no
JIT cache or allocator state leaks between points.

Sections (default scenario unless noted):

* ``n``      - n_samples 1e4 .. 1e8 at 120 months: time should grow linearly (constant
  sample-months/s once compile is amortised), peak memory flat (streaming over chunks).
* ``T``      - horizon 12 .. 240 months at 1e6 futures: linear time, flat memory.
* ``parts``  - cost of each optional model part: the static base (every optional part off,
  no correlations) and the base plus one part at a time (``PARTS``), then the default scenario.
* ``chunk``  - throughput against ``chunk_size`` at 4.2e6 x 120 (and ``null`` = the engine's auto
  choice), to justify the default.

``--quick`` shrinks everything (~2 min); the full run stays under ~15 minutes on the 2-core
development machine. Run: ``python benchmarks/scaling.py [--quick] [--only n,T,parts,chunk]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _harness as H

# Every optional part off: the static base that the ``parts`` rows add to.
BASE_OFF = [
    "market.price_volatility=0",
    "demand.volatility=0",
    "market.generation_rate=0",
    "churn.release_rate=0",
    "churn.retrain_cost=0",
    "financing.debt_fraction=0",
    "tax.rate=0",
    "fleet.replace_failures=false",
    "correlations=[]",
]

# What switching each part on means (plain values, so the cost is not hidden by a distribution).
PARTS: dict[str, list[str]] = {
    "volatility": ["market.price_volatility=0.3", "demand.volatility=0.3"],
    "generations": ["market.generation_rate=0.5", "market.generation_price_drop=0.3"],
    "churn": ["churn.release_rate=2", "churn.price_shock=0.9", "churn.retrain_cost=1e6"],
    "financing": [
        "financing.debt_fraction=0.5",
        "financing.interest_rate=0.08",
        "financing.term_months=60",
    ],
    "tax": ["tax.rate=0.21"],
    "replacements": ["fleet.replace_failures=true", "fleet.annual_failure_rate=0.05"],
}


def point(label: str, overrides: list[str], scenario, timeout: float, repeats: int = 1) -> dict:
    t0 = time.perf_counter()
    r = H.run_child(
        Path(__file__),
        "engine",
        scenario=scenario,
        overrides=overrides,
        timeout=timeout,
        repeats=repeats,
    )
    row = {"point": label, **r}
    if "error" in r:
        print(f"  {label}: ERROR {r['error'][:300]}", flush=True)
    else:
        print(
            f"  {label}: {r['msps']:.3g} sample-months/s, run {r['run_time_s']:.2f} s, compile "
            f"{r['compile_time_s']:.2f} s, peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"({time.perf_counter() - t0:.0f} s wall)",
            flush=True,
        )
    return row


COLS = [
    "point",
    "n_samples",
    "horizon_months",
    "chunk_size",
    "run_time_s",
    "msps",
    "compile_time_s",
    "rss_base_mib",
    "peak_rss_mib",
    "p_recoup",
]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="n,T,parts,chunk", help="comma list of sections")
    ap.add_argument("--max-n", type=float, default=1e8)
    ap.add_argument("--timeout", type=float, default=600, help="seconds per point")
    ap.add_argument("--no-json", action="store_true")
    args = ap.parse_args(argv)
    sections = set(args.only.split(","))
    q = args.quick
    out: dict = {"scenario": args.scenario, "quick": q}
    t_start = time.perf_counter()

    def run(label, ov, repeats=1):
        return point(label, ["progress=false", *ov], args.scenario, args.timeout, repeats)

    best_of = 1 if q else 3  # 1e6-future points take ~2 s: best of 3 tames the VM's noise

    if "n" in sections:
        ns = [10**k for k in range(4, 7 if q else 9) if 10**k <= args.max_n]
        print("\n[n] futures sweep at 120 months", flush=True)
        rows = [run(f"n={n:.0e}", [f"n_samples={n}", "horizon_months=120"]) for n in ns]
        H.print_table(rows, COLS, title="Scaling with n_samples (T = 120)")
        out["n"] = rows
    if "T" in sections:
        n = 100_000 if q else 1_000_000
        print(f"\n[T] horizon sweep at {n:,} futures", flush=True)
        rows = [
            run(f"T={T}", [f"n_samples={n}", f"horizon_months={T}"], best_of)
            for T in [12, 24, 60, 120, 240]
        ]
        H.print_table(rows, COLS, title=f"Scaling with horizon_months (n = {n:,})")
        out["T"] = rows
    if "parts" in sections:
        n = 100_000 if q else 1_000_000
        base = [f"n_samples={n}", "horizon_months=120"]
        print(f"\n[parts] optional model parts at {n:,} x 120", flush=True)
        rows = [run("static base", [*base, *BASE_OFF], best_of)]
        for name, ov in PARTS.items():
            rows.append(run(f"+ {name}", [*base, *BASE_OFF, *ov], best_of))
        # correlations: the scenario's own list on top of the base
        rows.append(
            run(
                "+ correlations",
                [*base, *[o for o in BASE_OFF if not o.startswith("correlations")]],
                best_of,
            )
        )
        rows.append(run("default scenario", base, best_of))
        # main-pass time (compile and pilot excluded: they would hide the parts' cost)
        b = rows[0].get("msps")
        for r in rows:
            if b and r.get("msps"):
                r["cost_vs_base"] = b / r["msps"]
        H.print_table(
            rows,
            [
                *COLS[:1],
                "run_time_s",
                "msps",
                "cost_vs_base",
                "compile_time_s",
                "peak_rss_mib",
                "p_recoup",
            ],
            title="Cost of each optional part (main pass, relative to the static base)",
        )
        out["parts"] = rows
    if "chunk" in sections:
        n = 262_144 if q else 4_194_304
        sizes = [16384, 65536, 262144] + ([] if q else [1048576, 4194304])  # whole tiles/device
        print(f"\n[chunk] chunk_size sweep at {n:,} x 120", flush=True)
        rows = [run("chunk=auto", [f"n_samples={n}", "horizon_months=120", "chunk_size=null"])]
        rows += [
            run(f"chunk={c}", [f"n_samples={n}", "horizon_months=120", f"chunk_size={c}"])
            for c in sizes
        ]
        H.print_table(rows, COLS, title="Throughput against chunk_size")
        out["chunk"] = rows
    out["total_wall_s"] = time.perf_counter() - t_start
    print(f"\ntotal {out['total_wall_s']:.0f} s")
    if not args.no_json:
        H.write_json("scaling_quick" if q else "scaling", out)
    return out


if __name__ == "__main__":
    if H.child_main({"engine": H.task_engine}):
        sys.exit(0)
    main()
