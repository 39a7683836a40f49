"""Learning-rate schedules and early stopping: formulas, real evaluations, real runs, resume."""

import json
import math
import shutil

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.checkpoint import load_model_file, save_model_file
from agents.config import ConfigError, resolve_config
from agents.evaluation import evaluate_tictactoe
from agents.policies import AgentPolicy
from agents.schedules import EarlyStopping, LearningRateSchedule
from agents.trainer import Trainer
from envs.tictactoe_solver import solve_positions
from tests.conftest import run_script
from train import main as train_main

BASE_RATE = 1e-3

# A tic-tac-toe run that never updates its network (learning_starts is past the budget), so
# every evaluation returns the same metrics: the score stalls from the second evaluation on.
# Updates start at step 100, but with a learning rate of 1e-9 the greedy play, and so the
# evaluation score, stays that of the untrained network.
FROZEN_TICTACTOE = [
    "--total-timesteps",
    "5000",
    "--learning-starts",
    "100",
    "--learning-rate",
    "1e-9",
    "--lr-min",
    "0",
    "--eval-every",
    "500",
    "--eval-episodes",
    "3",
    "--final-eval-episodes",
    "3",
    "--save-every-steps",
    "500",
    "--buffer-size",
    "5000",
    "--num-envs",
    "4",
    "--log-interval",
    "500",
    "--no-progress",
    "--lr-schedule",
    "plateau",
    "--lr-plateau-patience",
    "1",
    "--early-stop-patience",
    "3",
]

COSINE_TICTACTOE = [
    "--total-timesteps",
    "3000",
    "--learning-starts",
    "300",
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
    "5",
    "--log-interval",
    "250",
    "--no-progress",
    "--lr-schedule",
    "cosine",
    "--lr-warmup-steps",
    "1000",
    "--lr-final-fraction",
    "0.2",
]


def train(*args):
    """Run train.py in this process (the same code path, without a new interpreter)."""
    return train_main([str(arg) for arg in args])


def learning_rates(run_dir):
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {event.step: event.value for event in events.Scalars("train/learning_rate")}


def schedule_config(**overrides):
    values = {
        "total_timesteps": 10_000,
        "learning_starts": 500,
        "learning_rate": BASE_RATE,
        "lr_final_fraction": 0.1,
        **overrides,
    }
    return resolve_config("tictactoe", values)


class PerfectTablePolicy:
    """Plays a minimax-optimal move in every reachable 3 x 3 position."""

    name = "perfect"

    def __init__(self):
        table = solve_positions(3, 3)
        self.rows = {row.tobytes(): index for index, row in enumerate(table.observations)}
        self.moves = table.optimal_mask.argmax(axis=1)

    def select_actions(self, observations, action_masks):
        observations = np.asarray(observations, dtype=np.int8)
        return np.array([self.moves[self.rows[row.tobytes()]] for row in observations])


@pytest.fixture(scope="module")
def frozen_trainer(tmp_path_factory):
    config = resolve_config(
        "tictactoe",
        {
            "total_timesteps": 5000,
            "learning_starts": 100_000,
            "buffer_size": 5000,
            "num_envs": 2,
            "progress": False,
            "lr_schedule": "plateau",
            "lr_plateau_patience": 2,
            "lr_plateau_factor": 0.5,
            "early_stop_patience": 3,
        },
    )
    return Trainer("tictactoe", config, tmp_path_factory.mktemp("frozen"))


@pytest.fixture(scope="module")
def untrained_metrics(frozen_trainer):
    return frozen_trainer.evaluate_policy(AgentPolicy(frozen_trainer.agent), 5)


@pytest.fixture(scope="module")
def perfect_metrics():
    return evaluate_tictactoe(PerfectTablePolicy(), num_games=5)


@pytest.fixture(scope="module")
def cosine_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cosine") / "run"
    assert train("tictactoe", *COSINE_TICTACTOE, "--run-dir", run_dir) == 0
    return run_dir


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("frozen-run") / "run"
    assert train("tictactoe", *FROZEN_TICTACTOE, "--run-dir", run_dir) == 0
    return run_dir


# (schedule, warm-up steps, step, expected learning rate) with total_timesteps 10,000,
# learning_rate 1e-3 and lr_final_fraction 0.1, so the final rate is 1e-4.
SCHEDULE_VALUES = [
    ("constant", 0, 0, 1e-3),
    ("constant", 0, 10_000, 1e-3),
    ("constant", 2000, 500, 1e-3 * 500 / 2000),
    ("constant", 2000, 2000, 1e-3),
    ("linear", 0, 0, 1e-3),
    ("linear", 0, 5000, 1e-3 + (1e-4 - 1e-3) * 0.5),
    ("linear", 0, 10_000, 1e-4),
    ("linear", 2000, 1000, 1e-3 * 1000 / 2000),
    ("linear", 2000, 2000, 1e-3),
    ("linear", 2000, 6000, 1e-3 + (1e-4 - 1e-3) * 0.5),
    ("linear", 2000, 10_000, 1e-4),
    ("cosine", 0, 0, 1e-3),
    ("cosine", 0, 2500, 1e-4 + 9e-4 * (1 + math.cos(math.pi / 4)) / 2),
    ("cosine", 0, 5000, 1e-4 + 9e-4 * 0.5),
    ("cosine", 0, 10_000, 1e-4),
    ("cosine", 2000, 600, 1e-3 * 600 / 2000),
    ("cosine", 2000, 4000, 1e-4 + 9e-4 * (1 + math.cos(math.pi / 4)) / 2),
    ("cosine", 2000, 10_000, 1e-4),
    ("plateau", 0, 7000, 1e-3),
    ("plateau", 2000, 1500, 1e-3 * 1500 / 2000),
]


@pytest.mark.parametrize(("schedule", "warmup", "step", "expected"), SCHEDULE_VALUES)
def test_schedule_value_at_step(schedule, warmup, step, expected):
    config = schedule_config(lr_schedule=schedule, lr_warmup_steps=warmup)
    assert LearningRateSchedule(config).value(step) == pytest.approx(expected, rel=1e-12)


def test_plateau_reduces_after_patience(frozen_trainer, untrained_metrics, perfect_metrics):
    schedule = LearningRateSchedule(frozen_trainer.config)
    rates = []
    for step, metrics in enumerate([untrained_metrics] * 5, start=1):
        schedule.on_evaluation(step * 500, metrics["score"])
        rates.append(schedule.value(step * 500))
    # With patience 2, the second and third evaluations stall, so the third one reduces the
    # rate. The fourth and fifth stall again and reduce it once more.
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])
    schedule.on_evaluation(3000, perfect_metrics["score"])
    schedule.on_evaluation(3500, perfect_metrics["score"])
    assert schedule.value(3500) == pytest.approx(2.5e-4)
    assert schedule.plateau.best_step == 3000


def test_plateau_stops_at_lr_min(untrained_metrics):
    config = schedule_config(lr_schedule="plateau", lr_plateau_patience=1, lr_min=3e-4)
    schedule = LearningRateSchedule(config)
    for step in range(1, 6):
        schedule.on_evaluation(step * 500, untrained_metrics["score"])
    assert schedule.num_reductions == 4
    assert schedule.value(3000) == pytest.approx(3e-4)


def test_target_reached_with_perfect_play(frozen_trainer, perfect_metrics, untrained_metrics):
    assert perfect_metrics["losing_lines"] == 0
    assert untrained_metrics["losing_lines"] > 0
    config = resolve_config("tictactoe", {"stop_at_target": True})
    stopping = EarlyStopping(config, "tictactoe")
    assert stopping.check(5000, untrained_metrics) is None
    reason = stopping.check(10_000, perfect_metrics)
    assert reason == "reached target: never loses in the exhaustive check at step 10000"


def test_evaluations_before_the_first_update_do_not_count(frozen_trainer, untrained_metrics):
    # learning_starts is 100,000: no update yet, so stalled evaluations are not stalls.
    assert frozen_trainer.agent.num_updates == 0
    step = frozen_trainer.global_step
    for _ in range(6):
        frozen_trainer.global_step += 500
        for callback in frozen_trainer.evaluation_callbacks:
            callback(frozen_trainer, untrained_metrics)
    assert frozen_trainer.stop_reason is None
    assert frozen_trainer.schedules.learning_rate.num_reductions == 0
    frozen_trainer.global_step = step


def test_evaluation_callback_requests_stop(frozen_trainer, untrained_metrics):
    frozen_trainer.agent.num_updates = 1  # as after the first update
    for _ in range(3):
        frozen_trainer.global_step += 500
        for callback in frozen_trainer.evaluation_callbacks:
            callback(frozen_trainer, untrained_metrics)
        assert frozen_trainer.stop_reason is None
    frozen_trainer.global_step += 500
    for callback in frozen_trainer.evaluation_callbacks:
        callback(frozen_trainer, untrained_metrics)
    assert frozen_trainer.stop_reason.startswith("3 evaluations without a better evaluation score")
    assert frozen_trainer.stop_reason.endswith("stopped at step 2000")


def test_tensorboard_learning_rate_follows_cosine(cosine_run):
    rates = learning_rates(cosine_run)
    assert sorted(rates) == list(range(250, 3001, 250))
    config = resolve_config(
        "tictactoe",
        {
            "total_timesteps": 3000,
            "learning_starts": 300,
            "lr_schedule": "cosine",
            "lr_warmup_steps": 1000,
            "lr_final_fraction": 0.2,
        },
    )
    schedule = LearningRateSchedule(config)
    for step, logged in rates.items():
        assert logged == pytest.approx(schedule.value(step), rel=1e-6), step
    assert rates[250] == pytest.approx(2.5e-4, rel=1e-6)
    assert rates[1000] == pytest.approx(1e-3, rel=1e-6)
    assert rates[3000] == pytest.approx(2e-4, rel=1e-6)


def test_resume_keeps_cosine_schedule(cosine_run, tmp_path, capsys):
    run_dir = tmp_path / "resumed"
    shutil.copytree(cosine_run, run_dir)
    (run_dir / "checkpoints" / "step_000003000.pt").unlink()
    (run_dir / "results.json").unlink()
    assert train("tictactoe", "--resume", run_dir, "--no-progress") == 0
    assert "step_000002000.pt" in capsys.readouterr().out
    resumed = learning_rates(run_dir)
    original = learning_rates(cosine_run)
    for step in (2250, 2500, 2750, 3000):
        assert resumed[step] == pytest.approx(original[step], rel=1e-6), step


def test_plateau_and_patience_in_real_run(frozen_run):
    results = json.loads((frozen_run / "results.json").read_text())
    assert results["total_timesteps"] == 2000
    assert results["stop_reason"] == (
        "3 evaluations without a better evaluation score than "
        f"{results['metrics']['score']:.4f} (step 500); stopped at step 2000"
    )
    # The final evaluation of the best model still ran.
    assert results["best_model_step"] == 500
    assert results["final_eval_episodes"] == 3
    rates = learning_rates(frozen_run)
    # Each evaluation from the second one reduces the rate; the next log shows it.
    assert rates[500] == pytest.approx(1e-9)
    assert rates[1000] == pytest.approx(1e-9)
    assert rates[1500] == pytest.approx(5e-10)
    assert rates[2000] == pytest.approx(2.5e-10)
    checkpoint = load_model_file(frozen_run / "checkpoints" / "step_000002000.pt")
    assert checkpoint["schedules"]["learning_rate"]["num_reductions"] == 3
    assert checkpoint["schedules"]["early_stopping"]["counter"]["best_step"] == 500


def test_resume_keeps_plateau_state(frozen_run, tmp_path):
    run_dir = tmp_path / "resumed"
    shutil.copytree(frozen_run, run_dir)
    assert train("tictactoe", "--resume", run_dir, "--no-progress") == 0
    results = json.loads((run_dir / "results.json").read_text())
    # The restored counters stop the run at the next evaluation, at the reduced rate.
    assert results["total_timesteps"] == 2500
    assert results["stop_reason"].startswith("4 evaluations without a better evaluation score")
    assert results["stop_reason"].endswith("(step 500); stopped at step 2500")
    assert learning_rates(run_dir)[2500] == pytest.approx(1.25e-10)


def test_checkpoint_without_schedule_state_resumes(frozen_run, tmp_path):
    run_dir = tmp_path / "old"
    shutil.copytree(frozen_run, run_dir)
    path = run_dir / "checkpoints" / "step_000002000.pt"
    payload = load_model_file(path)
    del payload["schedules"]
    save_model_file(path, payload)
    assert train("tictactoe", "--resume", run_dir, "--no-progress") == 0
    results = json.loads((run_dir / "results.json").read_text())
    # Fresh counters: the first evaluation after the resume sets the best score again.
    assert results["total_timesteps"] == 4000
    assert learning_rates(run_dir)[2500] == pytest.approx(1e-9)


def test_snake_stops_at_target_score(tmp_path):
    run_dir = tmp_path / "snake"
    code = train(
        "snake",
        "--total-timesteps",
        "6000",
        "--learning-starts",
        "200",
        "--eval-every",
        "500",
        "--eval-episodes",
        "3",
        "--final-eval-episodes",
        "3",
        "--buffer-size",
        "5000",
        "--num-envs",
        "4",
        "--no-progress",
        "--no-progress-factor",
        "5",
        "--stop-at-target",
        "--target-score",
        "1",
        "--run-dir",
        run_dir,
    )
    assert code == 0

    results = json.loads((run_dir / "results.json").read_text())
    rows = (run_dir / "evaluations.csv").read_text().splitlines()
    header = rows[0].split(",")
    scores = [float(row.split(",")[header.index("mean_score")]) for row in rows[1:]]

    assert results["total_timesteps"] < 6000
    assert results["stop_reason"].startswith("reached target: greedy mean score")
    assert results["stop_reason"].endswith(f"at step {results['total_timesteps']}")
    assert scores[-1] >= 1
    assert all(score < 1 for score in scores[:-1])
    assert "mean_score" in results["metrics"]


@pytest.mark.parametrize(
    ("env_name", "values", "message"),
    [
        ("tictactoe", {"lr_schedule": "step"}, "lr_schedule must be one of"),
        ("tictactoe", {"lr_warmup_steps": -1}, "lr_warmup_steps must be zero or positive"),
        ("tictactoe", {"lr_warmup_steps": 1000}, "ends before the first update"),
        ("tictactoe", {"lr_warmup_steps": 200_000}, "must be below total_timesteps"),
        ("tictactoe", {"lr_final_fraction": 1.5}, "lr_final_fraction must be between 0 and 1"),
        ("tictactoe", {"lr_plateau_factor": 1.0}, "lr_plateau_factor must be in (0, 1)"),
        ("tictactoe", {"lr_plateau_patience": 0}, "lr_plateau_patience must be positive"),
        ("tictactoe", {"lr_min": 0.5}, "lr_min must be between 0 and learning_rate"),
        ("tictactoe", {"early_stop_patience": -2}, "early_stop_patience must be zero"),
        (
            "tictactoe",
            {"stop_at_target": True, "board_size": 4, "win_length": 4},
            "3 x 3 with 3 in a row only",
        ),
        ("snake", {"stop_at_target": True}, "needs --target-score"),
        ("snake", {"target_score": 5.0}, "has no effect without --stop-at-target"),
        ("snake", {"target_score": -1.0, "stop_at_target": True}, "target_score must be zero"),
        ("snake", {"algo": "sb3-dqn", "lr_schedule": "cosine"}, "applies to --algo dqn only"),
        ("snake", {"algo": "sb3-ppo", "early_stop_patience": 2}, "applies to --algo dqn only"),
        ("tictactoe", {"algo": "sb3-dqn", "prioritized_replay": True}, "replay applies"),
    ],
)
def test_invalid_schedule_options_rejected(env_name, values, message):
    with pytest.raises(ConfigError) as error:
        resolve_config(env_name, values)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tictactoe", "--lr-schedule", "step"], "argument --lr-schedule: expected one of"),
        (["tictactoe", "--lr-plateau-factor", "2"], "lr_plateau_factor must be in (0, 1)"),
        (["tictactoe", "--early-stop-patience", "x"], "expected an integer, got 'x'"),
    ],
)
def test_bad_schedule_options_exit_2(args, message, tmp_path, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train(*args, "--total-timesteps", "1000", "--run-dir", run_dir)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not run_dir.exists()


def test_bad_schedule_option_in_new_process(tmp_path):
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py", "snake", "--stop-at-target", "--total-timesteps", "1000", "--run-dir", run_dir
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "train.py: error: stop_at_target on snake needs --target-score (greedy mean apples)"
    ]
    assert not run_dir.exists()
