"""PRNG-bound limit: how fast can the random numbers the model needs be drawn at all?

The engine draws its monthly shocks through ``mcengine.random`` (threefry2x32 applied to the
counter pair ``(future index, counter)``, one call -> two uint32 words). This script times *only*
those draws, for the same chunk shape the engine uses (a ``lax.scan`` over months on a chunk of
futures), so the engine's end-to-end throughput can be compared with the PRNG-bound limit
("within 2x of it" is the target of issue 5). It also splits where the time goes:

* ``bits``       - threefry2x32 words only (``random_bits``),
* ``uniforms``   - + conversion to float32 on (0, 1) (``uniforms``),
* ``normals``    - + inverse normal CDF (``normals``: ``ndtri`` of a uniform),
* ``model``      - exactly the per-future-month draws the model needs (``--normals`` normals
  and ``--uniforms`` uniforms per future-month, each group from its own stream key) plus the
  per-future input draws amortised over the horizon (``--inputs`` uniforms per future), drawn
  month by month inside the scan,
* ``model-blocked`` - the same numbers drawn the way the engine draws them: 12 months at a time
  as one (12, chunk) array per stream before the months run (``mcengine.model.kernel``).
  The faster of the two model rows is the PRNG-bound limit.

The budget (normals, uniforms per future-month; input uniforms per future) is the default
scenario's, read from ``mcengine.model.kernel.monthly_draws``; override with the flags.

The same run then times the engine itself on the default scenario (``mcengine.simulate``, same
futures and months, in a fresh process with the engine's default devices and chunking; best of
``--repeats`` main passes) and reports how far below the limit it runs (``--no-engine`` skips it).

and compares with ``jax.random`` bulk draws under each PRNG implementation (threefry2x32, rbg,
unsafe_rbg, threefry4x32, philox2x32, philox4x32), same number of values, so the lead can choose.

Every drawn number is folded into a running sum so XLA cannot drop it; that adds one add per
number, which is part of any real use too.

Run: ``python benchmarks/prng.py [--quick] [--n 1000000] [--months 120] [--chunk 65536]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial

import _harness as H
import jax
import jax.numpy as jnp
import numpy as np

IMPLS = ["threefry2x32", "rbg", "unsafe_rbg", "threefry4x32", "philox2x32", "philox4x32"]


def model_draw_counts(scenario: str | None = None) -> dict[str, int]:
    """The random-number budget of the scenario (default: the default scenario): normals and
    uniforms per future-month (``mcengine.model.kernel.monthly_draws``) and uniforms per future
    (one per uncertain input)."""
    from mcengine.config import to_plain
    from mcengine.model.kernel import monthly_draws
    from mcengine.model.spec import ModelSpec

    spec = ModelSpec.from_config(to_plain(H.load_cfg(scenario, list(H.QUIET))))
    return {**monthly_draws(spec), "inputs": len(spec.inputs.paths)}


# --------------------------------------------------------------------------------------------
# Counter-API kernels (mcengine.random): one chunk of futures, lax.scan over months
# --------------------------------------------------------------------------------------------


def _counter_kernel(kind: str, n_normals: int, n_uniforms: int, n_inputs: int, months: int):
    """A jitted ``f(start) -> (chunk,) float32`` drawing ``kind`` numbers for one chunk."""
    from mcengine import random as mr

    keys_n = mr.stream_key(0, "process/price")
    keys_u = mr.stream_key(0, "process/jumps")
    key_in = mr.stream_key(0, "inputs")

    @partial(jax.jit, static_argnums=1)
    def f(start, chunk):
        idx = start + jnp.arange(chunk, dtype=jnp.uint32)
        acc0 = jnp.zeros(chunk, jnp.float32)
        if n_inputs:  # per-future inputs: counter 0 of their own stream, amortised over months
            for u in mr.uniforms(key_in, idx, 0, n_inputs):
                acc0 = acc0 + u

        def month(acc, m):
            m = m.astype(jnp.uint32)
            if kind == "bits":  # n_normals + n_uniforms values = that many 32-bit words
                for c in range((n_normals + n_uniforms + 1) // 2):
                    w0, w1 = mr.random_bits(keys_n, idx, m * 8 + c)
                    acc = acc + (w0 ^ w1).astype(jnp.float32)
            elif kind == "uniforms":
                for u in mr.uniforms(keys_n, idx, m, n_normals + n_uniforms):
                    acc = acc + u
            elif kind == "normals":
                for z in mr.normals(keys_n, idx, m, n_normals + n_uniforms):
                    acc = acc + z
            else:  # "model": normals and uniforms from separate streams, like the engine
                for z in mr.normals(keys_n, idx, m, n_normals) if n_normals else []:
                    acc = acc + z
                for u in mr.uniforms(keys_u, idx, m, n_uniforms) if n_uniforms else []:
                    acc = acc + u
            return acc, None

        if kind == "model-blocked":  # 12 months per draw, like mcengine.model.kernel

            def block(acc, ms):
                counter = ms.astype(jnp.uint32)[:, None]
                drawn = mr.normals(keys_n, idx, counter, n_normals) if n_normals else []
                drawn += mr.uniforms(keys_u, idx, counter, n_uniforms) if n_uniforms else []
                return acc + sum(drawn).sum(axis=0), None  # one fusion per stream

            acc, _ = jax.lax.scan(block, acc0, jnp.arange(1, months + 1).reshape(-1, 12))
            return acc
        acc, _ = jax.lax.scan(month, acc0, jnp.arange(1, months + 1))
        return acc

    return f


def _jaxrandom_kernel(impl: str, dist: str, per_month: int, months: int):
    """jax.random: ``per_month`` values per future-month under ``impl``, drawn month by month in
    a ``lax.scan`` like the counter kernel (key folded with the month), same count of values."""

    @partial(jax.jit, static_argnums=1)
    def f(start, chunk):
        key = jax.random.fold_in(jax.random.key(0, impl=impl), start)

        def month(acc, m):
            k = jax.random.fold_in(key, m)
            shape = (per_month, chunk)
            x = jax.random.normal(k, shape) if dist == "normal" else jax.random.uniform(k, shape)
            return acc + x.sum(axis=0), None

        acc, _ = jax.lax.scan(month, jnp.zeros(chunk, jnp.float32), jnp.arange(1, months + 1))
        return acc

    return f


def _time_chunks(f, n: int, chunk: int, repeats: int) -> dict[str, float]:
    """Time ``f`` over ``ceil(n / chunk)`` chunks (what a chunked engine would do)."""
    starts = [np.uint32(s) for s in range(0, n, chunk)]

    def run():
        return [f(s, chunk) for s in starts]

    return H.time_call(run, repeats=repeats, warmup=1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="futures")
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--chunk", type=int, default=65_536, help="futures per jitted call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--normals", type=int, default=None, help="normals per future-month")
    ap.add_argument("--uniforms", type=int, default=None, help="uniforms per future-month")
    ap.add_argument("--inputs", type=int, default=None, help="input uniforms per future")
    ap.add_argument("--quick", action="store_true", help="n=2^18, 1 repeat")
    ap.add_argument("--no-json", action="store_true")
    ap.add_argument("--no-engine", action="store_true", help="skip timing the engine itself")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 262_144, 1
    counts = model_draw_counts()
    nn = counts["normals"] if args.normals is None else args.normals
    nu = counts["uniforms"] if args.uniforms is None else args.uniforms
    ni = counts["inputs"] if args.inputs is None else args.inputs
    n, T, chunk = args.n, args.months, min(args.chunk, args.n)
    sm = n * T
    print(
        f"PRNG-bound limit: {n:,} futures x {T} months, chunk {chunk:,}; model draws {nn} "
        f"normals + {nu} uniforms per future-month, {ni} input uniforms per future; "
        f"backend {jax.default_backend()}, {jax.device_count()} device(s)"
    )

    rows = []
    for kind in ["bits", "uniforms", "normals", "model", "model-blocked"]:
        if kind == "model-blocked" and T % 12:
            continue
        f = _counter_kernel(kind, nn, nu, ni if kind.startswith("model") else 0, T)
        t = _time_chunks(f, n, chunk, args.repeats)
        values = sm * (nn + nu)
        rows.append(
            {
                "generator": "mcengine.random (threefry2x32 counter)",
                "what": kind,
                "compile_s": t["first_s"] - t["best_s"],
                "best_s": t["best_s"],
                "msps": H.msps(sm, t["best_s"]),
                "M_values_per_s": values / t["best_s"] / 1e6,
            }
        )
    limit = min((r for r in rows if r["what"].startswith("model")), key=lambda r: r["best_s"])

    # jax.random under each implementation: same number of normals / uniforms per chunk.
    for impl in IMPLS:
        for dist, per in [("normal", nn), ("uniform", nu)]:
            if per == 0:
                continue
            try:
                f = _jaxrandom_kernel(impl, dist, per, T)
                t = _time_chunks(f, n, chunk, args.repeats)
            except Exception as exc:  # noqa: BLE001 - an impl missing in this jax
                print(f"  {impl} {dist}: {exc!r}", file=sys.stderr)
                continue
            rows.append(
                {
                    "generator": f"jax.random {impl}",
                    "what": f"{dist} x{per}",
                    "compile_s": t["first_s"] - t["best_s"],
                    "best_s": t["best_s"],
                    "msps": H.msps(sm, t["best_s"]),
                    "M_values_per_s": sm * per / t["best_s"] / 1e6,
                }
            )

    H.print_table(
        rows,
        ["generator", "what", "best_s", "msps", "M_values_per_s", "compile_s"],
        title="Time to draw the random numbers only (msps = sample-months/s)",
    )
    print(
        f"\nPRNG-bound limit for the model's per-future-month draws: {limit['msps']:.3g} "
        f"sample-months/s ({limit['best_s']:.3f} s for {sm:.3g} sample-months)"
    )
    bits = rows[0]["best_s"]
    unif = rows[1]["best_s"]
    norm = rows[2]["best_s"]
    print(
        f"where the time goes (all {nn + nu} values as): threefry bits {bits:.3f} s, "
        f"+ float conversion {unif - bits:+.3f} s, + ndtri {norm - unif:+.3f} s"
    )
    out = {
        "n_samples": n,
        "horizon_months": T,
        "chunk": chunk,
        "draws": {"monthly_normals": nn, "monthly_uniforms": nu, "input_uniforms": ni},
        "prng_bound_msps": limit["msps"],
        "rows": rows,
    }
    if not args.no_engine:
        # this script imports jax before mcengine could pick its devices, so the child gets the
        # engine's own default (one CPU device per core) through XLA_FLAGS
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            flags += f" --xla_force_host_platform_device_count={os.cpu_count() or 1}"
        eng = H.run_child(
            __file__,
            "engine",
            env={"XLA_FLAGS": flags.strip()},
            overrides=[f"n_samples={n}", f"horizon_months={T}"],
            repeats=max(2, args.repeats),
        )
        if "error" in eng:
            print(f"engine run failed: {eng['error']}", file=sys.stderr)
        else:
            ratio = limit["msps"] / eng["msps"]
            print(
                f"engine (default scenario, same futures and months, "
                f"{eng['device_count']} device(s), chunk {eng['chunk_size']:,}): "
                f"{eng['msps']:.3g} sample-months/s = {ratio:.2f}x below the PRNG-bound limit"
            )
            out["engine"] = eng
            out["engine_below_limit"] = ratio
    if not args.no_json:
        H.write_json("prng", out)
    return out


if __name__ == "__main__":
    if H.child_main({"engine": H.task_engine}):
        sys.exit(0)
    main()
