"""Training configuration: one dataclass, per-game defaults, config files and the command line.

Values are resolved in this order, later ones winning: the dataclass defaults, the game's
defaults below, the ``--config`` file, then options given on the command line. The
resolved configuration is written to the run directory as ``config.yaml``, which
``--config`` accepts again.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.config_file_errors import describe_yaml_error, in_file
from agents.ignored_options import check_ignored_options
from agents.schedules import LR_SCHEDULES, validate_schedule_options

ENV_NAMES = ("tictactoe", "snake")
ALGOS = ("dqn", "sb3-dqn", "sb3-ppo", "sb3-a2c", "sb3-maskable-ppo")


class ConfigError(ValueError):
    """An invalid configuration value, file or key; the message names it."""


class ConciseArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line naming the value, with exit code 2.

    argparse prints the whole usage block before an error. With dozens of options that
    hides the message, so only the program name, the message and a pointer to --help are
    printed.
    """

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """Parse a positive integer for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _option(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class TrainConfig:
    """Every option of ``train.py``; the field names are the option and config-file keys."""

    # Run.
    algo: str = _option("dqn", "learning algorithm", choices=ALGOS)
    total_timesteps: int = _option(100_000, "environment steps to train for (steps)")
    seed: int = _option(0, "seed of every random generator in the run")
    run_dir: str = _option(
        "", "folder for checkpoints, logs and models (default: runs/ENV-ALGO-seedS)"
    )
    save_every_steps: int = _option(
        0, "save a checkpoint every this many environment steps (steps; 0: a tenth of the run)"
    )
    save_every_minutes: float = _option(
        15.0, "also save a checkpoint every this many minutes of wall-clock time (minutes; 0: off)"
    )
    save_replay_buffer: bool = _option(
        True, "keep the replay buffer beside the newest checkpoint so resuming restores it"
    )
    eval_every: int = _option(10_000, "evaluate the greedy agent every this many steps (steps)")
    eval_episodes: int = _option(20, "episodes (games per side for tic-tac-toe) per evaluation")
    final_eval_episodes: int = _option(100, "episodes in the final evaluation of the best model")
    log_interval: int = _option(1_000, "write TensorBoard scalars every this many steps (steps)")
    device: str = _option("cpu", "torch device: cpu, cuda, cuda:N or auto")
    torch_threads: int = _option(1, "CPU threads for torch (threads; small networks run best on 1)")
    num_envs: int = _option(8, "environments stepped together, acting with one forward pass")
    progress: bool = _option(True, "show a progress bar")

    # DQN hyperparameters, named as in Stable-Baselines3.
    learning_rate: float = _option(1e-3, "optimizer step size")
    buffer_size: int = _option(100_000, "replay buffer capacity (transitions)")
    learning_starts: int = _option(1_000, "environment steps before the first update (steps)")
    batch_size: int = _option(64, "transitions per gradient update")
    tau: float = _option(1.0, "target update coefficient: 1 copies, below 1 Polyak-averages")
    gamma: float = _option(0.99, "discount factor")
    train_freq: int = _option(4, "environment steps between gradient updates (steps)")
    gradient_steps: int = _option(1, "gradient updates each train_freq steps")
    target_update_interval: int = _option(
        1_000, "gradient updates between target network updates (updates)"
    )
    exploration_fraction: float = _option(
        0.2, "fraction of total_timesteps over which epsilon falls linearly"
    )
    exploration_initial_eps: float = _option(1.0, "epsilon at the start")
    exploration_final_eps: float = _option(0.05, "epsilon after the exploration fraction")
    max_grad_norm: float = _option(10.0, "gradient norm clipping threshold (0: off)")
    double_q: bool = _option(True, "Double DQN targets")
    compile_update: str = _option(
        "auto",
        "compile each update and the acting forward pass with Inductor: on, off, or auto "
        "(on for runs of 20,000 updates or more, where the few seconds of compiling pay off)",
        choices=("auto", "on", "off"),
    )
    loss: str = _option("huber", "TD loss", choices=("huber", "mse"))
    optimizer: str = _option("adam", "optimizer", choices=("adam", "rmsprop"))
    weight_decay: float = _option(0.0, "L2 weight decay coefficient")
    network: str = _option(
        "mlp", "Q-network: mlp, or cnn for the snake grid", choices=("mlp", "cnn")
    )
    hidden_sizes: tuple[int, ...] = _option((128, 128), "hidden layer widths, comma-separated")
    activation: str = _option("relu", "hidden activation", choices=("relu", "leaky_relu", "elu"))
    dropout: float = _option(0.0, "dropout probability in training (0: off)")
    dueling: bool = _option(False, "dueling head: state value plus action advantages")
    n_step: int = _option(
        1,
        "n-step returns: sum this many rewards and bootstrap from the observation that many "
        "steps (own moves in tic-tac-toe) later (steps; 1: off)",
    )
    prioritized_replay: bool = _option(
        False, "prioritized experience replay: sample transitions by their TD error"
    )
    per_alpha: float = _option(0.6, "prioritized replay: priority exponent (0: uniform)")
    per_beta: float = _option(
        0.4, "prioritized replay: importance-sampling exponent at the start of the run"
    )
    per_beta_final: float = _option(
        1.0, "prioritized replay: importance-sampling exponent at the end, reached linearly"
    )
    per_eps: float = _option(
        1e-6, "prioritized replay: added to each absolute TD error so no priority is 0"
    )

    # Learning-rate schedule and early stopping of our DQN (see agents/schedules.py).
    lr_schedule: str = _option(
        "constant",
        "learning rate: constant, linear or cosine decay over total_timesteps, or plateau "
        "(reduced when the evaluation score stops improving)",
        choices=LR_SCHEDULES,
    )
    lr_warmup_steps: int = _option(
        0,
        "warm-up: the learning rate rises linearly from 0 over the first this many steps of the "
        "run, then the schedule applies (steps; 0: off)",
    )
    lr_final_fraction: float = _option(
        0.1, "linear and cosine: the final learning rate as a fraction of learning_rate"
    )
    lr_plateau_factor: float = _option(
        0.5, "plateau: multiply the learning rate by this at each reduction"
    )
    lr_plateau_patience: int = _option(
        3, "plateau: evaluations in a row without a better score before a reduction (evaluations)"
    )
    lr_min: float = _option(0.0, "plateau: lowest learning rate a reduction can reach")
    stop_at_target: bool = _option(
        False,
        "stop at the first evaluation that reaches the target: tic-tac-toe never loses in the "
        "exhaustive check (3 x 3 only); snake a greedy mean of target_score apples",
    )
    target_score: float = _option(
        0.0, "greedy mean score that --stop-at-target stops at (apples; 0: no target)", env="snake"
    )
    early_stop_patience: int = _option(
        0,
        "stop when the evaluation score has not improved for this many evaluations "
        "(evaluations; 0: off)",
    )

    # Stable-Baselines3 baselines (--algo sb3-*).
    baseline_hyperparameters: str = _option(
        "ours",
        "ours: the shared keys above drive SB3 too; sb3: SB3's own defaults for its algorithm",
        choices=("ours", "sb3"),
    )
    n_steps: int = _option(0, "PPO/A2C rollout steps per environment (steps; 0: SB3's default)")
    n_epochs: int = _option(10, "PPO epochs over each rollout")
    ent_coef: float = _option(0.0, "PPO/A2C entropy bonus coefficient")
    gae_lambda: float = _option(0.95, "PPO/A2C generalised advantage estimation lambda")
    clip_range: float = _option(0.2, "PPO clipping range")
    vf_coef: float = _option(0.5, "PPO/A2C value loss coefficient")
    selfplay_update_interval: int = _option(
        10_000,
        "SB3 self-play: steps between frozen copies of the learner added to the opponent pool",
        env="tictactoe",
    )
    selfplay_pool_size: int = _option(
        5, "SB3 self-play: frozen copies kept as opponents", env="tictactoe"
    )
    selfplay_opponent_eps: float = _option(
        0.1, "SB3 self-play: chance that the opponent plays a random legal move", env="tictactoe"
    )

    # Tic-tac-toe.
    board_size: int = _option(3, "tic-tac-toe board side (cells)", env="tictactoe")
    win_length: int = _option(3, "marks in a row that win", env="tictactoe")
    symmetry_augmentation: bool = _option(
        True, "store the 8 rotations and reflections of every transition", env="tictactoe"
    )

    # Snake.
    grid_size: int = _option(10, "snake board side (cells)", env="snake")
    observation: str = _option(
        "features", "snake observation", choices=("features", "grid"), env="snake"
    )
    action_mode: str = _option(
        "relative", "snake actions", choices=("relative", "absolute"), env="snake"
    )
    no_progress_factor: int = _option(
        100, "truncate after this many steps per unit of length without an apple", env="snake"
    )
    no_progress_limit: int = _option(
        0,
        "steps without an apple that end the episode, at any length (steps; 0: "
        "no_progress_factor times the length)",
        env="snake",
    )
    starvation: bool = _option(
        False,
        "the no-progress end is a death with starvation_reward, not a truncation",
        env="snake",
    )
    starvation_reward: float = _option(
        -1.0, "reward for starving at the no-progress limit, with starvation", env="snake"
    )
    hunger_feature: bool = _option(
        False,
        "add steps since the last apple over the limit to the feature observation",
        env="snake",
    )
    path_features: bool = _option(
        False,
        "add each move's shortest-path distance to the food to the feature observation",
        env="snake",
    )
    apple_reward: float = _option(1.0, "reward per apple", env="snake")
    death_reward: float = _option(-1.0, "reward on death", env="snake")
    step_reward: float = _option(0.0, "reward on every other step", env="snake")
    distance_shaping: float = _option(
        0.0, "weight of the food-distance shaping term (0: off)", env="snake"
    )


# Defaults per game, chosen from measured runs (see README.md for the results).
GAME_DEFAULTS: dict[str, dict[str, Any]] = {
    "tictactoe": {
        "total_timesteps": 150_000,
        "eval_every": 5_000,
        "eval_episodes": 100,
        "final_eval_episodes": 500,
        "buffer_size": 100_000,
        "learning_starts": 2_000,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "gamma": 0.99,
        "train_freq": 4,
        "target_update_interval": 250,
        "exploration_fraction": 0.5,
        "exploration_final_eps": 0.1,
        "hidden_sizes": (128, 128),
        "num_envs": 16,
    },
    "snake": {
        "total_timesteps": 600_000,
        "eval_every": 25_000,
        "eval_episodes": 20,
        "final_eval_episodes": 100,
        "buffer_size": 200_000,
        "learning_starts": 5_000,
        "batch_size": 128,
        "learning_rate": 5e-4,
        "gamma": 0.99,
        "train_freq": 8,
        "target_update_interval": 1_000,
        "exploration_fraction": 0.1,
        # Greedy after the exploration phase: random moves would break the circling that
        # greedy evaluation shows, so training would never meet starvation and learn its cost.
        "exploration_final_eps": 0.0,
        "hidden_sizes": (256, 256),
        "num_envs": 8,
        # Starving after 200 steps without an apple ends the game, worse than a collision,
        # and the hunger feature shows it coming. With a free time limit the default model
        # circled in 69% of its games; with starvation scored like a collision, in 10-35%.
        "no_progress_limit": 200,
        "starvation": True,
        "starvation_reward": -5.0,
        "hunger_feature": True,
        "path_features": True,
        # The starvation penalty is 200 steps away from the start of a loop. One-step
        # targets carried it back about one step per target-network refresh, too slowly:
        # 35-63% of final games still circled until the limit. 10-step returns carry it
        # back ten steps at a time.
        "n_step": 10,
    },
}

CLI_ONLY_KEYS = ("config", "resume")


def parse_assignments(env_name: str, items: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (dashes allowed in keys) into typed option values.

    Raises:
        ConfigError: If an item has no ``=``, names no option of the game, or has a value
            of the wrong type.
    """
    fields_by_name = {f.name: f for f in fields_for_env(env_name)}
    values: dict[str, Any] = {}
    for item in items:
        key, separator, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not separator:
            raise ConfigError(f"expected KEY=VALUE, got {item!r}")
        if key not in fields_by_name:
            raise ConfigError(f"unknown {env_name} option {key!r} in {item!r}")
        values[key] = coerce_value(fields_by_name[key], value.strip())
    return values


def config_fields() -> list[dataclasses.Field]:
    """Return the fields of :class:`TrainConfig` in declaration order."""
    return list(dataclasses.fields(TrainConfig))


def fields_for_env(env_name: str) -> list[dataclasses.Field]:
    """Return the fields that apply to ``env_name``: the shared ones and its own."""
    return [f for f in config_fields() if f.metadata.get("env") in (None, env_name)]


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _parse_int(value: Any) -> int:
    """Parse an integer, accepting integral floats such as 1e5 and underscores as in 100_000."""
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    number = value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"expected an integer, got {value!r}") from None
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return int(number)
    raise ValueError(f"expected an integer, got {value!r}")


def _parse_int_tuple(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in str(text).strip().strip(",").split(",")]
    if not any(parts) or not all(parts):
        # An empty piece ("64,,64") is a typo, not a layer fewer.
        raise ValueError(f"expected comma-separated integers, got {text!r}")
    return tuple(int(part) for part in parts)


def coerce_value(config_field: dataclasses.Field, value: Any) -> Any:
    """Convert a command-line string or config-file value to the field's type.

    Raises:
        ConfigError: If the value has the wrong type or is not one of the choices.
    """
    name = config_field.name
    kind = config_field.type
    try:
        if kind in ("bool", bool):
            result = value if isinstance(value, bool) else _parse_bool(str(value))
        elif kind in ("int", int):
            result = _parse_int(value)
        elif kind in ("float", float):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError(f"expected a number, got {value!r}")
            result = float(value)
        elif kind in ("str", str):
            if not isinstance(value, str):
                raise ValueError(f"expected a string, got {value!r}")
            result = value
        else:
            if isinstance(value, dict) or value is None:
                raise ValueError(f"expected a list of integers, got {value!r}")
            if isinstance(value, (list, tuple)):
                if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
                    raise ValueError(f"expected a list of integers, got {value!r}")
                result = tuple(value)
            else:
                result = _parse_int_tuple(str(value))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid value for {name}: {error}") from None
    choices = config_field.metadata.get("choices")
    if choices is not None and result not in choices:
        raise ConfigError(
            f"invalid value for {name}: expected one of {list(choices)}, got {result!r}"
        )
    return result


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, rejecting a key written twice instead of keeping the last value."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise yaml.constructor.ConstructorError(
                    None, None, f"expected an option name as key, got a {kind}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config_file(path: str | os.PathLike, env_name: str) -> dict[str, Any]:
    """Read a YAML or JSON file whose keys are ``train.py`` options.

    Keys may be written with dashes or underscores. Keys that belong to another game are
    rejected, and so are unknown keys.

    Raises:
        ConfigError: If the file is missing, malformed, or contains an unknown key or an invalid value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass.
    except yaml.YAMLError as error:
        raise ConfigError(describe_yaml_error(error, path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option: value")
    fields_by_name = {f.name: f for f in fields_for_env(env_name)}
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key == "env":
            if value != env_name:
                raise ConfigError(f"config file {path} is for env {value!r}, not {env_name!r}")
            continue
        if key not in fields_by_name:
            owner = next((f.metadata.get("env") for f in config_fields() if f.name == key), None)
            if owner is not None:
                raise ConfigError(
                    f"key {raw_key!r} ({in_file(path, text, raw_key)}) is a {owner} option, "
                    f"not a {env_name} one"
                )
            raise ConfigError(f"unknown key {raw_key!r} ({in_file(path, text, raw_key)})")
        try:
            values[key] = coerce_value(fields_by_name[key], value)
        except ConfigError as error:
            raise ConfigError(f"{error} ({in_file(path, text, raw_key)})") from None
    return values


def add_config_arguments(parser: argparse.ArgumentParser, env_name: str) -> None:
    """Add one ``--option`` per configuration field, with the game's default in the help."""
    defaults = resolve_config(env_name, {})
    for config_field in fields_for_env(env_name):
        flag = "--" + config_field.name.replace("_", "-")
        default = getattr(defaults, config_field.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f"{config_field.metadata['help']} (default: {shown})"
        if config_field.type in ("bool", bool):
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        metavar = config_field.name.upper()
        choices = config_field.metadata.get("choices")
        if choices is not None:
            metavar = "{" + ",".join(choices) + "}"
        parser.add_argument(
            flag,
            type=_argparse_type(config_field),
            default=argparse.SUPPRESS,
            metavar=metavar,
            help=help_text,
        )


def _argparse_type(config_field: dataclasses.Field):
    def convert(text: str) -> Any:
        try:
            return coerce_value(config_field, text)
        except ConfigError as error:
            # argparse reports ArgumentTypeError text as "argument --x: <message>".
            raise argparse.ArgumentTypeError(str(error).split(": ", 1)[-1]) from None

    convert.__name__ = config_field.name
    return convert


def resolve_config(
    env_name: str, overrides: dict[str, Any], explicit: Collection[str] = ()
) -> TrainConfig:
    """Build the configuration from the game's defaults and ``overrides``, then validate it.

    Args:
        env_name: ``"tictactoe"`` or ``"snake"``.
        overrides: Option values that replace the game's defaults.
        explicit: Names of the options that the user set (see
            :mod:`agents.ignored_options`). Each must have an effect in the configuration.

    Raises:
        ConfigError: If ``env_name`` is unknown, a value is out of its range, or an option in
            ``explicit`` has no effect.
    """
    if env_name not in ENV_NAMES:
        raise ConfigError(f"unknown env {env_name!r}: expected one of {list(ENV_NAMES)}")
    values = {**GAME_DEFAULTS[env_name], **overrides}
    config = TrainConfig(**values)
    validate_config(config, env_name)
    check_ignored_options(config, env_name, explicit)
    return config


def validate_config(config: TrainConfig, env_name: str) -> None:
    """Check ranges that types alone do not catch.

    Raises:
        ConfigError: Naming the first invalid option and its value.
    """
    positive = (
        "n_epochs",
        "total_timesteps",
        "eval_every",
        "eval_episodes",
        "final_eval_episodes",
        "log_interval",
        "torch_threads",
        "num_envs",
        "buffer_size",
        "batch_size",
        "train_freq",
        "gradient_steps",
        "target_update_interval",
    )
    for name in positive:
        value = getattr(config, name)
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    non_negative = ("save_every_steps", "save_every_minutes", "learning_starts", "weight_decay")
    for name in non_negative:
        value = getattr(config, name)
        if value < 0 or (isinstance(value, float) and math.isnan(value)):
            raise ConfigError(f"{name} must be zero or positive, got {value}")
    in_unit_interval = (
        "gamma",
        "exploration_fraction",
        "exploration_initial_eps",
        "exploration_final_eps",
    )
    for name in in_unit_interval:
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be between 0 and 1, got {value}")
    if not 0.0 < config.tau <= 1.0:
        raise ConfigError(f"tau must be in (0, 1], got {config.tau}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {config.dropout}")
    for config_field in config_fields():
        value = getattr(config, config_field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{config_field.name} must be a finite number, got {value}")
    if not 0 <= config.seed < 2**32:
        raise ConfigError(f"seed must be between 0 and 2**32 - 1, got {config.seed}")
    limits = {"num_envs": 1024, "batch_size": 65_536, "total_timesteps": 10**12}
    for name, limit in limits.items():
        if getattr(config, name) > limit:
            raise ConfigError(f"{name} must be at most {limit:,}, got {getattr(config, name):,}")
    if any(size > 65_536 for size in config.hidden_sizes):
        raise ConfigError(
            f"hidden layers have at most 65,536 units, got {list(config.hidden_sizes)}"
        )
    if not 1 <= config.n_step <= 100:
        raise ConfigError(f"n_step must be between 1 and 100, got {config.n_step}")
    # One step can close up to n_step transitions per environment when an episode ends with
    # n-step returns. In tic-tac-toe self-play that happens for both players of a board, and
    # each transition is stored with its 7 symmetric copies.
    copies = 16 if env_name == "tictactoe" else 1
    per_step = config.num_envs * copies * config.n_step
    if config.buffer_size < max(config.batch_size, per_step):
        factor = "16 x num_envs" if copies == 16 else "num_envs"
        raise ConfigError(
            f"buffer_size must be at least batch_size ({config.batch_size}) and {factor} "
            f"x n_step ({per_step}), got {config.buffer_size}"
        )
    for name in ("per_alpha", "per_beta", "per_beta_final"):
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be between 0 and 1, got {value}")
    if not config.per_eps > 0:
        raise ConfigError(f"per_eps must be positive, got {config.per_eps}")
    if not config.learning_rate > 0 or not math.isfinite(config.learning_rate):
        raise ConfigError(f"learning_rate must be positive, got {config.learning_rate}")
    if any(size <= 0 for size in config.hidden_sizes):
        raise ConfigError(f"hidden_sizes must be positive, got {list(config.hidden_sizes)}")
    if config.n_steps < 0:
        raise ConfigError(f"n_steps must be zero or positive, got {config.n_steps}")
    if env_name == "tictactoe":
        if config.selfplay_update_interval <= 0:
            raise ConfigError(
                f"selfplay_update_interval must be positive, got {config.selfplay_update_interval}"
            )
        if config.selfplay_pool_size <= 0:
            raise ConfigError(
                f"selfplay_pool_size must be positive, got {config.selfplay_pool_size}"
            )
        if not 0.0 <= config.selfplay_opponent_eps <= 1.0:
            raise ConfigError(
                f"selfplay_opponent_eps must be between 0 and 1, got {config.selfplay_opponent_eps}"
            )
        if not 3 <= config.board_size <= 10:
            raise ConfigError(f"board_size must be between 3 and 10, got {config.board_size}")
        if not 3 <= config.win_length <= config.board_size:
            raise ConfigError(
                f"win_length must be between 3 and board_size {config.board_size}, "
                f"got {config.win_length}"
            )
        if config.network == "cnn":
            raise ConfigError("network 'cnn' is for the snake grid observation; use 'mlp'")
    if env_name == "snake":
        if not 4 <= config.grid_size <= 100:
            raise ConfigError(f"grid_size must be between 4 and 100, got {config.grid_size}")
        if config.no_progress_factor <= 0:
            raise ConfigError(
                f"no_progress_factor must be positive, got {config.no_progress_factor}"
            )
        if config.no_progress_limit < 0:
            raise ConfigError(
                f"no_progress_limit must be 0 or positive, got {config.no_progress_limit}"
            )
        if config.network == "cnn" and config.observation != "grid":
            raise ConfigError("network 'cnn' needs observation 'grid'")
    if config.device not in ("cpu", "auto") and not config.device.startswith("cuda"):
        raise ConfigError(f"device must be cpu, auto, cuda or cuda:N, got {config.device!r}")
    validate_schedule_options(config, env_name)


def config_to_dict(config: TrainConfig, env_name: str) -> dict[str, Any]:
    """Return the options that apply to ``env_name`` as plain types, tuples as lists."""
    result: dict[str, Any] = {"env": env_name}
    for config_field in fields_for_env(env_name):
        value = getattr(config, config_field.name)
        result[config_field.name] = list(value) if isinstance(value, tuple) else value
    return result


def env_kwargs(config: TrainConfig, env_name: str) -> dict[str, Any]:
    """Return the environment constructor arguments that the configuration sets."""
    if env_name == "tictactoe":
        return {"board_size": config.board_size, "win_length": config.win_length}
    return {
        "grid_size": config.grid_size,
        "observation": config.observation,
        "action_mode": config.action_mode,
        "no_progress_factor": config.no_progress_factor,
        "no_progress_limit": config.no_progress_limit or None,
        "starvation": config.starvation,
        "starvation_reward": config.starvation_reward,
        # The grid observation has no hunger entry. An explicit hunger_feature is rejected
        # with it (see agents.ignored_options), so only the game's default is dropped here.
        "hunger_feature": config.hunger_feature and config.observation == "features",
        "path_features": config.path_features and config.observation == "features",
        "apple_reward": config.apple_reward,
        "death_reward": config.death_reward,
        "step_reward": config.step_reward,
        "distance_shaping": config.distance_shaping,
    }


def write_config(config: TrainConfig, env_name: str, path: str | os.PathLike) -> None:
    """Write the resolved configuration as YAML that ``--config`` reads back."""
    text = yaml.safe_dump(config_to_dict(config, env_name), sort_keys=False)
    Path(path).write_text(text, encoding="utf-8")
