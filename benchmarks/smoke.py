"""Quick regression guard for CI (< 60 s): mcengine throughput and its ratio to the NumPy baseline.

Runs the default scenario at 100 000 futures x 120 months through ``mcengine.simulate`` (best of
two runs; the first compiles) and the NumPy baseline (``benchmarks/numpy_model.py``) on 20 000
futures of the same scenario, and prints sample-months/s for both and their ratio. It never fails
on a slow machine or noise: it exits 0 unless something crashes (then the traceback shows why).
The numbers also go to ``benchmarks/results/smoke.json``.

Run: ``python benchmarks/smoke.py [--n 100000] [--numpy-n 20000]``.
"""

from __future__ import annotations

import argparse
import time

import _harness as H
from compare import plain_config, run_numpy


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--numpy-n", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--no-json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ov = [f"n_samples={args.n}", f"horizon_months={args.months}"]
    eng = H.run_engine(args.scenario, ov, repeats=2)
    config = plain_config(H.load_cfg(args.scenario, [*H.QUIET, *ov]))
    npy = run_numpy(config, args.numpy_n, args.months, chunk=args.numpy_n)
    ratio = eng["msps"] / npy["msps"]
    rows = [
        {
            "impl": "mcengine",
            "n_samples": args.n,
            "msps": eng["msps"],
            "run_time_s": eng["run_time_s"],
            "compile_time_s": eng["compile_time_s"],
            "p_recoup": eng["p_recoup"],
        },
        {
            "impl": "numpy",
            "n_samples": args.numpy_n,
            "msps": npy["msps"],
            "run_time_s": npy["run_time_s"],
            "p_recoup": npy["p_recoup"],
        },
    ]
    H.print_table(
        rows,
        title=f"smoke: default scenario, {args.months} months "
        "(msps = sample-months/s, excl. compile)",
    )
    z = H.zscore(eng["p_recoup"], eng["p_recoup_se"], npy["p_recoup"], npy["p_recoup_se"])
    print(
        f"\nmcengine / numpy throughput: {ratio:.2f}x   (P(recoup) z = {z:+.2f}; "
        f"total {time.perf_counter() - t0:.0f} s)"
    )
    out = {"mcengine": eng, "numpy": npy, "ratio": ratio, "z_p_recoup": z}
    if not args.no_json:
        H.write_json("smoke", out)
    return out


if __name__ == "__main__":
    main()
