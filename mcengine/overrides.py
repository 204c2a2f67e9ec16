"""Override strings (``key=value``): the rewrite that makes Hydra apply model-parameter values
the way users mean them, and its inverse, for records that show what the user wrote.

Hydra-free string work; ``mcengine.config`` checks overrides, this module only rewrites them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model.params import PARAMS

__all__ = ["as_written", "replace_mappings"]


def _spec_field(key: str) -> bool:
    """Whether ``key`` names a field of a model parameter's spec (``market.price0.mode``)."""
    parts = key.split(".")
    return any(".".join(parts[:n]) in PARAMS for n in range(1, len(parts)))


def replace_mappings(overrides: Sequence[str]) -> list[str]:
    """Rewrite model-parameter overrides so that Hydra applies them the way users mean them.

    Hydra merges a mapping override into an existing mapping, so ``market.price0={dist:
    lognormal, p05: 2, p95: 3}`` over a PERT spec would fail (or mix the two). For model
    parameters, a mapping or list value becomes Hydra's delete-then-add pair ``~path +path=...``,
    and the spec checks then judge the new value. A spec field (``market.price0.mode=2.5``)
    becomes Hydra's add-or-override ``++``, so that a field the current spec lacks gets the spec
    checks' message (which family takes which parameters), not Hydra's advice to append it.
    """
    out: list[str] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key in PARAMS and value.lstrip().startswith(("{", "[")):
            out += [f"~{key}", f"+{key}={value}"]
        elif sep and _spec_field(key):
            out.append(f"++{item}")
        else:
            out.append(item)
    return out


def as_written(overrides: Sequence[str]) -> list[str]:
    """Undo ``replace_mappings``: ``~path +path=v`` (a sweep's jobs get ``~path=null +path=v``)
    -> ``path=v``, ``++path.field=v`` -> ``path.field=v`` for spec fields; anything else is
    kept. Results and sweep tables record overrides in this form, the one the user typed (and
    may copy)."""
    items = list(overrides)
    out: list[str] = []
    i = 0
    while i < len(items):
        item = items[i]
        following = items[i + 1] if i + 1 < len(items) else ""
        # a sweep's jobs get the delete back from Hydra's sweeper as ``~path=null``
        deleted, _, value = item[1:].partition("=")
        if (
            item.startswith("~")
            and deleted in PARAMS
            and value in ("", "null")
            and following.startswith(f"+{deleted}=")
        ):
            out.append(following[1:])
            i += 2
            continue
        if item.startswith("++") and _spec_field(item[2:].partition("=")[0]):
            item = item[2:]
        out.append(item)
        i += 1
    return out
