"""train.py compare: runs, resumability, the CSV, the report and its plots."""

import csv

import pytest

from agents.compare import confidence_interval
from tests.conftest import run_script

OPTIONS = [
    "--",
    "--eval-every",
    "1000",
    "--eval-episodes",
    "3",
    "--final-eval-episodes",
    "3",
    "--num-envs",
    "2",
    "--n-steps",
    "128",
    "--learning-starts",
    "200",
    "--buffer-size",
    "5000",
]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    result = run_script(
        "train.py",
        "compare",
        "tictactoe",
        "--algos",
        "dqn,sb3-dqn",
        "--seeds",
        "0,1",
        "--total-timesteps",
        "2000",
        "--jobs",
        "2",
        "--out",
        out,
        *OPTIONS,
        check=True,
    )
    return out, result


def test_report_files(comparison):
    out, _ = comparison
    for name in ("evaluations.csv", "report.md", "metric_vs_steps.png", "metric_vs_seconds.png"):
        assert (out / name).is_file(), name
    assert (out / "metric_vs_steps.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "| dqn | 2 |" in report
    assert "| sb3-dqn | 2 |" in report
    assert "python train.py compare tictactoe" in report
    assert "illegal move" in report


def test_evaluations_cover_every_run_at_same_marks(comparison):
    out, _ = comparison
    with (out / "evaluations.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    marks = {}
    for row in rows:
        marks.setdefault((row["algo"], row["seed"]), []).append(int(float(row["global_step"])))
    assert set(marks) == {("dqn", "0"), ("dqn", "1"), ("sb3-dqn", "0"), ("sb3-dqn", "1")}
    assert all(steps == [1000, 2000] for steps in marks.values())


def test_finished_runs_are_not_trained_again(comparison):
    out, _ = comparison
    again = run_script(
        "train.py",
        "compare",
        "tictactoe",
        "--algos",
        "dqn,sb3-dqn",
        "--seeds",
        "0,1",
        "--total-timesteps",
        "2000",
        "--out",
        out,
        *OPTIONS,
        check=True,
    )
    assert again.stdout.count("finished earlier, kept") == 4
    assert "training" not in again.stdout


def test_bad_compare_options_exit_2(tmp_path):
    unknown = run_script(
        "train.py",
        "compare",
        "snake",
        "--algos",
        "dqn,ppo9",
        "--total-timesteps",
        "100",
        "--out",
        tmp_path,
    )
    assert unknown.returncode == 2
    assert "ppo9" in unknown.stderr
    forwarded = run_script(
        "train.py",
        "compare",
        "snake",
        "--total-timesteps",
        "100",
        "--out",
        tmp_path,
        "--",
        "--gamma",
        "7",
    )
    assert forwarded.returncode == 2
    assert "gamma" in forwarded.stderr


def test_confidence_interval_values():
    mean, half = confidence_interval([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0)
    # t(0.975, 2) * sd / sqrt(3) = 4.303 * 1 / 1.732
    assert half == pytest.approx(4.303 / 3**0.5, rel=1e-3)
    assert confidence_interval([5.0]) == (5.0, 0.0)
