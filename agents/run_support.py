"""Pieces of a training run around the loop: environments, schedules, logging and progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import envs as registered_envs
from agents.config import TrainConfig
from agents.networks import NetworkSpec
from envs.snake_env import SnakeEnv
from envs.tictactoe_env import TicTacToeEnv

ENV_IDS = {"tictactoe": registered_envs.TICTACTOE_ID, "snake": registered_envs.SNAKE_ID}


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, for example); the message says where."""


def make_env(env_name: str, kwargs: dict[str, Any], render_mode: str | None = None) -> gym.Env:
    """Build an unwrapped training environment (self-play mode for tic-tac-toe)."""
    if env_name == "tictactoe":
        return TicTacToeEnv(render_mode=render_mode, opponent=None, **kwargs)
    return SnakeEnv(render_mode=render_mode, **kwargs)


def network_spec_for(env: gym.Env, config: TrainConfig) -> NetworkSpec:
    """Describe the Q-network that fits ``env``'s spaces and the configuration."""
    grid_shape = None
    if config.network == "cnn":
        grid_shape = tuple(env.unwrapped.grid_shape)
    return NetworkSpec(
        kind=config.network,
        input_shape=tuple(env.observation_space.shape),
        num_actions=int(env.action_space.n),
        hidden_sizes=tuple(config.hidden_sizes),
        activation=config.activation,
        dropout=config.dropout,
        grid_shape=grid_shape,
        dueling=config.dueling,
    )


def linear_epsilon(config: TrainConfig, global_step: int) -> float:
    """Return epsilon at ``global_step``: linear from initial to final over the fraction."""
    span = config.exploration_fraction * config.total_timesteps
    if span <= 0:
        return config.exploration_final_eps
    progress = min(1.0, global_step / span)
    start, end = config.exploration_initial_eps, config.exploration_final_eps
    return start + progress * (end - start)


def resolve_device(name: str) -> torch.device:
    """Turn ``auto`` into cuda when available; reject a CUDA device that is missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} requested, but torch sees no CUDA device")
    return torch.device(name)


def random_state_as_lists(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def as_random_state(saved: list) -> tuple:
    version, internal, gauss = saved
    return (int(version), tuple(int(value) for value in internal), gauss)


def open_summary_writer(log_dir: Path, global_step: int) -> Any:
    """Open a TensorBoard writer, dropping events after ``global_step`` left by a crash.

    Raises:
        TrainingError: If the tensorboard package is missing.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise TrainingError(
            f"TensorBoard logging needs the tensorboard package ({error}); "
            "install it with: pip install tensorboard"
        ) from None
    return SummaryWriter(log_dir=str(log_dir), purge_step=global_step if global_step else None)


def make_progress_bar(config: TrainConfig, initial: int) -> Any:
    """Return a tqdm bar over environment steps, or a silent stand-in when disabled."""
    from tqdm import tqdm

    return tqdm(
        total=config.total_timesteps,
        initial=initial,
        unit="step",
        unit_scale=True,
        disable=not config.progress,
        dynamic_ncols=True,
        smoothing=0.05,
    )


def describe_metrics(env_name: str, metrics: dict[str, float]) -> str:
    """Format the headline evaluation figures on one line."""
    if env_name == "snake":
        return (
            f"mean {metrics['mean_score']:.1f} median {metrics['median_score']:.0f} "
            f"max {metrics['max_score']:.0f} apples"
        )
    if "losing_lines" in metrics:
        return (
            f"lost lines X {metrics['losing_lines_as_x']:.0f} O {metrics['losing_lines_as_o']:.0f}, "
            f"optimal moves {metrics['optimal_move_rate']:.1%}"
        )
    return (
        f"vs perfect as X: loss {metrics['vs_perfect_as_x_loss']:.0%}, "
        f"as O: loss {metrics['vs_perfect_as_o_loss']:.0%}"
    )
