"""Hand-fused C month loop: how close to its own random numbers can the model run on this CPU?

Issue 5 asks for the engine to run within 2x of the PRNG-bound limit. ``ablation.py`` shows where
the JAX engine's time goes; this script asks whether *any* implementation could meet the target
on this CPU, by measuring a hand-fused C version of the engine's month loop
(``benchmarks/fused_c/kernel.c``, built here with gcc and OpenMP; skipped when no compiler is
found). The C loop keeps a tile of 512 futures' state in cache across all months, draws the
monthly shocks in the same loop (the engine's own threefry2x32 bits on ``(future, month)``), and
reduces the per-month histograms and the per-future aggregates in place; libmvec vectorises its
``expf``/``logf`` over futures. Per-future inputs (``Economy``) come from JAX.

Rows, one more part switched on in each (1e6 futures x 120 months, default scenario, best of
``--repeats``, all threads):

* ``C draws``             - the 2 normals and the uniform per future-month and the input uniforms
  per future only (what ``prng.py`` counts), folded into a
  sum: the limit measured *in C*;
* ``C + month step``      - the economics of every month (the model);
* ``C + month histograms``- the 4096-bin histogram, minimum and maximum of V_m every month;
* ``C + per-future aggregates`` - NPV, margin and spend histograms, event counts, sensitivity
  deciles and rank sums, per-block sums: everything the engine reduces;
* ``JAX inputs``          - the per-future input draws and ``Economy`` that the C loop reads;
* ``JAX PRNG limit`` and ``JAX engine`` - ``prng.py``'s limit and the engine, in the same run.

The C kernel is checked against the engine first: same futures, same seed, NPV and break-even
month of every future compared with ``mcengine.model.kernel.simulate``.

Run: ``python benchmarks/fused_c.py [--n 1000000] [--months 120] [--quick]``.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _harness as H
import numpy as np

SOURCE = H.BENCH_DIR / "fused_c" / "kernel.c"
FLAGS = "-O3 -march=native -mprefer-vector-width=512 -ffast-math -fopenmp -shared -fPIC".split()
# Economy fields, in the order of kernel.c's enum
FIELDS = tuple(
    """drift_p sig_p jump_p_gen drift_d sig_d jump_d_gen G log_s units log_gain max_u revenue_keep
    idle energy_rate log_elec coloc_rate log_coloc staff maint gpu_price price0 i_month payment
    dep_hw dep_fac tax_rate log_disc salvage lam_gen month0 log_p0 log_d0 L training K""".split()
)
MONTH_BINS, SCALAR_BINS, DECILES, KNOTS, BLOCK = 4096, 16384, 10, 1025, 1024
STAGES = ("C draws", "C + month step", "C + month histograms", "C + per-future aggregates")


class Job(ctypes.Structure):
    _fields_ = [
        *[
            (name, ctypes.c_int32)
            for name in ("n", "T", "dep_months", "fac_months", "term", "terms_gen", "stage", "k")
        ],
        ("key_shocks", ctypes.c_uint32 * 2),
        ("key_arrivals", ctypes.c_uint32 * 2),
        ("rho", ctypes.c_float),
        ("shift", ctypes.c_float),
        *[
            (name, ctypes.c_void_p)
            for name in (
                "index",
                "econ",
                "scores",
                "month_map",
                "scalar_map",
                "knots",
                "decile_edges",
                "npv",
                "breakeven",
                "payback",
                "month_counts",
                "month_min",
                "month_max",
                "scalar_counts",
                "scalar_lower",
                "scalar_upper",
                "event_counts",
                "decile_counts",
                "decile_recouped",
                "sums",
            )
        ],
        ("ncol", ctypes.c_int32),
        ("checksum", ctypes.c_void_p),
    ]


def build() -> ctypes.CDLL | None:
    """Compile kernel.c (cached by the hash of source and flags); None without a C compiler."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode()).hexdigest()[:16]
    out = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mcengine" / "fused_c"
    lib = out / f"kernel-{digest}.so"
    if not lib.exists():
        out.mkdir(parents=True, exist_ok=True)
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run([cc, *FLAGS, "-o", str(tmp), str(SOURCE), "-lm"], check=True)
        tmp.replace(lib)
    so = ctypes.CDLL(str(lib))
    so.fused_run.argtypes = [ctypes.POINTER(Job), ctypes.c_int]
    so.fused_run.restype = ctypes.c_int
    return so


def default_spec(T: int):
    from mcengine.config import to_plain
    from mcengine.model.spec import ModelSpec

    cfg = H.load_cfg(None, [*H.QUIET, f"horizon_months={T}"])
    return ModelSpec.from_config(to_plain(cfg)), int(H.cfg_get(cfg, "seed", 0))


def check_parts(parts) -> None:
    """The C kernel implements the default scenario's parts only (any horizon: the padding of
    the last depreciation epoch is an artefact of the JAX loop, and C needs none)."""
    wanted = dict(
        financed=True,
        replacing=True,
        shrinking=False,
        taxed=True,
        variable=False,
        vol_demand=True,
        need_z=True,
        terms_rel=0,
    )
    wrong = {k: getattr(parts, k) for k, v in wanted.items() if getattr(parts, k) != v}
    if wrong or not 1 <= parts.terms_gen <= 8:
        raise SystemExit(f"fused_c: the C kernel covers the default scenario only; got {wrong}")


def inputs_fn(spec, seed: int):
    """Jitted ``index -> (scores (k, n), Economy fields (NF, n))``: what the C loop reads."""
    import jax
    import jax.numpy as jnp

    from mcengine.model.economy import economy, scenario_parts

    parts = scenario_parts(spec)

    @jax.jit
    def f(index):
        scores = spec.inputs.normal_scores(seed, index, jnp.float32)
        drawn = spec.inputs.transform(scores)
        zeros = jnp.zeros(index.shape, jnp.float32)
        e = economy(spec, parts, drawn, zeros, jnp.float32)
        rows = [
            jnp.broadcast_to(jnp.asarray(getattr(e, k), jnp.float32), index.shape) for k in FIELDS
        ]
        return scores, jnp.stack(rows)

    return f


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


class Fused:
    """One set of futures, its inputs and output buffers, ready to run any stage."""

    def __init__(self, so, spec, seed: int, index: np.ndarray, scores, econ, knots, maps):
        from mcengine import random as mcr
        from mcengine.chunk import DECILE_EDGES
        from mcengine.chunk import sum_columns as layout
        from mcengine.model.economy import scenario_parts

        parts = scenario_parts(spec)
        check_parts(parts)
        self.so, self.n, self.T, self.k = so, index.size, spec.horizon, scores.shape[0]
        self.scores = scores
        T, n, k = self.T, self.n, self.k
        keep = self.keep = []  # every array the Job points to stays alive with it

        def arr(x, dtype):
            a = np.ascontiguousarray(x, dtype)
            keep.append(a)
            return _ptr(a)

        self.out = {
            "npv": np.zeros(n, np.float32),
            "breakeven": np.zeros(n, np.int32),
            "payback": np.zeros(n, np.int32),
            "month_counts": np.zeros((T + 1, MONTH_BINS), np.int32),
            "month_min": np.zeros(T + 1, np.float32),
            "month_max": np.zeros(T + 1, np.float32),
            "scalar_counts": np.zeros((3, SCALAR_BINS), np.int32),
            "scalar_lower": np.zeros((3, SCALAR_BINS), np.float32),
            "scalar_upper": np.zeros((3, SCALAR_BINS), np.float32),
            "event_counts": np.zeros((2, T + 2), np.int32),
            "decile_counts": np.zeros((k, DECILES), np.int32),
            "decile_recouped": np.zeros((k, DECILES), np.int32),
        }
        self.ncol = sum(s.stop - s.start for s in layout(k, True).values())
        self.out["sums"] = np.zeros((n // BLOCK, self.ncol), np.float32)
        self.checksum = np.zeros(1, np.float64)
        key = lambda name: (ctypes.c_uint32 * 2)(*np.asarray(mcr.stream_key(seed, name)))  # noqa: E731
        self.job = Job(
            n=n,
            T=T,
            dep_months=parts.dep_months,
            fac_months=parts.fac_months,
            term=parts.term,
            terms_gen=parts.terms_gen,
            stage=0,
            k=k,
            key_shocks=key("process/shocks"),
            key_arrivals=key("process/arrivals"),
            rho=parts.rho,
            shift=float(np.median(knots)),
            index=arr(index, np.uint32),
            econ=arr(econ, np.float32),
            scores=arr(scores, np.float32),
            month_map=arr(maps[0], np.float32),
            scalar_map=arr(maps[1], np.float32),
            knots=arr(knots, np.float32),
            decile_edges=arr(DECILE_EDGES, np.float32),
            ncol=self.ncol,
            checksum=_ptr(self.checksum),
            **{name: _ptr(a) for name, a in self.out.items()},
        )

    def run(self, stage: int, threads: int) -> None:
        for name, a in self.out.items():  # fresh accumulators, as a new chunk would have
            a.fill(
                np.inf
                if name in ("month_min", "scalar_lower")
                else -np.inf
                if name in ("month_max", "scalar_upper")
                else 0
            )
        self.checksum[0] = 0.0
        self.job.stage = stage
        if self.so.fused_run(ctypes.byref(self.job), threads) != 0:
            raise RuntimeError("fused_run rejected the job (n must be a multiple of 1024)")


def bin_maps(npv_pilot: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Histogram maps like the engine's pilot fit: symlog bins centred on the pilot's median."""
    center = float(np.median(npv_pilot))
    scale = float(np.subtract(*np.percentile(npv_pilot, [75, 25]))) or 1.0
    t = (npv_pilot - center) / scale
    y = np.sign(t) * np.log1p(np.abs(t))
    lo, hi = float(y.min()) - 1.0, float(y.max()) + 1.0
    month = np.array(
        [[center] * (T + 1), [scale] * (T + 1), [lo] * (T + 1), [MONTH_BINS / (hi - lo)] * (T + 1)]
    )
    scalar = np.array(
        [
            [center, 0.0, 0.0],
            [scale, 1.0, 1.0],
            [lo, -10.0, -10.0],
            [SCALAR_BINS / (hi - lo), SCALAR_BINS / 20, SCALAR_BINS / 20],
        ]
    )
    return month, scalar


def prepare(so, spec, seed: int, n: int, chunk: int = 1 << 16) -> tuple[Fused, float]:
    """Inputs for ``n`` futures from JAX (timed: best of 2 passes over chunks), and a Fused."""
    import jax
    import jax.numpy as jnp

    f = inputs_fn(spec, seed)
    starts = range(0, n, chunk)

    def all_inputs():
        return [f(jnp.arange(s, min(s + chunk, n), dtype=jnp.uint32)) for s in starts]

    timing = H.time_call(all_inputs, repeats=2)
    parts = jax.device_get(all_inputs())
    scores = np.concatenate([p[0] for p in parts], axis=1)
    econ = np.concatenate([p[1] for p in parts], axis=1)
    index = np.arange(n, dtype=np.uint32)
    # a pilot of the first futures (stage 1) gives the NPV knots and histogram maps
    pilot_n = min(n, 1 << 15)
    maps0 = bin_maps(np.array([-1.0, 1.0]), spec.horizon)
    pilot = Fused(
        so,
        spec,
        seed,
        index[:pilot_n],
        scores[:, :pilot_n],
        econ[:, :pilot_n],
        np.linspace(-1, 1, KNOTS),
        maps0,
    )
    pilot.run(1, 1)
    npv = pilot.out["npv"].astype(np.float64)
    knots = np.quantile(npv, np.linspace(0, 1, KNOTS))
    return Fused(so, spec, seed, index, scores, econ, knots, bin_maps(npv, spec.horizon)), timing[
        "best_s"
    ]


def verify(so, spec, seed: int, n: int = 8192) -> dict:
    """The C kernel against the engine's own kernel on the same futures: NPV and break-even."""
    import jax
    import jax.numpy as jnp

    from mcengine.chunk import DECILE_EDGES
    from mcengine.model.kernel import simulate

    fused, _ = prepare(so, spec, seed, n, chunk=n)
    fused.run(3, 2)
    out, T = fused.out, spec.horizon
    deciles = np.stack(
        [
            np.bincount(np.searchsorted(DECILE_EDGES, s, side="right"), minlength=10)
            for s in fused.scores
        ]
    )
    ref, _ = jax.jit(lambda i: simulate(spec, seed, i, jnp.float32))(
        jnp.arange(n, dtype=jnp.uint32)
    )
    ref_npv, ref_be = np.asarray(ref.npv, np.float64), np.asarray(ref.breakeven)
    c_npv, c_be = fused.out["npv"].astype(np.float64), fused.out["breakeven"]
    scale = np.maximum(np.abs(ref_npv), np.abs(np.asarray(ref.month0, np.float64)))
    return {
        "futures": n,
        "npv_max_rel_diff": float(np.max(np.abs(c_npv - ref_npv) / scale)),
        "breakeven_same": float(np.mean(c_be == ref_be)),
        "p_recoup_c": float(np.mean(c_be <= spec.horizon)),
        "p_recoup_engine": float(np.mean(ref_be <= spec.horizon)),
        # the C aggregates against NumPy on the same run's per-future outputs
        "month_counts_ok": bool((out["month_counts"].sum(axis=1) == n).all()),
        "events_ok": bool((out["event_counts"][0] == np.bincount(c_be, minlength=T + 2)).all()),
        "deciles_ok": bool((out["decile_counts"] == deciles).all()),
        "npv_sum_rel_diff": float(
            abs(out["sums"][:, 0].sum(dtype=np.float64) - (c_npv - fused.job.shift).sum())
            / np.abs(c_npv - fused.job.shift).sum()
        ),
    }


def task_engine(n: int, T: int, repeats: int) -> dict:
    return H.task_engine(None, [f"n_samples={n}", f"horizon_months={T}"], repeats=repeats)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="futures (rounded up to 1024s)")
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--quick", action="store_true", help="n=2^18, 2 repeats")
    ap.add_argument("--no-jax", action="store_true", help="skip the JAX limit and engine rows")
    ap.add_argument("--no-json", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 262_144, 2
    so = build()
    if so is None:
        print("fused_c: no C compiler found (set CC); skipped")
        return {}
    n = -(-args.n // BLOCK) * BLOCK
    T, sm = args.months, n * args.months
    spec, seed = default_spec(T)
    check = verify(so, spec, seed)
    print(
        f"check against mcengine.model.kernel.simulate ({check['futures']} futures): NPV max "
        f"rel diff {check['npv_max_rel_diff']:.2g}, same break-even month "
        f"{check['breakeven_same']:.2%}, P(recoup) C {check['p_recoup_c']:.4f} vs engine "
        f"{check['p_recoup_engine']:.4f}; C aggregates vs NumPy: month counts "
        f"{check['month_counts_ok']}, events {check['events_ok']}, deciles {check['deciles_ok']}, "
        f"NPV sum rel diff {check['npv_sum_rel_diff']:.1g}"
    )
    print(f"fused C: {n:,} futures x {T} months, {args.threads} thread(s), gcc {' '.join(FLAGS)}")
    fused, inputs_s = prepare(so, spec, seed, n)
    rows = []
    for stage, label in enumerate(STAGES):
        times = []
        for _ in range(args.repeats + 1):  # the first run warms the caches and the thread pool
            t0 = time.perf_counter()
            fused.run(stage, args.threads)
            times.append(time.perf_counter() - t0)
        best = min(times[1:])
        rows.append({"row": label, "best_s": best, "msps": H.msps(sm, best)})
    rows.append({"row": "JAX inputs (Economy)", "best_s": inputs_s, "msps": H.msps(sm, inputs_s)})
    full = rows[len(STAGES) - 1]["best_s"] + inputs_s
    rows.append({"row": "C loop + JAX inputs", "best_s": full, "msps": H.msps(sm, full)})
    draws = rows[0]["best_s"]
    p_recoup = float(np.mean(fused.out["breakeven"] <= T))
    out: dict = {"n_samples": n, "horizon_months": T, "threads": args.threads, "check": check}
    if not args.no_jax:
        import prng

        limit = prng.main(["--no-json", "--no-engine", "--n", str(n), "--months", str(T)])
        eng = H.run_child(__file__, "engine", n=n, T=T, repeats=args.repeats)
        out["prng_bound_msps"] = limit["prng_bound_msps"]
        rows.append(
            {
                "row": "JAX PRNG limit",
                "best_s": sm / limit["prng_bound_msps"],
                "msps": limit["prng_bound_msps"],
            }
        )
        if "msps" in eng:
            rows.append({"row": "JAX engine", "best_s": sm / eng["msps"], "msps": eng["msps"]})
            out["engine_p_recoup"] = eng["p_recoup"]
    for row in rows:
        row["ns_per_sample_month"] = 1e9 * row["best_s"] / sm
        row["x_c_draws"] = row["best_s"] / draws
        if "prng_bound_msps" in out:
            row["x_jax_limit"] = out["prng_bound_msps"] / row["msps"]
    H.print_table(
        rows,
        ["row", "msps", "ns_per_sample_month", "x_c_draws", "x_jax_limit"],
        title="Hand-fused C month loop (msps = sample-months/s; x_* = times slower than)",
    )
    print(
        f"P(recoup) of the C run: {p_recoup:.5f}"
        + (f"; engine {out['engine_p_recoup']:.5f}" if "engine_p_recoup" in out else "")
    )
    out.update(rows=rows, p_recoup_c=p_recoup, flags=FLAGS)
    if not args.no_json:
        H.write_json("fused_c", out)
    return out


if __name__ == "__main__":
    if H.child_main({"engine": task_engine}):
        sys.exit(0)
    main()
