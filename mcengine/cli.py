"""``mcengine``: the Hydra app. Runs the configured scenario and writes ``results.nc``.

mcengine                                   # default scenario, 1,000,000 futures
mcengine scenario=inference_api n_samples=1e7
mcengine fleet.gpus=2048 market.price0='{dist: pert, min: 1.5, mode: 2, max: 3}'
mcengine -m market.price_trend=-0.2,-0.4   # a sweep: one results.nc per job + sweep.nc
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import hydra
import numpy as np
import xarray as xr
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .config import check_overrides, config_dir
from .distributions import SpecError
from .errors import ConfigError
from .overrides import as_written, replace_mappings

__all__ = ["check_sweep", "main", "summary"]

# the summary is logged: Hydra's job logging shows it on the console (as is, conf/config.yaml)
# and keeps it in the run's mcengine.log
log = logging.getLogger("mcengine")


def _money(x: float) -> str:
    if not np.isfinite(x):
        return str(x)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"${x / scale:,.2f}{unit}"
    return f"${x:,.0f}"


def _month(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{x:.0f}"


def _levels(ds: xr.Dataset, wanted: tuple[float, ...]) -> list[float]:
    """The quantile levels of ``ds`` nearest to ``wanted``, without repeats (a run may have
    been given other ``quantiles`` than the summary's usual ones)."""
    have = ds["quantile"].values
    nearest = [float(have[abs(have - level).argmin()]) for level in wanted]
    return list(dict.fromkeys(nearest))


def _pct(level: float) -> str:
    return f"P{100 * level:g}"


def _estimate(p: float, se: float) -> str:
    """``p ± se`` with enough decimals for the SE's first two digits (at least 4)."""
    digits = 4
    if np.isfinite(se) and se > 0:
        digits = max(digits, 1 - int(np.floor(np.log10(se))))
    return f"{p:.{digits}f} ± {se:.{digits}f} (SE)"


def _recouped_median(ds: xr.Dataset) -> str:
    """The median break-even month among the futures that recoup (from ``p_breakeven_by``,
    exact counts), for runs where the overall quantiles say "never"; "" otherwise."""
    p = float(ds.p_recoup)
    if not 0 < p < 1:
        return ""
    by = ds.p_breakeven_by.values
    month = int(ds.month.values[int(np.argmax(by >= p / 2 * (1 - 1e-12)))])
    return f"; among the {100 * p:.3g}% that recoup: median {month}"


def summary(ds: xr.Dataset, top: int = 4) -> str:
    """A readable summary of a results Dataset."""
    q = lambda var, level: float(ds[var].sel(quantile=level))  # noqa: E731
    T = int(ds.month[-1])
    notes = []
    if int(ds.attrs.get("resumed_from", 0)):
        notes.append(f"resumed from a checkpoint at {int(ds.attrs['resumed_from']):,} futures")
    if int(ds.attrs.get("stopped_by_target", 0)):
        notes.append("stopped early: the standard-error target was reached")
    breakeven = ", ".join(
        f"{'median' if level == 0.5 else _pct(level)} {_month(q('breakeven_month', level))}"
        for level in _levels(ds, (0.5, 0.1, 0.9))
    )
    if "never" in breakeven:
        breakeven += _recouped_median(ds)
    npv = ", ".join(
        f"{_pct(level)} {_money(q('npv', level))}" for level in _levels(ds, (0.05, 0.5, 0.95))
    )
    lines = [
        f"mcengine: {int(ds.attrs['n_samples']):,} futures x {T} months "
        f"in {float(ds.attrs['run_time_s']):.1f} s ({ds.attrs['jax_backend']}, "
        f"{ds.attrs['device_count']} device(s), {ds.attrs['precision']})"
        + "".join(f"; {note}" for note in notes),
        f"  P(recoup within {T} months)  {_estimate(float(ds.p_recoup), float(ds.p_recoup_se))}",
        f"  break-even month          {breakeven}",
        f"  NPV                       mean {_money(float(ds.npv_mean))} ± "
        f"{_money(float(ds.npv_se))}; {npv}",
    ]
    pv = ds.pv.to_series().sort_values()
    costs = [f"{name} {_money(value)}" for name, value in pv.items() if value < 0][:top]
    lines.append("  largest cost components   " + ", ".join(costs) + " (mean PV)")
    if "sens_rank_corr_npv" in ds:
        corr = ds.sens_rank_corr_npv.to_series()
        order = corr.abs().sort_values(ascending=False).index[:3]
        lines.append(
            "  top drivers of NPV        "
            + ", ".join(f"{name} (rank corr {corr[name]:+.2f})" for name in order)
        )
    return "\n".join(lines)


def _stop(message: str, code: int) -> None:
    """End the job with ``message`` on stderr and in the run's log file (the console is not
    always kept: a cluster job's log is where one looks for why it ended), and ``code``."""
    print(message, file=sys.stderr)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
    sys.exit(code)


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> float:
    from .api import simulate
    from .distributed import initialize, is_primary
    from .engine import Interrupted
    from .results import write_netcdf

    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # no TPU probe noise
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    where = f"hydra.sweep.dir={hc.sweep.dir}" if multirun else f"hydra.run.dir={out_dir}"
    resume = f"To resume, rerun the same command with {where}"
    try:
        initialize(cfg.get("distributed", "auto"))
        ds = simulate(cfg, output_dir=out_dir, overrides=as_written(hc.overrides.task))
        if not is_primary():  # under jax.distributed, process 0 writes and reports
            return float(ds.p_recoup)
        path = write_netcdf(ds, out_dir / cfg.output)
        log.info(summary(ds))
        log.info(f"  results                   {path}")
        if cfg.report:
            from .report import write_report

            log.info(f"  report                    {write_report(ds, out_dir)}")
    except (ConfigError, SpecError) as err:
        _stop(f"mcengine: invalid config: {err}", 2)
    except Interrupted as err:
        # the shell's code for the signal (143 asks SLURM to requeue)
        _stop(f"mcengine: {err}.\n{resume}", 128 + err.signum)
    except KeyboardInterrupt:  # outside the engine's safe points (start-up, writing results)
        _stop(f"mcengine: interrupted; no results file is half-written. {resume}", 130)
    return float(ds.p_recoup)


# Hydra's command-line flags that pick another config, and those that take a value
CONFIG_FLAGS = {"--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd"}
VALUE_FLAGS = CONFIG_FLAGS | {"--cfg", "-c", "--package", "-p", "--experimental-rerun"}


def check_sweep(args: list[str]) -> None:
    """In a multirun, validate every swept value before the first job starts.

    Each value of each swept key is composed with the fixed overrides (and the first value of
    the other swept keys) and checked like a job's config, so that a bad value fails now, not
    when its job (perhaps a cluster array task hours later) starts. Hydra's own keys and
    sweeps that only a sweeper plugin can expand (intervals, globs) are left to the jobs."""
    flags = {a.split("=", 1)[0] for a in args if a.startswith("-")}
    if not {"-m", "--multirun"} & flags or CONFIG_FLAGS & flags:
        return  # not a multirun, or a config other than the one load_config composes
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from .api import validate
    from .config import load_config

    overrides, after_flag = [], False
    for arg in args:
        if not after_flag and not arg.startswith("-"):
            overrides.append(arg)
        after_flag = arg in VALUE_FLAGS  # the next argument is this flag's value
    parsed = OverridesParser.create().parse_overrides(overrides)
    fixed, swept = [], {}
    for text, override in zip(overrides, parsed, strict=True):
        if override.key_or_group.startswith("hydra"):
            continue
        if not override.is_sweep_override():
            fixed.append(text)
            continue
        try:
            swept[override.get_key_element()] = list(override.sweep_string_iterator())
        except Exception:  # noqa: BLE001 - an interval or glob: its jobs will check it
            continue
    for key, values in swept.items():
        others = [f"{k}={v[0]}" for k, v in swept.items() if k != key and v]
        for value in values:
            try:
                validate(load_config(overrides=[*fixed, *others, f"{key}={value}"]))
            except (ConfigError, SpecError, HydraException) as err:
                raise ConfigError(f"sweep value {key}={value}: {err}") from err


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as log lines (console and the job's log), without Python's source-line echo."""
    kind = "" if category is UserWarning else f"{category.__name__}: "
    log.warning(f"warning: {kind}{message}")


def main() -> None:
    """Console entry point."""
    warnings.showwarning = _log_warning
    # ``mcengine ... | head``: a closed pipe ends the output quietly, not in a logging traceback
    logging.raiseExceptions = False
    try:
        _main()
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _main() -> None:
    try:
        check_overrides(sys.argv[1:])
        check_sweep(sys.argv[1:])
    except (ConfigError, SpecError) as err:
        print(f"mcengine: invalid config: {err}", file=sys.stderr)
        sys.exit(2)
    sys.argv[1:] = replace_mappings(sys.argv[1:])
    _app()


if __name__ == "__main__":
    main()
