"""Stable-Baselines3 baselines: training, run folder, resume, loading in play.py."""

import json

import numpy as np
import pytest

from agents.baselines import (
    SB3Policy,
    algorithm_kwargs,
    is_sb3_model_file,
    load_sb3_policy,
    read_metadata,
)
from agents.config import resolve_config
from agents.evaluation import count_losing_lines
from tests.conftest import run_script

TINY = [
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
    "2",
    "--n-steps",
    "128",
    "--no-progress",
]


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    runs = {}
    cases = [
        ("tictactoe", "sb3-dqn"),
        ("tictactoe", "sb3-ppo"),
        ("tictactoe", "sb3-a2c"),
        ("tictactoe", "sb3-maskable-ppo"),
        ("snake", "sb3-dqn"),
        ("snake", "sb3-ppo"),
        ("snake", "sb3-a2c"),
        ("snake", "sb3-maskable-ppo"),
    ]
    extra = {"snake": ["--no-progress-factor", "5"], "tictactoe": []}
    for env_name, algo in cases:
        run_dir = root / f"{env_name}-{algo}"
        run_script(
            "train.py",
            env_name,
            "--algo",
            algo,
            *TINY,
            *extra[env_name],
            "--run-dir",
            run_dir,
            check=True,
        )
        runs[(env_name, algo)] = run_dir
    return runs


@pytest.mark.parametrize("env_name", ["tictactoe", "snake"])
@pytest.mark.parametrize("algo", ["sb3-dqn", "sb3-ppo", "sb3-a2c", "sb3-maskable-ppo"])
def test_baseline_run_folder(baseline_runs, env_name, algo):
    run_dir = baseline_runs[(env_name, algo)]
    for name in (
        "config.yaml",
        "model_summary.txt",
        "best_model.zip",
        "final_model.zip",
        "evaluations.csv",
        "results.json",
    ):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "checkpoints").glob("step_*.zip"))
    assert list((run_dir / "tensorboard").iterdir())
    marks = [
        int(line.split(",")[0])
        for line in (run_dir / "evaluations.csv").read_text().splitlines()[1:]
    ]
    assert marks[:2] == [1000, 2000]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["algo"] == algo
    assert results["baseline_hyperparameters"] == "ours"
    metadata = read_metadata(run_dir / "best_model.zip")
    assert metadata["env_name"] == env_name
    assert metadata["algo"] == algo
    assert metadata["num_actions"] == (9 if env_name == "tictactoe" else 3)
    assert len(metadata["observation_shape"]) == 1


def test_baseline_tensorboard_tags_match_ours(baseline_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(baseline_runs[("snake", "sb3-dqn")] / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "rollout/exploration_rate",
        "train/loss",
        "time/fps",
        "eval/mean_reward",
        "eval/mean_score",
    } <= tags


def test_sb3_dqn_resume_keeps_replay_buffer(baseline_runs, tmp_path):
    import shutil

    run_dir = tmp_path / "resumed"
    shutil.copytree(baseline_runs[("tictactoe", "sb3-dqn")], run_dir)
    assert [p.name for p in (run_dir / "checkpoints").glob("replay_buffer_*")] == [
        "replay_buffer_000002000.pkl"
    ]
    result = run_script(
        "train.py",
        "tictactoe",
        "--resume",
        run_dir,
        "--total-timesteps",
        "3000",
        "--no-progress",
        check=True,
    )
    assert "step_000002000.zip" in result.stdout
    assert "replay buffer" not in result.stderr  # No warning: the buffer was restored.
    assert (run_dir / "checkpoints" / "step_000003000.zip").exists()
    marks = [
        int(line.split(",")[0])
        for line in (run_dir / "evaluations.csv").read_text().splitlines()[1:]
    ]
    assert marks == [1000, 2000, 3000]


def test_resume_with_other_algo_is_rejected(baseline_runs):
    result = run_script(
        "train.py",
        "tictactoe",
        "--resume",
        baseline_runs[("tictactoe", "sb3-ppo")],
        "--algo",
        "sb3-a2c",
    )
    assert result.returncode == 2
    assert "sb3-ppo" in result.stderr


@pytest.mark.parametrize("algo", ["sb3-dqn", "sb3-maskable-ppo"])
def test_play_loads_baseline_with_warning(baseline_runs, algo):
    model = baseline_runs[("tictactoe", algo)] / "best_model.zip"
    result = run_script(
        "play.py", "tictactoe", "--model", model, "--render", "none", "--episodes", "5", check=True
    )
    assert "exhaustive check" in result.stdout
    assert "trust" in result.stderr
    watch = run_script(
        "play.py", "tictactoe", "--model", model, "--episodes", "1", "--fps", "200", check=True
    )
    assert "Game 1:" in watch.stdout


def test_play_rejects_baseline_for_other_game(baseline_runs):
    model = baseline_runs[("snake", "sb3-ppo")] / "best_model.zip"
    result = run_script("play.py", "tictactoe", "--model", model, "--render", "none")
    assert result.returncode == 1
    assert "Snake" in result.stderr
    assert "Traceback" not in result.stderr


def test_maskable_ppo_gets_mask_at_prediction(baseline_runs):
    from sb3_contrib import MaskablePPO

    model = MaskablePPO.load(baseline_runs[("tictactoe", "sb3-maskable-ppo")] / "best_model.zip")
    policy = SB3Policy(model, "sb3-maskable-ppo", "m")
    observations = np.zeros((1, 18), dtype=np.int8)
    free = np.ones((1, 9), dtype=bool)
    unmasked = int(policy.select_actions(observations, free)[0])
    only_other = np.zeros((1, 9), dtype=bool)
    only_other[0, (unmasked + 1) % 9] = True
    assert int(policy.select_actions(observations, only_other)[0]) == (unmasked + 1) % 9


def test_illegal_greedy_move_counts_as_loss():
    class AlwaysCorner:
        def select_action(self, game, rng=None):
            return 0

    losses, lines = count_losing_lines(AlwaysCorner(), agent_side=0)
    # X takes 0 first, then repeats 0, which is illegal in every line.
    assert losses == lines == 8


def test_shared_keys_drive_sb3_dqn():
    config = resolve_config(
        "snake",
        {
            "algo": "sb3-dqn",
            "num_envs": 1,
            "train_freq": 1,
            "learning_rate": 0.002,
            "target_update_interval": 77,
        },
    )
    kwargs = algorithm_kwargs("sb3-dqn", config)
    assert kwargs["learning_rate"] == 0.002
    assert kwargs["target_update_interval"] == 77
    # Snake's default 10-step returns reach SB3's DQN too, so both learn the same targets.
    assert kwargs["n_steps"] == config.n_step == 10
    assert kwargs["policy_kwargs"]["net_arch"] == list(config.hidden_sizes)
    sb3_defaults = algorithm_kwargs(
        "sb3-dqn", resolve_config("snake", {"baseline_hyperparameters": "sb3"})
    )
    assert set(sb3_defaults) == {"policy_kwargs"}


def test_our_models_are_not_sb3_files(tictactoe_run):
    assert not is_sb3_model_file(tictactoe_run / "best_model.pt")


def test_sb3_dqn_matches_replay_ratio_and_target_rate():
    # Ours: one update per 4 transitions, target refreshed every 250 updates (1,000
    # transitions). SB3 with 16 envs: one call is 16 transitions, so 4 updates per call.
    config = resolve_config(
        "tictactoe",
        {
            "algo": "sb3-dqn",
            "num_envs": 16,
            "train_freq": 4,
            "gradient_steps": 1,
            "target_update_interval": 250,
        },
    )
    kwargs = algorithm_kwargs("sb3-dqn", config)
    assert kwargs["train_freq"] == 1
    assert kwargs["gradient_steps"] == 4
    assert kwargs["target_update_interval"] == 1000


def test_illegal_moves_never_rank_above_legal_play():
    from agents.evaluation import evaluate_tictactoe

    class FirstCell:
        name = "first cell"

        def select_actions(self, observations, action_masks):
            return np.zeros(len(observations), dtype=np.int64)

    class FirstLegal:
        name = "first legal"

        def select_actions(self, observations, action_masks):
            return action_masks.argmax(axis=1)

    illegal = evaluate_tictactoe(FirstCell(), num_games=5)
    legal = evaluate_tictactoe(FirstLegal(), num_games=5)
    # Playing cell 0 again is illegal in every line, so it reaches fewer lines than legal play.
    assert illegal["lines_as_x"] < legal["lines_as_x"]
    assert illegal["score"] < legal["score"]


def test_ppo_rollout_overshoot_is_warned(caplog):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.baseline_trainer import warn_about_rollout_overshoot
    from envs.snake_env import SnakeEnv

    model = PPO("MlpPolicy", DummyVecEnv([SnakeEnv, SnakeEnv]), n_steps=64, batch_size=32)
    warn_about_rollout_overshoot(model, "sb3-ppo", remaining=256, start=0)
    assert "ends at step" not in caplog.text  # 256 is two whole rollouts of 128.
    warn_about_rollout_overshoot(model, "sb3-ppo", remaining=300, start=0)
    assert "ends at step 384, not 300" in caplog.text


def test_snake_dqn_zip_loads_without_n_steps_warning(baseline_runs):
    import warnings

    path = baseline_runs[("snake", "sb3-dqn")] / "best_model.zip"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        policy = load_sb3_policy(path, "snake", {})
    assert policy.model.n_steps == 10
    assert policy.model.replay_buffer_kwargs.get("n_steps") == 10
    assert not [w for w in caught if "is ignored because" in str(w.message)]
