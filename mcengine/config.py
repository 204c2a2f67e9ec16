"""Configs: where they live, loading them with Hydra's compose API, and the run settings.

The model keys are checked by ``ModelSpec``; this module checks the run keys (``n_samples``,
``seed``, ``chunk_size``, ...) so that a bad value fails before any compute, naming its path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, suggest
from .model.params import PARAMS, SECTIONS
from .model.spec import unknown_parameter
from .overrides import replace_mappings

__all__ = [
    "check_overrides",
    "config_dir",
    "load_config",
    "replace_mappings",
    "RunSettings",
    "to_plain",
]

RUN_KEYS = {
    "n_samples", "seed", "chunk_size", "precision", "quantiles", "output", "checkpoint_every_s",
    "progress", "sampling", "sensitivity", "target", "report", "correlations", "distributed",
    "compile_cache",
}  # fmt: skip
# the run keys that are sections, and their keys
RUN_SECTIONS = {
    "sensitivity": ("deciles", "sobol", "sobol_samples"),
    "target": ("p_recoup_se", "npv_se", "min_samples"),
}
DEFAULT_COMPILE_CACHE = "~/.cache/mcengine/xla"
# what conf/config.yaml sets, for plain-dict configs that leave run keys out (tested equal)
DEFAULT_N_SAMPLES = 1_000_000
DEFAULT_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
SAMPLING = ("random", "antithetic", "sobol")


def config_dir() -> Path:
    """The folder of ``config.yaml``: the package copy in a wheel, else the repo's ``conf/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError("mcengine's conf/ folder was not found next to the package")


def _unknown_run_key(section: str, key: str) -> ConfigError:
    known = RUN_SECTIONS[section]
    return ConfigError(
        f"'{section}.{key}' is not a config key.{suggest(key, known)} "
        f"'{section}' keys: {', '.join(known)}."
    )


def _unknown_key(key: str) -> ConfigError:
    known = RUN_KEYS | set(SECTIONS) | {p for p in PARAMS if "." not in p}
    return ConfigError(
        f"'{key}' is not a config key.{suggest(key, known)} Run keys: "
        f"{', '.join(sorted(RUN_KEYS))}; model sections: {', '.join(SECTIONS)}."
    )


def check_scenario(choice: str) -> None:
    """Reject a scenario name (or each of a sweep's ``a,b``) with no ``conf/scenario`` file."""
    names = sorted(p.stem for p in (config_dir() / "scenario").glob("*.yaml"))
    if any(c in choice for c in "()*[]{}$"):
        return  # a sweeper expression (choice(...), glob(...)): Hydra expands it
    for name in (c.strip() for c in choice.split(",")):
        if name and name not in names:
            raise ConfigError(
                f"scenario={name}: there is no such scenario.{suggest(name, names)} Fix: one of "
                f"{', '.join(names)}, or add conf/scenario/{name}.yaml."
            )


def check_overrides(overrides: Sequence[str]) -> None:
    """Reject ``key=value`` overrides of keys that do not exist, before Hydra composes them.

    Hydra's own message for an unknown key suggests appending it with ``+``, which is never the
    fix for a misspelt parameter or run key; this names the closest one instead. A mapping for
    ``correlations`` (a list of triples) is caught here too, where Hydra would report a failed
    merge."""
    groups = {p.name for p in config_dir().iterdir() if p.is_dir()} | {"hydra"}
    top = RUN_KEYS | set(SECTIONS) | {p for p in PARAMS if "." not in p} | groups
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key.startswith(("-", "+", "~")) or "/" in key or "@" in key:
            continue  # flags, appends, deletions and config-group paths are Hydra's
        if key == "scenario":
            check_scenario(value)
        section, _, rest = key.partition(".")
        if section not in top:
            raise _unknown_key(section)
        name = rest.split(".")[0]  # market.price0.mode=2 edits a field of price0's spec
        if section in SECTIONS and rest and f"{section}.{name}" not in PARAMS:
            raise unknown_parameter(section, name)
        if section in RUN_SECTIONS and rest and name not in RUN_SECTIONS[section]:
            raise _unknown_run_key(section, name)
        if value.lstrip().startswith(("{", "[")):
            _check_override_syntax(item, key, value)
        if key == "correlations" and value.lstrip().startswith("{"):
            raise ConfigError(
                "correlations must be a list of [path, path, rank correlation] triples, got a "
                f"mapping ({value}). Fix: correlations='[[market.price0, demand.growth, -0.4]]'."
            )


def _check_override_syntax(item: str, key: str, value: str) -> None:
    """A mapping or list value that Hydra's override grammar cannot read, as a config error
    that names the key (Hydra's own message names neither the key nor the usual slip)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        OverridesParser.create().parse_overrides([item])
    except OverrideParseException as err:
        reason = str(err).splitlines()[0]
        raise ConfigError(
            f"{key}: cannot read the value {value} ({reason}). Fix: write a mapping as "
            "{field: value, ...} with a colon after every field name and a list as [a, b], "
            f"and quote the whole override for the shell, e.g. {key}='{{dist: pert, min: 1.5, "
            "mode: 2, max: 3}'."
        ) from None


def load_config(scenario: str | None = None, overrides: Sequence[str] = ()) -> Any:
    """Compose the config like the CLI does (Hydra's compose API): ``scenario`` picks
    ``conf/scenario/NAME.yaml``; ``overrides`` are ``key=value`` strings."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    check_overrides(overrides)
    all_overrides = replace_mappings(overrides)
    if scenario is not None:
        check_scenario(scenario)
        all_overrides.append(f"scenario={scenario}")
    GlobalHydra.instance().clear()
    with initialize_config_dir(
        config_dir=str(config_dir()), version_base="1.3", job_name="mcengine"
    ):
        return compose(config_name="config", overrides=all_overrides)


def to_plain(cfg: Any) -> dict:
    """A resolved plain ``dict`` of a DictConfig or mapping."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - omegaconf ships with hydra
        pass
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"a config must be a mapping, got {type(cfg).__name__}")
    return {k: (to_plain(v) if isinstance(v, Mapping) else v) for k, v in cfg.items()}


def _int(cfg: Mapping, key: str, low: int, high: float = math.inf, allow_none=False,
         default: int | None = None, path: str | None = None):  # fmt: skip
    path = path or key
    value = cfg.get(key, default)
    if value is None and allow_none:
        return None
    example = default if default is not None else low
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ConfigError(
            f"{path} must be a whole number, got {value!r}. Fix: e.g. {path}={example}."
        )
    if not low <= value < high:
        raise ConfigError(
            f"{path}={value!r} is out of range. Fix: a whole number in [{low}, {_bound(high)})."
        )
    return int(value)


def _bound(high: float) -> str:
    """An upper bound as people write it: ``inf``, ``2**64``, or the number."""
    if high == math.inf:
        return "inf"
    power = int(high).bit_length() - 1
    return f"2**{power}" if power > 16 and int(high) == 1 << power else f"{int(high)}"


def _flag(node: Mapping, key: str, default: bool, path: str | None = None) -> bool:
    value = node.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path or key} must be true or false, got {value!r}.")
    return value


def _section(cfg: Mapping, key: str) -> Mapping:
    node = cfg.get(key)
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ConfigError(
            f"{key} must be a mapping of its keys (e.g. {key}.<name>=value), got {node!r}."
        )
    for name in node:
        if name not in RUN_SECTIONS[key]:
            raise _unknown_run_key(key, str(name))
    return node


def _number(node: Mapping, key: str, path: str) -> float | None:
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{path} must be a positive number or null, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class RunSettings:
    """The validated run keys of a config."""

    n_samples: int
    seed: int
    chunk_size: int | None
    precision: str
    quantiles: tuple[float, ...]
    output: str
    checkpoint_every_s: float
    progress: bool | None
    sampling: str
    deciles: bool
    sobol: bool
    sobol_samples: int
    target_p_recoup_se: float | None
    target_npv_se: float | None
    target_min_samples: int
    report: bool
    compile_cache: str | None

    @classmethod
    def from_config(cls, cfg: Mapping) -> RunSettings:
        known = RUN_KEYS | set(SECTIONS) | {p for p in PARAMS if "." not in p}
        for key in cfg:
            if key not in known:
                raise _unknown_key(key)
        precision = cfg.get("precision", "float32")
        if precision not in ("float32", "float64"):
            raise ConfigError(f"precision must be float32 or float64, got {precision!r}.")
        levels = cfg.get("quantiles", DEFAULT_QUANTILES)
        levels = [] if levels is None else levels
        if (
            not isinstance(levels, Sequence)
            or isinstance(levels, str)
            or not levels
            or any(
                isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < 1
                for q in levels
            )
        ):
            raise ConfigError(
                f"quantiles must be a non-empty list of levels strictly between 0 and 1, "
                f"got {levels!r}."
            )
        if list(levels) != sorted(set(levels)):
            raise ConfigError(
                f"quantiles must be increasing without repeats, got {levels!r}. Fix: e.g. "
                f"quantiles=[{','.join(f'{q:g}' for q in sorted(set(levels)))}]."
            )
        sampling = cfg.get("sampling", "random")
        if sampling not in SAMPLING:
            raise ConfigError(
                f"sampling must be one of {', '.join(SAMPLING)}, got {sampling!r}."
                f"{suggest(str(sampling), SAMPLING)}"
            )
        progress = cfg.get("progress")
        if progress not in (None, True, False):
            raise ConfigError(f"progress must be true, false or null, got {progress!r}.")
        sens, target = _section(cfg, "sensitivity"), _section(cfg, "target")
        cache = cfg.get("compile_cache", DEFAULT_COMPILE_CACHE)
        if cache is not None and (not isinstance(cache, str) or not cache.strip()):
            raise ConfigError(
                f"compile_cache must be a directory path or null (no persistent compilation "
                f"cache), got {cache!r}."
            )
        distributed = cfg.get("distributed", "auto")
        if distributed not in (True, False, "auto"):
            raise ConfigError(
                f"distributed must be auto, true or false, got {distributed!r}. auto starts "
                "jax.distributed when SLURM runs more than one task."
            )
        every = cfg.get("checkpoint_every_s", 30)
        if isinstance(every, bool) or not isinstance(every, int | float) or every <= 0:
            raise ConfigError(f"checkpoint_every_s must be a positive number, got {every!r}.")
        return cls(
            n_samples=_int(cfg, "n_samples", 1, 2**32, default=DEFAULT_N_SAMPLES),
            seed=_int(cfg, "seed", 0, 2**64, default=0),
            chunk_size=_int(cfg, "chunk_size", 1, 2**31, allow_none=True),
            precision=precision,
            quantiles=tuple(float(q) for q in levels),
            output=str(cfg.get("output") or "results.nc"),
            checkpoint_every_s=float(every),
            progress=progress,
            sampling=sampling,
            deciles=_flag(sens, "deciles", True, "sensitivity.deciles"),
            sobol=_flag(sens, "sobol", False, "sensitivity.sobol"),
            sobol_samples=_int(
                sens, "sobol_samples", 64, default=8192, path="sensitivity.sobol_samples"
            ),
            target_p_recoup_se=_number(target, "p_recoup_se", "target.p_recoup_se"),
            target_npv_se=_number(target, "npv_se", "target.npv_se"),
            target_min_samples=_int(
                target, "min_samples", 0, 2**32, default=0, path="target.min_samples"
            ),
            report=_flag(cfg, "report", False),
            compile_cache=cache,
        )
