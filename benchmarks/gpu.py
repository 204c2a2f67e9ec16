"""Run the engine benchmarks on a GPU and record them in ``benchmarks/results/gpu_<device>.json``.

What it measures, all on the default scenario, end to end through ``mcengine.simulate``
(sampling, model, aggregation; compile reported separately), in this order (the most needed
first, and the JSON rewritten after each, so a run cut off by a device time limit keeps what it
measured):

1. throughput against n_samples (1e6 .. ``--max-n`` at 120 months; target: 1e10
   sample-months/s on one H100 at the largest n),
2. the PRNG-bound limit (``prng.py``'s counter-API kernels and jax.random impls, chunk 2^22),
3. where the time goes: ``ablation.py``'s rows (the engine with the month step, the month
   histograms, the sensitivity sums and the shock draws stubbed out in turn) at 2^26 x 120, so
   the gap to the device's limit is measured part by part,
4. throughput against ``chunk_size`` (null = auto = one 2^21 tile, then 2^22 .. 2^24) at 1e8 x
   120;

and device memory (``peak_bytes_in_use`` from ``device.memory_stats()``) with each engine row.

Needs: jax with the CUDA plugin, numpy, scipy, xarray, pyyaml, and ``mcengine`` importable
(the repo root is put on ``sys.path``). It does **not** need hydra-core: the config comes from
``mcengine.load_config`` only if that imports, else it is composed from ``conf/*.yaml`` with
OmegaConf, or with plain PyYAML dicts if OmegaConf is missing too (see ``_harness.load_cfg``).

``--cpu`` runs the same code on the CPU with small sizes (for testing the script anywhere).
Run: ``python benchmarks/gpu.py`` on the GPU machine; ``python benchmarks/gpu.py --cpu`` here.
Checked to run unchanged in a Python 3.12 environment holding only what the lent GPU machines'
image has of its needs (jax 0.11.2, numpy, scipy, xarray, pyyaml, tqdm, matplotlib, h5py; no
hydra-core, omegaconf or h5netcdf), with ``--cpu``. On a lent machine, one call:
``PYTHONUNBUFFERED=1 python3 benchmarks/gpu.py --max-n 1e9 --repeats 1 --out $OUT``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import _harness as H


def device_memory_peak() -> float | None:
    """Peak device bytes in use (GiB) across local devices, if the backend reports it."""
    import jax

    peaks = []
    for d in jax.local_devices():
        try:
            stats = d.memory_stats() or {}
        except Exception:  # noqa: BLE001 - CPU backend has none
            stats = {}
        if "peak_bytes_in_use" in stats:
            peaks.append(stats["peak_bytes_in_use"])
    return max(peaks) / 2**30 if peaks else None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu", action="store_true", help="run on CPU with small sizes (testing)")
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--max-n", type=float, default=1e9)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-prng", action="store_true")
    ap.add_argument("--skip-ablation", action="store_true")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for the JSON (default benchmarks/results); rewritten after every section, "
        "so a run cut off by a time limit keeps what it measured",
    )
    args = ap.parse_args(argv)
    if args.cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
    # the PRNG and ablation rows run in child processes beside this one: with JAX's default
    # preallocation of 75 % of device memory here, a child would find too little left
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    if not args.cpu and jax.default_backend() == "cpu":
        print(
            "no GPU backend found (jax.default_backend() == 'cpu'); use --cpu to test on CPU",
            file=sys.stderr,
        )
        return {}
    # a child that cannot start the GPU must fail, not fall back to CPU numbers recorded as GPU
    os.environ.setdefault("JAX_PLATFORMS", jax.default_backend())
    dev = jax.devices()[0]
    kind = dev.device_kind
    print(
        f"device: {kind} x{jax.device_count()}, jax {jax.__version__}, "
        f"backend {jax.default_backend()}",
        flush=True,
    )
    out: dict = {
        "device_kind": kind,
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
    }
    t0 = time.perf_counter()
    name = (
        "gpu_cputest" if args.cpu else "gpu_" + re.sub(r"[^a-z0-9]+", "_", kind.lower()).strip("_")
    )
    # until the last section is done, results go to a .partial file (unless --out is given), so
    # a cut-off run never replaces a complete earlier one
    final = (args.out or H.RESULTS_DIR) / f"{name}.json"
    partial = final if args.out is not None else final.with_suffix(".partial.json")

    def save(section: str, done: bool = False) -> None:
        out["sections_done"] = [*out.get("sections_done", []), section]
        out["total_wall_s"] = time.perf_counter() - t0
        H.write_json(name, out, final if done else partial)
        if done and partial != final:
            partial.unlink(missing_ok=True)

    # 1. throughput vs n_samples
    ns = [10**4, 10**5] if args.cpu else [10**k for k in range(6, 10) if 10**k <= args.max_n]
    rows = []
    for n in ns:
        r = H.run_engine(
            args.scenario, [f"n_samples={n}", "horizon_months=120"], repeats=args.repeats
        )
        r.pop("runs", None)
        rows.append({"point": f"n={n:.0e}", **r, "device_peak_gib": device_memory_peak()})
        print(
            f"  n={n:.0e}: {r['msps']:.3g} sample-months/s (compile {r['compile_time_s']:.1f} s)",
            flush=True,
        )
        out["n"] = rows
        save(f"n={n:.0e}")
    H.print_table(
        rows,
        [
            "point",
            "run_time_s",
            "msps",
            "msps_e2e",
            "compile_time_s",
            "chunk_size",
            "device_peak_gib",
            "p_recoup",
        ],
        title="GPU: throughput against n_samples (T = 120)",
    )
    out["n"] = rows
    out["headline_msps"] = rows[-1]["msps"]
    out["target_msps"] = 1e10

    # 2. PRNG-bound limit
    if not args.skip_prng:
        import prng

        pargs = [
            "--no-json",
            "--n",
            str(2**18 if args.cpu else 2**26),
            "--chunk",
            str(2**14 if args.cpu else 2**22),
        ]
        out["prng"] = prng.main(pargs)
        save("prng")

    # 3. where the time goes (fresh processes, like the engine rows' own benchmark)
    if not args.skip_ablation:
        import ablation

        out["ablation"] = ablation.main(
            ["--no-json", "--n", str(2**14 if args.cpu else 2**26), "--repeats", str(args.repeats)]
        )
        save("ablation")
    # 4. throughput vs chunk_size (last: the least needed when device time is short)
    n = 10**5 if args.cpu else 10**8
    sizes = [2**14, 2**15] if args.cpu else [2**22, 2**23, 2**24]  # tiles: 2^21 per GPU
    rows = []
    for c in [None, *sizes]:
        ov = [f"n_samples={n}", "horizon_months=120", f"chunk_size={'null' if c is None else c}"]
        try:
            r = H.run_engine(args.scenario, ov, repeats=args.repeats)
        except Exception as exc:  # noqa: BLE001 - e.g. out of device memory at a huge chunk
            rows.append({"point": f"chunk={c}", "error": repr(exc)[:300]})
            continue
        r.pop("runs", None)
        rows.append({"point": f"chunk={c or 'auto'}", **r, "device_peak_gib": device_memory_peak()})
    H.print_table(
        rows,
        ["point", "chunk_size", "run_time_s", "msps", "compile_time_s", "device_peak_gib"],
        title=f"GPU: throughput against chunk_size (n={n:,})",
    )
    out["chunk"] = rows
    save("chunk", done=True)

    return out


if __name__ == "__main__":
    main()
