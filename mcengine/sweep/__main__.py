"""``python -m mcengine.sweep SWEEP_DIR``: the same as ``mcengine-sweep SWEEP_DIR``."""

import sys

from .cli import main

sys.exit(main())
