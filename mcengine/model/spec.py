"""``ModelSpec``: a validated, static description of one scenario of the built-in model.

Built from a plain nested mapping (a resolved Hydra config or a dict). Every check happens here,
before anything is sampled: unknown keys, missing required values, plain-number parameters given
as distributions, values or distribution supports outside a parameter's range.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..distributions import JointInputs
from ..errors import ConfigError, suggest
from .params import PARAMS, SECTIONS, Param

__all__ = ["ModelSpec", "model_config", "unknown_parameter"]

_ROOT_PARAMS = [p for p in PARAMS if "." not in p]


def _get(cfg: Mapping, path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def unknown_parameter(section: str, key: str) -> ConfigError:
    """The error for ``section.key``, a name that is not a parameter of the model section."""
    known = [p.split(".", 1)[1] for p in PARAMS if p.startswith(section + ".")]
    return ConfigError(
        f"'{section}.{key}' is not a parameter of the model.{suggest(key, known)} "
        f"Known '{section}' parameters: {', '.join(sorted(known))}."
    )


def model_config(cfg: Mapping) -> dict[str, Any]:
    """The model parameters of ``cfg`` as ``{path: value}`` (defaults filled).

    Unknown keys in model sections are rejected. Values are numbers, booleans or specs."""
    for section in SECTIONS:
        node = cfg.get(section)
        if node is None:
            continue
        if not isinstance(node, Mapping):
            raise ConfigError(f"'{section}' must be a mapping of parameters, got {node!r}.")
        for key in node:
            if f"{section}.{key}" not in PARAMS:
                raise unknown_parameter(section, key)
    values = {}
    for path, param in PARAMS.items():
        value = _get(cfg, path)
        values[path] = param.default if value is None else value
    return values


def _example(param: Param) -> str:
    """A value to show in a fix: the parameter's default, else 1."""
    if param.default is not None and not isinstance(param.default, bool):
        return f"{param.default:g}"
    return "1"


def _check_plain(param: Param, value: Any) -> float:
    where = param.path
    if isinstance(value, Mapping):
        raise ConfigError(
            f"{where} is a plain number (not drawn per future); got the distribution {value!r}. "
            f"Give a single value, e.g. {where}={1 if param.default is None else param.default}."
        )
    if param.boolean:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}.")
        return float(value)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        hint = ""
        if isinstance(value, str) and value.strip().startswith("{"):
            hint = (
                " It looks like a distribution spec in quotes: write it without quotes, e.g. "
                f"{where}='{{dist: uniform, low: 1, high: 2}}' in the shell."
            )
        what = "a number or a distribution spec" if param.uncertain else "a number"
        fix = hint or f" Fix: e.g. {where}={_example(param)}."
        raise ConfigError(f"{where} must be {what}, got {value!r}.{fix}")
    if not math.isfinite(value):
        raise ConfigError(
            f"{where} must be finite, got {value!r}. Fix: e.g. {where}={_example(param)}."
        )
    if param.integer and float(value) != int(value):
        raise ConfigError(
            f"{where} must be a whole number, got {value!r}. Fix: e.g. {where}={round(value)}."
        )
    if not param.admits(float(value)):
        example = "" if param.default is None else f" (the default is {param.default:g})"
        raise ConfigError(
            f"{where}: {value!r} is outside its range {param.range_text()}. Fix: give a value in "
            f"that range{example}."
        )
    return float(value)


def _warn_without_mean(path: str, dist) -> None:
    """Warn when an input has no finite mean (a Student t with df <= 1 open on a side): the
    run works, but its mean NPV and that mean's standard error do not settle as n grows."""
    if math.isfinite(dist.mean):
        return
    warnings.warn(
        f"{path}: its distribution has no finite mean, so the mean NPV (and its SE) will not "
        "settle however many futures are drawn; quantiles and P(recoup) are still fine. Fix: "
        "use a Student t with df > 1, or truncate it on both sides (low: and high:).",
        stacklevel=3,
    )


def _check_support(param: Param, dist) -> None:
    lo, hi = dist.support
    ok_lo = lo > param.low if param.low_open else lo >= param.low
    # a continuous family never draws its support's end 0 (floats are dense there), so it may
    # stand for a parameter that must be > 0 (the kernel takes logs of such draws safely). At any
    # other open end a draw within rounding of it equals it (-1 + 1e-9 == -1 in float32), so
    # the spec must be truncated inside
    ok_lo = ok_lo or (param.low_open and lo == param.low == 0.0 and dist.is_continuous)
    ok_hi = hi < param.high if param.high_open else hi <= param.high
    if not (ok_lo and ok_hi):
        bounds = []
        for ok, name, end, is_open, step in (
            (ok_lo, "low", param.low, param.low_open, 0.01),
            (ok_hi, "high", param.high, param.high_open, -0.01),
        ):
            if not ok:  # an open end itself is excluded: truncate just inside it
                inside = end + step * max(1.0, abs(end))
                bounds.append(f"{name}: {inside:g}" if is_open else f"{name}: {end:g}")
        raise ConfigError(
            f"{param.path}: its distribution can take values in [{lo:g}, {hi:g}], outside the "
            f"parameter's range {param.range_text()}. Fix: pick a family on that range or "
            f"truncate the spec inside it, e.g. add {', '.join(bounds)}."
        )


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """Everything the kernel needs that is fixed for a run.

    ``constants`` holds every parameter that is a plain number (defaults filled); ``inputs``
    samples the uncertain ones.
    """

    horizon: int
    constants: Mapping[str, float]
    inputs: JointInputs
    poisson_terms: Mapping[str, int]

    @classmethod
    def from_config(cls, cfg: Mapping) -> ModelSpec:
        values = model_config(cfg)
        constants: dict[str, float] = {}
        specs: dict[str, Any] = {}
        for path, param in PARAMS.items():
            value = values[path]
            if value is None:
                raise ConfigError(
                    f"{path} is required: set it in the scenario or override it, e.g. "
                    f"{path}=<value>. ({param.doc})"
                )
            if param.uncertain and isinstance(value, Mapping):
                specs[path] = value  # a distribution spec (JointInputs validates it)
            else:
                constants[path] = _check_plain(param, value)
        correlations = cfg.get("correlations") or None
        inputs = JointInputs.build(specs, correlations, fixed=list(constants))
        for path, value in inputs.constants.items():
            constants[path] = _check_plain(
                PARAMS[path], float(value) if not isinstance(value, bool) else value
            )
        for path in inputs.paths:
            _check_support(PARAMS[path], inputs.distributions[path])
            _warn_without_mean(path, inputs.distributions[path])
        spec = cls(
            horizon=int(constants["horizon_months"]),
            constants=constants,
            inputs=inputs,
            poisson_terms={},
        )
        spec._check_financing()
        spec._check_lives()
        object.__setattr__(spec, "poisson_terms", spec._poisson_terms())
        return spec

    # -- queries used by the kernel to leave out parts that are switched off -----------------
    def is_constant(self, path: str) -> bool:
        return path in self.constants

    def is_zero(self, path: str) -> bool:
        return self.constants.get(path) == 0.0

    def is_one(self, path: str) -> bool:
        return self.constants.get(path) == 1.0

    def upper(self, path: str, tail: float = 1e-12) -> float:
        """The largest value a parameter takes (a far quantile for unbounded distributions)."""
        if path in self.constants:
            return self.constants[path]
        dist = self.inputs.distributions[path]
        hi = dist.support[1]
        return float(hi) if math.isfinite(hi) else float(dist.quantile(1.0 - tail))

    @property
    def months(self) -> dict[str, int]:
        c = self.constants
        return {
            "term": int(c["financing.term_months"]),
            "depreciation": round(12 * c["tax.depreciation_years"]),
            "facility": round(12 * c["tax.facility_years"]),
        }

    def _check_financing(self) -> None:
        if self.is_zero("financing.debt_fraction"):
            return
        if self.constants["financing.term_months"] < 1:
            raise ConfigError(
                "financing.term_months must be at least 1 when financing.debt_fraction is not 0: "
                "set the loan term, e.g. financing.term_months=36."
            )
        term, horizon = self.months["term"], self.horizon
        if term > horizon:
            warnings.warn(
                f"financing.term_months={term} runs past horizon_months={horizon}: the payments "
                f"after month {horizon}, and the balance still owed then, are outside the NPV "
                "(MODEL.md counts cash through month T only). Lengthen the horizon or shorten the "
                "term if the loan should be repaid within it.",
                UserWarning,
                stacklevel=2,
            )

    def _check_lives(self) -> None:
        for key in ("tax.depreciation_years", "tax.facility_years"):
            months = 12 * self.constants[key]
            if abs(months - round(months)) > 1e-9 or round(months) < 1:
                raise ConfigError(
                    f"{key}={self.constants[key]!r} is not a whole number of months (>= 1): use a "
                    f"multiple of 1/12, e.g. {key}={round(months) / 12:g}."
                )

    def _poisson_terms(self) -> dict[str, int]:
        """Terms of the inverse-CDF Poisson sum per arrival process, so that the mass left out
        at the largest monthly rate is below 1e-12 (0 terms: the process is switched off)."""
        terms = {}
        for name, path in (
            ("generation", "market.generation_rate"),
            ("release", "churn.release_rate"),
        ):
            lam = self.upper(path) / 12.0
            if lam <= 0.0:
                terms[name] = 0
                continue
            k, p, cdf = 0, math.exp(-lam), math.exp(-lam)
            while 1.0 - cdf > 1e-12 and k < 200:
                k += 1
                p *= lam / k
                cdf += p
            terms[name] = k + 1
        return terms
