"""Pieces of a training run around the loop: environments, schedules, logging and progress."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

import envs as registered_envs
from agents.checkpoint import atomic_write
from agents.config import TrainConfig
from agents.networks import NetworkSpec
from envs.snake_env import SnakeEnv
from envs.tictactoe_env import TicTacToeEnv

logger = logging.getLogger(__name__)

ENV_IDS = {"tictactoe": registered_envs.TICTACTOE_ID, "snake": registered_envs.SNAKE_ID}


class TrainingError(RuntimeError):
    """Training cannot continue (a non-finite loss, for example); the message names the step."""


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

    TensorBoard hides every event at or after a writer's ``purge_step``. A run resumed at
    step N therefore purges from N + 1, so the events logged at N itself stay visible,
    including the evaluation at the checkpoint's step.

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
    purge_step = global_step + 1 if global_step else None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


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


def evaluate_policy(
    env_name: str, config: TrainConfig, policy: Any, num_episodes: int
) -> dict[str, float]:
    """Run the game's evaluation protocol on a greedy policy.

    Snake episodes start from the fixed seeds 10,000 and up, so every run and every
    algorithm is evaluated on the same starting positions.
    """
    from agents.evaluation import evaluate_snake, evaluate_tictactoe
    from agents.config import env_kwargs

    if env_name == "tictactoe":
        return evaluate_tictactoe(
            policy,
            board_size=config.board_size,
            win_length=config.win_length,
            num_games=num_episodes,
            seed=config.seed + 7,
        )
    return evaluate_snake(
        policy, env_kwargs(config, env_name), num_episodes=num_episodes, seed=10_000
    )


def append_evaluation_row(
    run_dir: Path,
    global_step: int,
    num_episodes: int,
    wall_seconds: float,
    eval_seconds: float,
    metrics: dict[str, float],
) -> None:
    """Append one evaluation to ``evaluations.csv``, writing the header for a new file.

    ``train_seconds`` is the wall-clock time minus the time spent evaluating.
    """
    path = Path(run_dir) / "evaluations.csv"
    row = {
        "global_step": global_step,
        "episodes": num_episodes,
        "wall_seconds": round(wall_seconds, 2),
        "train_seconds": round(wall_seconds - eval_seconds, 2),
        **metrics,
    }
    new_file = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        if new_file:
            writer.writeheader()
        writer.writerow(row)


def recorded_evaluation(run_dir: Path, global_step: int) -> dict[str, float] | None:
    """Return the metrics of the ``evaluations.csv`` row at ``global_step``, or None."""
    path = Path(run_dir) / "evaluations.csv"
    if not path.exists():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if float(row["global_step"]) == global_step]
    if not rows:
        return None
    bookkeeping = {"global_step", "episodes", "wall_seconds", "train_seconds"}
    return {
        name: float(value)
        for name, value in rows[-1].items()
        if name not in bookkeeping and value not in ("", None)
    }


class StopSignals:
    """Turns SIGINT and SIGTERM into a stop request that the training loop polls.

    The loop finishes its step, saves a checkpoint and exits cleanly. A second SIGINT
    raises KeyboardInterrupt at once, for a loop that does not respond.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> StopSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:
                # Handlers can only be set from the main thread; elsewhere signals keep
                # their default behaviour.
                pass
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def clean_after_crash(run_dir: Path, global_step: int) -> None:
    """Prepare a run folder for resuming at ``global_step`` after a crash or a kill.

    Removes temporary files of saves that never finished, and evaluation rows written
    after the checkpoint, which the resumed run writes again.
    """
    run_dir = Path(run_dir)
    for leftover in list(run_dir.glob(".*.tmp")) + list(run_dir.glob("checkpoints/.*.tmp")):
        logger.warning("removing %s, left by a save that did not finish", leftover)
        leftover.unlink(missing_ok=True)
    path = run_dir / "evaluations.csv"
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fieldnames = reader.fieldnames or []
        rows = list(reader)
    kept = [row for row in rows if float(row["global_step"]) <= global_step]
    if len(kept) == len(rows):
        return
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(kept)
    data = text.getvalue().encode("utf-8")
    atomic_write(path, lambda handle: handle.write(data))


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Raise KeyboardInterrupt on SIGINT or SIGTERM inside the block.

    For the last phase of a run (the final evaluation), which does not poll for a stop
    request: everything is saved by then, so it can stop at once.
    """

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, interrupt)
        except ValueError:
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def write_results(
    run_dir: Path, env_name: str, fields: dict[str, Any], metrics: dict[str, float]
) -> None:
    """Write ``results.json`` (the final evaluation of the best model) and print its headline."""
    results = {"env": env_name, **fields, "metrics": metrics}
    (Path(run_dir) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Best model (step {fields['best_model_step']}): {describe_metrics(env_name, metrics)}")
