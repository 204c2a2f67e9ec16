"""What the month step of the kernel needs to know about a scenario before month 1.

``Parts`` is the scenario's structure, fixed at trace time (which optional parts of MODEL.md are
switched on, month counts); ``Economy`` holds every quantity that is fixed for a future, computed
once from the drawn inputs in the units the month step uses (monthly rates as logs).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .spec import ModelSpec

__all__ = ["HOURS_PER_MONTH", "Economy", "Parts", "economy", "scenario_parts"]

HOURS_PER_MONTH = 730.0


class Parts(NamedTuple):
    """The scenario's structure, fixed at trace time: which optional parts are on and the
    month counts."""

    financed: bool  # debt: annuity payments, interest deducted from taxable income
    replacing: bool  # failed accelerators are bought again (a replacement cash line)
    shrinking: bool  # failed accelerators are not replaced (the active fleet decays)
    taxed: bool
    variable: bool  # a variable serving cost per unit sold
    vol_demand: bool  # demand shocks W
    need_z: bool  # Z is drawn (for the price, or for W through the correlation)
    rho: float  # corr(Z, W)
    terms_gen: int  # CDF terms of the monthly Poisson counts (0: the process is off)
    terms_rel: int
    term: int  # loan term, months
    dep_months: int  # hardware and replacement depreciation life, months
    fac_months: int  # facility depreciation life, months
    ring: bool  # replacements leave the depreciation window within the horizon
    padded: bool  # the last depreciation epoch runs past T


def scenario_parts(spec: ModelSpec) -> Parts:
    """The structure of ``spec``: a part is on unless its parameter is the constant 0."""
    on = lambda path: not spec.is_zero(path)  # noqa: E731  a part that is not constant zero
    T, months = spec.horizon, spec.months
    failures = on("fleet.annual_failure_rate")
    replace = bool(spec.constants["fleet.replace_failures"])
    rho = spec.constants["market.demand_correlation"]
    vol_price, vol_demand = on("market.price_volatility"), on("demand.volatility")
    ring = replace and failures and T > months["depreciation"]
    return Parts(
        financed=on("financing.debt_fraction"),
        replacing=replace and failures,
        shrinking=failures and not replace,
        taxed=on("tax.rate"),
        variable=on("opex.cost_per_unit"),
        vol_demand=vol_demand,
        need_z=vol_price or (vol_demand and rho != 0.0),
        rho=rho,
        terms_gen=spec.poisson_terms["generation"],
        terms_rel=spec.poisson_terms["release"],
        term=months["term"],
        dep_months=months["depreciation"],
        fac_months=months["facility"],
        ring=ring,
        padded=ring and T % months["depreciation"] != 0,
    )


class Economy(NamedTuple):
    """Every quantity of MODEL.md that is fixed for a future (arrays over futures, or scalars
    where the inputs are constants), in the units the month step uses: monthly rates as logs."""

    zeros: jax.Array
    G: Any
    gpu_price: Any
    K: Any  # total upfront
    L: Any  # loan
    month0: Any  # V_0 = -(K - L)
    training: Any
    payment: Any  # level annuity payment (None without debt)
    i_month: Any  # monthly interest rate
    log_s: Any  # log monthly survival
    units: Any  # units sold per accelerator-month at full utilization
    log_gain: Any  # log monthly growth of the efficiency gain, electricity, colocation, discount
    log_elec: Any
    log_coloc: Any
    log_disc: Any
    drift_p: Any  # log-price: drift, shock scale, jumps per generation and per release
    sig_p: Any
    jump_p_gen: Any
    jump_p_rel: Any
    drift_d: Any  # log-demand: the same
    sig_d: Any
    jump_d_gen: Any
    jump_d_rel: Any
    lam_gen: Any  # monthly Poisson rates
    lam_rel: Any
    price0: Any
    log_p0: Any
    log_d0: Any
    max_u: Any
    revenue_keep: Any  # 1 - revenue share
    idle: Any
    energy_rate: Any  # $ per active accelerator-month at full power, before the trend
    coloc_rate: Any  # $ per month, before escalation
    staff: Any
    maint: Any
    cost_per_unit: Any
    retrain: Any
    tax_rate: Any
    dep_hw: Any  # monthly depreciation of hardware and facility
    dep_fac: Any
    salvage: Any


def economy(spec: ModelSpec, parts: Parts, drawn: dict, zeros: jax.Array, dtype) -> Economy:
    """The per-future quantities from the drawn inputs (and the constants)."""

    def v(path: str):
        if path in drawn:
            return drawn[path].astype(dtype)
        return jnp.asarray(spec.constants[path], dtype)

    G = v("fleet.gpus")
    gpu_price = v("fleet.gpu_price")
    K_hw = G * gpu_price * (1 + v("fleet.system_overhead"))
    facility = v("upfront.facility")
    K = K_hw + facility + v("upfront.training")
    L = v("financing.debt_fraction") * K if parts.financed else zeros
    i_month = v("financing.interest_rate") / 12
    payment = None
    if parts.financed:
        # 1 - (1 + i)^-n without cancellation: in float32 the plain form is 0 for i below ~1e-7
        annuity = L * i_month / -jnp.expm1(-parts.term * jnp.log1p(i_month))
        payment = jnp.where(i_month > 0, annuity, L / parts.term)
    units = v("market.units_per_gpu_hour") * HOURS_PER_MONTH
    vol_p, vol_d = v("market.price_volatility"), v("demand.volatility")
    # factors are > 0; a draw that rounds to 0 gives a finite jump, not 0 * -inf = nan
    log_factor = lambda path: jnp.log(jnp.maximum(v(path), jnp.finfo(dtype).tiny))  # noqa: E731
    price0 = v("market.price0")
    power = v("fleet.power_kw")
    return Economy(
        zeros=zeros,
        G=G,
        gpu_price=gpu_price,
        K=K,
        L=L,
        month0=zeros - (K - L),
        training=v("upfront.training"),
        payment=payment,
        i_month=i_month,
        log_s=jnp.log1p(-v("fleet.annual_failure_rate")) / 12,
        units=units,
        log_gain=jnp.log1p(v("efficiency.gain")) / 12,
        log_elec=jnp.log1p(v("opex.electricity_trend")) / 12,
        log_coloc=jnp.log1p(v("opex.colocation_escalation")) / 12,
        log_disc=jnp.log1p(v("discount_rate")) / 12,
        drift_p=(jnp.log1p(v("market.price_trend")) - vol_p**2 / 2) / 12,
        sig_p=vol_p * math.sqrt(1 / 12),
        jump_p_gen=jnp.log1p(-v("market.generation_price_drop")),
        jump_p_rel=log_factor("churn.price_shock"),
        drift_d=(jnp.log1p(v("demand.growth")) - vol_d**2 / 2) / 12,
        sig_d=vol_d * math.sqrt(1 / 12),
        jump_d_gen=log_factor("market.generation_demand_shock"),
        jump_d_rel=log_factor("churn.demand_shock"),
        lam_gen=v("market.generation_rate") / 12,
        lam_rel=v("churn.release_rate") / 12,
        price0=price0,
        log_p0=jnp.log(price0) + zeros,
        log_d0=jnp.log(v("demand.utilization0") * G * units) + zeros,
        max_u=v("demand.max_utilization"),
        revenue_keep=1 - v("market.revenue_share"),
        idle=v("opex.idle_power_fraction"),
        energy_rate=power * v("opex.pue") * HOURS_PER_MONTH * v("opex.electricity_price"),
        coloc_rate=G * power * v("opex.colocation_per_kw_month"),
        staff=v("opex.staff_per_month"),
        maint=v("opex.maintenance_per_gpu_month"),
        cost_per_unit=v("opex.cost_per_unit"),
        retrain=v("churn.retrain_cost"),
        tax_rate=v("tax.rate"),
        dep_hw=K_hw / parts.dep_months,
        dep_fac=facility / parts.fac_months,
        salvage=v("fleet.salvage_fraction") * K_hw,
    )
