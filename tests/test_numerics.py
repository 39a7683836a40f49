"""Test train.py on a diverging loss and SIGTERM, and seeded self-play reproducibility."""

import re
import signal
import subprocess
import sys
import time

import torch

from agents.checkpoint import load_model_file
from tests.conftest import ROOT, TINY_SNAKE, TINY_TICTACTOE, run_script

# Adam moves every weight by about the learning rate on its first update, whatever the
# gradient. With 1e30 and no gradient clipping, the second forward pass overflows float32
# (max about 3.4e38) and the loss becomes NaN or infinite. Updates start at step 128, once
# the buffer contains a batch of 128 transitions, and run every 8 steps (snake's train_freq).
# Update 1 therefore comes at step 136 and update 2, the first that fails, at step 144. With a
# checkpoint every 8 steps, the last one (step 136) contains weights after a real update.
# One-step returns keep that count exact: with n-step returns each environment's first
# transitions reach the buffer n steps late.
DIVERGING_SNAKE = [
    *TINY_SNAKE,
    "--n-step",
    "1",
    "--learning-rate",
    "1e30",
    "--max-grad-norm",
    "0",
    "--learning-starts",
    "128",
    "--save-every-steps",
    "8",
]
FIRST_UPDATE_STEP = 136


def test_non_finite_loss_stops_with_step(tmp_path):
    run_dir = tmp_path / "diverged"
    result = run_script("train.py", "snake", *DIVERGING_SNAKE, "--run-dir", run_dir)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    stderr_lines = result.stderr.strip().splitlines()
    assert len(stderr_lines) == 1, result.stderr
    match = re.fullmatch(
        r"train\.py: error: loss became (nan|inf|-inf) at step (\d+) \(update \d+\); .*",
        stderr_lines[0],
    )
    assert match is not None, stderr_lines[0]
    failed_step = int(match.group(2))
    assert failed_step > FIRST_UPDATE_STEP
    assert str(run_dir / "checkpoints") in stderr_lines[0]
    assert not (run_dir / "final_model.pt").exists()
    assert not (run_dir / "results.json").exists()

    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    assert len(checkpoints) >= FIRST_UPDATE_STEP // 8
    for path in checkpoints:
        data = load_model_file(path)
        assert data["global_step"] < failed_step, path.name
        for name, tensor in data["q_network"].items():
            assert torch.isfinite(tensor).all(), f"{path.name}: {name}"
    newest = load_model_file(checkpoints[-1])
    assert newest["global_step"] == FIRST_UPDATE_STEP
    assert newest["agent"]["num_updates"] == 1


def test_sigterm_saves_and_resume_continues(tmp_path):
    run_dir = tmp_path / "terminated"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "snake",
        *TINY_SNAKE,
        "--total-timesteps",
        "400000",
        "--save-every-steps",
        "1000000",
        "--eval-every",
        "1000000",
        "--run-dir",
        str(run_dir),
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "tensorboard").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "Resume with" in stdout
    checkpoints = list((run_dir / "checkpoints").glob("step_*.pt"))
    assert len(checkpoints) == 1
    stopped_at = load_model_file(checkpoints[0])["global_step"]
    assert 0 < stopped_at < 400000
    assert f"Stopped at step {stopped_at:,}" in stdout
    assert not (run_dir / "results.json").exists()

    resumed_total = stopped_at + 1000
    result = run_script(
        "train.py",
        "snake",
        "--resume",
        run_dir,
        "--total-timesteps",
        resumed_total,
        "--no-progress",
        check=True,
    )
    assert f"at step {stopped_at}" in result.stdout
    assert "empty one" not in result.stderr  # The replay buffer was restored too.
    final = load_model_file(run_dir / "checkpoints" / f"step_{resumed_total:09d}.pt")
    assert final["counters"]["global_step"] == resumed_total
    assert load_model_file(run_dir / "final_model.pt")["global_step"] == resumed_total


def test_selfplay_same_seed_same_weights(tmp_path):
    runs = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        run_script(
            "train.py",
            "tictactoe",
            *TINY_TICTACTOE,
            "--seed",
            "11",
            "--run-dir",
            run_dir,
            check=True,
        )
        runs.append(run_dir)
    first = load_model_file(runs[0] / "final_model.pt")["q_network"]
    second = load_model_file(runs[1] / "final_model.pt")["q_network"]
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name

    # The weights must have moved from the first checkpoint, or the equality shows nothing.
    early = load_model_file(runs[0] / "checkpoints" / "step_000001000.pt")["q_network"]
    assert any(not torch.equal(early[name], first[name]) for name in first)
    for name in first:
        assert torch.isfinite(first[name]).all(), name

    # The target network and the update count match too.
    first_agent = load_model_file(runs[0] / "checkpoints" / "step_000003000.pt")["agent"]
    second_agent = load_model_file(runs[1] / "checkpoints" / "step_000003000.pt")["agent"]
    assert first_agent["num_updates"] == second_agent["num_updates"]
    for name, tensor in first_agent["target_network"].items():
        assert torch.equal(tensor, second_agent["target_network"][name]), name
