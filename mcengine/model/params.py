"""The parameters of the built-in model (MODEL.md): names, defaults, kinds and admissible ranges.

This table is the public contract of a scenario config. ``U`` parameters may be distributions
(drawn once per future); ``N`` parameters are plain numbers fixed for the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Param", "PARAMS", "SECTIONS"]

INF = math.inf
# arrivals per year: the monthly Poisson draw sums its CDF term by term from exp(-rate / 12),
# exact in float32 up to 50 a month (about 110 terms); far above any real release cadence
MAX_RATE = 600.0


@dataclass(frozen=True)
class Param:
    """One model parameter: ``uncertain`` (U) or plain (N), its default and admissible range."""

    path: str
    uncertain: bool
    default: float | bool | None  # None: required
    low: float = -INF
    high: float = INF
    low_open: bool = False  # True: value must be > low (else >= low)
    high_open: bool = False
    integer: bool = False
    boolean: bool = False
    doc: str = ""

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def range_text(self) -> str:
        lo = "(" if self.low_open or math.isinf(self.low) else "["
        hi = ")" if self.high_open or math.isinf(self.high) else "]"
        return f"{lo}{self.low:g}, {self.high:g}{hi}"


def _u(path, default, low=-INF, high=INF, low_open=False, high_open=False, doc=""):
    return Param(path, True, default, low, high, low_open, high_open, doc=doc)


def _n(path, default, low=-INF, high=INF, low_open=False, integer=False, boolean=False, doc=""):
    return Param(path, False, default, low, high, low_open, False, integer, boolean, doc)


_TABLE = [
    _n("horizon_months", 60, 1, 100_000, integer=True, doc="T, months simulated"),
    _u("discount_rate", 0.10, -1, low_open=True, doc="annual discount rate"),
    # fleet and upfront
    _n("fleet.gpus", None, 0, low_open=True, doc="G, accelerators bought"),
    _u("fleet.gpu_price", None, 0, doc="$ per accelerator"),
    _u("fleet.system_overhead", 0.0, 0, doc="servers/network/storage, fraction of gpu_price"),
    _u("fleet.annual_failure_rate", 0.0, 0, 1, high_open=True, doc="fraction failing per year"),
    _n("fleet.replace_failures", False, boolean=True, doc="buy failed units again"),
    _u("fleet.power_kw", None, 0, doc="all-in server power per accelerator, kW"),
    _u("fleet.salvage_fraction", 0.0, 0, doc="salvage value at T as a fraction of K_hw"),
    _u("upfront.facility", 0.0, 0, doc="building or fit-out, $"),
    _u("upfront.training", 0.0, 0, doc="training the served model, $ (R&D)"),
    # financing
    _u("financing.debt_fraction", 0.0, 0, 1, doc="share of K borrowed"),
    _u("financing.interest_rate", 0.0, 0, doc="annual nominal interest rate"),
    _n("financing.term_months", 0, 0, integer=True, doc="annuity term, months"),
    # market
    _n("market.units_per_gpu_hour", 1.0, 0, low_open=True, doc="units sold per accelerator-hour"),
    _u("market.price0", None, 0, low_open=True, doc="$ per unit at month 0"),
    _u("market.price_trend", None, -1, low_open=True, doc="expected change per year"),
    _u("market.price_volatility", 0.0, 0, doc="annual log-price volatility"),
    _u("market.generation_rate", 0.0, 0, MAX_RATE, doc="new generations per year (Poisson)"),
    _u("market.generation_price_drop", 0.0, 0, 1, high_open=True, doc="price fall per generation"),
    _u("market.generation_demand_shock", 1.0, 0, low_open=True, doc="demand factor per generation"),
    _n("market.demand_correlation", 0.0, -1, 1, doc="corr of price and demand shocks"),
    _u("market.revenue_share", 0.0, 0, 1, doc="marketplace or channel fee"),
    # churn
    _u("churn.release_rate", 0.0, 0, MAX_RATE, doc="model releases per year (Poisson)"),
    _u("churn.price_shock", 1.0, 0, low_open=True, doc="price factor per release"),
    _u("churn.demand_shock", 1.0, 0, low_open=True, doc="demand factor per release"),
    _u("churn.retrain_cost", 0.0, 0, doc="$ paid per release"),
    # demand
    _u("demand.utilization0", None, 0, doc="share of capacity sold at month 0"),
    _u("demand.growth", None, -1, low_open=True, doc="expected demand growth per year"),
    _u("demand.volatility", 0.0, 0, doc="annual log-demand volatility"),
    _u("demand.max_utilization", 1.0, 0, 1, low_open=True, doc="utilization cap"),
    # efficiency and opex
    _u("efficiency.gain", 0.0, -1, low_open=True, doc="yearly throughput gain from software"),
    _u("opex.idle_power_fraction", 0.3, 0, 1, doc="power drawn when idle"),
    _u("opex.pue", 1.3, 0, low_open=True, doc="power usage effectiveness"),
    _u("opex.electricity_price", None, 0, doc="$ per kWh"),
    _u("opex.electricity_trend", 0.0, -1, low_open=True, doc="yearly electricity price change"),
    _u("opex.colocation_per_kw_month", 0.0, 0, doc="$ per reserved kW per month"),
    _u("opex.colocation_escalation", 0.0, -1, low_open=True, doc="yearly colocation escalation"),
    _u("opex.staff_per_month", 0.0, 0, doc="$ per month"),
    _u("opex.maintenance_per_gpu_month", 0.0, 0, doc="$ per active accelerator per month"),
    _u("opex.cost_per_unit", 0.0, 0, doc="variable serving cost per unit sold"),
    # tax
    _u("tax.rate", 0.0, 0, 1, doc="income tax rate"),
    _n("tax.depreciation_years", 5, 0, low_open=True, doc="straight-line life of hardware"),
    _n("tax.facility_years", 20, 0, low_open=True, doc="straight-line life of the facility"),
]

PARAMS: dict[str, Param] = {p.path: p for p in _TABLE}
SECTIONS = sorted({p.path.split(".")[0] for p in _TABLE if "." in p.path})
