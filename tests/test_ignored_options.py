"""Options set without effect: rejected when the user set them, quiet when only defaults."""

import pytest
import yaml

from agents.checkpoint import load_model_file
from agents.config import ConfigError, resolve_config, write_config
from tests.conftest import TINY_SNAKE, run_script
from train import build_parser, resolve_run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["snake", "--no-starvation", "--starvation-reward", "-3"],
            "starvation_reward has no effect without starvation",
        ),
        (["snake", "--per-alpha", "0.5"], "per_alpha has no effect without prioritized_replay"),
        (["tictactoe", "--per-eps", "0.01"], "per_eps has no effect without prioritized_replay"),
        (
            ["tictactoe", "--lr-plateau-patience", "5"],
            "lr_plateau_patience applies only to lr_schedule 'plateau', not 'constant'",
        ),
        (
            ["tictactoe", "--lr-schedule", "cosine", "--lr-min", "0"],
            "lr_min applies only to lr_schedule 'plateau', not 'cosine'",
        ),
        (
            ["tictactoe", "--lr-schedule", "plateau", "--lr-final-fraction", "0.2"],
            "lr_final_fraction applies only to lr_schedule 'linear' or 'cosine', not 'plateau'",
        ),
        (
            ["snake", "--observation", "grid", "--hunger-feature"],
            "hunger_feature has no effect with observation 'grid'",
        ),
        (
            ["snake", "--algo", "sb3-ppo", "--n-step", "3"],
            "n_step applies to --algo dqn and sb3-dqn only, not sb3-ppo",
        ),
        (
            ["snake", "--observation", "grid", "--path-features"],
            "path_features has no effect with observation 'grid'",
        ),
    ],
)
def test_explicit_ignored_option_exits_2(args, message, tmp_path):
    run_dir = tmp_path / "run"
    result = run_script("train.py", *args, "--total-timesteps", "100", "--run-dir", run_dir)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()


def resolve_cli(*args):
    return resolve_run(build_parser().parse_args([str(arg) for arg in args]))[0]


@pytest.mark.parametrize(
    "args",
    [
        ["snake", "--no-starvation"],
        ["snake", "--observation", "grid", "--network", "cnn"],
        ["snake", "--observation", "grid", "--no-hunger-feature"],
        ["snake", "--prioritized-replay", "--per-alpha", "0.5"],
        ["tictactoe", "--lr-schedule", "plateau", "--lr-min", "1e-5"],
        ["tictactoe", "--lr-schedule", "linear", "--lr-final-fraction", "0.3"],
    ],
)
def test_defaults_and_used_options_accepted(args, tmp_path):
    config = resolve_cli(*args, "--run-dir", tmp_path / "run")
    assert config.run_dir == str(tmp_path / "run")


def test_config_file_value_without_effect_rejected(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("starvation: false\nstarvation_reward: -3\n")
    with pytest.raises(ConfigError, match="starvation_reward has no effect without starvation"):
        resolve_cli("snake", "--config", path, "--run-dir", tmp_path / "run")


def test_own_config_yaml_loads_again(tmp_path):
    # A run's config.yaml lists every option, those without effect at their defaults too.
    path = tmp_path / "config.yaml"
    saved = resolve_config("snake", {"observation": "grid", "starvation": False})
    write_config(saved, "snake", path)
    written = yaml.safe_load(path.read_text())
    assert written["hunger_feature"] is True
    assert written["per_alpha"] == 0.6
    config = resolve_cli("snake", "--config", path, "--run-dir", tmp_path / "run")
    assert config.observation == "grid"
    assert config.starvation is False


def test_grid_run_drops_default_hunger(tmp_path):
    run_dir = tmp_path / "grid"
    result = run_script(
        "train.py", "snake", *TINY_SNAKE, "--total-timesteps", "400", "--eval-every", "400",
        "--observation", "grid", "--run-dir", run_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    model = load_model_file(run_dir / "final_model.pt")
    assert model["env_kwargs"]["observation"] == "grid"
    assert model["env_kwargs"]["hunger_feature"] is False
    assert model["env_kwargs"]["path_features"] is False


def test_compare_rejects_variant_without_effect(tmp_path):
    out = tmp_path / "compare"
    result = run_script(
        "train.py", "compare", "snake", "--algos", "dqn", "--total-timesteps", "1000",
        "--variants", "per:per_alpha=0.5", "--out", out,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "per_alpha has no effect without prioritized_replay" in result.stderr
    assert not out.exists()
