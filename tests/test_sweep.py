"""Tests of mcengine.sweep (combining multirun jobs) and mcengine.callbacks on fabricated dirs."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from mcengine import sweep
from mcengine.results import open_results
from mcengine.sweep import (
    MissingJobsError,
    NotMultirunError,
    is_sweep_file,
    open_sweep,
    open_sweep_file,
    write_sweep,
)

QUANTILES = [0.05, 0.5, 0.95]
COMPONENTS = ["revenue", "energy", "upfront"]


def fake_results(values: dict, overrides: list[str], months: int = 4) -> xr.Dataset:
    """A tiny results Dataset following docs/architecture.md, derived from ``values``."""
    h = float(sum(zlib.crc32(str(v).encode()) % 997 for v in values.values())) / 997.0
    month = np.arange(months + 1)
    ds = xr.Dataset(
        {
            "p_recoup": ((), 0.1 + h / 10),
            "p_recoup_se": ((), 0.001),
            "npv_mean": ((), 1e6 * h),
            "p_breakeven_by": (("month",), np.linspace(0, h, months + 1)),
            "npv": (("quantile",), np.array([-1.0, 0.0, 1.0]) * 1e6 + h),
            "cum_cash": (("month", "quantile"), np.outer(month, [1.0, 2.0, 3.0]) * h),
            "pv": (("component",), np.array([3.0, -1.0, -1.5]) * h),
            "convergence_p_recoup": (("draws",), np.full(3, 0.1 + h / 10)),
        },
        coords={"month": month, "quantile": QUANTILES, "component": COMPONENTS},
    )
    ds["p_recoup"].attrs = {"units": "1", "description": "P(break-even within horizon)"}
    ds.attrs = {
        "config": yaml.safe_dump({"n_samples": 100, **values}),
        "overrides": yaml.safe_dump(overrides),
        "seed": 0,
        "n_samples": 100,
        "run_time_s": 1.0 + h,
        "jax_backend": "cpu",
    }
    return ds


def make_job(
    sweep_dir: Path,
    num: int,
    overrides: list[str],
    results: bool = True,
    output: str = "results.nc",
) -> Path:
    """Fabricate ``<sweep_dir>/<num>/`` as a Hydra job would leave it."""
    job_dir = sweep_dir / str(num)
    (job_dir / ".hydra").mkdir(parents=True)
    values = {o.split("=", 1)[0].lstrip("+"): yaml.safe_load(o.split("=", 1)[1]) for o in overrides}
    (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"output": output, **values}))
    (job_dir / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"job": {"num": num}, "sweep": {"dir": str(sweep_dir)}}})
    )
    if results:
        fake_results(values, overrides).to_netcdf(job_dir / output, engine="h5netcdf")
    return job_dir


def write_multirun_yaml(
    sweep_dir: Path, task: list[str], target: str = sweep.BASIC_SWEEPER
) -> None:
    cfg = {
        "hydra": {
            "sweeper": {"_target_": target, "max_batch_size": None, "params": None},
            "overrides": {"task": task},
            "sweep": {"dir": str(sweep_dir)},
        }
    }
    (sweep_dir / "multirun.yaml").write_text(yaml.safe_dump(cfg))


def make_grid(
    sweep_dir: Path, trends=(-0.2, -0.4), gpus=(64, 128), skip=(), drop_dirs=()
) -> list[list[str]]:
    """A 2-key grid sweep in the basic sweeper's job order."""
    task = [
        f"market.price_trend={','.join(map(str, trends))}",
        f"fleet.gpus={','.join(map(str, gpus))}",
        "n_samples=100",
    ]
    write_multirun_yaml(sweep_dir, task)
    jobs = [
        [f"market.price_trend={t}", f"fleet.gpus={g}", "n_samples=100"]
        for t, g in itertools.product(trends, gpus)
    ]
    for num, ov in enumerate(jobs):
        if num not in drop_dirs:
            make_job(sweep_dir, num, ov, results=num not in skip)
    return jobs


def job_results(sweep_dir: Path, num: int) -> xr.Dataset:
    return open_results(sweep_dir / str(num) / "results.nc")


def assert_cell_is_job(ds: xr.Dataset, sel: dict, job: xr.Dataset) -> None:
    """Every variable of the job's results equals the combined Dataset at ``sel``."""
    cell = ds.sel(sel)
    for name, var in job.data_vars.items():
        got = cell[name].sel({d: var[d] for d in var.dims})
        np.testing.assert_array_equal(got.values, var.values, err_msg=name)
    assert cell["config"].item() == job.attrs["config"]
    assert yaml.safe_load(cell["overrides"].item()) == yaml.safe_load(job.attrs["overrides"])


# --------------------------------------------------------------------------- full grid


def test_full_grid_dims_coords_and_cells(tmp_path: Path) -> None:
    jobs = make_grid(tmp_path)
    ds = open_sweep(tmp_path)
    assert ds["p_recoup"].dims == ("market.price_trend", "fleet.gpus")
    assert ds["cum_cash"].dims == ("market.price_trend", "fleet.gpus", "month", "quantile")
    assert ds["market.price_trend"].values.tolist() == [-0.4, -0.2]
    assert ds["fleet.gpus"].values.tolist() == [64, 128]
    assert ds["fleet.gpus"].dtype.kind == "i"
    for num, ov in enumerate(jobs):
        trend, gpus = float(ov[0].split("=")[1]), int(ov[1].split("=")[1])
        sel = {"market.price_trend": trend, "fleet.gpus": gpus}
        assert_cell_is_job(ds, sel, job_results(tmp_path, num))
        assert ds["job_num"].sel(sel).item() == num
    assert ds.p_recoup.sel({"market.price_trend": -0.2}).dims == ("fleet.gpus",)
    assert bool(ds["job_ok"].all())
    assert ds.attrs["swept_keys"] == ["market.price_trend", "fleet.gpus"]
    assert ds.attrs["sweep_dims"] == ["market.price_trend", "fleet.gpus"]
    assert ds.attrs["fixed_overrides"] == ["n_samples=100"]
    assert ds.attrs["missing_jobs"] == []
    assert ds.attrs["n_jobs"] == 4
    # identical per-job attributes stay attributes, differing ones become variables
    assert ds.attrs["seed"] == 0 and ds.attrs["jax_backend"] == "cpu"
    assert ds["run_time_s"].dims == ("market.price_trend", "fleet.gpus")
    assert ds["p_recoup"].attrs["units"] == "1"


def test_per_job_config_is_kept(tmp_path: Path) -> None:
    make_grid(tmp_path)
    ds = open_sweep(tmp_path)
    cfg = yaml.safe_load(ds["config"].sel({"market.price_trend": -0.4, "fleet.gpus": 128}).item())
    assert cfg["market.price_trend"] == -0.4 and cfg["fleet.gpus"] == 128
    ov = yaml.safe_load(ds["overrides"].sel({"market.price_trend": -0.2, "fleet.gpus": 64}).item())
    assert ov == ["market.price_trend=-0.2", "fleet.gpus=64", "n_samples=100"]


def test_config_falls_back_to_hydra_dir(tmp_path: Path) -> None:
    make_grid(tmp_path)
    path = tmp_path / "1" / "results.nc"
    ds = open_results(path).drop_attrs(deep=False)
    path.unlink()
    ds.to_netcdf(path, engine="h5netcdf")
    out = open_sweep(tmp_path)
    cell = {"market.price_trend": -0.2, "fleet.gpus": 128}
    assert out["config"].sel(cell).item() == (tmp_path / "1/.hydra/config.yaml").read_text()


def test_single_key_and_number_parsing(tmp_path: Path) -> None:
    write_multirun_yaml(tmp_path, ["market.price0=1e3,2.5,3"])
    for num, value in enumerate(["1000.0", "2.5", "3"]):
        make_job(tmp_path, num, [f"market.price0={value}"])
    ds = open_sweep(tmp_path)
    assert ds["p_recoup"].dims == ("market.price0",)
    assert ds["market.price0"].values.tolist() == [2.5, 3.0, 1000.0]
    assert ds["p_recoup"].sel({"market.price0": 1000.0}).item() == pytest.approx(
        job_results(tmp_path, 0)["p_recoup"].item()
    )


def test_string_values_and_group_keys(tmp_path: Path) -> None:
    for num, value in enumerate(["base", "bear", "bull"]):
        make_job(tmp_path, num, [f"scenario={value}", "seed=1"])
    ds = open_sweep(tmp_path)
    assert ds["scenario"].values.tolist() == ["base", "bear", "bull"]
    assert ds["p_recoup"].sel(scenario="bear").item() == job_results(tmp_path, 1)["p_recoup"]


def test_custom_results_file_name(tmp_path: Path) -> None:
    for num, g in enumerate([8, 16]):
        make_job(tmp_path, num, [f"fleet.gpus={g}"], output="out.nc")
    assert open_sweep(tmp_path).sizes["fleet.gpus"] == 2


def test_open_results_finds_a_custom_output_of_a_run_dir(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, 0, ["fleet.gpus=8"], output="out.nc")
    assert open_results(job_dir)["p_recoup"].item() == open_results(job_dir / "out.nc")["p_recoup"]


def test_open_results_without_results_names_dir_and_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}: looked for results.nc"):
        open_results(tmp_path)
    job_dir = make_job(tmp_path, 0, ["fleet.gpus=8"], results=False, output="out.nc")
    with pytest.raises(FileNotFoundError, match="looked for out.nc .*config.yaml"):
        open_results(job_dir)
    with pytest.raises(FileNotFoundError, match="no such results file"):
        open_results(tmp_path / "nope.nc")


# --------------------------------------------------------------------------- non-grid


def test_experiment_list_falls_back_to_job(tmp_path: Path) -> None:
    make_job(tmp_path, 0, ["market.price_trend=-0.2"])
    make_job(tmp_path, 1, ["fleet.gpus=128"])
    make_job(tmp_path, 2, ["market.price_trend=-0.4", "fleet.gpus=128"])
    ds = open_sweep(tmp_path)
    assert ds["p_recoup"].dims == ("job",)
    assert ds["job"].values.tolist() == [0, 1, 2]
    assert ds["market.price_trend"].dims == ("job",)
    assert ds.attrs["sweep_dims"] == ["job"]
    # keys absent from a job read as "" (text coordinate, since not every job has a number)
    assert ds["market.price_trend"].values.tolist() == ["-0.2", "", "-0.4"]
    for num in range(3):
        assert_cell_is_job(ds, {"job": num}, job_results(tmp_path, num))


def test_incomplete_grid_falls_back_to_job(tmp_path: Path) -> None:
    for num, (t, g) in enumerate([(-0.2, 64), (-0.2, 128), (-0.4, 64)]):
        make_job(tmp_path, num, [f"market.price_trend={t}", f"fleet.gpus={g}"])
    ds = open_sweep(tmp_path)
    assert ds["p_recoup"].dims == ("job",)
    assert ds["fleet.gpus"].values.tolist() == [64, 128, 64]
    picked = ds.where(ds["market.price_trend"] == -0.4, drop=True)
    assert picked["job"].values.tolist() == [2]
    with pytest.raises(ValueError, match="full grid"):
        open_sweep(tmp_path, grid=True)


def test_distribution_valued_override_falls_back_to_job(tmp_path: Path) -> None:
    dists = ["{dist:normal,mean:2,sd:0.1}", "{dist:lognormal,median:2,sigma:0.3}"]
    for num, d in enumerate(dists):
        make_job(tmp_path, num, [f"market.price0={d}"])
    ds = open_sweep(tmp_path)
    assert ds["p_recoup"].dims == ("job",)
    assert ds["market.price0"].values.tolist() == dists


def test_optimisation_sweeper_uses_job_dim(tmp_path: Path) -> None:
    write_multirun_yaml(tmp_path, [], target="hydra_plugins.hydra_optuna_sweeper.OptunaSweeper")
    for num, t in enumerate([-0.31, -0.12]):
        make_job(tmp_path, num, [f"market.price_trend={t}"])
    ds = open_sweep(tmp_path)
    assert ds["p_recoup"].dims == ("job",)
    assert ds["market.price_trend"].values.tolist() == [-0.31, -0.12]
    assert open_sweep(tmp_path, grid=True)["p_recoup"].dims == ("market.price_trend",)


# --------------------------------------------------------------------------- missing jobs


def test_missing_results_raise_by_name(tmp_path: Path) -> None:
    make_grid(tmp_path, skip=(2,))
    with pytest.raises(MissingJobsError) as err:
        open_sweep(tmp_path)
    assert err.value.missing == ["2: market.price_trend=-0.4 fleet.gpus=64 n_samples=100"]
    assert "no 2/results.nc" in str(err.value)


def test_missing_job_dir_raises_by_name(tmp_path: Path) -> None:
    make_grid(tmp_path, drop_dirs=(3,))
    with pytest.raises(MissingJobsError, match="3: market.price_trend=-0.4 fleet.gpus=128"):
        open_sweep(tmp_path)


def test_allow_missing_records_and_warns(tmp_path: Path) -> None:
    make_grid(tmp_path, skip=(1,), drop_dirs=(2,))
    with pytest.warns(UserWarning, match="2 job.*left out"):
        ds = open_sweep(tmp_path, allow_missing=True)
    assert ds.attrs["missing_jobs"] == [
        "1: market.price_trend=-0.2 fleet.gpus=128 n_samples=100",
        "2: market.price_trend=-0.4 fleet.gpus=64 n_samples=100",
    ]
    assert ds["p_recoup"].dims == ("market.price_trend", "fleet.gpus")
    gone = {"market.price_trend": -0.2, "fleet.gpus": 128}
    assert not ds["job_ok"].sel(gone) and ds["job_num"].sel(gone) == -1
    assert np.isnan(ds["p_recoup"].sel(gone)) and ds["config"].sel(gone).item() == ""
    assert int(ds["job_ok"].sum()) == 2
    assert_cell_is_job(ds, {"market.price_trend": -0.2, "fleet.gpus": 64}, job_results(tmp_path, 0))


def test_whole_row_missing_keeps_grid_coords(tmp_path: Path) -> None:
    make_grid(tmp_path, drop_dirs=(2, 3))
    with pytest.warns(UserWarning):
        ds = open_sweep(tmp_path, allow_missing=True)
    assert ds["market.price_trend"].values.tolist() == [-0.4, -0.2]
    assert not ds["job_ok"].sel({"market.price_trend": -0.4}).any()


def test_no_jobs_at_all(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no Hydra job directories"):
        open_sweep(tmp_path)
    with pytest.raises(FileNotFoundError):
        open_sweep(tmp_path / "nope")


def test_no_job_finished_says_nothing_to_combine(tmp_path: Path) -> None:
    make_grid(tmp_path, skip=(0,), drop_dirs=(1, 2, 3))  # interrupted during job 0
    for allow_missing in (False, True):
        with pytest.raises(MissingJobsError, match="no job .* has finished yet") as err:
            open_sweep(tmp_path, allow_missing=allow_missing)
        assert "nothing to combine" in str(err.value) and "allow_missing" not in str(err.value)
        assert "job 0: market.price_trend=-0.2 fleet.gpus=64 n_samples=100: no 0/results.nc" in (
            str(err.value)
        )
        assert "job 3: market.price_trend=-0.4 fleet.gpus=128 n_samples=100: no job directory" in (
            str(err.value)
        )
        assert len(err.value.missing) == 4


def make_run_dir(run_dir: Path) -> Path:
    """A single run's directory as ``mcengine`` leaves it: ``.hydra/`` and results, no jobs."""
    make_job(run_dir.parent, int(run_dir.name), ["n_samples=100"])
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    hydra_yaml.write_text(yaml.safe_dump({"hydra": {"job": {"num": "???"}}}))
    return run_dir


def test_single_run_dir_is_not_a_multirun(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path / "0")
    with pytest.raises(NotMultirunError, match="is a single run's directory, not a multirun"):
        open_sweep(run_dir)


def test_a_folder_of_multiruns_names_them(tmp_path: Path) -> None:
    """``mcengine-sweep multirun/DATE``: Hydra's date folder above two sweeps; both have a job
    0, but the answer is which sweep to pass, with exit status 2, not a duplicate job."""
    from mcengine.sweep.cli import main

    for name in ("01-57-01", "02-03-09"):
        (tmp_path / name).mkdir()
        make_grid(tmp_path / name)
    with pytest.raises(NotMultirunError, match=r"holds 2: 01-57-01, 02-03-09\. Pass one of them"):
        open_sweep(tmp_path)
    assert main([str(tmp_path)]) == 2


def test_a_folder_of_single_runs_says_so(tmp_path: Path) -> None:
    """``mcengine-sweep outputs/DATE``: single runs, recorded by Hydra as ``mode: RUN``."""
    for name in ("01-55-19", "02-10-44"):
        run_dir = tmp_path / name
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "overrides.yaml").write_text("[]")
        hydra = {"hydra": {"mode": "RUN", "job": {"num": "???"}}}
        (run_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    with pytest.raises(NotMultirunError, match=r"holds 2 single runs' directories \(01-55-19"):
        open_sweep(tmp_path)


# --------------------------------------------------------------------------- writing


def test_write_sweep_round_trip(tmp_path: Path) -> None:
    make_grid(tmp_path)
    path = write_sweep(tmp_path)
    assert path == tmp_path / "sweep.nc"
    back = open_sweep_file(path)
    ds = open_sweep(tmp_path)
    xr.testing.assert_allclose(
        back.drop_vars(["config", "overrides"]), ds.drop_vars(["config", "overrides"])
    )
    assert (back["config"].values == ds["config"].values).all()
    assert back.attrs["swept_keys"] == ds.attrs["swept_keys"]
    assert back.attrs["missing_jobs"] == []
    assert back.attrs["fixed_overrides"] == ["n_samples=100"]
    # a re-run of the combiner does not pick up sweep.nc as a job
    assert open_sweep(tmp_path).sizes["fleet.gpus"] == 2


def test_write_sweep_with_missing_round_trip(tmp_path: Path) -> None:
    make_grid(tmp_path, skip=(0,))
    with pytest.warns(UserWarning):
        path = write_sweep(tmp_path, tmp_path / "out" / "s.nc", allow_missing=True)
    back = open_sweep_file(path)
    assert back.attrs["missing_jobs"] == ["0: market.price_trend=-0.2 fleet.gpus=64 n_samples=100"]
    assert back["job_ok"].dtype == bool


def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    make_grid(tmp_path)
    target = tmp_path / "sweep.nc"
    target.write_bytes(b"previous")
    real = xr.Dataset.to_netcdf

    def broken(self, path, *args, **kwargs):
        real(self, path, *args, **kwargs)  # the bytes are there ...
        Path(path).write_bytes(Path(path).read_bytes()[:100])  # ... then cut short
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        write_sweep(tmp_path)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "multirun.yaml",
        "sweep.nc",
    ]


# --------------------------------------------------------------------------- console script


def test_main_writes_and_reports(tmp_path: Path, capsys) -> None:
    make_grid(tmp_path)
    assert sweep.main([str(tmp_path)]) == 0
    assert "market.price_trend=2, fleet.gpus=2" in capsys.readouterr().out
    assert (tmp_path / "sweep.nc").is_file()


def test_main_on_a_path_that_is_no_multirun_exits_2(tmp_path: Path, capsys) -> None:
    run_dir = make_run_dir(tmp_path / "0")
    assert sweep.main([str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcengine-sweep: error: ") and err.count("\n") == 1
    assert f"{run_dir} is a single run's directory, not a multirun directory" in err
    assert sweep.main([str(tmp_path / "empty")]) == 2
    (tmp_path / "empty").mkdir()
    assert sweep.main([str(tmp_path / "empty")]) == 2
    assert "no Hydra job directories" in capsys.readouterr().err


def test_main_relative_output_is_relative_to_cwd(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "sweep").mkdir()
    make_grid(tmp_path / "sweep")
    monkeypatch.chdir(tmp_path)
    assert sweep.main(["sweep", "--job-dim", "-o", "other.nc"]) == 0
    assert is_sweep_file(tmp_path / "other.nc") and not (tmp_path / "sweep/other.nc").exists()
    assert f"wrote {tmp_path / 'other.nc'} (job=4)" in capsys.readouterr().out
    assert "relative to the current directory" in sweep.cli._parser().format_help()
    assert not is_sweep_file(tmp_path / "sweep/0/results.nc")


def test_main_fails_on_missing_naming_them(tmp_path: Path, capsys) -> None:
    make_grid(tmp_path, skip=(3,))
    assert sweep.main([str(tmp_path)]) == 1
    assert "3: market.price_trend=-0.4 fleet.gpus=128" in capsys.readouterr().err
    assert not (tmp_path / "sweep.nc").exists()
    assert sweep.main([str(tmp_path), "--allow-missing", "--job-dim"]) == 0
    assert open_sweep_file(tmp_path / "sweep.nc")["p_recoup"].dims == ("job",)


# --------------------------------------------------------------------------- callback


def _multirun_cfg(sweep_dir: Path):
    from omegaconf import OmegaConf

    return OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}})


def test_callback_writes_sweep(tmp_path: Path) -> None:
    from mcengine.callbacks import SweepCallback

    make_grid(tmp_path)
    cb = SweepCallback()
    cb.on_multirun_start(_multirun_cfg(tmp_path))
    cb.on_multirun_end(_multirun_cfg(tmp_path))
    assert open_sweep_file(tmp_path / "sweep.nc").sizes["market.price_trend"] == 2
    cb._write_if_pending()  # the exit hook does nothing after on_multirun_end


def test_callback_logs_missing_and_never_raises(tmp_path: Path, caplog) -> None:
    from mcengine.callbacks import SweepCallback

    make_grid(tmp_path, skip=(1,))
    SweepCallback().on_multirun_end(_multirun_cfg(tmp_path))
    back = open_sweep_file(tmp_path / "sweep.nc")
    assert back.attrs["missing_jobs"] == ["1: market.price_trend=-0.2 fleet.gpus=128 n_samples=100"]
    assert "1: market.price_trend=-0.2 fleet.gpus=128" in caplog.text
    (tmp_path / "sweep.nc").unlink()
    caplog.clear()
    SweepCallback(allow_missing=False).on_multirun_end(_multirun_cfg(tmp_path))
    assert "could not write" in caplog.text and not (tmp_path / "sweep.nc").exists()
    SweepCallback().on_multirun_end(_multirun_cfg(tmp_path / "empty"))  # logs, no raise


TOY_APP = '''
"""A JAX-free stand-in for the mcengine CLI: writes a fake results.nc per job."""
import sys
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

sys.path.insert(0, {tests!r})
from test_sweep import fake_results


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg):
    if cfg.fail:
        raise RuntimeError("job asked to fail")
    out = Path(HydraConfig.get().runtime.output_dir)
    overrides = list(HydraConfig.get().overrides.task)
    values = {{"a": cfg.a, "b": cfg.b}}
    ds = fake_results(values, overrides)
    ds.attrs["config"] = OmegaConf.to_yaml(cfg, resolve=True)
    ds.to_netcdf(out / cfg.output, engine="h5netcdf")


if __name__ == "__main__":
    main()
'''

TOY_CONFIG = """
a: 1
b: x
fail: false
output: results.nc
hydra:
  callbacks:
    sweep:
      _target_: mcengine.callbacks.SweepCallback
"""


def _run_toy(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    app = tmp_path / "app"
    (app / "conf").mkdir(parents=True)
    (app / "conf" / "config.yaml").write_text(TOY_CONFIG)
    (app / "toy.py").write_text(textwrap.dedent(TOY_APP.format(tests=str(Path(__file__).parent))))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    cmd = [
        sys.executable,
        str(app / "toy.py"),
        "-m",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        *overrides,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_callback_in_real_hydra_multirun(tmp_path: Path) -> None:
    run = _run_toy(tmp_path, "a=1,2,3", "b=x,y")
    assert run.returncode == 0, run.stderr
    ds = open_sweep_file(tmp_path / "sweep" / "sweep.nc")
    assert ds["p_recoup"].dims == ("a", "b")
    assert ds["a"].values.tolist() == [1, 2, 3] and ds["b"].values.tolist() == ["x", "y"]
    assert yaml.safe_load(ds["config"].sel(a=2, b="y").item())["a"] == 2


def test_callback_writes_partial_sweep_when_a_job_fails(tmp_path: Path) -> None:
    run = _run_toy(tmp_path, "a=1,2", "fail=false,true")
    assert run.returncode != 0  # Hydra reports the failed job ...
    log = run.stdout + run.stderr
    assert "job asked to fail" in log
    # ... and the callback's exit hook still combined what was there, naming the missing job
    assert "1: a=1 fail=True" in log
    ds = open_sweep_file(tmp_path / "sweep" / "sweep.nc")
    assert ds.attrs["missing_jobs"] == ["1: a=1 fail=True", "3: a=2 fail=True"]
    assert ds["job_ok"].sel(a=1, fail=False) and not ds["job_ok"].sel(a=1, fail=True)


# --------------------------------------------------------------------------- SLURM launcher config


def test_slurm_gpu_launcher_config_builds_an_sbatch_script(tmp_path: Path, monkeypatch) -> None:
    """conf/hydra/launcher/slurm_gpu.yaml is a valid submitit_slurm config and sbatch script."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
    from omegaconf import OmegaConf

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")

    path = Path(__file__).parents[1] / "conf" / "hydra" / "launcher" / "slurm_gpu.yaml"
    raw = yaml.safe_load(path.read_text())
    assert raw.pop("defaults") == ["submitit_slurm", "_self_"]
    user = {
        "name": "mcengine",
        "submitit_folder": str(tmp_path / "%j"),
        "gpus_per_node": 4,
        "additional_parameters": {"mail-type": "END"},
    }
    cfg = OmegaConf.merge(OmegaConf.structured(SlurmQueueConf), raw, user)  # type-checks keys
    params = OmegaConf.to_container(cfg, resolve=True)
    params.pop("_target_")
    # what hydra_submitit_launcher does with these parameters
    executor = submitit.AutoExecutor(
        folder=params.pop("submitit_folder"),
        cluster="slurm",
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -m x", "uid")
    for line in [
        "--partition=gpu",
        "--gpus-per-node=4",
        "--ntasks-per-node=1",
        "--cpus-per-task=8",
        "--mem=64GB",
        "--time=240",
        "@120\n",
        "--mail-type=END",
        "export PYTHONUNBUFFERED=1",
    ]:
        assert line in script, line


def test_job_rerun_as_single_run_in_its_dir(tmp_path: Path) -> None:
    """A failed job re-run with ``mcengine hydra.run.dir=DIR/1 ...`` (hydra.job.num is ???)."""
    make_grid(tmp_path)
    hydra_yaml = tmp_path / "1" / ".hydra" / "hydra.yaml"
    hydra_yaml.write_text(yaml.safe_dump({"hydra": {"mode": "RUN", "job": {"num": "???"}}}))
    ds = open_sweep(tmp_path)
    assert ds["job_num"].sel({"market.price_trend": -0.2, "fleet.gpus": 128}).item() == 1
