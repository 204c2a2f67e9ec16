"""A run killed mid-way (SIGTERM as SLURM sends before preemption, or SIGKILL) and started again
with the same config and output directory resumes from its checkpoint and ends with exactly the
numbers of an uninterrupted run. Uses the real CLI in a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mcengine.results import open_results

ARGS = [
    "n_samples=3000000",
    "chunk_size=16384",
    "horizon_months=48",
    "checkpoint_every_s=0.2",
    "progress=false",
    "sensitivity.deciles=false",
]


def _cli(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "mcengine.cli", *ARGS, f"hydra.run.dir={run_dir}"]


def _checkpoint(run_dir: Path) -> Path:
    return run_dir / ".results.nc.checkpoint.npz"


def _kill_after_checkpoint(run_dir: Path, sig: int) -> int:
    proc = subprocess.Popen(_cli(run_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while not _checkpoint(run_dir).exists():
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(0.5)  # let a few more chunks and checkpoints pass
    assert proc.poll() is None, "the run finished before it could be interrupted: make it longer"
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc.returncode


def _same(a, b):
    for name in [*a.data_vars, "draws"]:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> object:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(_cli(run_dir), check=True, capture_output=True, timeout=600)
    return open_results(run_dir / "results.nc")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_resumes_to_identical_results(tmp_path, reference, sig):
    code = _kill_after_checkpoint(tmp_path, sig)
    if sig == signal.SIGTERM:
        assert code == 143  # checkpoint written, exit asks for a requeue
    else:
        assert code == -signal.SIGKILL
    assert not (tmp_path / "results.nc").exists()  # nothing half-written that looks valid
    assert not list(tmp_path.glob("*.tmp"))
    done = subprocess.run(_cli(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = open_results(tmp_path / "results.nc")
    assert int(resumed.attrs["resumed_from"]) > 0
    _same(resumed, reference)


@pytest.mark.slow
def test_ctrl_c_while_compiling_stops_cleanly_and_resumes(tmp_path, reference):
    """SIGINT during compilation (no persistent cache: a cold compile takes seconds) stops the
    run once the pilot is done, with the resume hint and the shell's code, not a traceback
    from inside XLA; the rerun skips the pilot and ends with the uninterrupted numbers."""
    proc = subprocess.Popen(
        [*_cli(tmp_path), "compile_cache=null"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.time() + 120
    while not (tmp_path / ".hydra" / "overrides.yaml").exists():  # the job has started
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    time.sleep(1.5)  # into the first compilation (a cold one takes several seconds)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out and "To resume, rerun the same command" in out
    assert "To resume, rerun the same command" in (tmp_path / "mcengine.log").read_text()
    assert not (tmp_path / "results.nc").exists()
    done = subprocess.run(_cli(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    _same(open_results(tmp_path / "results.nc"), reference)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A failure while writing leaves the previous checkpoint intact and no partial file."""
    from mcengine import checkpoint

    path = tmp_path / "c.npz"
    state = {"n_done": np.array(5)}
    checkpoint.save(path, state, "fp")
    assert checkpoint.load(path, "fp")["n_done"] == 5

    def broken(fh, **kwargs):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", broken)
    with pytest.raises(OSError):
        checkpoint.save(path, {"n_done": np.array(9)}, "fp")
    monkeypatch.undo()
    assert checkpoint.load(path, "fp")["n_done"] == 5
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.warns(UserWarning, match="another config"):
        assert checkpoint.load(path, "other") is None  # another config: not resumed


def test_damaged_checkpoint_is_not_resumed_and_says_so(tmp_path):
    from mcengine import checkpoint

    path = tmp_path / "c.npz"
    checkpoint.save(path, {"n_done": np.array(5)}, "fp")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a torn copy
    with pytest.warns(UserWarning, match=f"{path.name}: it cannot be read"):
        assert checkpoint.load(path, "fp") is None


SMALL = ["n_samples=20000", "horizon_months=12", "progress=false", "compile_cache=null"]


def _simulate_in(run_dir: Path, *overrides: str):
    import mcengine

    return mcengine.simulate(
        mcengine.load_config(overrides=[*SMALL, *overrides]), output_dir=run_dir
    )


def test_rerun_resumes_across_settings_that_leave_the_aggregates_alone(tmp_path):
    """Quantile levels, the checkpoint interval, the chunk size and the target apply to the
    aggregates, not inside them: changing them must not throw a checkpoint away."""
    first = _simulate_in(tmp_path)
    again = _simulate_in(
        tmp_path, "quantiles=[0.2,0.8]", "checkpoint_every_s=5", "chunk_size=8192",
        "target.npv_se=1",
    )  # fmt: skip
    assert again.attrs["resumed_from"] == 20000 and again.attrs["n_chunks"] == 0
    np.testing.assert_array_equal(again.npv_mean, first.npv_mean)
    np.testing.assert_array_equal(again.p_breakeven_by, first.p_breakeven_by)
    assert again.npv["quantile"].values.tolist() == [0.2, 0.8]
    with pytest.warns(
        UserWarning, match=r"wrote it in fleet\.gpus 1024 -> 512 \(then -> now\)\. Starting"
    ):
        other = _simulate_in(tmp_path, "fleet.gpus=512")  # the model changed: start again
    assert other.attrs["resumed_from"] == 0


def test_a_checkpoint_that_does_not_match_says_what_differs(tmp_path):
    """A rerun in the same directory with other settings starts again; the warning names each
    setting that differs from the run that wrote the checkpoint, with both values."""
    _simulate_in(tmp_path)
    expected = r"in n_samples 20000 -> 30000, opex\.staff_per_month 60000 -> 12345, seed 0 -> 3 \("
    with pytest.warns(UserWarning, match=expected) as caught:
        again = _simulate_in(tmp_path, "n_samples=30000", "seed=3", "opex.staff_per_month=12345")
    assert again.attrs["resumed_from"] == 0
    assert "code" not in str(caught[0].message)  # the same code: not named


def test_a_checkpoint_of_another_jax_version_is_not_resumed(tmp_path, monkeypatch):
    """XLA's code generation changes between JAX releases and with it the last bits of the
    arithmetic: a run resumed after an upgrade (or a requeue on a node with another JAX) would
    mix two roundings, so it starts again."""
    import jax

    first = _simulate_in(tmp_path)
    assert first.attrs["resumed_from"] == 0
    version = jax.__version__
    monkeypatch.setattr(jax, "__version__", version + ".post1")
    with pytest.warns(UserWarning, match=rf"in JAX {version} -> {version}\.post1 \(then"):
        again = _simulate_in(tmp_path)
    assert again.attrs["resumed_from"] == 0
    np.testing.assert_array_equal(again.npv_mean, first.npv_mean)


def test_output_in_a_subfolder_keeps_its_checkpoint_beside_it(tmp_path):
    """output=sub/results.nc: the checkpoint goes to sub/ (it used to crash at the end)."""
    ds = _simulate_in(tmp_path, "output=sub/results.nc")
    assert ds.attrs["n_samples"] == 20000
    assert (tmp_path / "sub" / ".results.nc.checkpoint.npz").is_file()


def test_fingerprint_holds_the_code(monkeypatch):
    """A checkpoint written by other code is not resumed: the package sources' digest is part
    of the fingerprint that engine.run compares."""
    import mcengine
    from mcengine import api

    seen, real_digest = [], api.source_digest.__wrapped__

    def capture(*args, fingerprint_text="", **kwargs):
        seen.append(fingerprint_text)
        raise StopIteration

    monkeypatch.setattr(api.engine, "run", capture)
    cfg = mcengine.load_config(overrides=["n_samples=1000"])
    for digest in ("old code", "new code"):
        monkeypatch.setattr(api, "source_digest", lambda d=digest: d)
        with pytest.raises(StopIteration):
            api.simulate(cfg)
    assert seen[0] != seen[1] and seen[0].endswith("code: old code\n")
    assert real_digest() == real_digest()  # deterministic


def test_source_digest_changes_with_the_code(tmp_path, monkeypatch):
    """The digest covers every source file: editing one changes it."""
    import shutil

    from mcengine import api

    package = tmp_path / "mcengine"
    shutil.copytree(Path(api.__file__).parent, package)
    fake_api = package / "api.py"
    monkeypatch.setattr(api, "__file__", str(fake_api))
    before = api.source_digest.__wrapped__()
    (package / "model" / "kernel.py").write_text(
        (package / "model" / "kernel.py").read_text() + "\n# edited\n"
    )
    assert api.source_digest.__wrapped__() != before


def test_results_file_permissions_follow_the_umask(tmp_path):
    """The atomic write goes through a private temporary file; the result must not stay private
    (shared cluster directories)."""
    import os

    import xarray as xr

    from mcengine import write_netcdf

    old = os.umask(0o022)
    try:
        path = write_netcdf(xr.Dataset({"x": ("i", np.arange(3.0))}), tmp_path / "r.nc")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]


def test_a_resumed_run_bins_with_the_fit_in_its_checkpoint(tmp_path, monkeypatch):
    """The pilot's bin maps travel in the checkpoint: a resume (perhaps on another machine,
    whose XLA may round the pilot differently) folds into the same bins without a new pilot."""
    from mcengine import engine

    first = _simulate_in(tmp_path)
    saved = np.load(tmp_path / ".results.nc.checkpoint.npz")
    assert {"fit_month_map", "fit_scalar_map", "fit_knots", engine.FIT_KEY} <= set(saved.files)

    def no_pilot(*args, **kwargs):
        raise AssertionError("the pilot ran again on resume")

    monkeypatch.setattr(engine, "_fit_from_pilot", no_pilot)
    again = _simulate_in(tmp_path)
    assert again.attrs["resumed_from"] == 20000
    np.testing.assert_array_equal(again.cum_cash, first.cum_cash)
