"""``mcengine``: the Hydra app. Runs the configured scenario and writes ``results.nc``.

mcengine                                   # default scenario, 1,000,000 futures
mcengine scenario=inference_api n_samples=1e7
mcengine fleet.gpus=2048 market.price0='{dist: pert, min: 1.5, mode: 2, max: 3}'
mcengine -m market.price_trend=-0.2,-0.4   # a sweep: one results.nc per job + sweep.nc
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import numpy as np
import xarray as xr
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .config import check_overrides, config_dir, replace_mappings
from .distributions import SpecError
from .errors import ConfigError

__all__ = ["main", "summary"]


def _money(x: float) -> str:
    if not np.isfinite(x):
        return str(x)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"${x / scale:,.2f}{unit}"
    return f"${x:,.0f}"


def _month(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{x:.0f}"


def summary(ds: xr.Dataset, top: int = 4) -> str:
    """A readable summary of a results Dataset."""
    q = lambda var, level: float(ds[var].sel(quantile=level, method="nearest"))  # noqa: E731
    T = int(ds.month[-1])
    lines = [
        f"mcengine: {int(ds.attrs['n_samples']):,} futures x {T} months "
        f"in {float(ds.attrs['run_time_s']):.1f} s ({ds.attrs['jax_backend']}, "
        f"{ds.attrs['device_count']} device(s), {ds.attrs['precision']})",
        f"  P(recoup within {T} months)  {float(ds.p_recoup):.4f} "
        f"± {float(ds.p_recoup_se):.4f} (SE)",
        f"  break-even month          median {_month(q('breakeven_month', 0.5))}, "
        f"P10 {_month(q('breakeven_month', 0.1))}, P90 {_month(q('breakeven_month', 0.9))}",
        f"  NPV                       mean {_money(float(ds.npv_mean))} ± "
        f"{_money(float(ds.npv_se))}; P5 {_money(q('npv', 0.05))}, "
        f"P50 {_money(q('npv', 0.5))}, P95 {_money(q('npv', 0.95))}",
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


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> float:
    from .api import simulate
    from .distributed import initialize, is_primary
    from .engine import Interrupted
    from .results import write_netcdf

    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # no TPU probe noise
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    try:
        initialize(cfg.get("distributed", "auto"))
        ds = simulate(cfg, output_dir=out_dir, overrides=list(hc.overrides.task))
    except (ConfigError, SpecError) as err:
        print(f"mcengine: invalid config: {err}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as err:
        print(f"mcengine: {err}", file=sys.stderr)
        sys.exit(143)
    if not is_primary():  # under jax.distributed, process 0 writes and reports
        return float(ds.p_recoup)
    path = write_netcdf(ds, out_dir / cfg.output)
    print(summary(ds))
    print(f"  results                   {path}")
    if cfg.report:
        from .report import write_report

        print(f"  report                    {write_report(ds, out_dir)}")
    return float(ds.p_recoup)


def main() -> None:
    """Console entry point."""
    try:
        check_overrides(sys.argv[1:])
    except ConfigError as err:
        print(f"mcengine: invalid config: {err}", file=sys.stderr)
        sys.exit(2)
    sys.argv[1:] = replace_mappings(sys.argv[1:])
    _app()


if __name__ == "__main__":
    main()
