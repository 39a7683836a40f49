"""Search spaces of ``train.py tune``: read them from YAML, check them, and sample a trial.

A search space file maps ``train.py`` option names to one distribution each::

    learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
    train_freq: {type: int, low: 1, high: 8, step: 1}
    activation: {type: categorical, choices: [relu, elu]}
    hidden_sizes: {type: categorical, choices: ["64", "128,128"]}

Two keys that are not options describe the Q-network as a depth and one width for every
hidden layer, and become ``hidden_sizes``: ``hidden_layers`` and ``hidden_width``. They are
searched together or not at all.

Each game has a default space in ``configs/search_spaces/GAME.yaml``. A ``--space`` file is
applied on top of it: its entries replace or add keys, and ``KEY: null`` removes one. Keys
fixed by the tuning command (``--config`` or options after ``--``) leave the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.config import (
    ConfigError,
    _UniqueKeyLoader,
    coerce_value,
    config_fields,
    fields_for_env,
    resolve_config,
)
from agents.config_file_errors import describe_yaml_error

SPACE_DIR = Path(__file__).resolve().parent.parent / "configs" / "search_spaces"
ARCHITECTURE_KEYS = ("hidden_layers", "hidden_width")
# Per-run settings (budget, schedule, output, hardware): neither searched nor part of a
# tuned configuration.
RUN_KEYS = frozenset(
    {
        "algo",
        "run_dir",
        "total_timesteps",
        "seed",
        "eval_every",
        "eval_episodes",
        "final_eval_episodes",
        "save_every_steps",
        "save_every_minutes",
        "save_replay_buffer",
        "log_interval",
        "progress",
        "device",
        "torch_threads",
    }
)
# Options that only the Stable-Baselines3 baselines read, so they cannot change a DQN trial.
BASELINE_KEYS = frozenset(
    {
        "baseline_hyperparameters",
        "n_steps",
        "n_epochs",
        "ent_coef",
        "gae_lambda",
        "clip_range",
        "vf_coef",
        "selfplay_update_interval",
        "selfplay_pool_size",
        "selfplay_opponent_eps",
    }
)
_MAX_HIDDEN_LAYERS = 16
_SPEC_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}


class SpaceError(ConfigError):
    """An invalid search space file or entry; the message names the file and key."""


@dataclass(frozen=True)
class Parameter:
    """One searched key and its distribution.

    Attributes:
        name: Option name, or ``hidden_layers`` / ``hidden_width``.
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        low: Lower bound for ``float`` and ``int``, inclusive.
        high: Upper bound for ``float`` and ``int``, inclusive.
        log: Sample on a log scale.
        step: Grid spacing of the sampled values, or None for a continuous float.
        choices: Values of a ``categorical`` key as Optuna stores them (numbers, strings or
            booleans; ``hidden_sizes`` choices are comma-separated strings).
    """

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Draw this key's value for an Optuna trial."""
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(
                self.name, self.low, self.high, log=self.log, step=self.step or 1
            )
        return trial.suggest_categorical(self.name, list(self.choices))

    def distribution(self) -> Any:
        """Return the Optuna distribution that :meth:`suggest` samples from."""
        from optuna import distributions

        if self.kind == "float":
            return distributions.FloatDistribution(
                self.low, self.high, log=self.log, step=self.step
            )
        if self.kind == "int":
            return distributions.IntDistribution(
                self.low, self.high, log=self.log, step=self.step or 1
            )
        return distributions.CategoricalDistribution(list(self.choices))

    def extremes(self) -> list[Any]:
        """Return the values that bound this key: low and high, or every choice."""
        if self.kind == "categorical":
            return list(self.choices)
        return [self.low, self.high]


@dataclass(frozen=True)
class SearchSpace:
    """The keys a study searches, in file order.

    Attributes:
        env_name: Game the space belongs to.
        parameters: One entry per searched key.
        sources: Files the space was read from, for messages and the report.
    """

    env_name: str
    parameters: tuple[Parameter, ...]
    sources: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        """Names of the searched keys."""
        return [parameter.name for parameter in self.parameters]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample every key for ``trial`` and return them as configuration overrides."""
        sampled = {parameter.name: parameter.suggest(trial) for parameter in self.parameters}
        return to_overrides(self.env_name, sampled)


def to_overrides(env_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Turn sampled values (Optuna's params) into ``TrainConfig`` values.

    ``hidden_layers`` and ``hidden_width`` become ``hidden_sizes``, and categorical values
    are converted to the option's type (``"64,64"`` to ``(64, 64)``).
    """
    fields_by_name = {f.name: f for f in fields_for_env(env_name)}
    overrides = {}
    for name, value in params.items():
        if name not in ARCHITECTURE_KEYS:
            overrides[name] = coerce_value(fields_by_name[name], value)
    if "hidden_layers" in params:
        overrides["hidden_sizes"] = (int(params["hidden_width"]),) * int(params["hidden_layers"])
    return overrides


def default_space_path(env_name: str) -> Path:
    """Return the file of a game's default search space."""
    return SPACE_DIR / f"{env_name}.yaml"


def load_space(
    env_name: str, path: str | Path | None, fixed: dict[str, Any]
) -> tuple[SearchSpace, list[str]]:
    """Read the game's default space, apply the ``--space`` file, and drop fixed keys.

    Args:
        env_name: ``"tictactoe"`` or ``"snake"``.
        path: A ``--space`` file, or None for the default space alone.
        fixed: Options fixed for every trial; their keys are not searched.

    Returns:
        The space, and the keys that left the search because ``fixed`` sets them.

    Raises:
        SpaceError: If a file is missing or malformed, a key is unknown or not searchable,
            a distribution is invalid, or a bound fails the configuration checks.
    """
    default_path = default_space_path(env_name)
    entries = _read_entries(default_path, env_name)
    sources = [str(default_path)]
    if path is not None:
        for name, parameter in _read_entries(Path(path), env_name).items():
            entries.pop(name, None)
            if parameter is not None:
                entries[name] = parameter
        sources.append(str(path))
    origin = str(path if path is not None else default_path)

    fixed_keys = set(fixed)
    if "hidden_sizes" in fixed_keys:
        fixed_keys.update(ARCHITECTURE_KEYS)
    dropped = [name for name in entries if name in fixed_keys]
    parameters = [p for name, p in entries.items() if p is not None and name not in fixed_keys]

    names = {parameter.name for parameter in parameters}
    if len(names & set(ARCHITECTURE_KEYS)) == 1:
        raise SpaceError(
            f"invalid search space {origin}: hidden_layers and hidden_width are searched "
            "together; give both or remove both"
        )
    if "hidden_sizes" in names and "hidden_layers" in names:
        raise SpaceError(
            f"invalid search space {origin}: hidden_sizes and hidden_layers/hidden_width both "
            "set the network; set hidden_layers: null and hidden_width: null to search "
            "hidden_sizes"
        )
    if not parameters:
        raise SpaceError(
            f"the search space {origin} is empty once the fixed options are removed; "
            "nothing is left to search"
        )
    space = SearchSpace(env_name, tuple(parameters), tuple(sources))
    _check_bounds(space, fixed, origin)
    return space, dropped


def _read_entries(path: Path, env_name: str) -> dict[str, Parameter | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"search space file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpaceError(f"cannot read search space file {path}: {error}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # A SafeLoader subclass.
    except yaml.YAMLError as error:
        raise SpaceError(describe_yaml_error(error, path, "search space file")) from None
    if not isinstance(data, dict) or not data:
        raise SpaceError(
            f"search space file {path} must be a mapping of option: "
            "{type: float|int|categorical, ...}"
        )
    entries: dict[str, Parameter | None] = {}
    for raw_key, spec in data.items():
        name = str(raw_key).replace("-", "_")
        try:
            _check_searchable(name, env_name)
            entries[name] = None if spec is None else _parse_spec(name, spec, env_name)
        except SpaceError as error:
            raise SpaceError(f"invalid search space {path}: key {raw_key!r}: {error}") from None
    return entries


def _check_searchable(name: str, env_name: str) -> None:
    if name in ARCHITECTURE_KEYS:
        return
    known = {f.name: f for f in config_fields()}
    if name not in known:
        raise SpaceError(
            "not a train.py option (expected a TrainConfig key, hidden_layers or hidden_width)"
        )
    owner = known[name].metadata.get("env")
    if owner not in (None, env_name):
        raise SpaceError(f"a {owner} option, not a {env_name} one")
    if name in RUN_KEYS:
        raise SpaceError("a per-run setting, which tuning fixes (pass it after -- instead)")
    if name in BASELINE_KEYS:
        raise SpaceError("read only by the Stable-Baselines3 baselines, never by --algo dqn")


def _parse_spec(name: str, spec: Any, env_name: str) -> Parameter:
    if not isinstance(spec, dict) or "type" not in spec:
        raise SpaceError(
            f"expected a mapping with a type (float, int or categorical), got {spec!r}"
        )
    kind = spec["type"]
    if kind not in _SPEC_KEYS:
        raise SpaceError(f"type must be float, int or categorical, got {kind!r}")
    unknown = sorted(set(map(str, spec)) - _SPEC_KEYS[kind])
    if unknown:
        raise SpaceError(f"unknown field {unknown[0]!r} for type {kind}")
    field_type = _field_type(name, env_name)
    if kind != "categorical" and field_type != kind:
        raise SpaceError(
            f"the option takes {field_type} values; use type {field_type} or categorical"
        )
    if kind == "categorical":
        return Parameter(name, kind, choices=_parse_choices(name, spec.get("choices"), env_name))
    return _parse_range(name, kind, spec, env_name)


def _field_type(name: str, env_name: str) -> str:
    if name in ARCHITECTURE_KEYS:
        return "int"
    config_field = next(f for f in fields_for_env(env_name) if f.name == name)
    return {"float": "float", "int": "int"}.get(str(config_field.type), str(config_field.type))


def _coerce(name: str, value: Any, env_name: str) -> Any:
    """Convert one bound or choice to the option's type; architecture keys are counts."""
    if name in ARCHITECTURE_KEYS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpaceError(f"expected a positive integer, got {value!r}")
        if name == "hidden_layers" and value > _MAX_HIDDEN_LAYERS:
            raise SpaceError(f"expected at most {_MAX_HIDDEN_LAYERS} layers, got {value}")
        return value
    config_field = next(f for f in fields_for_env(env_name) if f.name == name)
    try:
        return coerce_value(config_field, value)
    except ConfigError as error:
        raise SpaceError(str(error).split(": ", 1)[-1]) from None


def _parse_choices(name: str, choices: Any, env_name: str) -> tuple[Any, ...]:
    if not isinstance(choices, list) or not choices:
        raise SpaceError(f"choices must be a non-empty list, got {choices!r}")
    parsed = []
    for choice in choices:
        if isinstance(choice, (list, dict)):
            raise SpaceError(
                f"each choice must be a number, string or boolean, got {choice!r}"
                + (' (write a network as "64,64")' if name == "hidden_sizes" else "")
            )
        value = _coerce(name, choice, env_name)
        # Optuna stores numbers, strings and booleans; a network stays a "64,64" string.
        parsed.append(",".join(map(str, value)) if isinstance(value, tuple) else value)
    if len(set(parsed)) != len(parsed):
        raise SpaceError(f"choices contain a duplicate: {choices!r}")
    return tuple(parsed)


def _parse_range(name: str, kind: str, spec: dict[str, Any], env_name: str) -> Parameter:
    for bound in ("low", "high"):
        if bound not in spec:
            raise SpaceError(f"type {kind} needs low and high")
    low = _coerce(name, spec["low"], env_name)
    high = _coerce(name, spec["high"], env_name)
    if low > high:
        raise SpaceError(f"low {low} is above high {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"log must be true or false, got {log!r}")
    step = spec.get("step")
    if step is not None:
        step = _coerce(name, step, env_name) if kind == "int" else float(step)
        if not step > 0:
            raise SpaceError(f"step must be positive, got {step}")
        if log and (kind == "float" or step != 1):
            raise SpaceError("log and step cannot be combined (an int log range takes step 1)")
    if log and low <= 0:
        raise SpaceError(f"a log range needs low above 0, got {low}")
    return Parameter(name, kind, low=low, high=high, log=log, step=step)


def _check_bounds(space: SearchSpace, fixed: dict[str, Any], origin: str) -> None:
    """Resolve a configuration at each bound of each key so out-of-range values fail now."""
    cases: list[tuple[str, dict[str, Any]]] = []
    for parameter in space.parameters:
        if parameter.name not in ARCHITECTURE_KEYS:
            cases += [(parameter.name, {parameter.name: value}) for value in parameter.extremes()]
    by_name = {parameter.name: parameter for parameter in space.parameters}
    if "hidden_layers" in by_name:
        for layers in by_name["hidden_layers"].extremes():
            for width in by_name["hidden_width"].extremes():
                params = {"hidden_layers": layers, "hidden_width": width}
                cases.append(("hidden_layers/hidden_width", params))
    for label, params in cases:
        try:
            resolve_config(space.env_name, {**fixed, **to_overrides(space.env_name, params)})
        except ConfigError as error:
            raise SpaceError(f"invalid search space {origin}: key {label!r}: {error}") from None
