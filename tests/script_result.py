"""Run a test script in a fresh Python process (own XLA flags, caches, devices) and read back
the JSON it prints on its ``RESULT`` line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any


def script_result(script: str, payload: Any, env: Mapping[str, str]) -> Any:
    """Run ``script`` with ``json.dumps(payload)`` as its argument; return its ``RESULT`` JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(payload)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])
