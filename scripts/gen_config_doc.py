"""Regenerate the model-parameter table of docs/config.md from mcengine/model/params.py.

    python scripts/gen_config_doc.py          # rewrite the table between the markers
    python scripts/gen_config_doc.py --check  # exit 1 if docs/config.md is out of date

Paths, U/N, defaults, ranges and meanings come from ``PARAMS``; units live here (``UNITS``) and
every parameter must have one, so adding a parameter without documenting its unit fails.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcengine.model.params import PARAMS, Param  # noqa: E402

DOC = ROOT / "docs" / "config.md"
BEGIN = "<!-- BEGIN MODEL TABLE (scripts/gen_config_doc.py) -->"
END = "<!-- END MODEL TABLE -->"

UNITS = {
    "horizon_months": "months",
    "discount_rate": "fraction / yr",
    "fleet.gpus": "accelerators",
    "fleet.gpu_price": "$ / accelerator",
    "fleet.system_overhead": "fraction of gpu_price",
    "fleet.annual_failure_rate": "fraction / yr",
    "fleet.replace_failures": "bool",
    "fleet.power_kw": "kW / accelerator",
    "fleet.salvage_fraction": "fraction of K_hw",
    "upfront.facility": "$",
    "upfront.training": "$",
    "financing.debt_fraction": "fraction of K",
    "financing.interest_rate": "fraction / yr (nominal)",
    "financing.term_months": "months",
    "market.units_per_gpu_hour": "units / accelerator-hour",
    "market.price0": "$ / unit",
    "market.price_trend": "fraction / yr",
    "market.price_volatility": "sd of log price / sqrt(yr)",
    "market.generation_rate": "arrivals / yr",
    "market.generation_price_drop": "fraction per arrival",
    "market.generation_demand_shock": "factor per arrival",
    "market.demand_correlation": "correlation",
    "market.revenue_share": "fraction of revenue",
    "churn.release_rate": "releases / yr",
    "churn.price_shock": "factor per release",
    "churn.demand_shock": "factor per release",
    "churn.retrain_cost": "$ / release",
    "demand.utilization0": "fraction of capacity",
    "demand.growth": "fraction / yr",
    "demand.volatility": "sd of log demand / sqrt(yr)",
    "demand.max_utilization": "fraction of capacity",
    "efficiency.gain": "fraction / yr",
    "opex.idle_power_fraction": "fraction of power_kw",
    "opex.pue": "ratio",
    "opex.electricity_price": "$ / kWh",
    "opex.electricity_trend": "fraction / yr",
    "opex.colocation_per_kw_month": "$ / kW-month",
    "opex.colocation_escalation": "fraction / yr",
    "opex.staff_per_month": "$ / month",
    "opex.maintenance_per_gpu_month": "$ / active accelerator-month",
    "opex.cost_per_unit": "$ / unit sold",
    "tax.rate": "fraction",
    "tax.depreciation_years": "years",
    "tax.facility_years": "years",
}


def _num(x: float) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:g}"


def _default(p: Param) -> str:
    if p.default is None:
        return "**required**"
    if p.boolean:
        return "`true`" if p.default else "`false`"
    return f"`{p.default:g}`" if isinstance(p.default, int | float) else f"`{p.default}`"


def _range(p: Param) -> str:
    if p.boolean:
        return "true / false"
    if p.low == -math.inf and p.high == math.inf:
        text = "any"
    else:
        lo = "(" if p.low_open else "["
        hi = ")" if p.high_open or p.high == math.inf else "]"
        text = f"{lo}{_num(p.low)}, {_num(p.high)}{hi}"
    return text + (", whole" if p.integer else "")


def table() -> str:
    missing = sorted(set(PARAMS) - set(UNITS))
    if missing:
        raise SystemExit(f"gen_config_doc: add a unit to UNITS for: {', '.join(missing)}")
    rows = [
        "| path | U/N | default | range | meaning | units |",
        "|---|---|---|---|---|---|",
    ]
    for path, p in PARAMS.items():
        kind = "U" if p.uncertain else "N"
        doc = p.doc.replace("|", "\\|")
        rows.append(f"| `{path}` | {kind} | {_default(p)} | {_range(p)} | {doc} | {UNITS[path]} |")
    return "\n".join(rows)


def render(text: str) -> str:
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + table() + "\n" + text[stop:]


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print(f"{DOC} is out of date: run python scripts/gen_config_doc.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        DOC.write_text(new)
        print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
