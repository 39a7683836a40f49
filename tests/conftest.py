"""Shared fixtures: headless pygame and small training runs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

ROOT = Path(__file__).resolve().parent.parent

# A run small enough for tests: a few thousand steps, frequent saves and evaluations.
TINY_TICTACTOE = [
    "--total-timesteps",
    "3000",
    "--learning-starts",
    "300",
    "--eval-every",
    "1000",
    "--eval-episodes",
    "5",
    "--final-eval-episodes",
    "5",
    "--save-every-steps",
    "1000",
    "--buffer-size",
    "5000",
    "--num-envs",
    "4",
    "--no-progress",
    "--log-interval",
    "500",
]
TINY_SNAKE = [
    "--total-timesteps",
    "2000",
    "--learning-starts",
    "200",
    "--eval-every",
    "1000",
    "--eval-episodes",
    "3",
    "--final-eval-episodes",
    "3",
    "--save-every-steps",
    "1000",
    "--buffer-size",
    "5000",
    "--num-envs",
    "4",
    "--no-progress",
    "--log-interval",
    "500",
    "--no-progress-factor",
    "5",
]


def run_script(script, *args, timeout=300, check=False, input_text=None):
    """Run train.py or play.py in a fresh process from the repository root."""
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / script), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        input=input_text,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def tictactoe_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "ttt"
    run_script(
        "train.py", "tictactoe", *TINY_TICTACTOE, "--run-dir", run_dir, "--seed", "3", check=True
    )
    return run_dir


@pytest.fixture(scope="session")
def snake_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "snake"
    run_script("train.py", "snake", *TINY_SNAKE, "--run-dir", run_dir, check=True)
    return run_dir
