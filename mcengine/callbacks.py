"""Hydra callbacks of the ``mcengine`` app.

:class:`SweepCallback` combines a multirun's per-job results into ``<hydra.sweep.dir>/sweep.nc``
(see :mod:`mcengine.sweep`) once the multirun is over. Enable it in ``conf/config.yaml``::

    hydra:
      callbacks:
        sweep:
          _target_: mcengine.callbacks.SweepCallback

It never makes a multirun fail: jobs without results are left out and named (in a log warning
and in ``attrs['missing_jobs']``), and any error while combining is logged, not raised.

Hydra 1.3 calls ``on_multirun_end`` only when every job succeeded: when a job raises, the sweeper
re-raises its error and the multirun ends without that call. So ``on_multirun_start`` also
registers an exit hook that writes the partial sweep if ``on_multirun_end`` never ran.
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class SweepCallback(Callback):
    """Write ``sweep.nc`` (all jobs of the multirun, combined) into the sweep directory.

    Args:
        filename: file name, relative to ``hydra.sweep.dir`` (or an absolute path).
        allow_missing: combine the finished jobs when some have no results (recorded in
            ``missing_jobs``); False skips writing when any job is missing.
        grid: passed to :func:`mcengine.sweep.open_sweep` (None: grid when possible).
        enabled: False turns the callback off (``hydra.callbacks.sweep.enabled=false``).
    """

    def __init__(
        self,
        filename: str = "sweep.nc",
        allow_missing: bool = True,
        grid: bool | None = None,
        enabled: bool = True,
    ) -> None:
        self.filename = filename
        self.allow_missing = allow_missing
        self.grid = grid
        self.enabled = enabled
        self._pending_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Remember the sweep dir and arm the exit hook for multiruns that end on a failure."""
        if not self.enabled:
            return
        self._pending_dir = _sweep_dir(config)
        # h5py unregisters its type converters in an exit hook of its own; importing it first
        # makes that hook run after ours (exit hooks run last-registered first).
        import h5netcdf  # noqa: F401

        import mcengine.sweep  # noqa: F401

        atexit.register(self._write_if_pending)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Combine the jobs into ``sweep.nc``; logs instead of raising on any problem."""
        if not self.enabled:
            return
        self._pending_dir = None
        self.write(_sweep_dir(config))

    def write(self, sweep_dir: Path) -> Path | None:
        """Write the combined sweep; returns its path, or None when nothing could be written."""
        import warnings

        from mcengine.sweep import write_sweep

        target = Path(self.filename)
        target = target if target.is_absolute() else sweep_dir / target
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # open_sweep also logs the missing jobs
                path = write_sweep(
                    sweep_dir, target, allow_missing=self.allow_missing, grid=self.grid
                )
        except Exception as err:  # never fail the multirun because of the summary file
            log.error("mcengine: could not write %s: %s", target, err)
            return None
        log.info("mcengine: combined sweep written to %s", path)
        return path

    def _write_if_pending(self) -> None:
        """Exit hook: the multirun stopped before ``on_multirun_end`` (a job failed or was
        interrupted)."""
        sweep_dir, self._pending_dir = self._pending_dir, None
        if sweep_dir is None:
            return
        log.warning(
            "mcengine: the multirun stopped before its end (a job failed or was interrupted); "
            "combining the jobs that finished"
        )
        self.write(sweep_dir)


def _sweep_dir(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir))
