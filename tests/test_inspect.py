"""train.py inspect: 2-D projections of a trained model's last hidden layer."""

import json
import shutil

import numpy as np
import pytest
from google.protobuf import text_format
from PIL import Image
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
from threadpoolctl import threadpool_limits

import train
from agents.inspect_analysis import neighbour_agreement
from agents.inspect_states import InspectOptions, snake_states
from envs.tictactoe_solver import solve_positions
from tests.conftest import run_script


@pytest.fixture(autouse=True)
def one_thread():
    """Run the projections of these small tests on one BLAS and OpenMP thread.

    With a few hundred states, t-SNE's per-iteration threading costs more than it saves.
    On a loaded 2-core machine, one thread took 1.2 s where the default took 12 s.
    """
    with threadpool_limits(limits=1):
        yield


def inspect(*args):
    """Run ``train.py inspect`` in this process; return its exit code."""
    try:
        return train.main(["inspect", *map(str, args)])
    except SystemExit as error:
        return error.code


def read_projector(folder):
    """Return the embedding rows, the metadata header and the metadata rows of a projector."""
    config = text_format.Parse(
        (folder / "projector_config.pbtxt").read_text(encoding="utf-8"), ProjectorConfig()
    )
    assert len(config.embeddings) == 1
    embedding = config.embeddings[0]
    tensors = np.loadtxt(folder / embedding.tensor_path, delimiter="\t", ndmin=2)
    lines = (folder / embedding.metadata_path).read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    return tensors, header, rows


def assert_png(path, min_side=300):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert min(image.size) >= min_side
        pixels = np.asarray(image.convert("L"))
    # A blank image would have one grey level; a scatter with text has many.
    assert len(np.unique(pixels)) > 20


def test_tictactoe_all_positions(tictactoe_run, tmp_path):
    out = tmp_path / "inspect"
    assert inspect(tictactoe_run, "--no-tsne", "--out", out) == 0
    table = solve_positions(3, 3)

    assert_png(out / "pca.png")
    assert not (out / "tsne.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_states"] == 4520
    assert summary["tsne"] is None
    assert len(summary["pca_explained_variance_ratio"]) == 2
    assert 0 < sum(summary["pca_explained_variance_ratio"]) <= 1
    expected_counts = {
        name: int(np.sum(table.values == v)) for v, name in [(1, "win"), (0, "draw"), (-1, "loss")]
    }
    assert summary["value_counts"] == expected_counts
    assert 0 <= summary["nearest_centroid_accuracy_pca"] <= 1
    assert 0 <= summary["linear_probe_cv_accuracy_hidden"] <= 1

    tensors, header, rows = read_projector(out / "projector")
    assert tensors.shape == (4520, summary["hidden_units"])
    assert len(rows) == 4520
    assert {"value", "to_move", "board", "max_q"} <= set(header)
    value_names = {1: "win", 0: "draw", -1: "loss"}
    for row in rows[::97]:
        key = bytes(".XO".index(mark) for mark in row["board"].replace("/", ""))
        assert row["value"] == value_names[int(table.values[table.index[key]])]
    assert rows[0]["board"] == ".../.../..."
    assert rows[0]["to_move"] == "X"

    text = (out / "summary.txt").read_text()
    assert "Q-network layers:" in text
    assert "Total" in text
    assert (tictactoe_run / "model_summary.txt").read_text().strip() in text


def test_tsne_is_seeded(tictactoe_run, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    options = ["--max-states", "150", "--perplexity", "10", "--seed", "4"]
    assert inspect(tictactoe_run, *options, "--out", first) == 0
    assert inspect(tictactoe_run, *options, "--out", second) == 0

    assert_png(first / "tsne.png")
    summary = json.loads((first / "summary.json").read_text())
    assert summary["num_states"] == 150
    assert summary["tsne"]["perplexity"] == 10
    assert summary["tsne"]["seed"] == 4
    assert "nearest_centroid_accuracy_tsne" in summary
    assert (first / "tsne.png").read_bytes() == (second / "tsne.png").read_bytes()
    assert (first / "pca.png").read_bytes() == (second / "pca.png").read_bytes()
    other = json.loads((second / "summary.json").read_text())
    assert other["tsne"]["kl_divergence"] == summary["tsne"]["kl_divergence"]
    _, _, rows = read_projector(first / "projector")
    assert len(rows) == 150


def test_model_option_and_file_target(tictactoe_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tictactoe_run, run_dir)
    assert inspect(run_dir, "--model", "final_model.pt", "--max-states", "40", "--no-tsne") == 0
    summary = json.loads((run_dir / "inspect" / "summary.json").read_text())
    assert summary["model"].endswith("final_model.pt")

    # A model file as the target writes beside it; a rerun replaces the projector files.
    assert inspect(run_dir / "best_model.pt", "--max-states", "30", "--no-tsne") == 0
    summary = json.loads((run_dir / "inspect" / "summary.json").read_text())
    assert summary["model"].endswith("best_model.pt")
    tensors, _, rows = read_projector(run_dir / "inspect" / "projector")
    assert len(rows) == 30
    assert len(tensors) == 30


def test_snake_greedy_episodes(snake_run, tmp_path):
    out = tmp_path / "inspect"
    options = ["--episodes", "2", "--max-states", "120", "--perplexity", "5", "--out", out]
    assert inspect(snake_run, *options) == 0

    assert_png(out / "pca.png")
    assert_png(out / "tsne.png")
    summary = json.loads((out / "summary.json").read_text())
    assert 6 <= summary["num_states"] <= 120
    assert len(summary["episodes"]) <= 2
    tensors, header, rows = read_projector(out / "projector")
    assert len(rows) == summary["num_states"]
    assert len(tensors) == summary["num_states"]
    assert {"episode", "step", "max_q", "steps_to_death", "death_within_k"} <= set(header)
    assert len(summary["pca1_top_features"]) == 3
    marked = [row for row in rows if row["death_within_k"] == "yes"]
    assert len(marked) == summary["num_near_death"]
    for row in marked:
        assert 1 <= int(row["steps_to_death"]) <= 5


def test_neighbour_agreement_cases():
    line = np.arange(40, dtype=float)[:, None] * [1.0, 0.0]
    halves = np.where(np.arange(40) < 20, "win", "loss")
    alternating = np.where(np.arange(40) % 2 == 0, "win", "loss")
    apart = line + np.where(halves == "loss", 100.0, 0.0)[:, None]

    assert neighbour_agreement(apart, halves, num_neighbours=3) == 1.0
    # On a circle, each point's two nearest neighbours carry the other label.
    angles = np.arange(40) * 2 * np.pi / 40
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert neighbour_agreement(circle, alternating, num_neighbours=2) == 0.0
    assert neighbour_agreement(line[:3], halves[:3], num_neighbours=10) == 1.0


class StraightPolicy:
    """Always goes straight on, so every episode ends at a wall."""

    name = "straight"

    def select_actions(self, observations, action_masks):
        return np.zeros(len(observations), dtype=np.int64)


@pytest.mark.parametrize("death_within", [1, 3])
def test_snake_marks_states_before_death(death_within):
    options = InspectOptions(out_dir=None, episodes=3, death_within=death_within, seed=2)
    states = snake_states(StraightPolicy(), {"grid_size": 8}, options)

    assert [episode["end_reason"] for episode in states.facts["episodes"]] == ["wall"] * 3
    lengths = [episode["length"] for episode in states.facts["episodes"]]
    assert len(states.observations) == sum(lengths)
    steps_to_death = states.columns["steps_to_death"]
    episode_ids = states.columns["episode"]
    for episode, length in enumerate(lengths):
        assert list(steps_to_death[episode_ids == episode]) == list(range(length, 0, -1))
    expected = sum(min(length, death_within) for length in lengths)
    assert states.facts["num_near_death"] == expected
    assert int(np.sum(states.columns["death_within_k"] == "yes")) == expected


def test_snake_cap_keeps_death_labels():
    uncapped = snake_states(StraightPolicy(), {"grid_size": 8}, InspectOptions(None, seed=2))
    first_length = uncapped.facts["episodes"][0]["length"]
    # The cap falls inside the second episode, which is still played to its wall.
    options = InspectOptions(None, episodes=4, max_states=first_length + 1, seed=2)
    states = snake_states(StraightPolicy(), {"grid_size": 8}, options)

    assert len(states.observations) == first_length + 1
    assert len(states.facts["episodes"]) == 2
    second_length = states.facts["episodes"][1]["length"]
    assert second_length == uncapped.facts["episodes"][1]["length"]
    assert states.columns["steps_to_death"][-1] == second_length
    assert states.columns["step"][-1] == 0


def sb3_model_file(tmp_path):
    from stable_baselines3 import DQN

    from agents.baselines import save_sb3_model
    from agents.run_support import ENV_IDS, make_env

    env = make_env("tictactoe", {"board_size": 3, "win_length": 3})
    model = DQN("MlpPolicy", env, buffer_size=100, learning_starts=0)
    path = tmp_path / "sb3" / "best_model.zip"
    path.parent.mkdir()
    save_sb3_model(model, path, {"env_id": ENV_IDS["tictactoe"], "algo": "sb3-dqn"})
    return path


def test_bad_inputs_exit_2(tictactoe_run, tmp_path, capsys):
    damaged = tmp_path / "damaged.pt"
    data = (tictactoe_run / "best_model.pt").read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    text_file = tmp_path / "notes.pt"
    text_file.write_text("not a model\n")
    empty_run = tmp_path / "empty-run"
    empty_run.mkdir()
    out_file = tmp_path / "out-file"
    out_file.write_text("x")
    sb3_file = sb3_model_file(tmp_path)
    cases = [
        ([tmp_path / "missing"], "not found"),
        ([empty_run], "model file not found"),
        ([damaged], "damaged"),
        ([text_file], "not a dqn-arena model"),
        ([tictactoe_run / "checkpoints"], "model file not found"),
        ([sb3_file], "Stable-Baselines3"),
        ([sb3_file.parent], "Stable-Baselines3"),
        ([tictactoe_run / "best_model.pt", "--model", "best_model.pt"], "drop --model"),
        ([tictactoe_run, "--max-states", "12", "--out", tmp_path / "o"], "--perplexity 30"),
        ([tictactoe_run, "--perplexity", "0"], "positive number"),
        ([tictactoe_run, "--max-states", "-3"], "positive integer"),
        ([tictactoe_run, "--out", out_file], "is a file"),
    ]
    before = sorted(path.name for path in tictactoe_run.iterdir())
    for args, message in cases:
        assert inspect(*args) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, (args, lines)
        assert message in lines[0], (args, lines[0])
    assert sorted(path.name for path in tictactoe_run.iterdir()) == before
    assert out_file.read_text() == "x"
    assert not (tmp_path / "o").exists()


def test_sb3_model_rejected_by_cli(tmp_path):
    result = run_script("train.py", "inspect", sb3_model_file(tmp_path), timeout=120)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"train.py: error: {tmp_path / 'sb3' / 'best_model.zip'} is a Stable-Baselines3 model; "
        "inspect supports only our DQN's .pt models"
    )
