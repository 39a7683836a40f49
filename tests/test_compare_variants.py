"""train.py compare --variants: parsing, runs of DQN variants, their report and resumability."""

import csv

import pytest
import yaml

from agents.compare_variants import parse_variant
from agents.config import ConfigError
from train import main as train_main

SHARED = [
    "--",
    "--eval-every",
    "250",
    "--eval-episodes",
    "3",
    "--final-eval-episodes",
    "3",
    "--num-envs",
    "2",
    "--learning-starts",
    "200",
    "--buffer-size",
    "5000",
]
# frozen learns at a rate of 1e-9, so its score stalls at the second evaluation and early
# stopping (patience 1) ends it at step 500 of 1000.
VARIANTS = [
    "tuned:config={config},optimizer=rmsprop,hidden_sizes=32,32",
    "frozen:learning_starts=100,learning_rate=1e-9,early_stop_patience=1",
]


def compare_command(out, config_path):
    variants = [text.format(config=config_path) for text in VARIANTS]
    return [
        "compare",
        "tictactoe",
        "--algos",
        "dqn",
        "--variants",
        *variants,
        "--seeds",
        "0",
        "--total-timesteps",
        "1000",
        "--jobs",
        "2",
        "--out",
        str(out),
        *SHARED,
    ]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    config_path = folder / "tuned.yaml"
    # eval_every and seed belong to the comparison, so its runs must ignore these two.
    config_path.write_text("learning_rate: 0.002\ngamma: 0.95\neval_every: 300\nseed: 9\n")
    out = folder / "out"
    assert train_main(compare_command(out, config_path)) == 0
    return out, config_path


def read_rows(out):
    with (out / "evaluations.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_report_lists_variants(comparison):
    out, config_path = comparison
    report = (out / "report.md").read_text()
    assert report.startswith("# tictactoe: comparison of algorithms and DQN variants")
    for name in ("dqn", "tuned", "frozen"):
        assert f"| {name} | 1 |" in report, name
    assert f"tuned: `config={config_path},optimizer=rmsprop,hidden_sizes=32,32`" in report
    assert "At equal environment steps, tuned's mean optimal_move_rate" in report
    assert "frozen seed 0 stopped early after 500 steps" in report
    assert "Stable-Baselines3" not in report


def test_report_plots_written(comparison):
    out, _ = comparison
    report = (out / "report.md").read_text()
    for name in ("metric_vs_steps", "metric_vs_seconds"):
        assert (out / f"{name}.png").stat().st_size > 10_000, name
        assert f"![{name}]({name}.png)" in report, name


def test_evaluations_csv_names_variants(comparison):
    out, _ = comparison
    marks = {}
    for row in read_rows(out):
        key = (row["algo"], row["variant"])
        marks.setdefault(key, []).append(int(float(row["global_step"])))
    assert marks == {
        ("dqn", ""): [250, 500, 750, 1000],
        ("dqn", "tuned"): [250, 500, 750, 1000],
        ("dqn", "frozen"): [250, 500],
    }


def test_variant_runs_get_their_options(comparison):
    out, _ = comparison
    tuned = yaml.safe_load((out / "runs" / "tuned-seed0" / "config.yaml").read_text())
    assert tuned["optimizer"] == "rmsprop"
    assert tuned["hidden_sizes"] == [32, 32]
    assert tuned["learning_starts"] == 200
    assert tuned["learning_rate"] == 0.002
    assert tuned["gamma"] == 0.95
    assert tuned["eval_every"] == 250
    assert tuned["seed"] == 0
    assert tuned["algo"] == "dqn"
    frozen = yaml.safe_load((out / "runs" / "frozen-seed0" / "config.yaml").read_text())
    assert frozen["learning_rate"] == 1e-9


def test_finished_and_stopped_runs_kept(comparison, capsys):
    out, config_path = comparison
    assert train_main(compare_command(out, config_path)) == 0
    output = capsys.readouterr().out
    for name in ("dqn", "tuned", "frozen"):
        assert f"{name} seed 0: finished earlier, kept" in output, name
    assert "training ..." not in output


def test_redefined_variant_same_name_exits_2(comparison, capsys):
    out, config_path = comparison
    command = compare_command(out, config_path)
    index = next(i for i, item in enumerate(command) if item.startswith("frozen:"))
    command[index] = "frozen:learning_starts=100,learning_rate=1e-3,early_stop_patience=1"
    assert train_main(command) == 2
    captured = capsys.readouterr()
    assert "frozen-seed0 was trained with options" in captured.err
    assert "give the changed variant a new name" in captured.err
    assert "training ..." not in captured.out


def test_variant_list_values_and_flags(tmp_path):
    spec = parse_variant("wide:hidden_sizes=256,256,dueling=true,learning-rate=3e-4", "snake")
    assert spec.name == "wide"
    assert spec.overrides == {"hidden_sizes": (256, 256), "dueling": True, "learning_rate": 3e-4}
    assert spec.config_file is None
    spec = parse_variant("file:config=tuned.yaml", "snake")
    assert spec.config_file.is_absolute()
    assert spec.config_file.name == "tuned.yaml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("adam", "expected NAME:KEY=VALUE"),
        ("adam:", "expected NAME:KEY=VALUE"),
        ("a/b:gamma=0.9", "invalid variant name 'a/b'"),
        ("sb3-dqn:gamma=0.9", "it is an algorithm name"),
        ("x:foo=1", "unknown snake option 'foo'"),
        ("x:board_size=4", "unknown snake option 'board_size'"),
        ("x:optimizer=sgd", "expected one of ['adam', 'rmsprop'], got 'sgd'"),
        ("x:seed=4", "cannot set seed"),
        ("x:algo=sb3-ppo", "compare other algorithms with --algos"),
        ("x:eval_episodes=5", "all runs share one evaluation protocol"),
        ("x:grid_size=8", "all runs play the same game"),
        ("x:gamma=0.9,gamma=0.8", "sets gamma twice"),
    ],
)
def test_invalid_variant_rejected(text, message):
    with pytest.raises(ConfigError) as error:
        parse_variant(text, "snake")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        (["x:gamma=7"], "variant 'x': gamma must be between 0 and 1, got 7.0"),
        (["x:config=missing.yaml"], "variant 'x': config file not found"),
        (["x:gamma=0.9", "x:gamma=0.8"], "variant name 'x' is used twice"),
        (["x:config={board}"], "its config file sets board_size 4, but the comparison plays"),
        (["x:lr_warmup_steps=100"], "variant 'x': lr_warmup_steps (100) ends before"),
    ],
)
def test_bad_variants_exit_2(variants, message, tmp_path, capsys):
    board = tmp_path / "board.yaml"
    board.write_text("board_size: 4\nwin_length: 4\n")
    out = tmp_path / "out"
    command = ["compare", "tictactoe", "--total-timesteps", "1000", "--out", str(out)]
    command += ["--variants", *[text.format(board=board) for text in variants]]
    with pytest.raises(SystemExit) as exit_info:
        train_main(command)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_schedule_options_for_baselines_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    command = ["compare", "snake", "--algos", "dqn,sb3-ppo", "--total-timesteps", "1000"]
    command += ["--out", str(out), "--", "--lr-schedule", "cosine"]
    with pytest.raises(SystemExit) as exit_info:
        train_main(command)
    assert exit_info.value.code == 2
    assert "lr_schedule applies to --algo dqn only, got --algo sb3-ppo" in capsys.readouterr().err
    assert not out.exists()
