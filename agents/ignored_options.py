"""Reject options that the user set but that have no effect with the rest of the configuration.

An option counts as set when it comes from the command line, or from a config file with a
value other than the game's default. Values from the defaults, or from the saved
configuration of a resumed run, never count. A run's own ``config.yaml`` lists every option,
including those that only took their default, so it loads again with ``--config``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.config import TrainConfig


@dataclass(frozen=True)
class _Dependency:
    """Options that only act when ``applies`` holds, and the fix to suggest otherwise.

    ``fix`` is a format string with the option's ``{name}``.
    """

    options: tuple[str, ...]
    applies: Callable[[TrainConfig], bool]
    reason: Callable[[TrainConfig], str]
    fix: str


_DEPENDENCIES = (
    _Dependency(
        options=("n_step",),
        # Both DQNs sum n-step returns; PPO and A2C have their own advantage estimates.
        applies=lambda config: config.algo in ("dqn", "sb3-dqn") or config.n_step == 1,
        reason=lambda config: f"applies to --algo dqn and sb3-dqn only, not {config.algo}",
        fix="remove {name}",
    ),
    _Dependency(
        options=("starvation_reward",),
        applies=lambda config: config.starvation,
        reason=lambda config: "has no effect without starvation",
        fix="add --starvation or remove {name}",
    ),
    _Dependency(
        options=("per_alpha", "per_beta", "per_beta_final", "per_eps"),
        applies=lambda config: config.prioritized_replay,
        reason=lambda config: "has no effect without prioritized_replay",
        fix="add --prioritized-replay or remove {name}",
    ),
    _Dependency(
        options=("lr_plateau_factor", "lr_plateau_patience", "lr_min"),
        applies=lambda config: config.lr_schedule == "plateau",
        reason=lambda config: f"applies only to lr_schedule 'plateau', not {config.lr_schedule!r}",
        fix="use --lr-schedule plateau or remove {name}",
    ),
    _Dependency(
        options=("lr_final_fraction",),
        applies=lambda config: config.lr_schedule in ("linear", "cosine"),
        reason=lambda config: (
            f"applies only to lr_schedule 'linear' or 'cosine', not {config.lr_schedule!r}"
        ),
        fix="use --lr-schedule linear or cosine, or remove {name}",
    ),
    _Dependency(
        options=("hunger_feature",),
        # Switching the entry off always matches the grid observation, which has none.
        applies=lambda config: config.observation == "features" or not config.hunger_feature,
        reason=lambda config: "has no effect with observation 'grid', which has no hunger entry",
        fix="use --observation features or remove {name}",
    ),
    _Dependency(
        options=("path_features",),
        applies=lambda config: config.observation == "features" or not config.path_features,
        reason=lambda config: "has no effect with observation 'grid', which has no path entries",
        fix="use --observation features or remove {name}",
    ),
)


def check_ignored_options(config: TrainConfig, env_name: str, explicit: Collection[str]) -> None:
    """Reject the first option in ``explicit`` that has no effect in ``config``.

    Args:
        config: The resolved configuration.
        env_name: ``"tictactoe"`` or ``"snake"``. Options of the other game are not checked.
        explicit: Names of the options that the user set (see the module docstring).

    Raises:
        ConfigError: Naming the option, why it has no effect and what to change.
    """
    from agents.config import ConfigError, fields_for_env

    own_options = {config_field.name for config_field in fields_for_env(env_name)}
    for dependency in _DEPENDENCIES:
        if dependency.applies(config):
            continue
        for name in dependency.options:
            if name in explicit and name in own_options:
                raise ConfigError(
                    f"{name} {dependency.reason(config)}; " + dependency.fix.format(name=name)
                )


def options_set_in_file(values: dict[str, Any], env_name: str) -> set[str]:
    """Return the keys of config-file ``values`` whose value differs from the game's default."""
    from agents.config import resolve_config

    defaults = resolve_config(env_name, {})
    return {name for name, value in values.items() if getattr(defaults, name, None) != value}
