"""The ``mcengine-sweep SWEEP_DIR`` console script: combine a multirun into ``sweep.nc``."""

from __future__ import annotations

import argparse
import logging
import warnings
from collections.abc import Sequence

from ..errors import cli_error
from .jobs import MissingJobsError
from .store import open_sweep_file, write_sweep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcengine-sweep",
        description="Combine the per-job results of an mcengine multirun into one sweep.nc.",
    )
    parser.add_argument("sweep_dir", help="the multirun's sweep directory (hydra.sweep.dir)")
    parser.add_argument(
        "-o",
        "--output",
        help="output file (default: SWEEP_DIR/sweep.nc); a relative path is relative to the "
        "current directory, not to SWEEP_DIR",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="combine the finished jobs and record the missing ones",
    )
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument(
        "--grid",
        dest="grid",
        action="store_const",
        const=True,
        default=None,
        help="require a full grid (one dimension per swept key)",
    )
    layout.add_argument(
        "--job-dim",
        dest="grid",
        action="store_const",
        const=False,
        help="always put jobs along a 'job' dimension",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``mcengine-sweep SWEEP_DIR``; exit status 2 when SWEEP_DIR is not a
    multirun directory, 1 when its jobs cannot be combined (missing ones, ...)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the missing jobs are logged already
            out = write_sweep(
                args.sweep_dir, args.output, allow_missing=args.allow_missing, grid=args.grid
            )
    except (MissingJobsError, OSError, ValueError) as err:
        return cli_error("mcengine-sweep", err)
    ds = open_sweep_file(out)
    dims = ", ".join(f"{d}={n}" for d, n in ds.sizes.items() if d in ds.attrs["sweep_dims"])
    print(f"wrote {out.resolve()} ({dims})")
    return 0
