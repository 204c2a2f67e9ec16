"""Where the engine's time goes: the default scenario with parts of the engine taken out.

The PRNG-bound limit (``prng.py``) says how fast the model's random numbers can be drawn at all.
This script answers the complementary question: how fast would the engine be if a part of its
work cost nothing? Each row runs the real engine (``mcengine.simulate``, default devices and
chunking, same futures and months) in a fresh process with one more part replaced by a stub:

* ``engine``             - the default scenario as shipped;
* ``stub month step``    - the month step of MODEL.md replaced by a stub that only advances the
  price and demand walks with every drawn shock and arrival and adds the month's price to V, so
  the draws are still made and consumed, and V still feeds the per-month histograms;
* ``+ no month histograms`` - also the per-month histogram, minimum and maximum of V replaced by
  constants (only with the stub step, whose observer it replaces);
* ``+ no sensitivity``   - also ``sensitivity.deciles=false`` (no decile, Spearman and rank sums);
* ``+ no shock draws``   - also the monthly shocks replaced by constants (what remains: input
  sampling, the minimal month loop, the per-future aggregates).

Each row's ``saved_ns`` is what the part it removes costs per sample-month (wall time, all
devices). The ``+ no shock draws`` saving is the engine's own price for its monthly random
numbers, to set beside ``prng.py``'s limit (which ``--limit`` runs in the same invocation); it
also holds what the engine does with the raw draws (the Poisson counts' inverse CDF, mixing the
correlated demand shock, packing pairs), which the limit does not, and the limit also holds the
input uniforms, which this row keeps.

Reading it against the PRNG-bound limit: the engine is within 2x of the limit only if everything
but the draws costs no more than the draws. If even a row with the model stubbed out runs more
than 2x below the limit, no optimisation of the month step alone can bring the engine there.

These rows do not compute the model's answer (their P(recoup) is meaningless); they exist only
to measure. Run: ``python benchmarks/ablation.py [--quick] [--n 1000000] [--months 120]``.
"""

from __future__ import annotations

import argparse
import sys

import _harness as H

ROWS = [
    ("engine", ()),
    ("stub month step", ("step",)),
    ("+ no month histograms", ("step", "histograms")),
    ("+ no sensitivity", ("step", "histograms", "sensitivity")),
    ("+ no shock draws", ("step", "histograms", "sensitivity", "draws")),
]


def _stub_step(parts, e, T, observe):
    """A month step that keeps the draws alive and does (almost) no model arithmetic."""
    import jax.numpy as jnp

    from mcengine.model.loop import unpack

    def step(carry, x):
        m, (shocks, arrivals), _leaving = x
        z, w = unpack(shocks, parts.need_z, parts.vol_demand)
        n_gen, n_rel = unpack(arrivals, parts.terms_gen > 0, parts.terms_rel > 0)
        log_p, log_d = carry["log_p"], carry["log_d"]
        for shock, scale in ((z, e.sig_p), (n_gen, e.jump_p_gen), (n_rel, e.jump_p_rel)):
            log_p = log_p if shock is None else log_p + scale * shock
        for shock, scale in ((w, e.sig_d), (n_gen, e.jump_d_gen), (n_rel, e.jump_d_rel)):
            log_d = log_d if shock is None else log_d + scale * shock
        cum_disc = carry["cum_disc"] + jnp.exp(log_p) * e.units + log_d
        new = dict(carry, log_p=log_p, log_d=log_d, cum_disc=cum_disc)
        seen = observe(m, cum_disc) if observe is not None else None
        return new, (seen, e.zeros if parts.ring else 0)

    return step


def _constant_observe(bins: int):
    """An ``observe`` with the month histogram's shapes and no work."""
    import jax.numpy as jnp

    def observe(m, cum):
        zero = jnp.zeros((), cum.dtype)
        return jnp.zeros(bins, jnp.int32), zero, zero

    return observe


def _constant_draw(spec, parts, e, seed, index, dtype):
    """A ``draw(block_months)`` with the shapes of the real one and no random numbers."""
    import jax.numpy as jnp

    from mcengine.model.loop import pack

    def draw(block_months):
        shape = (block_months.shape[0], index.shape[0])
        const = lambda on: jnp.full(shape, 0.5, dtype) if on else None  # noqa: E731
        return (
            pack(const(parts.need_z), const(parts.vol_demand)),
            pack(const(parts.terms_gen > 0), const(parts.terms_rel > 0)),
        )

    return draw


def task_ablated(ablate: list[str], overrides: list[str], repeats: int) -> dict:
    """``run_child`` handler: the engine with the parts in ``ablate`` stubbed out."""
    from mcengine.chunk import MONTH_BINS
    from mcengine.model import kernel

    if "histograms" in ablate and "step" not in ablate:
        raise ValueError("'histograms' replaces the stub step's observer: ablate 'step' too")
    if "step" in ablate:
        light = _constant_observe(MONTH_BINS) if "histograms" in ablate else None
        kernel._step_fn = lambda parts, e, T, observe: _stub_step(parts, e, T, light or observe)
    if "draws" in ablate:
        kernel._draw_fn = _constant_draw
    if "sensitivity" in ablate:
        overrides = [*overrides, "sensitivity.deciles=false"]
    res = H.task_engine(None, overrides, repeats=repeats)
    res["ablate"] = list(ablate)
    return res


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="futures")
    ap.add_argument("--months", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3, help="main passes per row (best is kept)")
    ap.add_argument("--quick", action="store_true", help="n=2^18, 2 repeats")
    ap.add_argument("--limit", action="store_true", help="also run prng.py's limit (same n, T)")
    ap.add_argument("--no-json", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 262_144, 2
    n, T = args.n, args.months
    print(f"Ablation: default scenario, {n:,} futures x {T} months, one fresh process per row")
    rows = []
    for label, ablate in ROWS:
        # each child picks the engine's own default devices (mcengine/__init__.py)
        res = H.run_child(
            __file__,
            "ablated",
            ablate=list(ablate),
            overrides=[f"n_samples={n}", f"horizon_months={T}"],
            repeats=args.repeats,
        )
        if "error" in res:
            print(f"{label}: {res['error']}", file=sys.stderr)
            rows.append({"row": label, "ablate": list(ablate), "error": res["error"]})
            continue
        rows.append(
            {
                "row": label,
                "msps": res["msps"],
                "ns_per_sample_month": 1e9 / res["msps"],
                "devices": res["device_count"],
                "backend": res["backend"],
                "chunk": res["chunk_size"],
                "ablate": list(ablate),
            }
        )
    # a part's cost is the difference to the row before, and only between two measured rows
    for prev, row in zip(rows, rows[1:], strict=False):
        if "msps" in prev and "msps" in row:
            row["saved_ns"] = prev["ns_per_sample_month"] - row["ns_per_sample_month"]
    if "msps" in rows[0]:
        for row in rows:
            if "msps" in row:
                row["speedup_vs_engine"] = row["msps"] / rows[0]["msps"]
    H.print_table(
        rows,
        ["row", "msps", "ns_per_sample_month", "saved_ns", "speedup_vs_engine"],
        title="Engine main-pass throughput with parts stubbed out (msps = sample-months/s)",
    )
    out = {"n_samples": n, "horizon_months": T, "rows": rows}
    if args.limit:
        import prng

        limit = prng.main(["--no-json", "--no-engine", "--n", str(n), "--months", str(T)])
        out["prng_bound_msps"] = limit["prng_bound_msps"]
        for row in rows:
            if "msps" in row:
                row["below_limit"] = limit["prng_bound_msps"] / row["msps"]
        H.print_table(
            rows,
            ["row", "msps", "below_limit"],
            title=f"Against the PRNG-bound limit ({limit['prng_bound_msps']:.3g} sample-months/s)",
        )
    if not args.no_json:
        H.write_json("ablation", out)
    return out


if __name__ == "__main__":
    if H.child_main({"ablated": task_ablated}):
        sys.exit(0)
    main()
