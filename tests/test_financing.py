"""Debt financing edge cases against the closed-form annuity (MODEL.md, Financing).

PV of financing per future = L - payment * sum_{m <= min(n, T)} d_m with the level annuity
payment = L i / (1 - (1 + i)^-n), i = interest_rate / 12."""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

import mcengine

G, GPU_PRICE, OVERHEAD, DEBT, TERM, T, DISCOUNT = 1024, 37_000.0, 0.15, 0.5, 48, 60, 0.15
LOAN = DEBT * G * GPU_PRICE * (1 + OVERHEAD)


def pv_financing(rate: float) -> float:
    i = rate / 12
    payment = LOAN / TERM if i == 0 else LOAN * i / -math.expm1(-TERM * math.log1p(i))
    d = (1 + DISCOUNT) ** (-1 / 12)
    return LOAN - payment * sum(d**m for m in range(1, min(TERM, T) + 1))


def run(interest_rate, n: int, *extra: str):
    cfg = mcengine.load_config(
        overrides=[
            f"fleet.gpus={G}", f"fleet.gpu_price={GPU_PRICE}", f"fleet.system_overhead={OVERHEAD}",
            f"financing.debt_fraction={DEBT}", f"financing.term_months={TERM}",
            f"horizon_months={T}", f"discount_rate={DISCOUNT}",
            f"financing.interest_rate={interest_rate}", f"n_samples={n}", "progress=false",
            "sensitivity.deciles=false", "compile_cache=null", *extra,
        ]
    )  # fmt: skip
    return mcengine.simulate(cfg)


def test_uncertain_interest_rate_with_a_constant_loan():
    """A constant loan L (constant capex and debt share) with a per-future interest rate: the
    balance must still be carried per future."""
    low, high, n = 0.02, 0.10, 8192
    ds = run(f"{{dist:uniform,low:{low},high:{high}}}", n)
    assert np.isfinite(float(ds.npv_mean))
    mean, _ = integrate.quad(pv_financing, low, high)
    mean /= high - low
    second, _ = integrate.quad(lambda r: pv_financing(r) ** 2, low, high)
    sd = math.sqrt(second / (high - low) - mean**2)
    got = float(ds.pv.sel(component="financing"))
    assert abs(got - mean) <= 4 * sd / math.sqrt(n) + 1e-6 * LOAN, (got, mean)


def test_tiny_interest_rate_in_float32():
    """1 - (1 + i)^-n cancels to 0 in float32 for i ~ 1e-8 (the plain formula gives -inf)."""
    for rate in (1.2e-7, 1e-5):
        ds = run(rate, 8192)
        got = float(ds.pv.sel(component="financing"))
        np.testing.assert_allclose(got, pv_financing(rate), rtol=1e-5, atol=1e-6 * LOAN)
