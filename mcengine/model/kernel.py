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
from ..sampling import raw_normal_scores
from .spec import ModelSpec

__all__ = ["COMPONENTS", "HOURS_PER_MONTH", "Futures", "monthly_draws", "simulate"]

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
NEVER_OFFSET = 1  # break-even month T + 1 encodes "never"
MAX_BLOCK = 12  # months whose random shocks are drawn together (see _month_loop)


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
    rho = spec.constants["market.demand_correlation"]
    vol_p = not spec.is_zero("market.price_volatility")
    vol_d = not spec.is_zero("demand.volatility")
    need_z = vol_p or (vol_d and rho != 0.0)
    return {
        "normals": int(need_z) + int(vol_d),
        "uniforms": sum(spec.poisson_terms[p] > 0 for p in ("generation", "release")),
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


def _block_length(span: int) -> int:
    """Months per block: the largest divisor of ``span`` up to ``MAX_BLOCK``."""
    return max(d for d in range(1, min(MAX_BLOCK, span) + 1) if span % d == 0)


def _pack(a: jax.Array | None, b: jax.Array | None) -> jax.Array | None:
    """Two real arrays as one complex array, so that XLA computes them in one fusion."""
    if a is None or b is None:
        return b if a is None else a
    return jax.lax.complex(a, b)


def _unpack(packed: jax.Array | None, a: bool, b: bool) -> tuple[Any, Any]:
    if a and b:
        return jnp.real(packed), jnp.imag(packed)
    return (packed, None) if a else (None, packed)


def _month_loop(step, draw, carry0, T: int, epoch: int | None, dtype):
    """Run ``step`` over months 1..T; returns the final carry and the stacked observations.

    Months run in blocks of up to ``MAX_BLOCK``: the random shocks of a whole block are drawn by
    ``draw(months)`` before its months run. Drawn inside the month step, each shock's cipher was
    recomputed by every fusion that used it (XLA:CPU has no multi-output fusion); drawn per
    block, each is computed once and read back from cache.

    Replacement depreciation needs the replacement bought ``epoch`` months ago. Keeping a ring
    buffer in the carry makes XLA copy it every month, so months run in epochs of that length:
    each epoch's replacements are the inner scans' output and the next epoch's read-only input.
    """
    span = T if epoch is None else epoch
    n_epochs = -(-T // span)
    B = _block_length(span)
    n_blocks = span // B
    months = jnp.arange(1, n_epochs * span + 1, dtype=jnp.int32)
    months = months.reshape(n_epochs, n_blocks, B)

    def run_block(state, x):
        block_months, leaving = x
        xs = (block_months, draw(block_months), leaving)
        return jax.lax.scan(step, state, xs)

    def run_epoch(carry, epoch_months):
        state, bought_before = carry
        state, (observed, bought) = jax.lax.scan(run_block, state, (epoch_months, bought_before))
        return (state, bought if epoch is not None else bought_before), observed

    none_bought = jnp.zeros((n_blocks, B), dtype)  # read as "nothing leaves" when no ring
    if epoch is not None:
        none_bought = jnp.zeros((n_blocks, B) + carry0["cum"].shape, dtype)
    (final, _), observed = jax.lax.scan(run_epoch, (carry0, none_bought), months)
    flat = jax.tree_util.tree_map(lambda y: y.reshape((-1,) + y.shape[3:])[:T], observed)
    return final, flat


def simulate(
    spec: ModelSpec,
    seed: int,
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
    months = spec.months
    if scores is None:
        raw = None
        if sampling != "random":
            raw = raw_normal_scores(spec.inputs.paths, seed, index, sampling, dtype)
        scores = spec.inputs.normal_scores(seed, index, dtype, raw=raw)
    drawn = spec.inputs.transform(scores)
    # materialise the inputs once: without the barrier XLA may fuse their sampling into
    # consumers inside the month loop and redo it every month
    scores, drawn = jax.lax.optimization_barrier((scores, drawn))

    def v(path: str):
        if path in drawn:
            return drawn[path].astype(dtype)
        return jnp.asarray(spec.constants[path], dtype)

    def on(path: str) -> bool:  # a part of the model that is not constant zero
        return not spec.is_zero(path)

    zeros = jnp.zeros(index.shape, dtype)
    G = v("fleet.gpus")
    gpu_price = v("fleet.gpu_price")
    K_hw = G * gpu_price * (1 + v("fleet.system_overhead"))
    facility = v("upfront.facility")
    K = K_hw + facility + v("upfront.training")
    financed = on("financing.debt_fraction")
    L = v("financing.debt_fraction") * K if financed else zeros
    month0 = zeros - (K - L)

    n_term = months["term"]
    i_month = v("financing.interest_rate") / 12
    if financed:
        # 1 - (1 + i)^-n without cancellation: in float32 the plain form is 0 for i below ~1e-7
        annuity = L * i_month / -jnp.expm1(-n_term * jnp.log1p(i_month))
        payment = jnp.where(i_month > 0, annuity, L / n_term)
    replace = bool(spec.constants["fleet.replace_failures"])
    failures = on("fleet.annual_failure_rate")
    log_s = jnp.log1p(-v("fleet.annual_failure_rate")) / 12
    units = v("market.units_per_gpu_hour") * HOURS_PER_MONTH
    log_gain = jnp.log1p(v("efficiency.gain")) / 12
    log_elec = jnp.log1p(v("opex.electricity_trend")) / 12
    log_coloc = jnp.log1p(v("opex.colocation_escalation")) / 12
    log_disc = jnp.log1p(v("discount_rate")) / 12

    vol_p, vol_d = v("market.price_volatility"), v("demand.volatility")
    drift_p = (jnp.log1p(v("market.price_trend")) - vol_p**2 / 2) / 12
    drift_d = (jnp.log1p(v("demand.growth")) - vol_d**2 / 2) / 12
    sig_p, sig_d = vol_p * math.sqrt(1 / 12), vol_d * math.sqrt(1 / 12)
    rho = spec.constants["market.demand_correlation"]
    use_vol_p, use_vol_d = on("market.price_volatility"), on("demand.volatility")
    need_z = use_vol_p or (use_vol_d and rho != 0.0)
    budget = monthly_draws(spec)
    n_normals, n_uniforms = budget["normals"], budget["uniforms"]

    terms_gen, terms_rel = spec.poisson_terms["generation"], spec.poisson_terms["release"]
    lam_gen, lam_rel = v("market.generation_rate") / 12, v("churn.release_rate") / 12
    # factors are > 0; a draw that rounds to 0 gives a finite jump, not 0 * -inf = nan
    log_factor = lambda path: jnp.log(jnp.maximum(v(path), jnp.finfo(dtype).tiny))  # noqa: E731
    jump_p_gen = jnp.log1p(-v("market.generation_price_drop"))
    jump_d_gen = log_factor("market.generation_demand_shock")
    jump_p_rel, jump_d_rel = log_factor("churn.price_shock"), log_factor("churn.demand_shock")

    key_shocks = mcr.stream_key(seed, "process/shocks")
    key_arrivals = mcr.stream_key(seed, "process/arrivals")

    price0 = v("market.price0")
    log_p0 = jnp.log(price0) + zeros
    log_d0 = jnp.log(v("demand.utilization0") * G * units) + zeros
    max_u = v("demand.max_utilization")
    revenue_keep = 1 - v("market.revenue_share")
    power = v("fleet.power_kw")
    idle = v("opex.idle_power_fraction")
    energy_rate = power * v("opex.pue") * HOURS_PER_MONTH * v("opex.electricity_price")
    coloc_rate = G * power * v("opex.colocation_per_kw_month")
    staff, maint = v("opex.staff_per_month"), v("opex.maintenance_per_gpu_month")
    cost_per_unit, retrain = v("opex.cost_per_unit"), v("churn.retrain_cost")
    variable_on = on("opex.cost_per_unit")
    taxed = on("tax.rate")
    tax_rate = v("tax.rate")
    dep_months, fac_months = months["depreciation"], months["facility"]
    dep_hw, dep_fac = K_hw / dep_months, facility / fac_months
    salvage = v("fleet.salvage_fraction") * K_hw
    ring = replace and failures and T > dep_months
    padded = ring and T % dep_months != 0

    def draw(block_months):
        """The block's monthly shocks, (B, n) each: normal pair and arrival counts."""
        counter = block_months[:, None]
        z = w = n_gen = n_rel = None
        if n_normals:
            normals = mcr.normals(key_shocks, index, counter, n_normals, dtype)
            z = normals.pop(0) if need_z else None
            if use_vol_d:
                zp = normals.pop(0)
                w = rho * z + math.sqrt(1 - rho**2) * zp if rho != 0.0 else zp
        if n_uniforms:
            uni = mcr.uniforms(key_arrivals, index, counter, n_uniforms, dtype)
            n_gen = _poisson(uni.pop(0), lam_gen, terms_gen) if terms_gen else None
            n_rel = _poisson(uni.pop(0), lam_rel, terms_rel) if terms_rel else None
        return _pack(z, w), _pack(n_gen, n_rel)

    def step(carry, x):
        m, (shocks, arrivals), leaving = x  # leaving: replacement bought dep_months ago (ring)
        mf = m.astype(dtype)
        z, w = _unpack(shocks, need_z, use_vol_d)
        z = zeros if z is None else z
        w = zeros if w is None else w
        n_gen, n_rel = _unpack(arrivals, terms_gen > 0, terms_rel > 0)
        n_gen = zeros if n_gen is None else n_gen
        n_rel = zeros if n_rel is None else n_rel

        log_p = carry["log_p"] + drift_p + sig_p * z + n_gen * jump_p_gen + n_rel * jump_p_rel
        log_d = carry["log_d"] + drift_d + sig_d * w + n_gen * jump_d_gen + n_rel * jump_d_rel
        price, demand = jnp.exp(log_p), jnp.exp(log_d)
        active = G * jnp.exp(mf * log_s) if (failures and not replace) else G + zeros
        capacity = active * units * jnp.exp(mf * log_gain)
        util = jnp.minimum(max_u, demand / capacity)
        sold = util * capacity
        revenue = sold * price * revenue_keep
        energy = active * (idle + (1 - idle) * util) * energy_rate * jnp.exp(mf * log_elec)
        coloc = coloc_rate * jnp.exp(mf * log_coloc) + zeros
        upkeep = staff + active * maint
        variable = sold * cost_per_unit if variable_on else zeros
        churn = retrain * n_rel
        opex = energy + coloc + upkeep + variable

        new = dict(carry, log_p=log_p, log_d=log_d)
        if replace and failures:
            repl = G * (-jnp.expm1(log_s)) * gpu_price * price / price0
        else:
            repl = zeros
        if financed:
            paying = m <= n_term
            interest = jnp.where(paying, carry["balance"] * i_month, 0)
            debt = jnp.where(paying, payment, 0)
            new["balance"] = carry["balance"] - (debt - interest)
        else:
            interest = debt = zeros
        depreciation = jnp.where(m <= dep_months, dep_hw, 0) + jnp.where(
            m <= fac_months, dep_fac, 0
        )
        if replace and failures:
            depreciation = depreciation + carry["repl_window"] / dep_months
            new["repl_window"] = carry["repl_window"] + repl - leaving
        if taxed:
            income = revenue - opex - depreciation - interest - churn
            y = income - carry["loss"]
            tax = tax_rate * jnp.maximum(0, y)
            new["loss"] = jnp.maximum(0, -y)
        else:
            tax = zeros
        cash = revenue - opex - churn - repl - debt - tax
        disc = jnp.exp(-mf * log_disc)
        at_end = jnp.where(m == T, salvage * disc, 0)
        cash_disc = cash * disc + at_end
        cum_disc = carry["cum_disc"] + cash_disc
        cum = carry["cum"] + cash + jnp.where(m == T, salvage, 0)
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
        if padded:  # months past T (padding of the last depreciation epoch) change nothing
            new = jax.tree_util.tree_map(lambda a, b: jnp.where(m <= T, a, b), new, carry)
        return new, (observe(m, cum_disc) if observe is not None else None, repl if ring else 0)

    # only the lines that depend on the path need an accumulator; the deterministic ones
    # (colocation, upkeep, debt payments) are geometric series, summed after the loop
    pv_keys = ["revenue", "energy"]
    pv_keys += [
        key
        for key, used in (
            ("variable", variable_on),
            ("churn", terms_rel > 0),
            ("repl", replace and failures),
        )
        if used
    ]
    never = jnp.full(index.shape, T + NEVER_OFFSET, jnp.int32)
    carry0: dict[str, Any] = {
        "log_p": log_p0,
        "log_d": log_d0,
        "cum_disc": month0,
        "cum": month0,
        "breakeven": never,
        "payback": never,
        # present values of the flows that a scenario can have (switched-off parts are 0)
        "pv": {key: zeros for key in pv_keys},
        "revenue": zeros,
        "margin": zeros,
    }
    if financed:
        carry0["balance"] = L + zeros  # per future even when L is a constant
    if taxed:
        carry0["loss"] = v("upfront.training") + zeros
    if replace and failures:
        carry0["repl_window"] = zeros
    final, observed = _month_loop(step, draw, carry0, T, dep_months if ring else None, dtype)

    pv_of = lambda key: final["pv"].get(key, zeros)  # noqa: E731
    pv_rev, pv_en, pv_var = map(pv_of, ("revenue", "energy", "variable"))
    pv_churn, pv_repl = map(pv_of, ("churn", "repl"))
    pv_col = coloc_rate * _geometric(log_coloc - log_disc, T) + zeros
    decay = log_s if (failures and not replace) else 0.0
    pv_up = staff * _geometric(-log_disc, T) + G * maint * _geometric(decay - log_disc, T) + zeros
    pv_debt = payment * _geometric(-log_disc, min(n_term, T)) + zeros if financed else zeros
    salvage_pv = salvage * jnp.exp(-T * log_disc) + zeros
    before_tax = [pv_rev, -pv_en, -pv_col, -pv_up, -pv_var, -pv_churn, -pv_repl, L - pv_debt]
    after_tax = [-K + zeros, salvage_pv]
    # tax is what the other components leave of the NPV: one accumulator fewer, and the
    # waterfall adds up to the NPV exactly
    pv_tax = final["cum_disc"] - sum(before_tax + after_tax) if taxed else zeros
    pv = jnp.stack(before_tax + [pv_tax] + after_tax, axis=-1)
    revenue = final["revenue"]
    has_rev = revenue > 0
    safe = jnp.where(has_rev, revenue, 1)
    gross_margin = jnp.where(has_rev, final["margin"] / safe, -jnp.inf)
    # outflows over the horizon = revenue - net cash, and net cash = cum_T - V_0 - salvage
    spend = jnp.where(has_rev, (revenue - final["cum"] + salvage) / safe, jnp.inf)
    futures = Futures(
        npv=final["cum_disc"],
        breakeven=final["breakeven"],
        payback=final["payback"],
        gross_margin=gross_margin,
        spend_to_revenue=spend,
        pv=pv,
        month0=month0,
        scores=scores,
    )
    return futures, observed
