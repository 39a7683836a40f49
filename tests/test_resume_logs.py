"""Resumed runs: every evaluation once in evaluations.csv and once in TensorBoard."""

import csv
import os
import signal

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.config import resolve_config
from agents.trainer import Trainer
from tests.conftest import TINY_TICTACTOE
from train import main as train_main


def csv_steps(run_dir):
    with (run_dir / "evaluations.csv").open(newline="") as handle:
        return [int(row["global_step"]) for row in csv.DictReader(handle)]


def tensorboard_steps(run_dir, tag):
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def options(total_timesteps):
    """Return the tiny tic-tac-toe options with another total_timesteps."""
    arguments = list(TINY_TICTACTOE)
    arguments[arguments.index("--total-timesteps") + 1] = str(total_timesteps)
    return arguments


def interrupt_at_step(step):
    """Return an evaluation callback that sends this process SIGINT at ``step``."""

    def callback(trainer, metrics):
        if trainer.global_step == step:
            os.kill(os.getpid(), signal.SIGINT)

    return callback


def resume(run_dir, total_timesteps):
    arguments = ["tictactoe", "--resume", str(run_dir), "--total-timesteps", str(total_timesteps)]
    assert train_main(arguments) == 0


def test_sigint_at_evaluation_then_resume(tmp_path):
    run_dir = tmp_path / "interrupted"
    overrides = {
        "total_timesteps": 3000,
        "learning_starts": 300,
        "eval_every": 1000,
        "eval_episodes": 5,
        "final_eval_episodes": 5,
        "save_every_steps": 1000,
        "buffer_size": 5000,
        "num_envs": 4,
        "progress": False,
        "log_interval": 500,
        "run_dir": str(run_dir),
    }
    config = resolve_config("tictactoe", overrides)
    trainer = Trainer("tictactoe", config, run_dir)
    trainer.evaluation_callbacks.append(interrupt_at_step(2000))
    result = trainer.run()
    assert result.interrupted
    assert result.global_step == 2000

    resume(run_dir, 3000)
    assert csv_steps(run_dir) == [1000, 2000, 3000]
    assert tensorboard_steps(run_dir, "eval/score") == [1000, 2000, 3000]
    assert tensorboard_steps(run_dir, "eval/optimal_move_rate") == [1000, 2000, 3000]


@pytest.mark.parametrize(
    ("resumed_total", "expected"),
    [(2500, [1000, 2000, 2500]), (4000, [1000, 2000, 2500, 3000, 4000])],
)
def test_finished_run_resumed(tmp_path, resumed_total, expected):
    # 2,500 steps is off the evaluation grid, so the run evaluates its last step after it has
    # saved the checkpoint there.
    run_dir = tmp_path / "finished"
    assert train_main(["tictactoe", *options(2500), "--run-dir", str(run_dir)]) == 0
    assert csv_steps(run_dir) == [1000, 2000, 2500]

    resume(run_dir, resumed_total)
    assert csv_steps(run_dir) == expected
    assert tensorboard_steps(run_dir, "eval/score") == expected
    assert (run_dir / "results.json").is_file()


def test_finished_baseline_resumed_at_end(tmp_path):
    run_dir = tmp_path / "baseline"
    arguments = ["tictactoe", "--algo", "sb3-dqn", *options(2500), "--run-dir", str(run_dir)]
    assert train_main(arguments) == 0
    assert csv_steps(run_dir) == [1000, 2000, 2500]

    arguments = ["tictactoe", "--algo", "sb3-dqn", "--resume", str(run_dir), "--no-progress"]
    assert train_main([*arguments, "--total-timesteps", "2500"]) == 0
    assert csv_steps(run_dir) == [1000, 2000, 2500]
    assert tensorboard_steps(run_dir, "eval/score") == [1000, 2000, 2500]
