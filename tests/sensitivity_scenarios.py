"""Deterministic variants of the ``gpu_cloud`` scenario for the sensitivity / precision tests.

Every uncertain input of ``gpu_cloud`` is pinned to a constant, the stochastic processes and tax
are switched off, so a future is a deterministic function of the inputs left uncertain. With tax
off, NPV is exactly linear in ``fleet.gpu_price`` (capex, debt, replacements, salvage all are).
"""

from __future__ import annotations

import mcengine

CONSTANTS = {
    "fleet.gpu_price": 37080,
    "fleet.system_overhead": 0.2,
    "fleet.annual_failure_rate": 0.02,
    "fleet.salvage_fraction": 0.15,
    "financing.interest_rate": 0.12,
    "market.price0": 2.4,
    "market.price_trend": -0.2,
    "market.generation_price_drop": 0.15,
    "demand.utilization0": 0.65,
    "demand.growth": 0.15,
    "opex.pue": 1.3,
    "opex.electricity_price": 0.08,
    "opex.colocation_per_kw_month": 170,
    "opex.maintenance_per_gpu_month": 80,
    "market.price_volatility": 0,
    "demand.volatility": 0,
    "market.generation_rate": 0,
    "tax.rate": 0,
}


def spec(dist: str, **params) -> str:
    """A distribution spec in Hydra override syntax: ``{dist:uniform,low:1,high:2}``."""
    return "{" + ",".join([f"dist:{dist}"] + [f"{k}:{v}" for k, v in params.items()]) + "}"


def overrides(
    uncertain: dict[str, str] | None = None, correlations: str = "[]", **run
) -> list[str]:
    """Override strings: all constants, then ``uncertain`` (path -> spec string), then run keys."""
    values = {**CONSTANTS, **(uncertain or {})}
    out = [f"{path}={value}" for path, value in values.items()]
    out += [f"correlations={correlations}", "progress=false"]
    out += [f"{key}={value}" for key, value in run.items()]
    return out


def config(uncertain: dict[str, str] | None = None, correlations: str = "[]", **run):
    return mcengine.load_config(overrides=overrides(uncertain, correlations, **run))
