"""Errors raised before any compute starts. Messages name the config path and the fix.

Also how the console scripts report an error: one ``prog: error: ...`` line, as argparse does.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

__all__ = ["ConfigError", "suggest", "cli_error"]


class ConfigError(ValueError):
    """A scenario config that cannot be run; the message names the offending path."""


def suggest(name: str, options: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest option, or an empty string."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def cli_error(prog: str, err: Exception) -> int:
    """Print ``prog: error: err`` on stderr and return the exit status: 2, like argparse's usage
    errors, when the path given holds nothing the command reads (FileNotFoundError), else 1."""
    print(f"{prog}: error: {err}", file=sys.stderr)
    return 2 if isinstance(err, FileNotFoundError) else 1
