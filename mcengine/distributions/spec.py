"""Spec plumbing: ``SpecError``, plain-container conversion, number and key validation."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

__all__ = [
    "SpecError",
    "as_float",
    "numbers",
    "fail",
    "plain",
    "check_finite",
    "number",
    "suggest",
    "quantile_level",
]


class SpecError(ValueError):
    """A distribution or correlation spec that cannot be sampled; the message names the path."""


def fail(path: str, problem: str, fix: str = "") -> NoReturn:
    """Raise :class:`SpecError` as ``"<path>: <problem>. Fix: <fix>"``."""
    msg = f"{path}: {problem.rstrip('.')}."
    raise SpecError(msg + (f" Fix: {fix.rstrip('.')}." if fix else ""))


def plain(obj: Any) -> Any:
    """Mappings → dict, non-string sequences → list, recursively (accepts OmegaConf containers)."""
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        return [plain(v) for v in obj]
    if hasattr(obj, "ndim") and getattr(obj, "ndim", 0) >= 1:  # numpy arrays
        return [plain(v) for v in obj]
    return obj


def as_float(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, str):
        try:
            return float(x.replace("_", ""))
        except ValueError:
            return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def check_finite(obj: Any, path: str) -> None:
    """Reject NaN and infinities anywhere inside ``obj`` (dict values, list items)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            check_finite(v, f"{path}[{i}]")
    else:
        v = as_float(obj)
        if v is not None and not math.isfinite(v):
            fail(
                path, f"{obj!r} is not a finite number", "give a finite value (no NaN or infinity)"
            )


def number(spec: Mapping[str, Any], key: str, path: str) -> float:
    """``spec[key]`` as a float, or a SpecError naming ``path.key``."""
    v = as_float(spec[key])
    if v is None:
        fail(f"{path}.{key}", f"expected a number, got {spec[key]!r}", "write a plain number")
    return v


def numbers(seq: Any, path: str, nonempty: bool = True) -> list[float]:
    """A list of floats from a sequence, with SpecErrors naming the bad element."""
    if not isinstance(seq, list):
        fail(path, f"expected a list of numbers, got {seq!r}", "write a list such as [1, 2, 3]")
    if nonempty and not seq:
        fail(path, "is empty", "give at least one value")
    out = []
    for i, x in enumerate(seq):
        v = as_float(x)
        if v is None:
            fail(f"{path}[{i}]", f"expected a number, got {x!r}", "write a plain number")
        out.append(v)
    return out


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest choice, or ``""``: the start of a spec error's
    fix (``mcengine.errors.suggest`` is the sentence form for config keys)."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'? " if close else ""


_QKEY = re.compile(r"^p(\d+(?:[._]\d+)?)$")


def quantile_level(key: str) -> float | None:
    """Probability level of a quantile key: ``p05`` → 0.05, ``p97.5`` / ``p97_5`` → 0.975."""
    m = _QKEY.match(key)
    if not m:
        return None
    level = float(m.group(1).replace("_", ".")) / 100.0
    return level if 0.0 < level < 1.0 else None
