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


def linear_cash(cfg, x: str, x_pair: tuple[float, float], y: str, y_pair: tuple[float, float]):
    """``(a, b, c)``, arrays over months 0..T with ``V_m = a_m + b_m x + c_m y`` for the
    deterministic scenario ``cfg`` (inputs other than ``x``, ``y`` at their constants), from the
    independent hand model (``tests/hand_model.py``) at three corners of the box; the fourth
    corner checks that the cash is linear in both (true here: tax off, no processes)."""
    import numpy as np
    from hand_model import hand_model

    from mcengine.config import to_plain

    def cash(xv: float, yv: float) -> np.ndarray:
        params = to_plain(cfg)
        for path, value in ((x, xv), (y, yv)):
            section, key = path.split(".")
            params[section][key] = value
        return np.asarray(hand_model(params)["cum_cash"], np.float64)

    (x0, x1), (y0, y1) = x_pair, y_pair
    v00, v10, v01 = cash(x0, y0), cash(x1, y0), cash(x0, y1)
    b, c = (v10 - v00) / (x1 - x0), (v01 - v00) / (y1 - y0)
    a = v00 - b * x0 - c * y0
    np.testing.assert_allclose(a + b * x1 + c * y1, cash(x1, y1), rtol=1e-9, atol=1e-3)
    return a, b, c


def recoup_threshold(a, b, c, x):
    """The smallest ``y`` with break-even by month T at each ``x``: ``V_m`` rises with ``y``
    (``c_m > 0`` for m >= 1), so a future recoups iff ``y >= min_m -(a_m + b_m x) / c_m``."""
    import numpy as np

    a, b, c = (np.asarray(v)[1:] for v in (a, b, c))
    assert np.all(c > 0)
    return np.min(-(a[None, :] + b[None, :] * np.asarray(x)[:, None]) / c[None, :], axis=1)


def recoup_given(a, b, c, x_box, y_box, grid: int = 4000):
    """``(P(recoup | x), P(recoup | y))`` on midpoint grids of ``grid`` points over the boxes,
    for independent uniform ``x``, ``y`` and linear cash ``a, b, c`` (``linear_cash``)."""
    import numpy as np

    def midpoints(box):
        return box[0] + (np.arange(grid) + 0.5) / grid * (box[1] - box[0])

    threshold = recoup_threshold(a, b, c, midpoints(x_box))
    given_x = np.clip((y_box[1] - threshold) / (y_box[1] - y_box[0]), 0, 1)
    given_y = np.searchsorted(np.sort(threshold), midpoints(y_box), side="right") / grid
    return given_x, given_y
