"""DQN variants for ``train.py compare``: our DQN with option overrides or a config file.

A variant is written ``NAME:KEY=VALUE[,KEY=VALUE...]``, for example
``rmsprop:optimizer=rmsprop``, ``deep:hidden_sizes=64,64,64`` or
``tuned:config=configs/tictactoe-tuned.yaml,gamma=0.95``. Keys are ``train.py`` options,
with dashes or underscores. A comma-separated piece without ``=`` continues the previous
value, so a list value such as ``hidden_sizes=64,64,64`` can sit among other overrides.
``config=FILE`` starts from a config file. Each variant trains with ``--algo dqn`` over
the comparison's seeds, budget and evaluation protocol, in ``OUT/runs/NAME-seedS``.

Precedence in a variant's run, later winning: the game's defaults, the variant's config
file, the options after ``--`` of the comparison, the comparison's budget, seed and
evaluation protocol, then the variant's own ``KEY=VALUE`` overrides.

Each run folder records the options it was started with. A rerun with a variant redefined
under the same name (or other options after ``--``) stops with exit code 2, so old and new
runs are never mixed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from agents.compare import Candidate, compare_at_equal_steps, run_directory
from agents.config import (
    ALGOS,
    ConfigError,
    TrainConfig,
    coerce_value,
    fields_for_env,
    load_config_file,
    resolve_config,
)
from agents.ignored_options import options_set_in_file

VARIANT_SYNTAX = "NAME:KEY=VALUE[,KEY=VALUE...]"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Options the comparison sets for every run, so that all runs share one protocol.
PROTOCOL_KEYS = ("eval_every", "eval_episodes", "final_eval_episodes")
_GAME_KEYS = ("board_size", "win_length", "grid_size")
_RESERVED_KEYS = {
    "algo": "variants are runs of our DQN; compare other algorithms with --algos",
    "seed": "the comparison sets it from --seeds",
    "total_timesteps": "the comparison sets it from --total-timesteps",
    "run_dir": "the comparison sets it to OUT/runs/NAME-seedS",
    **{key: "all runs share one evaluation protocol; set it after --" for key in PROTOCOL_KEYS},
    **{key: "all runs play the same game; set it after --" for key in _GAME_KEYS},
}


@dataclasses.dataclass
class VariantSpec:
    """A parsed variant: its name, its overrides by option name, and its config file."""

    name: str
    overrides: dict[str, Any]
    config_file: Path | None
    text: str


def parse_variant(text: str, env_name: str) -> VariantSpec:
    """Parse ``NAME:KEY=VALUE[,KEY=VALUE...]`` and check each key and value.

    Raises:
        ConfigError: Naming the variant and what is wrong with it.
    """
    name, separator, body = text.partition(":")
    if not separator or not body.strip():
        raise ConfigError(f"invalid variant {text!r}: expected {VARIANT_SYNTAX}")
    if not _NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"invalid variant name {name!r}: use letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if name in ALGOS:
        raise ConfigError(f"invalid variant name {name!r}: it is an algorithm name; choose another")
    fields_by_name = {f.name: f for f in fields_for_env(env_name)}
    overrides: dict[str, Any] = {}
    config_file = None
    for key, value in _split_assignments(text, body):
        if key == "config":
            config_file = Path(value).expanduser().resolve()
            continue
        if key not in fields_by_name:
            raise ConfigError(f"variant {name!r}: unknown {env_name} option {key!r}")
        if key in _RESERVED_KEYS:
            raise ConfigError(f"variant {name!r} cannot set {key}: {_RESERVED_KEYS[key]}")
        if key in overrides:
            raise ConfigError(f"variant {name!r} sets {key} twice")
        try:
            overrides[key] = coerce_value(fields_by_name[key], value)
        except ConfigError as error:
            raise ConfigError(f"variant {name!r}: {error}") from None
    return VariantSpec(name, overrides, config_file, text)


def _split_assignments(text: str, body: str) -> list[tuple[str, str]]:
    assignments: list[tuple[str, str]] = []
    for piece in body.split(","):
        key, equals, value = piece.partition("=")
        if equals:
            assignments.append((key.strip().replace("-", "_"), value.strip()))
        elif assignments:
            # A piece without "=" continues a list value such as hidden_sizes=64,64,64.
            last_key, last_value = assignments[-1]
            assignments[-1] = (last_key, f"{last_value},{piece.strip()}")
        else:
            raise ConfigError(f"invalid variant {text!r}: expected {VARIANT_SYNTAX}")
    return assignments


def resolve_variant(
    spec: VariantSpec, env_name: str, shared: dict[str, Any], total_timesteps: int
) -> tuple[TrainConfig, list[str]]:
    """Resolve a variant's configuration as its runs will, and build their extra options.

    Args:
        spec: The parsed variant.
        env_name: The game of the comparison.
        shared: The options after ``--`` that go to every run, by option name.
        total_timesteps: The comparison's budget.

    Returns:
        The configuration of the variant's runs (seed aside), and the ``train.py`` options
        that give it to them.

    Raises:
        ConfigError: Naming the variant, if its config file or a resolved value is invalid.
    """
    base = resolve_config(env_name, {**shared, "total_timesteps": total_timesteps})
    file_values: dict[str, Any] = {}
    options: list[str] = []
    if spec.config_file is not None:
        try:
            file_values = load_config_file(spec.config_file, env_name)
        except ConfigError as error:
            raise ConfigError(f"variant {spec.name!r}: {error}") from None
        protocol = {key: getattr(base, key) for key in PROTOCOL_KEYS}
        options += ["--config", str(spec.config_file), *_as_options(protocol)]
    else:
        protocol = {}
    values = {
        **file_values,
        **shared,
        **protocol,
        **spec.overrides,
        "algo": "dqn",
        "total_timesteps": total_timesteps,
    }
    # The runs get these as options, so each must have an effect, as in train.py.
    set_by_user = options_set_in_file(file_values, env_name) | {*shared, *protocol}
    set_by_user |= set(spec.overrides)
    try:
        config = resolve_config(env_name, values, set_by_user)
    except ConfigError as error:
        raise ConfigError(f"variant {spec.name!r}: {error}") from None
    for key in _GAME_KEYS:
        if getattr(config, key) != getattr(base, key):
            raise ConfigError(
                f"variant {spec.name!r}: its config file sets {key} {getattr(config, key)}, "
                f"but the comparison plays {key} {getattr(base, key)}"
            )
    options += _as_options(spec.overrides)
    return config, options


def _as_options(values: dict[str, Any]) -> list[str]:
    """Write option values as ``train.py`` command-line arguments."""
    options: list[str] = []
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            options.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            options += [flag, ",".join(map(str, value))]
        else:
            options += [flag, str(value)]
    return options


def parse_variants(
    texts: list[str], env_name: str, shared: dict[str, Any], total_timesteps: int
) -> list[Candidate]:
    """Parse and resolve every ``--variants`` entry into a comparison candidate.

    Raises:
        ConfigError: For the first invalid variant, or a name used twice.
    """
    candidates: list[Candidate] = []
    for text in texts:
        spec = parse_variant(text, env_name)
        if any(candidate.name == spec.name for candidate in candidates):
            raise ConfigError(f"variant name {spec.name!r} is used twice")
        _, options = resolve_variant(spec, env_name, shared, total_timesteps)
        description = text.partition(":")[2]
        candidates.append(Candidate(spec.name, "dqn", tuple(options), description))
    return candidates


def variant_notes(
    env_name: str, rows: list[dict[str, Any]], candidates: list[Candidate]
) -> list[str]:
    """Describe each DQN variant and, when plain dqn ran too, how it fared against it."""
    variants = [candidate for candidate in candidates if candidate.is_variant]
    if not variants:
        return []
    described = "; ".join(f"{variant.name}: `{variant.description}`" for variant in variants)
    summary = (
        f"DQN variants are our DQN (--algo dqn) with these changes: {described}. They share "
        "the comparison's budget, seeds and evaluation protocol. Their KEY=VALUE changes "
        "override the options after --, which override a variant's config file."
    )
    notes = [summary]
    if any(candidate.name == "dqn" for candidate in candidates):
        for variant in variants:
            head_to_head = compare_at_equal_steps(env_name, rows, variant.name, "dqn")
            if head_to_head:
                notes.append(head_to_head)
    return notes


def early_stop_notes(
    out_dir: Path, candidates: list[Candidate], seeds: list[int], total_timesteps: int
) -> list[str]:
    """List the runs that stopped before the budget, with the reason each recorded."""
    notes = []
    for candidate in candidates:
        for seed in seeds:
            path = run_directory(out_dir, candidate.name, seed) / "results.json"
            if not path.exists():
                continue
            results = json.loads(path.read_text())
            if int(results["total_timesteps"]) < total_timesteps and "stop_reason" in results:
                notes.append(
                    f"{candidate.name} seed {seed} stopped early after "
                    f"{int(results['total_timesteps']):,} steps: {results['stop_reason']}. "
                    "Later evaluation marks average over fewer seeds."
                )
    return notes
