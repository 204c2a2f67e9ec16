"""``from_spec``: a config mapping (or plain number) → a validated :class:`Distribution`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import optimize, special

from . import families as F
from .spec import as_float, check_finite, fail, number, numbers, plain, quantile_level, suggest
from .tables import TableError

__all__ = ["from_spec", "is_spec", "is_uncertain", "FAMILIES"]

Q2 = "two quantiles {pXX, pYY} (e.g. p05, p95)"
# Accepted parameterisations per family (documentation and error messages).
FORMS: dict[str, list[str]] = {
    "constant": ["{value}"],
    "normal": ["{mean, sd}"],
    "lognormal": ["{median, sd_log}", "{mean_log, sd_log}", "{mean, sd}", Q2],
    "uniform": ["{low, high}"],
    "loguniform": ["{low, high}"],
    "triangular": ["{min, mode, max}"],
    "pert": ["{min, mode, max}"],
    "beta": ["{alpha, beta}", "{mean, sd}", "either with optional {low, high} (default 0, 1)"],
    "gamma": ["{shape, scale}", "{shape, rate}", "{mean, sd}", Q2],
    "student_t": ["{df}", "{df, loc, scale}"],
    "truncated": ["{base, low}", "{base, high}", "{base, low, high}"],
    "discrete": ["{values, probabilities}"],
    "empirical": ["{data}"],
    "mixture": ["{weights, components}"],
}
ALIASES = {
    "t": "student_t",
    "studentt": "student_t",
    "student-t": "student_t",
    "log_normal": "lognormal",
    "log_uniform": "loguniform",
    "triangle": "triangular",
    "const": "constant",
}
FAMILIES = tuple(FORMS)
# Families whose own parameters are called low/high: direct truncation keys do not apply.
_OWN_LOW_HIGH = {"uniform", "loguniform", "beta", "truncated"}


def is_spec(value: Any) -> bool:
    """True for a mapping with a ``dist`` key."""
    return isinstance(value, Mapping) and "dist" in value


def is_uncertain(value: Any) -> bool:
    """True when ``value`` is a distribution spec that is not a constant."""
    return is_spec(value) and not from_spec(value).is_constant


def _form_error(path: str, fam: str, keys: set[str], problem: str) -> None:
    got = "{" + ", ".join(sorted(keys)) + "}"
    fail(
        path,
        f"{fam} {problem} (got {got})",
        f"use one of the {fam} parameterisations: " + " | ".join(FORMS[fam]),
    )


def _pick(
    path: str, fam: str, spec: dict, forms: list[tuple[str, ...]], optional: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The form whose keys exactly match ``spec`` (besides ``optional``); else a SpecError."""
    keys = set(spec) - {"dist"}
    for form in forms:
        if set(form) <= keys and keys <= set(form) | set(optional):
            return form
    best = min(forms, key=lambda f: len(set(f) ^ (keys - set(optional))))
    missing = sorted(set(best) - keys)
    extra = sorted(keys - set(best) - set(optional))
    bits = []
    if missing:
        bits.append("is missing " + ", ".join(missing))
    if extra:
        known = {k for f in forms for k in f} | set(optional)
        notes = [
            f"{e}: {suggest(e, known).strip()}"
            for e in extra
            if e not in known and suggest(e, known)
        ]
        bits.append(
            "has unknown or extra parameter(s) "
            + ", ".join(extra)
            + (f" ({'; '.join(notes)})" if notes else "")
            + (" (parameterisations cannot be mixed)" if set(extra) & known else "")
        )
    _form_error(path, fam, keys, " and ".join(bits) or "has a conflicting parameter set")
    raise AssertionError


def _positive(path: str, key: str, v: float, what: str = "must be > 0") -> float:
    if not v > 0:
        fail(f"{path}.{key}", f"{what}, got {v:g}", f"give a positive {key}")
    return v


def _quantile_pair(
    path: str, spec: dict, fam: str
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    qkeys = [k for k in spec if k != "dist" and quantile_level(str(k)) is not None]
    if not qkeys:
        return None
    other = set(spec) - {"dist"} - set(qkeys)
    if len(qkeys) != 2 or other:
        _form_error(
            path,
            fam,
            set(spec) - {"dist"},
            "two-quantile form needs exactly two keys pXX, pYY and nothing else",
        )
    (k1, k2) = sorted(qkeys, key=lambda k: quantile_level(k))
    q1, q2 = quantile_level(k1), quantile_level(k2)
    x1, x2 = number(spec, k1, path), number(spec, k2, path)
    if q1 == q2:
        fail(path, f"{k1} and {k2} are the same quantile level", "give two different levels")
    if not x1 < x2:
        fail(
            path,
            f"{k1} = {x1:g} must be below {k2} = {x2:g}",
            f"make {k1} < {k2} (lower level gets the smaller value)",
        )
    _positive(path, k1, x1, f"{fam} quantiles must be > 0")
    return (q1, x1), (q2, x2)


def _lognormal(path: str, spec: dict) -> F.Distribution:
    qp = _quantile_pair(path, spec, "lognormal")
    if qp:
        (q1, x1), (q2, x2) = qp
        z1, z2 = special.ndtri(q1), special.ndtri(q2)
        sigma = (math.log(x2) - math.log(x1)) / (z2 - z1)
        return F.LogNormal(math.log(x1) - sigma * z1, sigma)
    form = _pick(
        path, "lognormal", spec, [("median", "sd_log"), ("mean_log", "sd_log"), ("mean", "sd")]
    )
    g = {k: number(spec, k, path) for k in form}
    if form == ("mean", "sd"):
        _positive(path, "mean", g["mean"])
        _positive(path, "sd", g["sd"])
        s2 = math.log1p((g["sd"] / g["mean"]) ** 2)
        return F.LogNormal(math.log(g["mean"]) - s2 / 2, math.sqrt(s2))
    _positive(path, "sd_log", g["sd_log"])
    if form[0] == "median":
        return F.LogNormal(math.log(_positive(path, "median", g["median"])), g["sd_log"])
    return F.LogNormal(g["mean_log"], g["sd_log"])


def _gamma(path: str, spec: dict) -> F.Distribution:
    qp = _quantile_pair(path, spec, "gamma")
    if qp:
        (q1, x1), (q2, x2) = qp
        target = math.log(x2 / x1)

        def gap(log_a: float) -> float:
            a = math.exp(log_a)
            with np.errstate(all="ignore"):
                return math.log(special.gammaincinv(a, q2) / special.gammaincinv(a, q1)) - target

        lo, hi = math.log(1e-3), math.log(1e8)
        if not gap(lo) > 0 > gap(hi):
            fail(
                path,
                "no gamma distribution with shape in [1e-3, 1e8] has these quantiles",
                "widen or narrow the quantile range, or use lognormal",
            )
        a = math.exp(optimize.brentq(gap, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500))
        return F.Gamma(a, float(x1 / special.gammaincinv(a, q1)))
    form = _pick(path, "gamma", spec, [("shape", "scale"), ("shape", "rate"), ("mean", "sd")])
    g = {k: _positive(path, k, number(spec, k, path)) for k in form}
    if form == ("mean", "sd"):
        return F.Gamma((g["mean"] / g["sd"]) ** 2, g["sd"] ** 2 / g["mean"])
    return F.Gamma(g["shape"], g["scale"] if "scale" in g else 1.0 / g["rate"])


def _low_high(path: str, lo: float, hi: float, low_key="low", high_key="high") -> None:
    if not lo < hi:
        fail(
            path,
            f"{low_key} = {lo:g} must be below {high_key} = {hi:g}",
            f"make {low_key} < {high_key}",
        )


def _beta(path: str, spec: dict) -> F.Distribution:
    form = _pick(path, "beta", spec, [("alpha", "beta"), ("mean", "sd")], optional=("low", "high"))
    if ("low" in spec) != ("high" in spec):
        fail(path, "beta needs both low and high (or neither, for [0, 1])", "add the missing bound")
    lo = number(spec, "low", path) if "low" in spec else 0.0
    hi = number(spec, "high", path) if "high" in spec else 1.0
    _low_high(path, lo, hi)
    if form == ("alpha", "beta"):
        a = _positive(path, "alpha", number(spec, "alpha", path))
        b = _positive(path, "beta", number(spec, "beta", path))
        return F.Beta(a, b, lo, hi)
    mean, sd = number(spec, "mean", path), _positive(path, "sd", number(spec, "sd", path))
    m, v = (mean - lo) / (hi - lo), (sd / (hi - lo)) ** 2
    if not 0 < m < 1:
        fail(
            f"{path}.mean",
            f"mean {mean:g} must lie strictly inside [{lo:g}, {hi:g}]",
            "move the mean inside the range",
        )
    if not v < m * (1 - m):
        fail(
            f"{path}.sd",
            f"sd {sd:g} is too large for a beta with mean {mean:g} on [{lo:g}, {hi:g}] "
            f"(needs sd < {math.sqrt(m * (1 - m)) * (hi - lo):.6g})",
            "reduce sd",
        )
    nu = m * (1 - m) / v - 1
    return F.Beta(m * nu, (1 - m) * nu, lo, hi)


def _three_point(path: str, spec: dict, fam: str) -> tuple[float, float, float]:
    _pick(path, fam, spec, [("min", "mode", "max")])
    a, c, b = (number(spec, k, path) for k in ("min", "mode", "max"))
    if not a < b:
        fail(path, f"min = {a:g} must be below max = {b:g}", "make min < max")
    if not a <= c <= b:
        fail(
            f"{path}.mode",
            f"mode = {c:g} must lie in [min, max] = [{a:g}, {b:g}]",
            "move the mode inside the range",
        )
    return a, c, b


def _discrete(path: str, values: list[float], probs: list[float], cls=F.Discrete) -> F.Distribution:
    pairs: dict[float, float] = {}
    for v, p in zip(values, probs, strict=True):
        pairs[v] = pairs.get(v, 0.0) + p
    vals = sorted(v for v, p in pairs.items() if p > 0)
    if len(vals) == 1:
        return F.Constant(vals[0])
    total = sum(pairs[v] for v in vals)
    return cls(tuple(vals), tuple(pairs[v] / total for v in vals))


def _probabilities(path: str, probs: list[float], n: int, name: str) -> None:
    if len(probs) != n:
        fail(
            path,
            f"{name} has {len(probs)} entries but there are {n} values/components",
            "give one entry per value",
        )
    for i, p in enumerate(probs):
        if p < 0:
            fail(f"{path}[{i}]", f"{name} must be >= 0, got {p:g}", "use non-negative numbers")
    if abs(sum(probs) - 1.0) > 1e-9:
        fail(path, f"{name} sum to {sum(probs):.12g}, not 1", "rescale them so they sum to 1")


def _build(path: str, spec: Any) -> F.Distribution:
    if not isinstance(spec, dict):
        v = as_float(spec)
        if v is None:
            fail(
                path,
                f"expected a number or a mapping with 'dist', got {spec!r}",
                "write a number, or e.g. {dist: normal, mean: 0, sd: 1}",
            )
        return F.Constant(v)
    if "dist" not in spec:
        fail(
            path,
            "distribution spec has no 'dist' key",
            "add dist: <family>, one of " + ", ".join(FAMILIES),
        )
    for k in spec:
        if not isinstance(k, str):
            fail(path, f"parameter name {k!r} is not a string", "use names such as mean, sd")
    name = str(spec["dist"]).strip().lower()
    fam = ALIASES.get(name, name)
    if fam not in FORMS:
        fail(
            f"{path}.dist",
            f"unknown distribution family {spec['dist']!r}",
            suggest(name, list(FAMILIES) + list(ALIASES))
            + "known families: "
            + ", ".join(FAMILIES),
        )
    # Direct truncation keys on a continuous family: {dist: normal, mean: 0, sd: 1, low: 0}.
    if fam not in _OWN_LOW_HIGH and ("low" in spec or "high" in spec):
        if fam in ("constant", "discrete", "empirical"):
            fail(
                path,
                f"low/high truncation needs a continuous family, {fam} is not",
                "remove low/high",
            )
        base = {k: v for k, v in spec.items() if k not in ("low", "high")}
        trunc = {
            "dist": "truncated",
            "base": base,
            **{k: spec[k] for k in ("low", "high") if k in spec},
        }
        return _truncated(path, trunc, base_path=path)  # the user wrote no "base"
    return _BUILDERS[fam](path, spec)


def _truncated(path: str, spec: dict, base_path: str | None = None) -> F.Distribution:
    _pick(path, "truncated", spec, [("base", "low", "high"), ("base", "low"), ("base", "high")])
    base = _build(base_path or f"{path}.base", spec["base"])
    if not isinstance(base, F._Continuous):
        fail(
            f"{path}.base",
            f"truncation needs a continuous base, got {base.family}",
            "use a continuous family",
        )
    lo = number(spec, "low", path) if "low" in spec else -math.inf
    hi = number(spec, "high", path) if "high" in spec else math.inf
    _low_high(path, lo, hi)
    if not F.truncation_ends(base, lo, hi)[4] > 0:
        fail(
            path,
            f"truncation range [{lo:g}, {hi:g}] has no probability under the base "
            f"distribution (support {base.support})",
            "choose low/high where the base has mass",
        )
    return _tabulate(path, lambda: F.Truncated(base, lo, hi))


def _tabulate(path: str, make: Callable[[], F.Distribution]) -> F.Distribution:
    try:
        return make()
    except TableError as e:
        fail(
            path,
            f"cannot tabulate this distribution accurately ({e})",
            "check the parameters' scales",
        )
        raise


def _mixture(path: str, spec: dict) -> F.Distribution:
    _pick(path, "mixture", spec, [("weights", "components")])
    comps = spec["components"]
    if not isinstance(comps, list) or not comps:
        fail(
            f"{path}.components",
            "must be a non-empty list of specs",
            "write components: [{dist: ...}, ...]",
        )
    weights = numbers(spec["weights"], f"{path}.weights")
    _probabilities(f"{path}.weights", weights, len(comps), "weights")
    dists = []
    for i, c in enumerate(comps):
        d = _build(f"{path}.components[{i}]", c)
        if not isinstance(d, F._Continuous):
            fail(
                f"{path}.components[{i}]",
                f"mixture components must be continuous, got {d.family}",
                "use continuous components (use discrete for point masses)",
            )
        dists.append(d)
    keep = [(w, d) for w, d in zip(weights, dists, strict=True) if w > 0]
    if len(keep) == 1:
        return keep[0][1]
    tot = sum(w for w, _ in keep)
    return _tabulate(
        path, lambda: F.Mixture(tuple(w / tot for w, _ in keep), tuple(d for _, d in keep))
    )


def _simple(
    fam: str,
    form: tuple[str, ...],
    make: Callable[..., F.Distribution],
    check: Callable[[str, dict[str, float]], None] | None = None,
):
    def build(path: str, spec: dict) -> F.Distribution:
        _pick(path, fam, spec, [form])
        g = {k: number(spec, k, path) for k in form}
        if check:
            check(path, g)
        return make(*g.values())

    return build


def _student_t(path: str, spec: dict) -> F.Distribution:
    _pick(path, "student_t", spec, [("df",)], optional=("loc", "scale"))
    df = _positive(path, "df", number(spec, "df", path))
    loc = number(spec, "loc", path) if "loc" in spec else 0.0
    scale = _positive(path, "scale", number(spec, "scale", path)) if "scale" in spec else 1.0
    return _tabulate(path, lambda: F.StudentT(df, loc, scale))


def _loguniform_check(path: str, g: dict[str, float]) -> None:
    _positive(path, "low", g["low"])
    _low_high(path, g["low"], g["high"])


def _constant(path: str, spec: dict) -> F.Distribution:
    _pick(path, "constant", spec, [("value",)])
    return F.Constant(number(spec, "value", path))


def _empirical(path: str, spec: dict) -> F.Distribution:
    _pick(path, "empirical", spec, [("data",)])
    data = numbers(spec["data"], f"{path}.data")
    return _discrete(path, data, [1.0] * len(data), cls=F.Empirical)


def _discrete_spec(path: str, spec: dict) -> F.Distribution:
    _pick(path, "discrete", spec, [("values", "probabilities")])
    values = numbers(spec["values"], f"{path}.values")
    probs = numbers(spec["probabilities"], f"{path}.probabilities")
    _probabilities(f"{path}.probabilities", probs, len(values), "probabilities")
    return _discrete(path, values, probs)


def _sd_check(path: str, g: dict[str, float]) -> None:
    _positive(path, "sd", g["sd"])


_BUILDERS: dict[str, Callable[[str, dict], F.Distribution]] = {
    "constant": _constant,
    "normal": _simple("normal", ("mean", "sd"), F.Normal, _sd_check),
    "lognormal": _lognormal,
    "uniform": _simple(
        "uniform", ("low", "high"), F.Uniform, lambda p, g: _low_high(p, g["low"], g["high"])
    ),
    "loguniform": _simple("loguniform", ("low", "high"), F.LogUniform, _loguniform_check),
    "triangular": lambda p, s: F.Triangular(*_three_point(p, s, "triangular")),
    "pert": lambda p, s: _tabulate(p, lambda: F.Pert(*_three_point(p, s, "pert"))),
    "beta": lambda p, s: _tabulate(p, lambda: _beta(p, s)),
    "gamma": lambda p, s: _tabulate(p, lambda: _gamma(p, s)),
    "student_t": _student_t,
    "truncated": _truncated,
    "discrete": _discrete_spec,
    "empirical": _empirical,
    "mixture": _mixture,
}


def from_spec(spec: Any, path: str = "value") -> F.Distribution:
    """Parse and validate a spec (number, dict or OmegaConf mapping) into a Distribution.

    Raises :class:`SpecError` naming ``path`` (e.g. ``fleet.gpu_price``), the problem and a fix.
    """
    spec = plain(spec)
    check_finite(spec, path)
    if isinstance(spec, np.generic):
        spec = spec.item()
    return _build(path, spec)
