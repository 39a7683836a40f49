"""Helpers shared by the play.py front ends: loading models and choosing environment settings."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from agents.checkpoint import CheckpointError, load_model_file
from agents.policies import load_policy


class UsageError(Exception):
    """Options that do not fit together; play.py reports it with exit code 2."""


def load_model(path: str, env_name: str, env_kwargs: dict[str, Any]) -> Any:
    """Load ``path`` as a greedy policy that fits the environment built from ``env_kwargs``.

    Our ``.pt`` model files are read without unpickling. Stable-Baselines3 zip files are
    checked against the environment first, then loaded by Stable-Baselines3, which
    unpickles parts of them, so a warning tells the user to load them only from trusted sources.

    Raises:
        CheckpointError: If the file is unreadable or made for another game or board.
    """
    from agents.baselines import TRUST_WARNING, is_sb3_model_file, load_sb3_policy
    from agents.run_support import ENV_IDS, make_env

    if is_sb3_model_file(path):
        print(f"play.py: warning: {TRUST_WARNING} ({path})", file=sys.stderr)
        return load_sb3_policy(path, env_name, env_kwargs)

    try:
        env = make_env(env_name, env_kwargs)
    except (TypeError, ValueError, MemoryError) as error:
        raise CheckpointError(
            f"{path} stores environment settings {env_kwargs} that are invalid: {error}"
        ) from None
    try:
        return load_policy(
            path,
            env_id=ENV_IDS[env_name],
            observation_shape=tuple(env.observation_space.shape),
            num_actions=int(env.action_space.n),
        )
    finally:
        env.close()


def model_env_kwargs(path: str, env_name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Return the environment settings stored in the model file, overridden by options."""
    from agents.baselines import is_sb3_model_file, read_metadata
    from agents.run_support import ENV_IDS

    data = read_metadata(path) if is_sb3_model_file(path) else load_model_file(path)
    saved_env = data.get("env_id")
    if saved_env != ENV_IDS[env_name]:
        raise CheckpointError(
            f"{path} was trained on {saved_env}, expected a model for {ENV_IDS[env_name]}"
        )
    saved = dict(data.get("env_kwargs") or {})
    kwargs = apply_env_options(dict(saved), env_name, args)
    for key in ("grid_size", "board_size", "win_length"):
        if key in saved and kwargs[key] != saved[key]:
            raise CheckpointError(
                f"{path} was trained with {key} {saved[key]}, but {key} {kwargs[key]} was "
                f"requested; use a model trained for that {key}"
            )
    return kwargs


def apply_env_options(
    kwargs: dict[str, Any], env_name: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Apply the board-size options given on the command line to ``kwargs``."""
    if env_name == "snake" and args.grid_size is not None:
        kwargs["grid_size"] = args.grid_size
    if env_name == "tictactoe":
        if args.board_size is not None:
            kwargs["board_size"] = args.board_size
        if args.win_length is not None:
            kwargs["win_length"] = args.win_length
    return kwargs


def wait_frames(canvas: Any, seconds: float) -> bool:
    """Keep a window responding for ``seconds``; return False if it was closed meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        canvas.present()
        if canvas.closed:
            return False
    return True


def window_closed(canvas: Any) -> bool:
    """Return whether the window was closed, or Escape or Q pressed, since the last check."""
    import pygame

    if canvas is None or canvas.closed:
        return True
    for event in canvas.pump_events():
        if event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE, pygame.K_q):
            return True
    return canvas.closed
