"""A scalar, deliberately naive reference of MODEL.md: ONE future, plain Python floats, one loop
over months, every quantity spelled out. No numpy, no randomness: the monthly shocks default to
zero and may be given as explicit per-month lists (``z``, ``z2``, ``n_gen``, ``n_rel``; index 0 is
month 1), so the stochastic terms can still be checked deterministically.

Used for worked examples; it is independent of both ``mcengine`` and ``benchmarks/numpy_model``.
Interpretation choices are those listed in ``benchmarks/numpy_model.py``'s docstring.
"""

from __future__ import annotations

import math

from numpy_model import COMPONENTS  # the waterfall's names, not its arithmetic

H = 730.0

DEFAULTS = {
    "horizon_months": 60,
    "discount_rate": 0.10,
    "fleet": {
        "system_overhead": 0.0,
        "annual_failure_rate": 0.0,
        "replace_failures": False,
        "power_kw": 0.0,
        "salvage_fraction": 0.0,
    },
    "upfront": {"facility": 0.0, "training": 0.0},
    "financing": {"debt_fraction": 0.0, "interest_rate": 0.0, "term_months": 0},
    "market": {
        "units_per_gpu_hour": 1.0,
        "price_trend": 0.0,
        "price_volatility": 0.0,
        "generation_rate": 0.0,
        "generation_price_drop": 0.0,
        "generation_demand_shock": 1.0,
        "demand_correlation": 0.0,
        "revenue_share": 0.0,
    },
    "churn": {"release_rate": 0.0, "price_shock": 1.0, "demand_shock": 1.0, "retrain_cost": 0.0},
    "demand": {"growth": 0.0, "volatility": 0.0, "max_utilization": 1.0},
    "efficiency": {"gain": 0.0},
    "opex": {
        "idle_power_fraction": 0.3,
        "pue": 1.3,
        "electricity_price": 0.0,
        "electricity_trend": 0.0,
        "colocation_per_kw_month": 0.0,
        "colocation_escalation": 0.0,
        "staff_per_month": 0.0,
        "maintenance_per_gpu_month": 0.0,
        "cost_per_unit": 0.0,
    },
    "tax": {"rate": 0.0, "depreciation_years": 5, "facility_years": 20},
}


def hand_model(params: dict, horizon_months=None, z=None, z2=None, n_gen=None, n_rel=None):
    """Simulate one deterministic future. Returns a dict of floats plus per-month lists."""

    def p(section, key=None):
        if key is None:
            value = params.get(section, DEFAULTS.get(section))
        else:
            value = params.get(section, {}).get(key, DEFAULTS.get(section, {}).get(key))
        if value is None:
            raise KeyError(f"{section}.{key} is required")
        if isinstance(value, dict):
            raise TypeError(f"{section}.{key} must be a plain number here")
        return value

    T = int(horizon_months if horizon_months is not None else p("horizon_months"))
    z = z or [0.0] * T
    z2 = z2 or [0.0] * T
    n_gen = n_gen or [0] * T
    n_rel = n_rel or [0] * T
    # arrival rates are not used here: only the given counts n_gen / n_rel

    G = float(p("fleet", "gpus"))
    gpu_price = p("fleet", "gpu_price")
    K_hw = G * gpu_price * (1 + p("fleet", "system_overhead"))
    facility = p("upfront", "facility")
    training = p("upfront", "training")
    K = K_hw + facility + training

    L = p("financing", "debt_fraction") * K
    i = p("financing", "interest_rate") / 12
    n_term = p("financing", "term_months")
    if L == 0:
        payment = 0.0
    elif i == 0:
        payment = L / n_term
    else:
        payment = L * i / (1 - (1 + i) ** (-n_term))
    balance = L

    r = (1 + p("discount_rate")) ** (1 / 12) - 1
    s = (1 - p("fleet", "annual_failure_rate")) ** (1 / 12)
    units = p("market", "units_per_gpu_hour")
    price0 = p("market", "price0")
    price_vol = p("market", "price_volatility")
    demand_vol = p("demand", "volatility")
    rho = p("market", "demand_correlation")

    log_price = math.log(price0)
    log_demand = math.log(p("demand", "utilization0") * G * H * units)

    dep_months = 12 * p("tax", "depreciation_years")
    fac_months = 12 * p("tax", "facility_years")
    replacements_bought = []  # (month, cost)

    nol = training  # month 0: training expensed, a loss carried forward
    V = -(K - L)
    cum_cash = [V]
    undiscounted = -(K - L)
    breakeven = math.inf
    payback = math.inf
    pv = dict.fromkeys(
        COMPONENTS,
        0.0,
    )
    sum_R = 0.0
    sum_cost_of_revenue = 0.0
    sum_spend = K - L
    monthly = []

    for m in range(1, T + 1):
        # price
        jump_p = 0.0
        jump_d = 0.0
        if n_gen[m - 1] > 0:
            jump_p += n_gen[m - 1] * math.log(1 - p("market", "generation_price_drop"))
            jump_d += n_gen[m - 1] * math.log(p("market", "generation_demand_shock"))
        if n_rel[m - 1] > 0:
            jump_p += n_rel[m - 1] * math.log(p("churn", "price_shock"))
            jump_d += n_rel[m - 1] * math.log(p("churn", "demand_shock"))
        log_price += (
            (math.log(1 + p("market", "price_trend")) - price_vol**2 / 2) / 12
            + price_vol * math.sqrt(1 / 12) * z[m - 1]
            + jump_p
        )
        w = rho * z[m - 1] + math.sqrt(1 - rho**2) * z2[m - 1]
        log_demand += (
            (math.log(1 + p("demand", "growth")) - demand_vol**2 / 2) / 12
            + demand_vol * math.sqrt(1 / 12) * w
            + jump_d
        )
        price = math.exp(log_price)
        demand = math.exp(log_demand)

        # capacity
        if p("fleet", "replace_failures"):
            active = G
        else:
            active = G * s**m
        capacity = active * H * units * (1 + p("efficiency", "gain")) ** (m / 12)
        util = min(p("demand", "max_utilization"), demand / capacity)
        sold = util * capacity

        # cash flows
        revenue = sold * price * (1 - p("market", "revenue_share"))
        idle = p("opex", "idle_power_fraction")
        energy = (
            active
            * p("fleet", "power_kw")
            * (idle + (1 - idle) * util)
            * p("opex", "pue")
            * H
            * p("opex", "electricity_price")
            * (1 + p("opex", "electricity_trend")) ** (m / 12)
        )
        colocation = (
            G
            * p("fleet", "power_kw")
            * p("opex", "colocation_per_kw_month")
            * (1 + p("opex", "colocation_escalation")) ** (m / 12)
        )
        upkeep = p("opex", "staff_per_month") + active * p("opex", "maintenance_per_gpu_month")
        variable = sold * p("opex", "cost_per_unit")
        churn = p("churn", "retrain_cost") * n_rel[m - 1]
        if p("fleet", "replace_failures"):
            replacement = G * (1 - s) * gpu_price * price / price0
        else:
            replacement = 0.0

        if m <= n_term:
            debt = payment
            interest = balance * i
            balance -= debt - interest
        else:
            debt = 0.0
            interest = 0.0

        depreciation = 0.0
        if m <= dep_months:
            depreciation += K_hw / dep_months
        if m <= fac_months:
            depreciation += facility / fac_months
        for bought, cost in replacements_bought:
            if bought < m <= bought + dep_months:
                depreciation += cost / dep_months
        replacements_bought.append((m, replacement))

        income = revenue - energy - colocation - upkeep - variable - depreciation - interest - churn
        after_losses = income - nol
        tax = p("tax", "rate") * max(0.0, after_losses)
        nol = max(0.0, -after_losses)

        cash = revenue - energy - colocation - upkeep - variable - churn - replacement - debt - tax
        if m == T:
            salvage = p("fleet", "salvage_fraction") * K_hw
            cash += salvage
        d = (1 + r) ** (-m)
        V += cash * d
        undiscounted += cash
        cum_cash.append(V)
        if V >= 0 and breakeven == math.inf:
            breakeven = m
        if undiscounted >= 0 and payback == math.inf:
            payback = m

        pv["revenue"] += revenue * d
        pv["energy"] -= energy * d
        pv["colocation"] -= colocation * d
        pv["staff_upkeep"] -= upkeep * d
        pv["variable"] -= variable * d
        pv["churn"] -= churn * d
        pv["replacements"] -= replacement * d
        pv["financing"] -= debt * d
        pv["tax"] -= tax * d
        if m == T:
            pv["salvage"] = salvage * d
        sum_R += revenue
        sum_cost_of_revenue += energy + colocation + upkeep + variable + depreciation
        sum_spend += energy + colocation + upkeep + variable + churn + replacement + debt + tax
        monthly.append(
            dict(
                m=m,
                price=price,
                util=util,
                revenue=revenue,
                energy=energy,
                colocation=colocation,
                upkeep=upkeep,
                variable=variable,
                churn=churn,
                replacement=replacement,
                debt=debt,
                interest=interest,
                depreciation=depreciation,
                income=income,
                tax=tax,
                cash=cash,
            )
        )

    pv["financing"] += L
    pv["upfront"] = -K
    return {
        "npv": V,
        "breakeven_month": float(breakeven),
        "payback_month": float(payback),
        "recouped": breakeven != math.inf,
        "gross_margin": (sum_R - sum_cost_of_revenue) / sum_R,
        "spend_to_revenue": sum_spend / sum_R,
        "cum_cash": cum_cash,
        "pv": pv,
        "K": K,
        "K_hw": K_hw,
        "L": L,
        "monthly": monthly,
    }
