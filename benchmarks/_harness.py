"""Shared helpers for the benchmark scripts in ``benchmarks/``.

Everything here is deliberately free of Hydra: ``benchmarks/gpu.py`` must run on an image that
lacks ``hydra-core`` (and possibly ``omegaconf``), so configs are built by :func:`load_cfg`, which
uses ``mcengine.load_config`` when it imports, else composes the YAML files itself.

Contents:

* :func:`time_call` — warm-up (reported separately: compile + first call), then best-of-k and
  median wall time; JAX outputs are blocked on.
* :func:`print_table` — fixed-width text table.
* :func:`machine_info` / :func:`write_json` — every results file records the machine (cpu count
  and model, memory, jax version, backend, device kinds, date, git commit).
* :func:`run_child` / :func:`child_main` — run one measurement in a fresh Python subprocess and get
  its result plus its own peak RSS (``VmHWM``), so memory is per point and JIT caches, PRNG
  settings and XLA flags do not leak between points.
* :func:`load_cfg`, :func:`run_engine` — build a config and run ``mcengine.simulate`` once,
  returning the timing attributes in a flat dict.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
CONF_DIR = REPO_ROOT / "conf"

# Make ``import mcengine`` work when a script is run as ``python benchmarks/NAME.py`` from a
# checkout without an installed package.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def block(x: Any) -> Any:
    """Wait for every JAX array in ``x`` (no-op for NumPy / Python values)."""
    try:
        import jax

        return jax.block_until_ready(x)
    except Exception:  # noqa: BLE001 - jax missing or non-array leaves
        return x


def time_call(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Time ``fn()``: ``warmup`` untimed calls (the first one's time is reported as ``first_s``,
    i.e. compile + first run), then ``repeats`` timed calls. Returns best/median/all times (s)."""
    first = None
    for _ in range(warmup):
        t0 = time.perf_counter()
        block(fn())
        if first is None:
            first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        times.append(time.perf_counter() - t0)
    return {
        "first_s": first if first is not None else float("nan"),
        "best_s": min(times),
        "median_s": statistics.median(times),
        "times_s": times,
    }


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def fmt(x: Any, digits: int = 3) -> str:
    """Compact human formatting: 3 significant digits, thousands as e-notation when large."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}" if abs(x) < 10**7 else f"{x:.2e}"
    if isinstance(x, float):
        if x != x:  # NaN
            return "nan"
        if x == 0:
            return "0"
        ax = abs(x)
        if ax >= 1e7 or ax < 1e-3:
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}g}" if ax < 1000 else f"{x:,.0f}"
    return str(x)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, title: str | None = None
) -> None:
    """Print ``rows`` (dicts) as a left/right aligned text table."""
    if not rows:
        print("(no rows)")
        return
    columns = list(columns or rows[0].keys())
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if title:
        print(f"\n{title}")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def msps(sample_months: float, seconds: float) -> float:
    """Sample-months per second (the headline unit)."""
    return sample_months / seconds if seconds > 0 else float("nan")


# --------------------------------------------------------------------------------------------
# Machine info and JSON output
# --------------------------------------------------------------------------------------------


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() if out.returncode == 0 else None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit and dirty.stdout.strip():
            commit += "-dirty"
        return commit
    except Exception:  # noqa: BLE001 - no git, not a checkout
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """Facts about this machine and software stack, recorded in every results file."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gib": _mem_total_gib(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
    }
    try:
        import numpy

        info["numpy_version"] = numpy.__version__
    except ImportError:
        pass
    try:
        import jax

        info["jax_version"] = jax.__version__
        info["jax_backend"] = jax.default_backend()
        info["device_count"] = jax.device_count()
        info["device_kinds"] = sorted({d.device_kind for d in jax.devices()})
    except Exception as exc:  # noqa: BLE001
        info["jax_error"] = repr(exc)
    return info


def _jsonable(x: Any) -> Any:
    """Convert NumPy scalars/arrays and paths so ``json.dump`` accepts them; NaN/inf -> None."""
    try:
        import numpy as np

        if isinstance(x, np.generic):
            x = x.item()
        elif isinstance(x, np.ndarray):
            x = x.tolist()
    except ImportError:
        pass
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(name: str, payload: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``payload`` plus ``machine`` info to ``benchmarks/results/<name>.json`` (atomic)."""
    path = path or RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine_info(),
        **payload,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_jsonable(doc), indent=2) + "\n")
    os.replace(tmp, path)
    print(f"\nwrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return path


# --------------------------------------------------------------------------------------------
# Peak memory and fresh subprocesses
# --------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (VmHWM; ru_maxrss elsewhere)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":  # bytes there
            kib //= 1024
    return kib / 1024


def rss_mib() -> float:
    """Current resident set size, MiB."""
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else float("nan")


_RESULT_TAG = "@@BENCH_RESULT@@ "


def child_main(handlers: dict[str, Callable[..., dict[str, Any]]]) -> bool:
    """If this process was started by :func:`run_child`, run the named handler and print its
    result (with ``rss_base_mib`` after imports and ``peak_rss_mib`` at the end); return True.

    Scripts call ``if child_main({...}): sys.exit(0)`` first thing under ``__main__``.
    """
    if len(sys.argv) < 3 or sys.argv[1] != "--child":
        return False
    spec = json.loads(sys.argv[2])
    handler = handlers[spec.pop("task")]
    base = rss_mib()
    out = handler(**spec)
    out["rss_base_mib"] = base
    out["peak_rss_mib"] = peak_rss_mib()
    print(_RESULT_TAG + json.dumps(_jsonable(out)), flush=True)
    return True


def run_child(
    script: str | Path,
    task: str,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run ``python SCRIPT --child '{"task": TASK, **kwargs}'`` in a fresh process.

    Returns the handler's dict, plus ``wall_s`` of the whole subprocess and ``child_maxrss_mib``
    from ``wait4`` (the kernel's own peak-RSS account of that child). On failure returns
    ``{"error": ...}`` instead of raising, so one bad point does not lose a long sweep.
    """
    spec = json.dumps({"task": task, **kwargs})
    full_env = {**os.environ, **(env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), "--child", spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=REPO_ROOT,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        return {"error": f"timeout after {timeout}s", "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    # ru_maxrss of RUSAGE_CHILDREN is the max over *all* children so far, so it is only a
    # cross-check; the per-point number is the child's own VmHWM.
    for line in stdout.splitlines():
        if line.startswith(_RESULT_TAG):
            res = json.loads(line[len(_RESULT_TAG) :])
            res["wall_s"] = wall
            return res
    tail = (stderr or stdout or "").strip().splitlines()[-15:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail), "wall_s": wall}


# --------------------------------------------------------------------------------------------
# Configs and the engine
# --------------------------------------------------------------------------------------------


def _parse_value(text: str) -> Any:
    """Parse an override's right-hand side the way YAML would (numbers, bools, null, lists)."""
    import yaml

    return yaml.safe_load(text)


def _set_dotted(d: dict, path: str, value: Any) -> None:
    keys = path.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = (
            _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def _compose_yaml(scenario: str | None, overrides: Sequence[str]) -> Any:
    """Compose ``conf/config.yaml`` + ``conf/scenario/<scenario>.yaml`` + overrides without Hydra.

    Uses OmegaConf when available (interpolations resolve), else plain dicts via PyYAML. The
    Hydra-only keys (``defaults``, ``hydra``) are dropped; ``+key=value`` / ``++key=value`` are
    accepted like plain ``key=value``.
    """
    import yaml

    base = yaml.safe_load((CONF_DIR / "config.yaml").read_text()) or {}
    defaults = base.pop("defaults", []) or []
    base.pop("hydra", None)
    if scenario is None:  # the scenario named in the defaults list, if any
        for item in defaults:
            if isinstance(item, dict) and "scenario" in item:
                scenario = item["scenario"]
    if scenario:
        scen = yaml.safe_load((CONF_DIR / "scenario" / f"{scenario}.yaml").read_text()) or {}
        scen.pop("defaults", None)
        base = _deep_merge(base, scen)
    for ov in overrides:
        key, _, val = ov.lstrip("+").partition("=")
        _set_dotted(base, key, _parse_value(val))
    try:
        from omegaconf import OmegaConf

        return OmegaConf.create(base)
    except ImportError:
        return base


def load_cfg(scenario: str | None = None, overrides: Sequence[str] = ()) -> Any:
    """A run config: ``mcengine.load_config`` when Hydra is installed, else YAML compose."""
    from mcengine import load_config

    kwargs = {"overrides": list(overrides)}
    if scenario is not None:
        kwargs["scenario"] = scenario
    try:
        return load_config(**kwargs)
    except ImportError:  # no hydra-core (e.g. the GPU image): compose the YAML files directly
        return _compose_yaml(scenario, list(overrides))


def cfg_get(cfg: Any, path: str, default: Any = None) -> Any:
    """``cfg.a.b`` for DictConfig or plain dict configs."""
    node = cfg
    for k in path.split("."):
        try:
            node = node[k]
        except (KeyError, TypeError, AttributeError):
            return default
        if node is None:
            return default
    return node


# Overrides applied to every benchmark run: no progress bar (simulate() checkpoints only with
# an output_dir, which the benchmarks never pass).
# no progress bar; no persistent compilation cache, so compile_time_s is always a cold compile
QUIET = ["progress=false", "compile_cache=null"]


def run_engine(
    scenario: str | None = None, overrides: Sequence[str] = (), repeats: int = 1
) -> dict[str, Any]:
    """Run ``mcengine.simulate`` ``repeats`` times on one config in this process.

    Every call compiles its step once (``compile_time_s`` attr: compilation plus the pilot pass).
    Reports the best run: ``msps`` = steady-state sample-months/s of the main pass
    (``simulate_time_s``: sampling, model, aggregation, host folding of every future),
    ``msps_e2e`` = all futures over the outside wall time of the call (compile, pilot and
    Dataset assembly included).
    """
    import numpy as np

    from mcengine import simulate

    cfg = load_cfg(scenario, [*QUIET, *overrides])
    n = int(cfg_get(cfg, "n_samples"))
    t = int(cfg_get(cfg, "horizon_months"))
    runs = []
    ds = None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        ds = simulate(cfg)
        wall = time.perf_counter() - t0
        runs.append(
            {
                "wall_s": wall,
                "run_time_s": float(ds.attrs["run_time_s"]),
                "compile_time_s": float(ds.attrs.get("compile_time_s", float("nan"))),
                "simulate_time_s": float(ds.attrs["simulate_time_s"]),
            }
        )
    chunk = int(ds.attrs.get("chunk_size") or n)
    for r in runs:
        r["msps"] = msps(n * t, r["simulate_time_s"])
    best = max(runs, key=lambda r: r["msps"])
    sm = n * t
    return {
        "n_samples": n,
        "horizon_months": t,
        "sample_months": sm,
        "chunk_size": chunk,
        "n_chunks": ds.attrs.get("n_chunks"),
        "device_count": ds.attrs.get("device_count"),
        "compile_time_s": best["compile_time_s"],
        "run_time_s": best["run_time_s"],
        "wall_s": best["wall_s"],
        "msps": best["msps"],
        "msps_e2e": msps(sm, best["wall_s"]),
        "p_recoup": float(ds["p_recoup"]),
        "p_recoup_se": float(ds["p_recoup_se"]),
        "npv_mean": float(ds["npv_mean"]),
        "backend": ds.attrs.get("jax_backend"),
        # what the results hold, so a benchmark can tell what ran: months 0..T whose cash
        # quantiles are all finite, and whether there are sensitivity deciles
        "cum_cash_months_filled": int(np.isfinite(ds["cum_cash"].values).all(axis=1).sum()),
        "has_sensitivity": "sens_count" in ds.data_vars,
        "runs": runs,
    }


def zscore(p1: float, se1: float, p2: float, se2: float) -> float:
    """z of the difference of two independent estimates."""
    den = (se1**2 + se2**2) ** 0.5
    return (p1 - p2) / den if den > 0 else float("nan")


def binom_se(p: float, n: int) -> float:
    return (p * (1 - p) / n) ** 0.5 if n > 0 else float("nan")


def task_engine(
    scenario: str | None = None, overrides: Sequence[str] = (), repeats: int = 1
) -> dict[str, Any]:
    """``run_child`` handler: ``run_engine`` in a fresh process (the first run compiles; the best
    main pass is reported), without the per-run list."""
    res = run_engine(scenario, list(overrides), repeats=repeats)
    res.pop("runs", None)
    return res
