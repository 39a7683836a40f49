"""``train.py tune``: an Optuna search over DQN hyperparameters and network shapes.

Each trial samples the search space (:mod:`agents.tune_space`), trains a real
:class:`~agents.trainer.Trainer` run in ``RUN_DIR/trials/trial_NNNN`` for
``--trial-timesteps`` steps, and reports ``metrics["score"]`` of every periodic evaluation
to Optuna. The pruner compares those reports across trials at equal steps and stops a
trial that falls behind. The objective of a finished trial is the score of the final
evaluation of its best model (``final_eval_episodes`` episodes), as in ``results.json``.

The study lives in an Optuna storage: ``RUN_DIR/study.db`` (SQLite) by default, or any
database URL Optuna accepts (``--storage postgresql://...``). Running the command again
adds trials to the same study. ``--jobs K`` starts K worker processes, each running
``study.optimize`` on the shared storage; every trial records its worker's process id.
At the end the report is written from the storage (:mod:`agents.tune_report`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import logging
import os
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.config import (
    ENV_NAMES,
    ConciseArgumentParser,
    ConfigError,
    add_config_arguments,
    load_config_file,
    positive_int,
    resolve_config,
)
from agents.tune_space import RUN_KEYS, SearchSpace, load_space

# Steps per trial. On a 2-core CPU shared with other jobs (load about 6), a run with each
# game's default network and these steps took 132 s (tic-tac-toe) and 187 s (snake). On an
# idle machine, runs of 20,000 and 50,000 steps took 11 s and 28 s. A trial's sampled
# network and train_freq can make it several times slower or faster.
TRIAL_TIMESTEPS = {"tictactoe": 50_000, "snake": 100_000}
EVALUATIONS_PER_TRIAL = 10
# A running trial writes a heartbeat this often. When a worker is killed, its trial stops
# beating, and the next worker to start a trial marks it failed after the grace period.
_HEARTBEAT_SECONDS = 60
_GRACE_SECONDS = 180


@dataclass(frozen=True)
class TuneSettings:
    """Everything a worker process needs to run trials; picklable for ``spawn``.

    Attributes:
        env_name: Game to tune on.
        study_name: Optuna study name.
        storage_url: Optuna storage URL.
        run_dir: Folder of the study's trials and report.
        trial_timesteps: Environment steps per trial.
        space: The keys to sample.
        fixed: Options set for every trial (``--config`` file, then options after ``--``).
        pruner: ``"median"`` or ``"none"``.
        pruner_startup_trials: Finished trials before the pruner starts pruning.
        pruner_warmup_steps: Steps of a trial before it can be pruned.
        sampler_seed: Seed of the first worker's sampler (worker i uses seed + i), or None.
    """

    env_name: str
    study_name: str
    storage_url: str
    run_dir: Path
    trial_timesteps: int
    space: SearchSpace
    fixed: dict[str, Any]
    pruner: str
    pruner_startup_trials: int
    pruner_warmup_steps: int
    sampler_seed: int | None


def non_negative_int(text: str) -> int:
    """Parse a zero or positive integer for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def add_tune_parser(games: Any) -> None:
    """Add ``tune``: the hyperparameter search, with its options."""
    description = (
        "Search DQN hyperparameters and network shapes with Optuna. Each trial is a real "
        "training run in RUN_DIR/trials; the objective is the final evaluation score of the "
        "trial's best model. Running it again adds trials to the same study. Options after "
        "-- are fixed for every trial, e.g. -- --num-envs 8 --observation grid."
    )
    tune = games.add_parser(
        "tune", help="search hyperparameters with Optuna", description=description
    )
    tune.add_argument("game", choices=ENV_NAMES, help="game to tune on")
    tune.add_argument("--algo", choices=("dqn",), default="dqn", help="algorithm (only dqn)")
    tune.add_argument(
        "--n-trials", type=positive_int, required=True, metavar="N", help="trials to run now"
    )
    tune.add_argument(
        "--trial-timesteps",
        type=positive_int,
        default=None,
        metavar="STEPS",
        help="environment steps per trial (steps; default: "
        + ", ".join(f"{game} {steps:,}" for game, steps in TRIAL_TIMESTEPS.items())
        + ")",
    )
    tune.add_argument(
        "--space",
        metavar="FILE",
        help="YAML search space applied on top of configs/search_spaces/GAME.yaml",
    )
    tune.add_argument(
        "--config", metavar="FILE", help="config file of options fixed for every trial"
    )
    tune.add_argument(
        "--run-dir", help="folder for trials and report (default: runs/tune-GAME-dqn)"
    )
    tune.add_argument(
        "--storage", metavar="URL", help="Optuna storage URL (default: sqlite:///RUN_DIR/study.db)"
    )
    tune.add_argument("--study-name", metavar="NAME", help="study name (default: tune-GAME-dqn)")
    tune.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="K",
        help="worker processes running trials at once (default: 1)",
    )
    tune.add_argument(
        "--save-best", metavar="FILE", help="also write the best configuration here (YAML)"
    )
    tune.add_argument(
        "--pruner",
        choices=("median", "none"),
        default="median",
        help="median: stop a trial whose best score so far is below the median of earlier "
        "trials at the same step (default: median)",
    )
    tune.add_argument(
        "--pruner-startup-trials",
        type=non_negative_int,
        metavar="N",
        default=5,
        help="finished trials before pruning starts (default: 5)",
    )
    tune.add_argument(
        "--pruner-warmup-steps",
        type=non_negative_int,
        metavar="STEPS",
        default=None,
        help="steps of a trial before it can be pruned (steps; default: a third of the trial)",
    )
    tune.add_argument(
        "--sampler-seed",
        type=non_negative_int,
        default=None,
        metavar="SEED",
        help="seed of the first worker's TPE sampler; worker i uses SEED + i (default: random)",
    )
    tune.add_argument(
        "--top",
        type=positive_int,
        default=10,
        metavar="N",
        help="rows in the report's table of best trials (default: 10)",
    )


def parse_forwarded(env_name: str, forwarded: list[str]) -> dict[str, Any]:
    """Parse the ``train.py`` options given after ``--``; exit with code 2 on an error."""
    parser = ConciseArgumentParser(prog=f"train.py tune {env_name} -- (options for every trial)")
    add_config_arguments(parser, env_name)
    return dict(vars(parser.parse_args(forwarded)))


def trial_directory(run_dir: Path, number: int) -> Path:
    """Return the folder of one trial."""
    return Path(run_dir) / "trials" / f"trial_{number:04d}"


def trial_overrides(
    fixed: dict[str, Any], trial_timesteps: int, sampled: dict[str, Any], trial_dir: Path
) -> dict[str, Any]:
    """Return the configuration overrides of one trial.

    Per-trial defaults come first (evaluations spread over the trial, one checkpoint at the
    end, no replay buffer saved, no progress bar), then the fixed options, then the sampled
    values, then the budget and folder.
    """
    return {
        "eval_every": max(1, trial_timesteps // EVALUATIONS_PER_TRIAL),
        "save_every_steps": trial_timesteps,
        "save_every_minutes": 0.0,
        "save_replay_buffer": False,
        "progress": False,
        **fixed,
        **sampled,
        "total_timesteps": trial_timesteps,
        "run_dir": str(trial_dir),
    }


def tuned_values(fixed: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
    """Return the keys of a trial that a best-configuration file keeps, as plain YAML types.

    Per-run settings (budget, schedule, seed, folder, device) are left out, so training from
    the file uses the game's defaults for them.
    """
    values = {}
    for key, value in {**fixed, **sampled}.items():
        if key not in RUN_KEYS:
            values[key] = list(value) if isinstance(value, tuple) else value
    return values


def run_tune(args: argparse.Namespace, forwarded: list[str], command: str) -> int:
    """Check the options, run the trials in worker processes, then write the report."""
    try:
        settings, save_best = build_settings(args, forwarded)
    except ConfigError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = open_study(settings)
    except ConfigError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    quotas = split_trials(args.n_trials, args.jobs)
    describe_plan(settings, study, quotas)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    exit_codes = run_workers(settings, quotas)

    from agents.tune_report import write_study_report

    study = optuna.load_study(
        study_name=settings.study_name, storage=open_storage(settings.storage_url)
    )
    best_config = write_study_report(
        study,
        settings.env_name,
        settings.run_dir,
        storage_label(settings.storage_url),
        command,
        save_best,
        args.top,
    )
    failed_workers = [(index, code) for index, code in enumerate(exit_codes) if code != 0]
    for index, code in failed_workers:
        print(f"worker {index} exited with code {code}", file=sys.stderr)
    if best_config is None or failed_workers:
        return 1
    return 0


def build_settings(
    args: argparse.Namespace, forwarded: list[str]
) -> tuple[TuneSettings, Path | None]:
    """Resolve the study's settings from the command line.

    Raises:
        ConfigError: Naming the invalid option, file or value.
    """
    env_name = args.game
    fixed = load_config_file(args.config, env_name) if args.config else {}
    fixed.update(parse_forwarded(env_name, forwarded))
    if fixed.get("algo") == "dqn":
        del fixed["algo"]
    for key, instead in (
        ("total_timesteps", "--trial-timesteps"),
        ("run_dir", "--run-dir"),
        ("algo", "--algo"),
    ):
        if key in fixed:
            raise ConfigError(f"{key} cannot be fixed for trials; use tune's {instead}")

    run_dir = Path(args.run_dir or f"runs/tune-{env_name}-dqn").resolve()
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} is a file; choose a folder for --run-dir")
    save_best = Path(args.save_best) if args.save_best else None
    if save_best is not None and save_best.is_dir():
        raise ConfigError(
            f"--save-best {save_best} is a folder; give a file name such as configs/best.yaml"
        )
    if save_best is not None:
        _check_writable_folder(save_best.parent, "--save-best")

    trial_timesteps = args.trial_timesteps or TRIAL_TIMESTEPS[env_name]
    # Resolve a full trial configuration without sampled values, so that a bad fixed
    # option is reported as such before the search space is checked against it.
    base = trial_overrides(fixed, trial_timesteps, {}, trial_directory(run_dir, 0))
    base_config = resolve_config(env_name, base)
    if trial_timesteps <= base_config.learning_starts:
        raise ConfigError(
            f"--trial-timesteps {trial_timesteps:,} is not above learning_starts "
            f"({base_config.learning_starts:,}): trials would never update the network"
        )
    _check_run_dir_game(run_dir, env_name)
    space, dropped = load_space(env_name, args.space, base)
    if dropped:
        print(f"Fixed by options, not searched: {', '.join(dropped)}")
    warmup = args.pruner_warmup_steps
    settings = TuneSettings(
        env_name=env_name,
        study_name=args.study_name or f"tune-{env_name}-dqn",
        storage_url=args.storage or f"sqlite:///{run_dir / 'study.db'}",
        run_dir=run_dir,
        trial_timesteps=trial_timesteps,
        space=space,
        fixed=fixed,
        pruner=args.pruner,
        pruner_startup_trials=args.pruner_startup_trials,
        pruner_warmup_steps=trial_timesteps // 3 if warmup is None else warmup,
        sampler_seed=args.sampler_seed,
    )
    return settings, save_best


def _check_writable_folder(folder: Path, option: str) -> None:
    """Fail before any trial if ``folder`` cannot take a new file, instead of after them."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ConfigError(
            f"{option}: cannot write to {folder} ({error.strerror or error}); choose another path"
        ) from None


def _check_run_dir_game(run_dir: Path, env_name: str) -> None:
    """Refuse a run folder whose trials tune the other game; their files would be replaced."""
    for config_path in sorted(run_dir.glob("trials/trial_*/config.yaml"))[:1]:
        try:
            text = config_path.read_text(encoding="utf-8")
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("env:"):
                other = line.split(":", 1)[1].strip()
                if other and other != env_name:
                    raise ConfigError(
                        f"{run_dir} contains a {other} study; choose another --run-dir for "
                        f"{env_name}"
                    )


def split_trials(num_trials: int, jobs: int) -> list[int]:
    """Split ``num_trials`` over at most ``jobs`` workers, as evenly as possible."""
    workers = min(jobs, num_trials)
    return [
        num_trials // workers + (1 if index < num_trials % workers else 0)
        for index in range(workers)
    ]


def storage_label(url: str) -> str:
    """Return the storage URL with any password masked, for messages and reports."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def with_installed_driver(url: str) -> str:
    """Name an installed PostgreSQL driver in a ``postgresql://`` URL that names none.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3 and earlier versions as
    psycopg2, so the same URL fails with one of them when only the other is installed.
    """
    if not url.startswith("postgresql://"):
        return url
    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return url.replace("postgresql://", f"postgresql+{module}://", 1)
    return url


# PostgreSQL drivers that SQLAlchemy loads for postgresql:// URLs, and the pip package of each.
_POSTGRES_DRIVERS = {"psycopg2": "psycopg2-binary", "psycopg": "psycopg[binary]"}


def check_postgres_driver(url: str) -> None:
    """Check that a ``postgresql://`` storage URL's driver imports, before Optuna tries it.

    A bare ``postgresql://`` accepts either driver. A URL that names another driver
    (``postgresql+pg8000://``, for example) is left to SQLAlchemy.

    Raises:
        ConfigError: Naming the missing driver and the pip command that installs it.
    """
    scheme = url.partition("://")[0]
    dialect, _, driver = scheme.partition("+")
    if dialect != "postgresql" or driver not in ("", *_POSTGRES_DRIVERS):
        return
    modules = [driver] if driver else list(_POSTGRES_DRIVERS)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return
    raise ConfigError(
        f"--storage {storage_label(url)} needs the PostgreSQL driver {modules[0]}, which is "
        f"not installed; install it with: pip install {_POSTGRES_DRIVERS[modules[0]]}"
    )


def open_storage(url: str) -> Any:
    """Open an Optuna RDB storage with heartbeats, creating its tables when missing."""
    import optuna

    url = with_installed_driver(url)
    if url.startswith("sqlite"):
        # Workers share one SQLite file; wait for its write lock instead of failing at once.
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=_HEARTBEAT_SECONDS,
            grace_period=_GRACE_SECONDS,
        )


def open_study(settings: TuneSettings) -> Any:
    """Create the study, or load it when it exists, and check that it is this game's.

    Raises:
        ConfigError: If the storage cannot be opened, or the study belongs to another game
            or direction.
    """
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    label = storage_label(settings.storage_url)
    if settings.storage_url.startswith("sqlite"):
        settings.run_dir.mkdir(parents=True, exist_ok=True)
    check_postgres_driver(settings.storage_url)
    try:
        storage = open_storage(settings.storage_url)
        study = optuna.create_study(
            storage=storage,
            study_name=settings.study_name,
            direction="maximize",
            load_if_exists=True,
        )
    except (
        SQLAlchemyError,
        ImportError,
        ValueError,
        optuna.exceptions.StorageInternalError,
    ) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"cannot open the Optuna storage {label}: {reason}") from None
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ConfigError(
            f"study {settings.study_name!r} in {label} minimizes; tune maximizes the score"
        )
    saved_env = study.user_attrs.get("env")
    if saved_env not in (None, settings.env_name):
        raise ConfigError(
            f"study {settings.study_name!r} in {label} tunes {saved_env}, not {settings.env_name}; "
            "choose another --study-name"
        )
    _check_space_matches_study(settings, study, label)
    saved_steps = study.user_attrs.get("trial_timesteps")
    if saved_steps is None:
        study.set_user_attr("env", settings.env_name)
        study.set_user_attr("algo", "dqn")
        study.set_user_attr("trial_timesteps", settings.trial_timesteps)
    elif saved_steps != settings.trial_timesteps:
        print(
            f"Note: earlier trials of this study ran {saved_steps:,} steps, these run "
            f"{settings.trial_timesteps:,}; scores and pruning compare unequal budgets."
        )
    return study


def _check_space_matches_study(settings: TuneSettings, study: Any, label: str) -> None:
    """Reject a space whose distributions clash with those of the study's earlier trials.

    Optuna cannot change a parameter's kind (or a categorical's choices) within a study, so
    every new trial would fail. This check raises once, before any trial runs.
    """
    from optuna.distributions import check_distribution_compatibility

    wanted = {parameter.name: parameter.distribution() for parameter in settings.space.parameters}
    for trial in study.get_trials(deepcopy=False):
        for name, earlier in trial.distributions.items():
            if name not in wanted:
                continue
            try:
                check_distribution_compatibility(earlier, wanted[name])
            except ValueError as error:
                raise ConfigError(
                    f"the search space changes {name} in a way study {settings.study_name!r} "
                    f"in {label} cannot take ({error}); choose another --study-name or "
                    "--run-dir"
                ) from None


def describe_plan(settings: TuneSettings, study: Any, quotas: list[int]) -> None:
    """Print the study, the trials about to run, and what they search."""
    existing = len(study.get_trials(deepcopy=False))
    label = storage_label(settings.storage_url)
    print(f"Study {settings.study_name!r} in {label}: {existing} earlier trials")
    print(
        f"Running {sum(quotas)} trials of {settings.trial_timesteps:,} steps in "
        f"{len(quotas)} worker process(es); trials in {settings.run_dir / 'trials'}"
    )
    print(f"Searching: {', '.join(settings.space.names)}")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_workers(settings: TuneSettings, quotas: list[int]) -> list[int]:
    """Run one worker per quota and return their exit codes (in this process for one)."""
    if len(quotas) == 1:
        return [worker_main(settings, 0, quotas[0], exit_process=False)]
    import multiprocessing

    # spawn, not fork: each worker starts a fresh interpreter with its own torch threads and
    # database connections.
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=worker_main, args=(settings, index, quota), name=f"tune-worker-{index}"
        )
        for index, quota in enumerate(quotas)
    ]
    for process in processes:
        process.start()

    def stop_workers(signum: int, frame: Any) -> None:
        # Each worker's trainer takes SIGTERM as a request to save and stop. A second SIGINT
        # would abort it mid-save, so a terminal's SIGINT is not sent to it again.
        print("Interrupted; waiting for the workers to save their trials and stop", flush=True)
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop_workers) for signum in STOP_SIGNALS}
    try:
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return [process.exitcode if process.exitcode is not None else 1 for process in processes]


def worker_main(
    settings: TuneSettings, worker_index: int, num_trials: int, exit_process: bool = True
) -> int:
    """Run ``num_trials`` trials on the shared study; return (or exit with) the exit code."""
    code = 0
    try:
        run_worker(settings, worker_index, num_trials)
    except KeyboardInterrupt:
        print(f"worker {worker_index}: interrupted", flush=True)
        code = 130
    if exit_process:
        sys.exit(code)
    return code


def run_worker(settings: TuneSettings, worker_index: int, num_trials: int) -> None:
    """Load the study with this worker's sampler and pruner, and optimize."""
    import optuna

    from agents.trainer import TrainingError

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    seed = None if settings.sampler_seed is None else settings.sampler_seed + worker_index
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if settings.pruner == "median":
        pruner: Any = optuna.pruners.MedianPruner(
            n_startup_trials=settings.pruner_startup_trials,
            n_warmup_steps=settings.pruner_warmup_steps,
        )
    else:
        pruner = optuna.pruners.NopPruner()
    study = optuna.load_study(
        study_name=settings.study_name,
        storage=open_storage(settings.storage_url),
        sampler=sampler,
        pruner=pruner,
    )
    objective = TrialObjective(settings, worker_index)
    # A bad sampled combination or a diverging run fails its trial; the study goes on.
    study.optimize(objective, n_trials=num_trials, catch=(ConfigError, TrainingError, MemoryError))


class PruningCallback:
    """Reports each periodic evaluation to Optuna and stops the run once the pruner decides to."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.pruned_at_step: int | None = None

    def __call__(self, trainer: Any, metrics: dict[str, float]) -> None:
        step = trainer.global_step
        self.trial.report(float(metrics["score"]), step)
        if self.pruned_at_step is None and self.trial.should_prune():
            self.pruned_at_step = step
            trainer.request_stop(f"pruned by Optuna at step {step}")


class TrialObjective:
    """Optuna objective: train one sampled configuration and return its final score."""

    def __init__(self, settings: TuneSettings, worker_index: int) -> None:
        self.settings = settings
        self.worker_index = worker_index

    def __call__(self, trial: Any) -> float:
        import optuna

        from agents.trainer import Trainer, TrainingError

        started = time.monotonic()
        settings = self.settings
        sampled = settings.space.suggest(trial)
        trial_dir = trial_directory(settings.run_dir, trial.number)
        _move_aside(trial_dir)
        attributes = {
            "worker": self.worker_index,
            "worker_pid": os.getpid(),
            "trial_dir": str(trial_dir),
            "trial_timesteps": settings.trial_timesteps,
            "config": tuned_values(settings.fixed, sampled),
        }
        for key, value in attributes.items():
            trial.set_user_attr(key, value)

        pruning = PruningCallback(trial)
        try:
            config = resolve_config(
                settings.env_name,
                trial_overrides(settings.fixed, settings.trial_timesteps, sampled, trial_dir),
            )
            trial_dir.mkdir(parents=True, exist_ok=True)
            with _trial_output(trial_dir / "train.log"):
                trainer = Trainer(settings.env_name, config, trial_dir)
                trainer.evaluation_callbacks.append(pruning)
                result = trainer.run()
        except (ConfigError, TrainingError, MemoryError) as error:
            trial.set_user_attr("error", str(error))
            self._print(trial, f"failed: {error}", started)
            raise
        if result.interrupted:
            trial.set_user_attr("error", f"interrupted at step {result.global_step}")
            self._print(trial, f"interrupted at step {result.global_step:,}", started)
            raise KeyboardInterrupt

        trial.set_user_attr("best_periodic_score", float(trainer.best_score))
        if pruning.pruned_at_step is not None:
            trial.set_user_attr("pruned_at_step", pruning.pruned_at_step)
            self._print(trial, f"pruned at step {pruning.pruned_at_step:,}", started)
            raise optuna.TrialPruned(f"pruned at step {pruning.pruned_at_step}")
        metrics = result.final_metrics or {}
        trial.set_user_attr("final_metrics", {key: float(value) for key, value in metrics.items()})
        score = float(metrics["score"])
        self._print(trial, f"score {score:.4f}", started)
        return score

    def _print(self, trial: Any, outcome: str, started: float) -> None:
        seconds = time.monotonic() - started
        print(
            f"trial {trial.number} (worker {self.worker_index}, pid {os.getpid()}): {outcome} "
            f"after {seconds:.0f} s",
            flush=True,
        )


def _move_aside(trial_dir: Path) -> None:
    """Rename a folder left under this trial's name by a deleted study, instead of reusing it."""
    if trial_dir.exists():
        stale = trial_dir.with_name(f"{trial_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        trial_dir.rename(stale)
        print(f"moved an older {trial_dir.name} folder to {stale.name}", flush=True)


@contextlib.contextmanager
def _trial_output(path: Path) -> Iterator[None]:
    """Send the trial's printed output and log records to its ``train.log``."""
    with path.open("a", encoding="utf-8") as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            root.removeHandler(handler)
