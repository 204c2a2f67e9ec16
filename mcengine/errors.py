"""Errors raised before any compute starts. Messages name the config path and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ConfigError", "suggest"]


class ConfigError(ValueError):
    """A scenario config that cannot be run; the message names the offending path."""


def suggest(name: str, options: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
