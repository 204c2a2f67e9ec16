"""Bad configs fail before any compute, naming the config path and the fix."""

from __future__ import annotations

import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest

import mcengine
from mcengine import ConfigError
from mcengine.cli import check_sweep
from mcengine.config import RunSettings, check_overrides, to_plain
from mcengine.distributions import SpecError
from mcengine.model.spec import ModelSpec


def _spec(**changes):
    cfg = to_plain(mcengine.load_config())
    for path, value in changes.items():
        node = cfg
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return cfg


def _error(cfg) -> str:
    with pytest.raises((ConfigError, SpecError)) as info:
        RunSettings.from_config(cfg)
        ModelSpec.from_config(cfg)
    return str(info.value)


def test_unknown_model_key_suggests_the_closest():
    message = _error(_spec(fleet__gpu_prise=3.0))
    assert "'fleet.gpu_prise' is not a parameter" in message
    assert "Did you mean 'gpu_price'?" in message


def test_unknown_root_key_is_named():
    assert "n_sample" in _error(_spec(n_sample=10))


def test_missing_required_value_names_the_path():
    assert "market.price0 is required" in _error(_spec(market__price0=None))


def test_plain_number_parameter_given_a_distribution():
    message = _error(_spec(fleet__gpus={"dist": "normal", "mean": 8, "sd": 1}))
    assert "fleet.gpus" in message and "plain number" in message


def test_distribution_outside_the_parameter_range():
    message = _error(_spec(market__price0={"dist": "normal", "mean": 2, "sd": 1}))
    assert "market.price0" in message and "truncate" in message


def test_positive_family_for_a_parameter_that_must_be_positive():
    """Lognormal support starts at 0, never drawn: fine where the range is (0, inf)."""
    cfg = _spec(
        opex__pue={"dist": "lognormal", "median": 1.3, "sd_log": 0.05},
        churn__price_shock={"dist": "gamma", "shape": 20.0, "scale": 0.05},
    )
    assert {"opex.pue", "churn.price_shock"} <= set(ModelSpec.from_config(cfg).inputs.paths)
    # a constant at the open end, or a distribution with an atom there, is still rejected
    assert "market.price0" in _error(_spec(market__price0=0.0))
    atom = {"dist": "discrete", "values": [0.0, 1.0], "probabilities": [0.5, 0.5]}
    assert "churn.price_shock: its distribution can take values in [0" in _error(
        _spec(churn__price_shock=atom)
    )


def test_value_outside_its_range():
    assert "demand.max_utilization" in _error(_spec(demand__max_utilization=1.5))


def test_bad_spec_names_the_parameter_path():
    message = _error(_spec(market__price0={"dist": "lognormal", "p05": 3, "p95": 2}))
    assert message.startswith("market.price0")


def test_debt_without_a_term():
    assert "financing.term_months" in _error(_spec(financing__term_months=0))


def test_loan_running_past_the_horizon_warns():
    cfg = _spec(financing__term_months=84)  # the default scenario: 60 months, half debt
    with pytest.warns(UserWarning, match="financing.term_months=84 runs past horizon_months=60"):
        ModelSpec.from_config(cfg)


def test_loan_repaid_within_the_horizon_is_silent(recwarn):
    ModelSpec.from_config(_spec(financing__term_months=60))
    assert not [w for w in recwarn if "financing.term_months" in str(w.message)]


@pytest.mark.parametrize(
    "bad", ["n_samples=0", "precision=float16", "quantiles=[0.5,0.1]", "distributed=maybe"]
)
def test_run_settings(bad):
    key = bad.split("=")[0]
    with pytest.raises(ConfigError, match=key):
        mcengine.simulate(mcengine.load_config(overrides=[bad]))


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcengine.cli",
            "market.price0={dist: normale, mean: 2, sd: 1}",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "market.price0" in proc.stderr and "did you mean 'normal'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results.nc").exists()


def test_compile_cache_must_be_a_path_or_null():
    message = _error(_spec(compile_cache=5))
    assert "compile_cache" in message and "null" in message
    assert RunSettings.from_config(_spec(compile_cache=None)).compile_cache is None


@pytest.mark.parametrize(
    "override, path",
    [
        ("sensitivity.sobol=no", "sensitivity.sobol"),
        ("sensitivity.deciles=off", "sensitivity.deciles"),
        ("report=no", "report"),
        ("sensitivity.sobol_samples=0", "sensitivity.sobol_samples"),
    ],
)
def test_switches_take_booleans_only(override, path):
    """A string is not a switch: "no" must not turn a switch on."""
    with pytest.raises(ConfigError, match=path):
        RunSettings.from_config(to_plain(mcengine.load_config(overrides=[override])))


@pytest.mark.parametrize("key", ["sensitivity", "target"])
def test_run_sections_must_be_mappings(key):
    with pytest.raises(ConfigError, match=f"{key} must be a mapping"):
        RunSettings.from_config({key: True})


def test_plain_dict_run_keys_default_like_config_yaml():
    """A plain-dict config that leaves the run keys out runs like the shipped config.yaml."""
    assert RunSettings.from_config({}) == RunSettings.from_config(to_plain(mcengine.load_config()))


def test_numpy_numbers_are_numbers():
    cfg = _spec(fleet__gpu_price=np.float32(30_000), fleet__gpus=np.int64(64))
    assert ModelSpec.from_config(cfg).constants["fleet.gpu_price"] == 30_000


def test_arrival_rates_are_bounded():
    """The monthly Poisson draw is exact up to 50 arrivals a month (600 a year)."""
    assert "churn.release_rate: 1100 is outside its range [0, 600]" in _error(
        _spec(churn__release_rate=1100)
    )


def test_correlating_a_plain_number_says_so():
    message = _error(_spec(correlations=[["market.price0", "tax.rate", 0.5]]))
    assert "'tax.rate' is a constant, not an uncertain input" in message
    assert message.startswith("correlations[0]")


def test_range_errors_say_how_to_fix():
    message = _error(_spec(fleet__gpus=-5))
    assert (
        "fleet.gpus: -5 is outside its range (0, inf). Fix: give a value in that range" in message
    )


def test_support_reaching_an_open_end_says_how_to_truncate():
    spec = {"dist": "normal", "mean": -0.2, "sd": 0.1, "low": -1}
    message = _error(_spec(market__price_trend=spec))
    assert "outside the parameter's range (-1, inf)" in message
    assert "e.g. add low: -0.99" in message
    spec = {"dist": "uniform", "low": 0, "high": 1.5}
    message = _error(_spec(market__revenue_share=spec))
    assert "e.g. add high: 1" in message  # a closed end: truncate at it


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"fleet__gpus": "abc"},
            "fleet.gpus must be a number, got 'abc'. Fix: e.g. fleet.gpus=",
        ),
        (
            {"horizon_months": 2.5},
            "horizon_months must be a whole number, got 2.5. Fix: e.g. horizon_months=2.",
        ),
        ({"quantiles": [0.5, 0.1]}, "Fix: e.g. quantiles=[0.1,0.5]."),
    ],
)
def test_type_errors_say_how_to_fix(changes, expected):
    assert expected in _error(_spec(**changes))


def test_quoted_spec_gets_a_hint():
    message = _error(_spec(market__price0="{dist: uniform, low: 1, high: 2}"))
    assert "market.price0 must be a number" in message and "without quotes" in message


@pytest.mark.parametrize(
    "override, expected",
    [
        ("fleet.gpu=2048", "'fleet.gpu' is not a parameter of the model. Did you mean 'gpus'?"),
        ("market.price_0.mode=2", "'market.price_0' is not a parameter"),
        ("n_sample=10", "'n_sample' is not a config key. Did you mean 'n_samples'?"),
        ("correlations={a: 1}", "correlations must be a list of [path, path, rank correlation]"),
        ("markt.price0=2", "'markt' is not a config key. Did you mean 'market'?"),
        ("sensitivity.sobol_sample=100", "'sensitivity.sobol_sample' is not a config key."),
        ("target.p_recoup=0.01", "Did you mean 'p_recoup_se'?"),
        (
            "scenario=gpu_clod",
            "scenario=gpu_clod: there is no such scenario. Did you mean 'gpu_cloud'?",
        ),
        ("scenario=gpu_cloud,inference", "scenario=inference: there is no such scenario."),
        (  # a field without its colon: Hydra's grammar error, with the key and the usual slip
            "market.price0={dist: pert, min: 1.5, mode: 2, max 3}",
            "market.price0: cannot read the value {dist: pert, min: 1.5, mode: 2, max 3}",
        ),
        ("quantiles=[0.1,0.5", "quantiles: cannot read the value [0.1,0.5"),
    ],
)
def test_unknown_override_keys_are_named_before_hydra_composes(override, expected):
    with pytest.raises(ConfigError) as info:
        check_overrides(["-m", override, "hydra.run.dir=x"])
    assert expected in str(info.value)
    with pytest.raises(ConfigError):  # the Python API checks the same way
        mcengine.load_config(overrides=[override])


@pytest.mark.parametrize(
    "override",
    [
        "fleet.gpus=512,1024",
        "market.price0.mode=2.5",  # a field of price0's distribution spec
        "+fleet.extra=1",  # an append: left to the model's own check
        "scenario=inference_api",
        "scenario=gpu_cloud,inference_api",
        "scenario=glob(*)",
        "hydra/launcher=submitit_local",
        "hydra.job.chdir=false",
        "target.p_recoup_se=0.001",
        "correlations=[[market.price0, demand.growth, -0.4]]",
        "market.price0={dist: pert, min: 1.5, mode: 2, max: 3}",
        "fleet.gpu_price={dist: uniform, low: 2e4, high: 3e4},25000",  # a sweep over a spec
        "quantiles=[0.1,0.5,0.9]",
        "--multirun",
    ],
)
def test_valid_overrides_pass_the_key_check(override):
    check_overrides([override])


def test_cli_names_a_misspelt_parameter_not_hydras_append_hint(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mcengine.cli", "fleet.gpu=2048", f"hydra.run.dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "'fleet.gpu' is not a parameter of the model. Did you mean 'gpus'?" in proc.stderr
    assert "+fleet.gpu" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "override, expected",
    [
        # a field the current spec (a PERT) lacks: the spec check names the family's fields
        ("market.price0.mdoe=3", "pert has unknown or extra parameter(s) mdoe"),
        ("market.price0.p05=2", "Fix: use one of the pert parameterisations: {min, mode, max}"),
        ("fleet.gpus.mode=3", "fleet.gpus is a plain number (not drawn per future)"),
        ("market.price0=[1, 2]", "market.price0 must be a number or a distribution spec"),
    ],
)
def test_spec_field_and_list_overrides_get_the_spec_checks(override, expected):
    with pytest.raises((ConfigError, SpecError)) as info:
        mcengine.validate(mcengine.load_config(overrides=[override]))
    assert expected in str(info.value)


def test_spec_field_override_edits_the_spec():
    cfg = mcengine.load_config(overrides=["market.price0.mode=2.5"])
    settings, model = mcengine.validate(cfg)
    assert to_plain(cfg)["market"]["price0"] == {
        "dist": "pert",
        "min": 2.25,
        "mode": 2.5,
        "max": 3.5,
    }
    assert "market.price0" in model.inputs.paths


def test_plain_dict_run_sections_reject_unknown_keys():
    with pytest.raises(ConfigError, match="'target.p_recoup' is not a config key"):
        RunSettings.from_config({"target": {"p_recoup": 0.01}})


@pytest.mark.parametrize(
    "args, expected",
    [
        (["-m", "fleet.gpus=512,-5"], "sweep value fleet.gpus=-5: fleet.gpus: -5 is outside"),
        (["--multirun", "market.price0.mode=2.5,9"], "sweep value market.price0.mode=9"),
        (["-m", "fleet.gpus=64,128", "scenario=gpu_cloud,bogus"], "sweep value scenario=bogus"),
    ],
)
def test_every_sweep_value_is_checked_before_the_first_job(args, expected):
    with pytest.raises(ConfigError) as info:
        check_sweep(args)
    assert expected in str(info.value)


def test_a_valid_sweep_passes_the_check():
    check_sweep(["-m", "fleet.gpus=64,128", "market.price0.mode=2.5,3", "hydra.job.chdir=false"])
    check_sweep(["fleet.gpus=-5"])  # not a multirun: the run itself reports it


def test_sweep_check_skips_flag_values_and_other_configs():
    """A flag's value is not an override; another config (--config-name ...) is left to the
    jobs, since load_config composes mcengine's own."""
    check_sweep(["-m", "--cfg", "job", "fleet.gpus=64,128"])
    check_sweep(["-m", "--config-name", "mine", "fleet.gpus=64,-5"])
    check_sweep(["-m", "--config-dir=elsewhere", "fleet.gpus=64,-5"])
    with pytest.raises(ConfigError, match="fleet.gpus=-5"):
        check_sweep(["-m", "--package", "_global_", "fleet.gpus=64,-5"])


@pytest.mark.parametrize(
    "cfg, expected",
    [
        (
            {"n_samples": 2**32},
            "n_samples=4294967296 is out of range. Fix: a whole number in [1, 2**32)",
        ),
        ({"seed": -1}, "seed=-1 is out of range. Fix: a whole number in [0, 2**64)"),
        (
            {"n_samples": "abc"},
            "n_samples must be a whole number, got 'abc'. Fix: e.g. n_samples=1000000.",
        ),
        ({"chunk_size": 0}, "chunk_size=0 is out of range. Fix: a whole number in [1, 2**31)"),
    ],
)
def test_whole_number_errors_say_the_fix_with_exact_bounds(cfg, expected):
    with pytest.raises(ConfigError) as info:
        RunSettings.from_config(cfg)
    assert expected in str(info.value)


def test_a_correlation_path_must_be_text():
    cfg = _spec(correlations=[[["market.price0"], "demand.utilization0", 0.5]])
    message = _error(cfg)
    assert "correlations[0]" in message and "is not a parameter path" in message


def test_future_indices_past_uint32_are_refused_before_compute():
    from mcengine import engine

    _, model = mcengine.validate(mcengine.load_config())
    chunk = 3 * engine.tile_size("cpu") * len(jax.devices())  # does not divide 2**32
    with pytest.raises(ConfigError, match=r"past 2\*\*32 - 1.*Fix: n_samples <= \d+"):
        engine.run(model, n_samples=2**32 - 1, chunking=engine.Chunking(chunk))


def test_an_input_without_a_finite_mean_warns_before_compute():
    """A Student t with df <= 1 open above has no mean: the run is valid (quantiles, P(recoup))
    but its mean NPV never settles, so validation says so and how to fix it."""
    heavy = {"dist": "student_t", "df": 0.3, "loc": 30000, "scale": 100, "low": 0}
    with pytest.warns(UserWarning, match=r"fleet\.gpu_price: its distribution has no finite mean"):
        ModelSpec.from_config(_spec(fleet__gpu_price=heavy))
    bounded = {**heavy, "high": 50000}  # truncated on both sides: a finite mean, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ModelSpec.from_config(_spec(fleet__gpu_price=bounded, horizon_months=60))
