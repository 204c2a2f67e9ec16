"""The built-in model (MODEL.md) as a pure JAX function of (seed, future indices).

One call simulates a vector of futures month by month (``lax.scan`` over months, arrays over
futures). Parts of the model that a scenario switches off (a constant zero volatility, no
arrivals, no debt, no tax, no replacements) are left out at trace time, so they cost nothing and
draw no random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .. import random as mcr
from ..random import Seed
from ..sampling import raw_normal_scores
from .economy import HOURS_PER_MONTH, Economy, Parts, economy, scenario_parts
from .loop import month_loop, pack, unpack
from .spec import ModelSpec

__all__ = ["COMPONENTS", "HOURS_PER_MONTH", "Futures", "monthly_draws", "simulate"]

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
NEVER_OFFSET = 1  # break-even month T + 1 encodes "never"


class Futures(NamedTuple):
    """Per-future outputs of one simulated chunk (arrays over futures)."""

    npv: jax.Array  # discounted cumulative cash at T, $
    breakeven: jax.Array  # int32 first month with V_m >= 0; T + 1 = never
    payback: jax.Array  # int32, same on undiscounted cash
    gross_margin: jax.Array
    spend_to_revenue: jax.Array
    pv: jax.Array  # (n, len(COMPONENTS)) signed present values
    month0: jax.Array  # V_0 = -(K - L)
    scores: jax.Array  # (k, n) normal scores of the uncertain inputs (for sensitivity)


def monthly_draws(spec: ModelSpec) -> dict[str, int]:
    """The random numbers one future-month draws: the scenario's budget.

    A normal per stochastic process that is switched on (price, demand; the price shock is also
    drawn when demand is correlated with it) and a uniform per arrival process (generations,
    model releases) that can arrive. Everything else is drawn once per future.
    """
    parts = scenario_parts(spec)
    return {
        "normals": int(parts.need_z) + int(parts.vol_demand),
        "uniforms": int(parts.terms_gen > 0) + int(parts.terms_rel > 0),
    }


def _geometric(x: jax.Array, n: int) -> jax.Array:
    """``sum(exp(m * x) for m in 1..n)`` in closed form, exact at ``x == 0`` and stable near it."""
    safe = jnp.where(x == 0, 1, x)
    return jnp.where(x == 0, n, jnp.exp(safe) * jnp.expm1(n * safe) / jnp.expm1(safe))


def _poisson(u: jax.Array, lam: Any, terms: int) -> jax.Array:
    """Inverse-CDF Poisson draw from a uniform, summing ``terms`` terms of the CDF."""
    p = jnp.exp(-lam)
    cdf = p
    count = jnp.zeros_like(u)
    for k in range(terms):
        count = count + (u > cdf).astype(u.dtype)
        p = p * lam / (k + 1)
        cdf = cdf + p
    return count


def _draw_fn(spec: ModelSpec, parts: Parts, e: Economy, seed: Seed, index: jax.Array, dtype):
    """``draw(block_months)``: a block's monthly shocks, (B, n) each, packed in pairs: the
    normal shocks (Z, W) and the arrival counts (generations, releases)."""
    key_shocks = mcr.stream_key(seed, "process/shocks")
    key_arrivals = mcr.stream_key(seed, "process/arrivals")
    budget = monthly_draws(spec)
    n_normals, n_uniforms = budget["normals"], budget["uniforms"]
    rho = parts.rho

    def draw(block_months):
        counter = block_months[:, None]
        z = w = n_gen = n_rel = None
        if n_normals:
            normals = mcr.normals(key_shocks, index, counter, n_normals, dtype)
            z = normals.pop(0) if parts.need_z else None
            if parts.vol_demand:
                zp = normals.pop(0)
                w = rho * z + math.sqrt(1 - rho**2) * zp if rho != 0.0 else zp
        if n_uniforms:
            uni = mcr.uniforms(key_arrivals, index, counter, n_uniforms, dtype)
            n_gen = _poisson(uni.pop(0), e.lam_gen, parts.terms_gen) if parts.terms_gen else None
            n_rel = _poisson(uni.pop(0), e.lam_rel, parts.terms_rel) if parts.terms_rel else None
        return pack(z, w), pack(n_gen, n_rel)

    return draw


def _step_fn(parts: Parts, e: Economy, T: int, observe: Callable | None):
    """``step(carry, (month, shocks, leaving))``: one month of MODEL.md for every future.

    ``leaving`` is the replacement bought ``dep_months`` ago (``parts.ring``)."""
    p, zeros = parts, e.zeros

    def step(carry, x):
        m, (shocks, arrivals), leaving = x
        mf = m.astype(zeros.dtype)
        z, w = unpack(shocks, p.need_z, p.vol_demand)
        z = zeros if z is None else z
        w = zeros if w is None else w
        n_gen, n_rel = unpack(arrivals, p.terms_gen > 0, p.terms_rel > 0)
        n_gen = zeros if n_gen is None else n_gen
        n_rel = zeros if n_rel is None else n_rel

        log_p = (
            carry["log_p"] + e.drift_p + e.sig_p * z + n_gen * e.jump_p_gen + n_rel * e.jump_p_rel
        )
        log_d = (
            carry["log_d"] + e.drift_d + e.sig_d * w + n_gen * e.jump_d_gen + n_rel * e.jump_d_rel
        )
        price, demand = jnp.exp(log_p), jnp.exp(log_d)
        active = e.G * jnp.exp(mf * e.log_s) if p.shrinking else e.G + zeros
        capacity = active * e.units * jnp.exp(mf * e.log_gain)
        util = jnp.minimum(e.max_u, demand / capacity)
        sold = util * capacity
        revenue = sold * price * e.revenue_keep
        energy = active * (e.idle + (1 - e.idle) * util) * e.energy_rate * jnp.exp(mf * e.log_elec)
        coloc = e.coloc_rate * jnp.exp(mf * e.log_coloc) + zeros
        upkeep = e.staff + active * e.maint
        variable = sold * e.cost_per_unit if p.variable else zeros
        churn = e.retrain * n_rel
        opex = energy + coloc + upkeep + variable

        new = dict(carry, log_p=log_p, log_d=log_d)
        if p.replacing:
            repl = e.G * (-jnp.expm1(e.log_s)) * e.gpu_price * price / e.price0
        else:
            repl = zeros
        if p.financed:
            paying = m <= p.term
            interest = jnp.where(paying, carry["balance"] * e.i_month, 0)
            debt = jnp.where(paying, e.payment, 0)
            new["balance"] = carry["balance"] - (debt - interest)
        else:
            interest = debt = zeros
        depreciation = jnp.where(m <= p.dep_months, e.dep_hw, 0) + jnp.where(
            m <= p.fac_months, e.dep_fac, 0
        )
        if p.replacing:
            depreciation = depreciation + carry["repl_window"] / p.dep_months
            new["repl_window"] = carry["repl_window"] + repl - leaving
        if p.taxed:
            income = revenue - opex - depreciation - interest - churn
            y = income - carry["loss"]
            tax = e.tax_rate * jnp.maximum(0, y)
            new["loss"] = jnp.maximum(0, -y)
        else:
            tax = zeros
        cash = revenue - opex - churn - repl - debt - tax
        disc = jnp.exp(-mf * e.log_disc)
        at_end = jnp.where(m == T, e.salvage * disc, 0)
        cash_disc = cash * disc + at_end
        cum_disc = carry["cum_disc"] + cash_disc
        cum = carry["cum"] + cash + jnp.where(m == T, e.salvage, 0)
        new["cum_disc"], new["cum"] = cum_disc, cum
        new["breakeven"] = jnp.where(
            (carry["breakeven"] > T) & (cum_disc >= 0), m, carry["breakeven"]
        )
        new["payback"] = jnp.where((carry["payback"] > T) & (cum >= 0), m, carry["payback"])
        flows = dict(
            revenue=revenue,
            energy=energy,
            coloc=coloc,
            upkeep=upkeep,
            variable=variable,
            churn=churn,
            repl=repl,
            debt=debt,
            tax=tax,
        )
        new["pv"] = {key: carry["pv"][key] + flows[key] * disc for key in carry["pv"]}
        new["revenue"] = carry["revenue"] + revenue
        new["margin"] = carry["margin"] + revenue - opex - depreciation
        if p.padded:  # months past T (padding of the last depreciation epoch) change nothing
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(m <= T, a, b), new, carry)
        return new, (observe(m, cum_disc) if observe is not None else None, repl if p.ring else 0)

    return step


def _initial_carry(parts: Parts, e: Economy, T: int) -> dict[str, Any]:
    """The month-0 state: log price and demand, V_0, "never" break-even, empty accumulators."""
    zeros = e.zeros
    # only the lines that depend on the path need an accumulator; the deterministic ones
    # (colocation, upkeep, debt payments) are geometric series, summed after the loop
    pv_keys = ["revenue", "energy"]
    pv_keys += [
        key
        for key, used in (
            ("variable", parts.variable),
            ("churn", parts.terms_rel > 0),
            ("repl", parts.replacing),
        )
        if used
    ]
    never = jnp.full(zeros.shape, T + NEVER_OFFSET, jnp.int32)
    carry0: dict[str, Any] = {
        "log_p": e.log_p0,
        "log_d": e.log_d0,
        "cum_disc": e.month0,
        "cum": e.month0,
        "breakeven": never,
        "payback": never,
        # present values of the flows that a scenario can have (switched-off parts are 0)
        "pv": {key: zeros for key in pv_keys},
        "revenue": zeros,
        "margin": zeros,
    }
    if parts.financed:
        carry0["balance"] = e.L + zeros  # per future even when L is a constant
    if parts.taxed:
        carry0["loss"] = e.training + zeros  # training is expensed at month 0
    if parts.replacing:
        carry0["repl_window"] = zeros
    return carry0


def _futures(parts: Parts, e: Economy, T: int, final: dict, scores: jax.Array) -> Futures:
    """The per-future outputs from the final state: NPV, the waterfall, margin and spend."""
    zeros = e.zeros
    pv_of = lambda key: final["pv"].get(key, zeros)  # noqa: E731
    pv_rev, pv_en, pv_var = map(pv_of, ("revenue", "energy", "variable"))
    pv_churn, pv_repl = map(pv_of, ("churn", "repl"))
    pv_col = e.coloc_rate * _geometric(e.log_coloc - e.log_disc, T) + zeros
    decay = e.log_s if parts.shrinking else 0.0
    pv_up = (
        e.staff * _geometric(-e.log_disc, T)
        + e.G * e.maint * _geometric(decay - e.log_disc, T)
        + zeros
    )
    pv_debt = (
        e.payment * _geometric(-e.log_disc, min(parts.term, T)) + zeros if parts.financed else zeros
    )
    salvage_pv = e.salvage * jnp.exp(-T * e.log_disc) + zeros
    before_tax = [pv_rev, -pv_en, -pv_col, -pv_up, -pv_var, -pv_churn, -pv_repl, e.L - pv_debt]
    after_tax = [-e.K + zeros, salvage_pv]
    # tax is what the other components leave of the NPV: one accumulator fewer, and the
    # waterfall adds up to the NPV exactly
    pv_tax = final["cum_disc"] - sum(before_tax + after_tax) if parts.taxed else zeros
    pv = jnp.stack(before_tax + [pv_tax] + after_tax, axis=-1)
    revenue = final["revenue"]
    has_rev = revenue > 0
    safe = jnp.where(has_rev, revenue, 1)
    gross_margin = jnp.where(has_rev, final["margin"] / safe, -jnp.inf)
    # outflows over the horizon = revenue - net cash, and net cash = cum_T - V_0 - salvage
    spend = jnp.where(has_rev, (revenue - final["cum"] + e.salvage) / safe, jnp.inf)
    return Futures(
        npv=final["cum_disc"],
        breakeven=final["breakeven"],
        payback=final["payback"],
        gross_margin=gross_margin,
        spend_to_revenue=spend,
        pv=pv,
        month0=e.month0,
        scores=scores,
    )


def simulate(
    spec: ModelSpec,
    seed: Seed,
    index: jax.Array,
    dtype=jnp.float32,
    observe: Callable[[jax.Array, jax.Array], Any] | None = None,
    scores: jax.Array | None = None,
    sampling: str = "random",
) -> tuple[Futures, Any]:
    """Simulate the futures with global indices ``index`` (uint32, shape (n,)).

    ``observe(month, V_m)`` is called inside the month loop with the discounted cumulative cash
    of month ``m`` (1..T); what it returns is stacked over months and returned beside the
    per-future outputs (e.g. a histogram row per month, or V_m itself).

    ``scores`` (k, n) replaces the drawn normal scores of the uncertain inputs (in the order of
    ``spec.inputs.paths``), for designs such as Sobol' matrices; the monthly shocks still come
    from ``index``.

    ``sampling`` (random|antithetic|sobol) is the design of the input scores when ``scores`` is
    not given (``mcengine.sampling.raw_normal_scores``, then the copula).
    """
    dtype = jnp.dtype(dtype)
    T = spec.horizon
    if scores is None:
        raw = None
        if sampling != "random":
            raw = raw_normal_scores(spec.inputs.paths, seed, index, sampling, dtype)
        scores = spec.inputs.normal_scores(seed, index, dtype, raw=raw)
    drawn = spec.inputs.transform(scores)
    # materialise the inputs once: without the barrier XLA may fuse their sampling into
    # consumers inside the month loop and redo it every month
    scores, drawn = jax.lax.optimization_barrier((scores, drawn))

    parts = scenario_parts(spec)
    fixed = economy(spec, parts, drawn, jnp.zeros(index.shape, dtype), dtype)
    final, observed = month_loop(
        _step_fn(parts, fixed, T, observe),
        _draw_fn(spec, parts, fixed, seed, index, dtype),
        _initial_carry(parts, fixed, T),
        T,
        parts.dep_months if parts.ring else None,
        dtype,
    )
    return _futures(parts, fixed, T, final, scores), observed
