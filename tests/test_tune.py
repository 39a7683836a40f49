"""train.py tune: worker processes on SQLite and PostgreSQL, pruning, the report, bad input."""

import csv
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import optuna
import pytest
import yaml

from agents.tune import open_storage
from agents.tune_space import SpaceError, load_space
from tests.conftest import run_script

# A small, fast space in which every key but the learning rate has one value. With an
# update every step, a trial's score rises well above the untrained network's in 2,000 steps.
TEST_SPACE = {
    "learning_rate": {"type": "float", "low": 1.0e-3, "high": 2.0e-3, "log": True},
    "gamma": {"type": "categorical", "choices": [0.95]},
    "batch_size": {"type": "categorical", "choices": [64]},
    "buffer_size": {"type": "categorical", "choices": [5000]},
    "target_update_interval": {"type": "categorical", "choices": [100]},
    "exploration_fraction": {"type": "categorical", "choices": [0.3]},
    "train_freq": {"type": "categorical", "choices": [1]},
    "hidden_layers": {"type": "int", "low": 1, "high": 1},
    "hidden_width": {"type": "categorical", "choices": [64]},
    "activation": {"type": "categorical", "choices": ["relu"]},
    "optimizer": {"type": "categorical", "choices": ["adam"]},
    "dropout": {"type": "categorical", "choices": [0.0]},
    "weight_decay": {"type": "categorical", "choices": [0.0]},
}
TRIAL_OPTIONS = [
    "--trial-timesteps",
    "2000",
    "--",
    "--learning-starts",
    "200",
    "--eval-every",
    "500",
    "--eval-episodes",
    "2",
    "--final-eval-episodes",
    "2",
    "--num-envs",
    "4",
]


def tune(space_file, run_dir, *options, fixed=(), timeout=300):
    """Run ``train.py tune tictactoe`` with the test space, tiny trials and ``fixed`` options."""
    return run_script(
        "train.py",
        "tune",
        "tictactoe",
        "--space",
        space_file,
        "--run-dir",
        run_dir,
        *options,
        *TRIAL_OPTIONS,
        *fixed,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def space_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "space.yaml"
    path.write_text(yaml.safe_dump(TEST_SPACE))
    return path


@pytest.fixture(scope="module")
def sqlite_study(tmp_path_factory, space_file):
    """Two workers at once on one SQLite study, then one more run that adds a doomed trial."""
    folder = tmp_path_factory.mktemp("tune")
    run_dir = folder / "run"
    save_best = folder / "configs" / "best.yaml"
    first = tune(space_file, run_dir, "--n-trials", "2", "--jobs", "2", "--save-best", save_best)
    assert first.returncode == 0, first.stdout + first.stderr
    # A learning rate of 1e-9 leaves the network as initialised, so its scores stay below
    # those of the trained trials and the median pruner stops it.
    second = tune(
        space_file,
        run_dir,
        "--n-trials",
        "1",
        "--pruner-startup-trials",
        "1",
        "--pruner-warmup-steps",
        "0",
        fixed=["--learning-rate", "1e-9"],
    )
    assert second.returncode == 0, second.stdout + second.stderr
    storage = f"sqlite:///{run_dir / 'study.db'}"
    study = optuna.load_study(study_name="tune-tictactoe-dqn", storage=storage)
    return run_dir, save_best, study, first, second


def test_sqlite_workers_share_one_study(sqlite_study):
    run_dir, _, study, _, _ = sqlite_study
    first_two = [trial for trial in study.trials if trial.number < 2]
    assert len(first_two) == 2
    assert {trial.user_attrs["worker"] for trial in first_two} == {0, 1}
    assert len({trial.user_attrs["worker_pid"] for trial in first_two}) == 2
    assert all(trial.state.name == "COMPLETE" for trial in first_two)
    for trial in first_two:
        assert (Path(trial.user_attrs["trial_dir"]) / "results.json").is_file()
        assert Path(trial.user_attrs["trial_dir"]).parent == run_dir / "trials"


def test_rerun_resumes_and_prunes(sqlite_study):
    _, _, study, _, second = sqlite_study
    assert len(study.trials) == 3
    doomed = study.trials[2]
    assert doomed.state.name == "PRUNED", second.stdout
    assert doomed.user_attrs["config"]["learning_rate"] == pytest.approx(1e-9)
    assert "learning_rate" not in doomed.params
    results = (Path(doomed.user_attrs["trial_dir"]) / "results.json").read_text()
    assert "pruned by Optuna at step" in results
    assert "pruned at step" in second.stdout
    assert "Fixed by options, not searched: learning_rate" in second.stdout


def test_report_files(sqlite_study):
    run_dir, _, study, _, _ = sqlite_study
    with (run_dir / "trials.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["state"] for row in rows] == ["COMPLETE", "COMPLETE", "PRUNED"]
    best = max(trial.value for trial in study.trials if trial.state.name == "COMPLETE")
    assert float(rows[0]["value"]) == pytest.approx(best)
    assert rows[2]["value"] == ""
    assert int(rows[2]["pruned_at_step"]) > 0
    assert {"duration_s", "learning_rate", "hidden_width", "worker_pid"} <= set(rows[0])
    report = (run_dir / "report.md").read_text()
    assert "## Best trials" in report
    assert "final evaluation of each trial's best model" in report
    for name in ("optimization_history.png", "param_importances.png", "intermediate_values.png"):
        assert (run_dir / name).stat().st_size > 10_000, name
        assert f"]({name})" in report


def test_best_config_trains(sqlite_study, tmp_path):
    run_dir, save_best, study, _, _ = sqlite_study
    best_file = run_dir / "best_config.yaml"
    values = yaml.safe_load(best_file.read_text())
    assert yaml.safe_load(save_best.read_text()) == values
    best = max(
        (trial for trial in study.trials if trial.state.name == "COMPLETE"),
        key=lambda trial: trial.value,
    )
    assert values["learning_rate"] == pytest.approx(best.params["learning_rate"])
    assert values["hidden_sizes"] == [best.params["hidden_width"]]
    assert "total_timesteps" not in values
    assert "run_dir" not in values

    trained = run_script(
        "train.py",
        "tictactoe",
        "--config",
        best_file,
        "--total-timesteps",
        "600",
        "--eval-every",
        "600",
        "--eval-episodes",
        "2",
        "--final-eval-episodes",
        "2",
        "--run-dir",
        tmp_path / "from-best",
        "--no-progress",
    )
    assert trained.returncode == 0, trained.stderr
    written = yaml.safe_load((tmp_path / "from-best" / "config.yaml").read_text())
    assert written["learning_rate"] == pytest.approx(values["learning_rate"])
    assert written["hidden_sizes"] == values["hidden_sizes"]


def _postgres_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_url():
    """Start a throwaway PostgreSQL cluster on 127.0.0.1 and yield a database URL."""
    binaries = _postgres_bin()
    missing = None
    if binaries is None:
        missing = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)"
    elif os.geteuid() == 0 and shutil.which("runuser") is None:
        missing = "running as root but runuser is missing, and initdb refuses root"
    if missing is not None:
        if os.environ.get("DQN_ARENA_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"DQN_ARENA_REQUIRE_POSTGRES=1 but {missing}")
        pytest.skip(missing)
    psycopg2 = pytest.importorskip("psycopg2")

    # initdb refuses to run as root, so the cluster belongs to the postgres user then.
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="dqn-arena-pg-"))
    if as_owner:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    port = _free_port()

    def control(*command):
        subprocess.run(
            [*as_owner, *map(str, command)],
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=120,
        )

    control(
        binaries / "initdb", "-D", data, "-U", "tuner", "--auth=trust", "-E", "UTF8", "--no-sync"
    )
    # A throwaway cluster: no fsync, and an immediate stop at the end.
    server_options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    control(
        binaries / "pg_ctl",
        "-D",
        data,
        "-l",
        folder / "server.log",
        "-o",
        server_options,
        "-w",
        "start",
    )
    try:
        connection = psycopg2.connect(host="127.0.0.1", port=port, user="tuner", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE tune")
        connection.close()
        yield f"postgresql://tuner@127.0.0.1:{port}/tune"
    finally:
        control(binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_workers_share_one_study(postgres_url, space_file, tmp_path):
    run_dir = tmp_path / "run"
    result = tune(
        space_file,
        run_dir,
        "--n-trials",
        "2",
        "--jobs",
        "2",
        "--storage",
        postgres_url,
        "--study-name",
        "pg-study",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = optuna.load_study(study_name="pg-study", storage=open_storage(postgres_url))
    assert len(study.trials) == 2
    assert {trial.user_attrs["worker"] for trial in study.trials} == {0, 1}
    assert len({trial.user_attrs["worker_pid"] for trial in study.trials}) == 2
    assert all(trial.state.name == "COMPLETE" for trial in study.trials)
    assert not (run_dir / "study.db").exists()
    assert (run_dir / "best_config.yaml").is_file()


@pytest.mark.parametrize(
    ("space_text", "message"),
    [
        ("learning_rat: {type: float, low: 0.1, high: 0.2}\n", "not a train.py option"),
        ("gamma: {type: float, low: 0.5, high: 1.5}\n", "gamma must be between 0 and 1"),
        ("gamma: {type: float, low: 0.9, high: 0.5}\n", "low 0.9 is above high 0.5"),
        ("gamma: {type: float, low: 0.9}\n", "needs low and high"),
        ("gamma: {type: float, low: 0.9, hi: 0.99}\n", "unknown field 'hi'"),
        ("learning_rate: {type: float, low: 0, high: 0.1, log: true}\n", "needs low above 0"),
        ("batch_size: {type: float, low: 16, high: 64}\n", "use type int or categorical"),
        ("batch_size: {type: normal, low: 16, high: 64}\n", "type must be float, int"),
        ("activation: {type: categorical, choices: [tanh]}\n", "expected one of"),
        ("activation: {type: categorical, choices: []}\n", "non-empty list"),
        ("hidden_sizes: {type: categorical, choices: [[64, 64]]}\n", 'write a network as "64,64"'),
        ("grid_size: {type: int, low: 5, high: 9}\n", "a snake option"),
        ("eval_every: {type: int, low: 5, high: 9}\n", "a per-run setting"),
        ("n_epochs: {type: int, low: 5, high: 9}\n", "only by the Stable-Baselines3 baselines"),
        ("hidden_width: null\n", "hidden_layers and hidden_width are searched together"),
        ("hidden_width: {type: int, low: 8, high: 100000}\n", "at most 65,536 units"),
        ("- gamma\n", "must be a mapping"),
        ("gamma: [0.9, 0.99\n", "malformed search space file"),
    ],
)
def test_bad_space_rejected(tmp_path, space_text, message):
    space = tmp_path / "space.yaml"
    space.write_text(space_text)
    with pytest.raises(SpaceError, match=re.escape(message)):
        load_space("tictactoe", space, {})


def test_space_file_narrows_widens_and_removes(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "gamma: {type: categorical, choices: [0.9, 0.99]}\n"
        "tau: {type: float, low: 0.5, high: 1.0}\n"
        "dropout: null\n"
    )
    loaded, dropped = load_space("tictactoe", space, {"learning_rate": 1e-3})
    by_name = {parameter.name: parameter for parameter in loaded.parameters}
    assert by_name["gamma"].choices == (0.9, 0.99)
    assert by_name["tau"].low == 0.5
    assert "dropout" not in by_name
    assert "learning_rate" not in by_name
    assert dropped == ["learning_rate"]
    assert "hidden_layers" in by_name


def test_space_suggests_config_values(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "hidden_layers: null\n"
        "hidden_width: null\n"
        'hidden_sizes: {type: categorical, choices: ["32,16"]}\n'
        "train_freq: {type: int, low: 2, high: 2}\n"
    )
    loaded, _ = load_space("tictactoe", space, {})
    trial = optuna.create_study(direction="maximize").ask()
    overrides = loaded.suggest(trial)
    assert overrides["hidden_sizes"] == (32, 16)
    assert overrides["train_freq"] == 2
    assert trial.params["hidden_sizes"] == "32,16"
    assert set(overrides) == set(loaded.names)

    default, _ = load_space("tictactoe", None, {})
    overrides = default.suggest(optuna.create_study(direction="maximize").ask())
    assert "hidden_layers" not in overrides
    assert len(overrides["hidden_sizes"]) in (1, 2, 3)
    assert len(set(overrides["hidden_sizes"])) == 1


def test_bad_space_file_exits_2(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("gamma: {type: float, low: 0.5, high: 1.5}\n")
    result = run_script(
        "train.py", "tune", "tictactoe", "--n-trials", "2", "--space", space,
        "--run-dir", tmp_path / "run",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "gamma must be between 0 and 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--n-trials", "0"], "expected a positive integer, got '0'"),
        (["--n-trials", "2", "--", "--gamma", "7"], "gamma must be between 0 and 1"),
        (["--n-trials", "2", "--storage", "nosuchdb://x"], "cannot open the Optuna storage"),
        (["--n-trials", "2", "--trial-timesteps", "1500"], "not above learning_starts (2,000)"),
        (["--n-trials", "2", "--save-best", "/proc/best.yaml"], "cannot write to /proc"),
    ],
)
def test_bad_options_exit_2(tmp_path, options, message):
    result = run_script("train.py", "tune", "tictactoe", "--run-dir", tmp_path / "run", *options)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_used_study_rejects_clashing_runs(sqlite_study, tmp_path):
    run_dir, *_ = sqlite_study
    # TEST_SPACE searches learning_rate as a float; as a categorical Optuna cannot mix them.
    clash = tmp_path / "clash.yaml"
    clash.write_text("learning_rate: {type: categorical, choices: [0.001, 0.01]}\n")
    trials_before = len(list(run_dir.glob("trials/trial_*")))
    result = tune(clash, run_dir, "--n-trials", "1")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "in a way study" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    other_game = run_script(
        "train.py", "tune", "snake", "--run-dir", run_dir, "--n-trials", "1",
        "--trial-timesteps", "6000",
    )  # fmt: skip
    assert other_game.returncode == 2, other_game.stdout + other_game.stderr
    assert "contains a tictactoe study" in other_game.stderr
    assert len(list(run_dir.glob("trials/trial_*"))) == trials_before


def test_sigterm_to_parent_stops_every_worker(space_file, tmp_path):
    import signal
    import sys
    import time

    from tests.conftest import ROOT

    run_dir = tmp_path / "run"
    command = [
        sys.executable, str(ROOT / "train.py"), "tune", "tictactoe", "--space", str(space_file),
        "--run-dir", str(run_dir), "--n-trials", "6", "--jobs", "2", "--trial-timesteps",
        "20000", "--", "--learning-starts", "200", "--eval-every", "5000",
    ]  # fmt: skip
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 240
    while len(list(run_dir.glob("trials/trial_*/config.yaml"))) < 2:
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the workers never started training"
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=240)
    assert "waiting for the workers to save their trials and stop" in output
    # No worker lives on: no new trial appears once the parent has exited.
    trials_at_exit = sorted(path.name for path in run_dir.glob("trials/trial_*"))
    time.sleep(8)
    assert sorted(path.name for path in run_dir.glob("trials/trial_*")) == trials_at_exit
    assert len(trials_at_exit) < 6
