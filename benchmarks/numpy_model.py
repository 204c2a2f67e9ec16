"""Plain NumPy reference of the AI-compute investment model (``/MODEL.md``).

This is the code a competent user would write instead of ``mcengine``: arrays over futures, a
Python loop over months, float64 throughout, ``numpy.random.Generator`` for every draw. It is
written from the model specification alone (it imports nothing from ``mcengine``) and serves two
purposes:

* the independent reference the JAX engine is checked against (``tests/test_model_vs_numpy.py``,
  ``tests/test_worked_examples.py``);
* the "NumPy baseline" of the benchmarks.

Interpretation of the points the specification leaves open (the engine follows the same):

* months ``m = 1..T``; ``H = 730`` hours; ``r = (1 + discount_rate)^(1/12) - 1``;
  ``d_m = (1 + r)^-m``;
* loan ``L = debt_fraction * K`` repaid as a level annuity over months ``1..term_months``
  (payments past the horizon are outside it; ``L / n`` when the interest rate is 0); the interest
  part of a payment is the balance before it times ``i = interest_rate / 12``;
* ``A_0 = G``; a replacement ``Q_m = G (1 - s) gpu_price P_m / P_0`` (no system overhead)
  depreciates straight-line over the ``12 * depreciation_years`` months after ``m``; hardware over
  months ``1..12*depreciation_years``, the facility over ``1..12*facility_years``; depreciation
  is computed whatever the tax rate (it enters the gross margin);
* arrivals in month ``m``: independent Poisson counts ``N_gen ~ Poisson(generation_rate/12)`` and
  ``N_rel ~ Poisson(release_rate/12)``; ``ln P`` jumps by ``N_gen ln(1 - generation_price_drop) +
  N_rel ln(price_shock)``, ``ln D`` by ``N_gen ln(generation_demand_shock) + N_rel
  ln(demand_shock)``; demand shock ``W = rho Z + sqrt(1 - rho^2) Z'``;
* taxable income in month ``m >= 1``: ``R - (E+F+M+V) - depreciation - interest - X``; the
  training cost is a month-0 loss carried forward (``NOL_0 = training``); salvage is neither
  revenue nor taxed;
* ``V_0 = -(K - L)``; break-even = first ``m`` in ``1..T`` with ``V_m >= 0`` (``inf`` = never);
  payback the same on undiscounted cash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

__all__ = ["DEFAULTS", "COMPONENTS", "simulate_numpy", "sample_inputs", "summarize", "flatten"]

HOURS_PER_MONTH = 730.0

COMPONENTS = (
    "revenue",
    "energy",
    "colocation",
    "staff_upkeep",
    "variable",
    "churn",
    "replacements",
    "financing",
    "tax",
    "upfront",
    "salvage",
)

# Every model parameter of MODEL.md with its default (None = required).
DEFAULTS: dict[str, float | bool | None] = {
    "horizon_months": 60,
    "discount_rate": 0.10,
    "fleet.gpus": None,
    "fleet.gpu_price": None,
    "fleet.system_overhead": 0.0,
    "fleet.annual_failure_rate": 0.0,
    "fleet.replace_failures": False,
    "fleet.power_kw": 0.0,
    "fleet.salvage_fraction": 0.0,
    "upfront.facility": 0.0,
    "upfront.training": 0.0,
    "financing.debt_fraction": 0.0,
    "financing.interest_rate": 0.0,
    "financing.term_months": 0,
    "market.units_per_gpu_hour": 1.0,
    "market.price0": None,
    "market.price_trend": 0.0,
    "market.price_volatility": 0.0,
    "market.generation_rate": 0.0,
    "market.generation_price_drop": 0.0,
    "market.generation_demand_shock": 1.0,
    "market.demand_correlation": 0.0,
    "market.revenue_share": 0.0,
    "churn.release_rate": 0.0,
    "churn.price_shock": 1.0,
    "churn.demand_shock": 1.0,
    "churn.retrain_cost": 0.0,
    "demand.utilization0": None,
    "demand.growth": 0.0,
    "demand.volatility": 0.0,
    "demand.max_utilization": 1.0,
    "efficiency.gain": 0.0,
    "opex.idle_power_fraction": 0.3,
    "opex.pue": 1.3,
    "opex.electricity_price": 0.0,
    "opex.electricity_trend": 0.0,
    "opex.colocation_per_kw_month": 0.0,
    "opex.colocation_escalation": 0.0,
    "opex.staff_per_month": 0.0,
    "opex.maintenance_per_gpu_month": 0.0,
    "opex.cost_per_unit": 0.0,
    "tax.rate": 0.0,
    "tax.depreciation_years": 5,
    "tax.facility_years": 20,
}
MODEL_SECTIONS = {key.split(".")[0] for key in DEFAULTS if "." in key}


def flatten(tree: Mapping, prefix: str = "") -> dict:
    """Nested mapping -> ``{"a.b": leaf}``; a mapping with a ``dist`` key is a leaf."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and "dist" not in value:
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _model_params(params: Mapping, n: int) -> dict[str, np.ndarray]:
    """Model parameters of a nested config, defaults filled in, as float64 arrays of shape (n,)."""
    flat = {
        k: v
        for k, v in flatten(params).items()
        if k.split(".")[0] in MODEL_SECTIONS or k in DEFAULTS
    }
    unknown = sorted(set(flat) - set(DEFAULTS))
    if unknown:
        raise KeyError(f"unknown model parameter(s): {unknown}")
    out = {}
    for key, default in DEFAULTS.items():
        value = flat.get(key, default)
        if value is None:
            raise KeyError(f"required model parameter {key!r} is missing")
        if isinstance(value, Mapping):
            raise TypeError(f"{key} is still a distribution spec; draw it with sample_inputs()")
        out[key] = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
    return out


def _log_jump(count: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``count * ln(factor)``, 0 where there is no arrival (so a factor of 0 only hurts if used)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, count * np.log(factor), 0.0)


def simulate_numpy(
    params: Mapping,
    n: int,
    rng: np.random.Generator | None = None,
    horizon_months: int | None = None,
    shocks: Mapping | None = None,
) -> dict:
    """Simulate ``n`` futures of the model.

    ``params``: nested dict like a scenario config (``fleet``, ``market``, ...; MODEL.md names);
    values are plain numbers or per-future arrays of shape ``(n,)`` (see ``sample_inputs``).
    ``rng`` draws the monthly shocks; ``shocks`` may instead supply them, as arrays broadcastable
    to ``(T, n)``: ``z`` (price), ``z2`` (the independent part of the demand shock), ``n_gen``,
    ``n_rel`` (arrival counts); missing ones are zero (then no ``rng`` is needed).

    Returns per-future arrays: ``npv``, ``breakeven_month``, ``payback_month`` (float, ``inf`` =
    never), ``recouped``, ``gross_margin``, ``spend_to_revenue``, ``pv_<component>`` and
    ``cum_cash`` of shape ``(n, T + 1)`` (discounted cumulative cash, month 0..T).
    """
    p = _model_params(params, n)
    T = int(horizon_months if horizon_months is not None else p["horizon_months"][0])
    if rng is None and shocks is None:
        raise ValueError("give rng or shocks")

    def given(name: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(shocks.get(name, 0.0), np.float64), (T, n))

    # ---- upfront and financing -------------------------------------------------------------
    G = p["fleet.gpus"]
    gpu_price = p["fleet.gpu_price"]
    K_hw = G * gpu_price * (1.0 + p["fleet.system_overhead"])
    facility = p["upfront.facility"]
    training = p["upfront.training"]
    K = K_hw + facility + training
    L = p["financing.debt_fraction"] * K
    i = p["financing.interest_rate"] / 12.0
    n_term = p["financing.term_months"]
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = np.where(i == 0.0, L / n_term, L * i / (1.0 - (1.0 + i) ** -n_term))
    payment = np.where(L == 0.0, 0.0, annuity)
    balance = L.copy()

    r = (1.0 + p["discount_rate"]) ** (1.0 / 12.0) - 1.0
    s = (1.0 - p["fleet.annual_failure_rate"]) ** (1.0 / 12.0)
    replace = p["fleet.replace_failures"] != 0.0
    units = p["market.units_per_gpu_hour"]
    gain = p["efficiency.gain"]

    # ---- state at month 0 ---------------------------------------------------------------------
    log_p0 = np.log(p["market.price0"])
    log_p = log_p0.copy()
    C0 = G * HOURS_PER_MONTH * units
    log_d = np.log(p["demand.utilization0"] * C0)
    price_vol, demand_vol = p["market.price_volatility"], p["demand.volatility"]
    price_drift = (np.log1p(p["market.price_trend"]) - price_vol**2 / 2) / 12.0
    demand_drift = (np.log1p(p["demand.growth"]) - demand_vol**2 / 2) / 12.0
    rho = p["market.demand_correlation"]
    rho_c = np.sqrt(1.0 - rho**2)
    sqrt_dt = math.sqrt(1.0 / 12.0)

    dep_months = 12.0 * p["tax.depreciation_years"]
    fac_months = 12.0 * p["tax.facility_years"]
    dep_hw_rate = K_hw / dep_months
    dep_fac_rate = facility / fac_months
    dep_repl_rate = np.zeros(n)  # depreciation per month of replacements bought so far
    dep_repl_change = np.zeros((T + 2, n))  # changes of that rate, by month

    nol = training.copy()  # the month-0 loss (training expensed), carried forward
    cum_disc = -(K - L)
    cum_cash = np.empty((n, T + 1))
    cum_cash[:, 0] = cum_disc
    cum_undisc = cum_disc.copy()
    breakeven = np.full(n, np.inf)
    payback = np.full(n, np.inf)

    pv = {c: np.zeros(n) for c in COMPONENTS}
    tot_R = np.zeros(n)
    tot_cogs = np.zeros(n)  # E + F + M + V + depreciation
    tot_spend = K - L

    for m in range(1, T + 1):
        # ---- shocks and the two stochastic processes -------------------------------------
        if shocks is None:
            z = rng.standard_normal(n)
            z2 = rng.standard_normal(n)
            n_gen = rng.poisson(p["market.generation_rate"] / 12.0)
            n_rel = rng.poisson(p["churn.release_rate"] / 12.0)
        else:
            z, z2, n_gen, n_rel = (given(k)[m - 1] for k in ("z", "z2", "n_gen", "n_rel"))
        w = rho * z + rho_c * z2
        log_p = (
            log_p
            + price_drift
            + price_vol * sqrt_dt * z
            + _log_jump(n_gen, 1.0 - p["market.generation_price_drop"])
            + _log_jump(n_rel, p["churn.price_shock"])
        )
        log_d = (
            log_d
            + demand_drift
            + demand_vol * sqrt_dt * w
            + _log_jump(n_gen, p["market.generation_demand_shock"])
            + _log_jump(n_rel, p["churn.demand_shock"])
        )
        P = np.exp(log_p)
        D = np.exp(log_d)

        # ---- capacity, utilization, sales ------------------------------------------------
        A = np.where(replace, G, G * s**m)
        C = A * HOURS_PER_MONTH * units * (1.0 + gain) ** (m / 12.0)
        U = np.minimum(p["demand.max_utilization"], D / C)
        S = U * C

        # ---- cash flows --------------------------------------------------------------------
        R = S * P * (1.0 - p["market.revenue_share"])
        idle = p["opex.idle_power_fraction"]
        E = (
            A
            * p["fleet.power_kw"]
            * (idle + (1.0 - idle) * U)
            * p["opex.pue"]
            * HOURS_PER_MONTH
            * p["opex.electricity_price"]
            * (1.0 + p["opex.electricity_trend"]) ** (m / 12.0)
        )
        F = (
            G
            * p["fleet.power_kw"]
            * p["opex.colocation_per_kw_month"]
            * (1.0 + p["opex.colocation_escalation"]) ** (m / 12.0)
        )
        M = p["opex.staff_per_month"] + A * p["opex.maintenance_per_gpu_month"]
        V = S * p["opex.cost_per_unit"]
        X = p["churn.retrain_cost"] * n_rel
        Q = np.where(replace, G * (1.0 - s) * gpu_price * np.exp(log_p - log_p0), 0.0)

        B = np.where(m <= n_term, payment, 0.0)
        interest = np.where(m <= n_term, balance * i, 0.0)
        balance = balance - (B - interest)

        # ---- depreciation (hardware, facility, replacements bought before m) -------------
        dep_repl_rate = dep_repl_rate + dep_repl_change[m]
        dep_repl_change[m + 1] += Q / dep_months
        end = m + dep_months + 1  # first month after the replacement's schedule
        ends = end <= T
        if ends.any():
            idx = np.nonzero(ends)[0]
            np.subtract.at(dep_repl_change, (end[idx].astype(int), idx), Q[idx] / dep_months[idx])
        depreciation = (
            np.where(m <= dep_months, dep_hw_rate, 0.0)
            + np.where(m <= fac_months, dep_fac_rate, 0.0)
            + dep_repl_rate
        )

        # ---- tax with loss carry-forward ---------------------------------------------------
        income = R - (E + F + M + V) - depreciation - interest - X
        y = income - nol
        tax = p["tax.rate"] * np.maximum(0.0, y)
        nol = np.maximum(0.0, -y)

        salvage = p["fleet.salvage_fraction"] * K_hw if m == T else 0.0
        cf = R - E - F - M - V - X - Q - B - tax + salvage

        # ---- accumulate ----------------------------------------------------------------------
        d = (1.0 + r) ** -m
        cum_disc = cum_disc + cf * d
        cum_undisc = cum_undisc + cf
        cum_cash[:, m] = cum_disc
        breakeven = np.where(np.isinf(breakeven) & (cum_disc >= 0.0), m, breakeven)
        payback = np.where(np.isinf(payback) & (cum_undisc >= 0.0), m, payback)

        for name, flow in (
            ("revenue", R),
            ("energy", -E),
            ("colocation", -F),
            ("staff_upkeep", -M),
            ("variable", -V),
            ("churn", -X),
            ("replacements", -Q),
            ("tax", -tax),
            ("financing", -B),
        ):
            pv[name] = pv[name] + flow * d
        if m == T:
            pv["salvage"] = salvage * d
        tot_R = tot_R + R
        tot_cogs = tot_cogs + E + F + M + V + depreciation
        tot_spend = tot_spend + E + F + M + V + X + Q + B + tax

    pv["financing"] = pv["financing"] + L
    pv["upfront"] = -K
    with np.errstate(divide="ignore", invalid="ignore"):
        gross_margin = (tot_R - tot_cogs) / tot_R
        spend_to_revenue = tot_spend / tot_R

    out = {
        "npv": cum_disc,
        "breakeven_month": breakeven,
        "payback_month": payback,
        "recouped": np.isfinite(breakeven),
        "gross_margin": gross_margin,
        "spend_to_revenue": spend_to_revenue,
        "cum_cash": cum_cash,
    }
    for name in COMPONENTS:
        out[f"pv_{name}"] = np.broadcast_to(np.asarray(pv[name], np.float64), (n,)).copy()
    return out


# ---------------------------------------------------------------------------------------------
# Uncertain inputs
# ---------------------------------------------------------------------------------------------

_Z95 = stats.norm.ppf(0.95)
# families whose low/high are their own parameters (a rescaled beta), not a truncation
_BOUNDED = {"uniform", "loguniform", "beta"}


def _frozen(spec: Mapping, path: str):
    """The scipy.stats frozen distribution of a spec (the families the tests use)."""
    kind = spec["dist"]
    g = spec.get
    if kind == "normal":
        return stats.norm(loc=spec["mean"], scale=spec["sd"])
    if kind == "lognormal":
        if "median" in spec:
            mu, sigma = math.log(spec["median"]), spec["sd_log"]
        elif "p05" in spec:
            lo, hi = math.log(spec["p05"]), math.log(spec["p95"])
            mu, sigma = (lo + hi) / 2, (hi - lo) / (2 * _Z95)
        else:  # mean and sd of the variable itself
            sigma = math.sqrt(math.log1p((spec["sd"] / spec["mean"]) ** 2))
            mu = math.log(spec["mean"]) - sigma**2 / 2
        return stats.lognorm(s=sigma, scale=math.exp(mu))
    if kind == "uniform":
        return stats.uniform(loc=spec["low"], scale=spec["high"] - spec["low"])
    if kind == "loguniform":
        return stats.loguniform(spec["low"], spec["high"])
    if kind in ("triangular", "pert"):
        lo, mode, hi = spec["min"], spec["mode"], spec["max"]
        if kind == "triangular":
            return stats.triang(c=(mode - lo) / (hi - lo), loc=lo, scale=hi - lo)
        lam = g("lambda", 4.0)
        a = 1 + lam * (mode - lo) / (hi - lo)
        b = 1 + lam * (hi - mode) / (hi - lo)
        return stats.beta(a, b, loc=lo, scale=hi - lo)
    if kind == "beta":
        lo, hi = g("low", 0.0), g("high", 1.0)
        return stats.beta(spec["alpha"], spec["beta"], loc=lo, scale=hi - lo)
    raise ValueError(f"{path}: distribution {kind!r} is not supported by the NumPy reference")


def sample_inputs(config: Mapping, n: int, rng: np.random.Generator) -> dict:
    """Draw every distribution spec of ``config`` ``n`` times; returns a nested dict of the same
    shape with plain numbers left as they are and specs replaced by arrays of shape ``(n,)``.
    ``low``/``high`` on normal, lognormal, triangular or PERT truncate the family.

    Inputs are independent unless ``config["correlations"]`` lists ``[path_a, path_b, rho]``
    rank-correlation pairs; then a Gaussian copula is used whose normal correlation is
    ``2 sin(pi rho / 6)`` (the Pearson correlation that gives Spearman ``rho``).
    """
    flat = flatten({k: v for k, v in config.items() if k != "correlations"})
    paths = [k for k, v in flat.items() if isinstance(v, Mapping)]
    z = rng.standard_normal((n, len(paths)))
    pairs = config.get("correlations") or []
    if pairs:
        corr = np.eye(len(paths))
        for a, b, rho in pairs:
            ia, ib = paths.index(a), paths.index(b)
            corr[ia, ib] = corr[ib, ia] = 2 * math.sin(math.pi * rho / 6)
        z = z @ np.linalg.cholesky(corr).T
    u = stats.norm.cdf(z)
    drawn = dict(flat)
    for j, path in enumerate(paths):
        spec = flat[path]
        if spec["dist"] == "constant":
            drawn[path] = np.full(n, float(spec["value"]))
            continue
        dist = _frozen(spec, path)
        uj = u[:, j]
        if spec["dist"] not in _BOUNDED and ("low" in spec or "high" in spec):
            # truncated to [low, high]: inverse CDF on the matching slice of (0, 1)
            lo = dist.cdf(spec.get("low", -np.inf))
            hi = dist.cdf(spec.get("high", np.inf))
            uj = lo + uj * (hi - lo)
        drawn[path] = dist.ppf(uj)
    nested: dict = {}
    for path, value in drawn.items():
        node = nested
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    if "correlations" in config:
        nested["correlations"] = config["correlations"]
    return nested


def summarize(out: Mapping) -> dict:
    """Headline estimates of ``simulate_numpy`` output, with standard errors."""
    recouped = np.asarray(out["recouped"], dtype=np.float64)
    n = recouped.size
    p = recouped.mean()
    npv = out["npv"]
    return {
        "n": n,
        "p_recoup": p,
        "p_recoup_se": math.sqrt(p * (1 - p) / n),
        "npv_mean": npv.mean(),
        "npv_se": npv.std(ddof=1) / math.sqrt(n),
        # inverted-CDF median: the smallest month m with P(breakeven <= m) >= 0.5 (inf = never)
        "breakeven_median": np.quantile(out["breakeven_month"], 0.5, method="inverted_cdf"),
    }
