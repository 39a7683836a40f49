"""train.py end to end: run folder, TensorBoard, resume, signals, seeds and bad input."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.checkpoint import load_model_file
from agents.policies import load_policy
from tests.conftest import ROOT, TINY_SNAKE, run_script


def scalars(run_dir, tag):
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_run_folder_contents(tictactoe_run):
    for name in (
        "config.yaml",
        "model_summary.txt",
        "best_model.pt",
        "final_model.pt",
        "evaluations.csv",
        "results.json",
    ):
        assert (tictactoe_run / name).is_file(), name
    steps = sorted(p.name for p in (tictactoe_run / "checkpoints").glob("step_*.pt"))
    assert steps == ["step_000001000.pt", "step_000002000.pt", "step_000003000.pt"]
    config = yaml.safe_load((tictactoe_run / "config.yaml").read_text())
    assert config["total_timesteps"] == 3000
    assert config["seed"] == 3
    results = json.loads((tictactoe_run / "results.json").read_text())
    assert results["total_timesteps"] == 3000
    assert 0.0 <= results["metrics"]["optimal_move_rate"] <= 1.0
    assert "Total" in (tictactoe_run / "model_summary.txt").read_text()


def test_evaluation_history_csv(tictactoe_run):
    lines = (tictactoe_run / "evaluations.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["global_step", "episodes", "wall_seconds"]
    assert "losing_lines_as_x" in header
    assert "optimal_move_rate" in header
    assert [int(line.split(",")[0]) for line in lines[1:]] == [1000, 2000, 3000]


def test_tensorboard_scalars_read_back(tictactoe_run):
    for tag in (
        "train/loss",
        "train/q_mean",
        "rollout/exploration_rate",
        "train/learning_rate",
        "time/fps",
        "rollout/ep_len_mean",
        "eval/optimal_move_rate",
    ):
        assert scalars(tictactoe_run, tag), tag
    epsilons = [value for _, value in scalars(tictactoe_run, "rollout/exploration_rate")]
    assert epsilons == sorted(epsilons, reverse=True)
    assert [step for step, _ in scalars(tictactoe_run, "eval/losing_lines")] == [1000, 2000, 3000]


def test_checkpoint_holds_resume_state(tictactoe_run):
    data = load_model_file(tictactoe_run / "checkpoints" / "step_000002000.pt")
    assert data["global_step"] == 2000
    assert set(data["agent"]) >= {"q_network", "target_network", "optimizer", "rng_state"}
    assert data["counters"]["global_step"] == 2000
    assert data["env_id"] == "dqn_arena/TicTacToe-v0"
    assert data["observation_shape"] == [18]


def test_loaded_model_matches_in_fresh_process(tictactoe_run):
    model = tictactoe_run / "final_model.pt"
    observations = np.random.default_rng(0).integers(0, 2, (20, 18)).astype(np.int8)
    observations[:, 9:] *= 1 - observations[:, :9]  # No cell contains both marks.
    local = load_policy(model).q_values(observations)
    code = (
        "import json, sys, numpy as np; from agents.policies import load_policy; "
        "obs = np.array(json.loads(sys.stdin.read()), dtype=np.int8); "
        f"print(json.dumps(load_policy({str(model)!r}).q_values(obs).tolist()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(observations.tolist()),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    remote = np.array(json.loads(result.stdout))
    np.testing.assert_allclose(remote, local, atol=1e-6)
    np.testing.assert_array_equal(remote.argmax(axis=1), local.argmax(axis=1))


def test_trained_model_plays_unlike_untrained(tictactoe_run):
    from agents.evaluation import TablePlayer
    from agents.networks import NetworkSpec, build_q_network
    from agents.policies import QNetworkPolicy

    trained = TablePlayer(load_policy(tictactoe_run / "best_model.pt"))
    torch.manual_seed(123)
    spec = NetworkSpec(kind="mlp", input_shape=(18,), num_actions=9, hidden_sizes=(128, 128))
    untrained = TablePlayer(QNetworkPolicy(build_q_network(spec), "untrained", {}))
    assert (trained.moves != untrained.moves).mean() > 0.2
    assert trained.optimal_move_rate() > untrained.optimal_move_rate()


def test_play_evaluates_saved_model_like_training(tictactoe_run):
    result = run_script(
        "play.py",
        "tictactoe",
        "--model",
        tictactoe_run / "final_model.pt",
        "--render",
        "none",
        "--episodes",
        "10",
        check=True,
    )
    assert "exhaustive check" in result.stdout
    assert "minimax-optimal moves" in result.stdout


def test_resume_continues_step_count(tictactoe_run, tmp_path):
    import shutil

    run_dir = tmp_path / "resumed"
    shutil.copytree(tictactoe_run, run_dir)
    for name in ("step_000003000.pt",):
        (run_dir / "checkpoints" / name).unlink()
    result = run_script(
        "train.py",
        "tictactoe",
        "--resume",
        run_dir,
        "--total-timesteps",
        "4000",
        "--no-progress",
        check=True,
    )
    assert "Resuming from" in result.stdout
    assert "step_000002000.pt" in result.stdout
    names = sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt"))
    assert names[-1] == "step_000004000.pt"
    assert "step_000003000.pt" in names
    assert json.loads((run_dir / "results.json").read_text())["total_timesteps"] == 4000
    loss_steps = [step for step, _ in scalars(run_dir, "train/loss")]
    assert loss_steps == sorted(loss_steps)
    assert loss_steps[-1] >= 3500


def test_resume_rejects_changed_environment(tictactoe_run, tmp_path):
    import shutil

    run_dir = tmp_path / "resumed"
    shutil.copytree(tictactoe_run, run_dir)
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    for option, value in (("--board-size", "4"), ("--hidden-sizes", "32,32")):
        result = run_script(
            "train.py", "tictactoe", "--resume", run_dir, option, value, "--no-progress"
        )
        assert result.returncode == 2, result.stderr
        assert f"{option} " in result.stderr
        assert "a resumed run keeps its environment" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Resuming from" not in result.stdout
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before


def test_resume_reports_changed_options(tictactoe_run, tmp_path):
    import shutil

    run_dir = tmp_path / "resumed"
    shutil.copytree(tictactoe_run, run_dir)
    result = run_script(
        "train.py", "tictactoe", "--resume", run_dir, "--gamma", "0.9",
        "--total-timesteps", "3500", "--no-progress", check=True,
    )  # fmt: skip
    assert "Resuming with changed options: gamma 0.99 -> 0.9" in result.stdout


def test_resume_from_damaged_newest_warns_and_falls_back(tictactoe_run, tmp_path):
    import shutil

    run_dir = tmp_path / "damaged"
    shutil.copytree(tictactoe_run, run_dir)
    newest = run_dir / "checkpoints" / "step_000003000.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    result = run_script(
        "train.py",
        "tictactoe",
        "--resume",
        run_dir,
        "--total-timesteps",
        "3500",
        "--no-progress",
        check=True,
    )
    assert "step_000003000.pt" in result.stderr
    assert "step_000002000.pt" in result.stdout


def test_resume_missing_path_fails_clearly(tmp_path):
    result = run_script("train.py", "tictactoe", "--resume", tmp_path / "nowhere")
    assert result.returncode == 2
    assert "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_play_rejects_truncated_model(tictactoe_run, tmp_path):
    damaged = tmp_path / "half.pt"
    data = (tictactoe_run / "final_model.pt").read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    result = run_script("play.py", "tictactoe", "--model", damaged, "--render", "none")
    assert result.returncode == 1
    assert "half.pt" in result.stderr
    assert "Traceback" not in result.stderr


def test_snake_model_given_to_tictactoe(snake_run):
    result = run_script(
        "play.py", "tictactoe", "--model", snake_run / "final_model.pt", "--render", "none"
    )
    assert result.returncode == 1
    assert "Snake" in result.stderr
    assert "TicTacToe" in result.stderr
    assert "Traceback" not in result.stderr


def test_snake_run_evaluates(snake_run):
    results = json.loads((snake_run / "results.json").read_text())
    metrics = results["metrics"]
    assert metrics["num_episodes"] == 3
    assert sum(metrics[f"end_{r}"] for r in ("wall", "body", "no_progress", "win")) == 3
    assert scalars(snake_run, "eval/mean_reward")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chess"], "invalid choice"),
        (["snake", "--total-timesteps", "0"], "total_timesteps must be positive"),
        (["snake", "--total-timesteps", "-5"], "total_timesteps must be positive"),
        (["snake", "--total-timesteps", "ten"], "--total-timesteps"),
        (["snake", "--learning-rate", "abc"], "--learning-rate"),
        (["snake", "--gamma", "1.5"], "gamma must be between 0 and 1"),
        (["snake", "--activation", "tanh"], "activation"),
        (["snake", "--algo", "ppo2"], "algo"),
        (["tictactoe", "--grid-size", "5"], "unrecognized arguments"),
        (["snake", "--config", "/nonexistent/config.yaml"], "config file not found"),
    ],
)
def test_bad_command_line_exits_2(args, message):
    result = run_script("train.py", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("learning_rate: [1, 2\n", "malformed config file"),
        ("not_an_option: 3\n", "unknown key 'not_an_option'"),
        ("batch_size: sixty\n", "invalid value for batch_size"),
        ("double_q: maybe\n", "invalid value for double_q"),
        ("- a list\n", "must hold a mapping"),
        ("board_size: 4\n", "is a tictactoe option, not a snake one"),
    ],
)
def test_bad_config_file_exits_2(tmp_path, content, message):
    path = tmp_path / "config.yaml"
    path.write_text(content)
    result = run_script("train.py", "snake", "--config", path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_config_file_and_command_line_precedence(tmp_path):
    from agents.config import load_config_file, resolve_config

    path = tmp_path / "config.yaml"
    path.write_text("batch-size: 32\nhidden_sizes: [16, 16]\nlearning_rate: 0.01\n")
    values = load_config_file(path, "snake")
    config = resolve_config("snake", {**values, "learning_rate": 0.5})
    assert config.batch_size == 32
    assert config.hidden_sizes == (16, 16)
    assert config.learning_rate == 0.5


def test_saved_config_is_accepted_again(tictactoe_run):
    from agents.config import load_config_file

    values = load_config_file(tictactoe_run / "config.yaml", "tictactoe")
    assert values["total_timesteps"] == 3000


def test_same_seed_same_losses_and_actions(tmp_path):
    runs = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        run_script(
            "train.py", "snake", *TINY_SNAKE, "--seed", "7", "--run-dir", run_dir, check=True
        )
        runs.append(run_dir)
    assert scalars(runs[0], "train/loss") == scalars(runs[1], "train/loss")
    first = load_model_file(runs[0] / "final_model.pt")["q_network"]
    second = load_model_file(runs[1] / "final_model.pt")["q_network"]
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_sigint_saves_and_resume_finishes(tmp_path):
    run_dir = tmp_path / "interrupted"
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
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Resume with" in stdout
    checkpoints = list((run_dir / "checkpoints").glob("step_*.pt"))
    assert len(checkpoints) == 1
    step = load_model_file(checkpoints[0])["global_step"]
    assert 0 < step < 400000
    assert not (run_dir / "results.json").exists()


def test_snake_model_on_other_board_size(snake_run):
    result = run_script(
        "play.py",
        "snake",
        "--model",
        snake_run / "final_model.pt",
        "--grid-size",
        "12",
        "--render",
        "none",
    )
    assert result.returncode == 1
    assert "grid_size 10" in result.stderr
    assert "grid_size 12" in result.stderr
    assert "Traceback" not in result.stderr


def test_too_large_replay_buffer_fails_at_once():
    result = run_script(
        "train.py",
        "snake",
        "--buffer-size",
        "2000000000",
        "--total-timesteps",
        "1000",
        "--run-dir",
        ROOT / "runs" / "never-created",
    )
    assert result.returncode == 1
    assert "GiB" in result.stderr
    assert "buffer_size" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_snake_run_without_starvation_keys(tmp_path):
    # A run made with the old rules: no fixed limit, no starvation, no hunger entry.
    run_dir = tmp_path / "old"
    old_rules = [
        "--no-progress-limit", "0", "--no-starvation", "--no-hunger-feature",
        "--no-path-features",
    ]  # fmt: skip
    result = run_script(
        "train.py", "snake", *TINY_SNAKE, *old_rules, "--total-timesteps", "1000",
        "--run-dir", run_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Its checkpoint's configuration predates the new options: drop them, as an old file.
    from agents.checkpoint import save_model_file

    path = run_dir / "checkpoints" / "step_000001000.pt"
    payload = load_model_file(path)
    for key in (
        "no_progress_limit", "starvation", "starvation_reward", "hunger_feature", "path_features",
    ):  # fmt: skip
        del payload["config"][key]
    save_model_file(path, payload)
    resumed = run_script(
        "train.py", "snake", "--resume", run_dir, "--total-timesteps", "2000", "--no-progress"
    )
    assert resumed.returncode == 0, resumed.stderr
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["hunger_feature"] is False
    assert config["path_features"] is False
    assert config["starvation"] is False
    assert config["no_progress_limit"] == 0
    assert json.loads((run_dir / "results.json").read_text())["total_timesteps"] == 2000
