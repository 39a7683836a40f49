"""Bad command-line values, config files and model files: one clear line, nothing lost."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401 - registers the environment ids.
from agents.checkpoint import CheckpointError, SaveError, load_model_file, save_model_file
from agents.config import ConfigError, load_config_file, parse_assignments, resolve_config
from tests.conftest import run_script


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["snake", "--seed", "-1"], "seed must be between 0"),
        (["snake", "--buffer-size", "10"], "buffer_size must be at least"),
        (["snake", "--weight-decay", "inf"], "weight_decay must be a finite number"),
        (["snake", "--apple-reward", "nan"], "apple_reward must be a finite number"),
        (["snake", "--hidden-sizes", "100000,100000"], "at most 65,536 units"),
        (["snake", "--hidden-sizes", "64,,64"], "expected comma-separated integers, got '64,,64'"),
        (["snake", "--grid-size", "100000"], "grid_size must be between 4 and 100"),
        (["tictactoe", "--board-size", "100000"], "board_size must be between 3 and 10"),
        (["snake", "--num-envs", "100000000"], "num_envs must be at most"),
        (["snake", "--run-dir", "README.md"], "is a file"),
    ],
)
def test_out_of_range_values_exit_2(args, message):
    result = run_script("train.py", *args, "--total-timesteps", "100")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_type_error_is_one_line_without_usage_block():
    result = run_script("train.py", "snake", "--total-timesteps", "ten")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "train.py snake: error: argument --total-timesteps: expected an integer, got 'ten' "
        "(see train.py snake --help)"
    ]


def test_integral_float_accepted_for_integers(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("total_timesteps: 1e5\nbuffer_size: '2e4'\n")
    values = load_config_file(path, "snake")
    assert values == {"total_timesteps": 100_000, "buffer_size": 20_000}
    with pytest.raises(ConfigError, match="expected an integer"):
        resolve_config("snake", load_config_file(_write(tmp_path, "batch_size: 1.5\n"), "snake"))


def _write(folder, text):
    path = folder / "other.yaml"
    path.write_text(text)
    return path


def test_duplicate_config_key_rejected(tmp_path):
    path = _write(tmp_path, "gamma: 0.9\ngamma: 0.5\n")
    with pytest.raises(ConfigError, match="duplicate key 'gamma'"):
        load_config_file(path, "snake")


def test_other_game_key_named(tmp_path):
    path = _write(tmp_path, "grid_size: 8\n")
    with pytest.raises(ConfigError, match="is a snake option, not a tictactoe one"):
        load_config_file(path, "tictactoe")


def test_resume_from_model_file_is_refused(tictactoe_run):
    result = run_script("train.py", "tictactoe", "--resume", tictactoe_run / "best_model.pt")
    assert result.returncode == 2
    assert "is a model file, not a checkpoint" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_below_checkpoint_step_is_refused(tictactoe_run):
    result = run_script(
        "train.py", "tictactoe", "--resume", tictactoe_run, "--total-timesteps", "1000"
    )
    assert result.returncode == 2
    assert "below the checkpoint's step 3,000" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["tictactoe", "--human", "x", "--render", "text", "--win-length", "4"],
        ["tictactoe", "--human", "x", "--seed", "-1"],
        ["tictactoe", "--human", "x", "--board-size", "100000"],
        ["snake", "--grid-size", "100000"],
    ],
)
def test_play_bad_board_options_exit_2(args):
    result = run_script("play.py", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_flipped_byte_in_weights_is_detected(tmp_path):
    path = tmp_path / "model.pt"
    save_model_file(path, {"weights": torch.full((4096,), 0.1)})
    data = bytearray(path.read_bytes())
    position = data.index(np.float32(0.1).tobytes(), len(data) // 4)
    data[position] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="CRC"):
        load_model_file(path)


def test_model_with_odd_metadata_fails_cleanly(tictactoe_run, tmp_path):
    data = load_model_file(tictactoe_run / "best_model.pt")
    for name, change in (("network", "not a dict"), ("env_kwargs", {"colour": "blue"})):
        broken = dict(data)
        broken[name] = change
        path = tmp_path / f"odd-{name}.pt"
        save_model_file(
            path, {k: v for k, v in broken.items() if k not in ("kind", "format_version")}
        )
        result = run_script("play.py", "tictactoe", "--model", path, "--render", "none")
        assert result.returncode == 1, result.stderr
        assert path.name in result.stderr
        assert "Traceback" not in result.stderr


def test_save_error_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_model_file(path, {"weights": torch.zeros(3)})

    def full_disk(obj, handle, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(SaveError, match="failed to save .*previous file is kept"):
        save_model_file(path, {"weights": torch.ones(3)})
    monkeypatch.undo()
    assert torch.equal(load_model_file(path)["weights"], torch.zeros(3))


@pytest.mark.parametrize("opponent", [None, "random"])
def test_tictactoe_works_in_gymnasium_vector_env(opponent):
    kwargs = {} if opponent is None else {"opponent": opponent}
    vector = gym.make_vec("dqn_arena/TicTacToe-v0", num_envs=3, vectorization_mode="sync", **kwargs)
    observations, infos = vector.reset(seed=0)
    assert observations.shape == (3, 18)
    for _ in range(20):
        actions = np.array(
            [np.flatnonzero(mask)[0] if mask.any() else 0 for mask in infos["action_mask"]]
        )
        observations, rewards, terminated, truncated, infos = vector.step(actions)
        assert infos["winner"].dtype.kind == "i"
    vector.close()


def test_parse_assignments_types_values():
    values = parse_assignments("snake", ["total-timesteps=200000", "path_features=false"])
    assert values == {"total_timesteps": 200_000, "path_features": False}
    with pytest.raises(ConfigError, match="unknown snake option 'board_size'"):
        parse_assignments("snake", ["board_size=4"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_assignments("snake", ["total_timesteps"])
    with pytest.raises(ConfigError, match="expected an integer"):
        parse_assignments("snake", ["eval_every=ten"])


@pytest.mark.parametrize(
    ("script", "item", "message"),
    [
        ("bench/time_to_target.py", "bogus=1", "unknown snake option 'bogus'"),
        ("bench/time_to_target.py", "gamma=2", "gamma must be between 0 and 1"),
        ("bench/ablation.py", "per_alpha=0.5", "per_alpha has no effect"),
        ("bench/train_throughput.py", "n_step=0", "n_step must be between 1 and 100"),
    ],
)
def test_bench_bad_set_exits_2(script, item, message):
    result = run_script(script, "--env", "snake", "--set", item)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
