"""Train a DQN agent on tic-tac-toe (self-play) or snake from the command line.

Examples:
    python train.py tictactoe --seed 0
    python train.py snake --total-timesteps 500000 --run-dir runs/snake-a
    python train.py snake --resume runs/snake-a
    python train.py inspect runs/snake-a          # plot the last hidden layer in 2-D
    python train.py tune tictactoe --n-trials 30 --jobs 2
    tensorboard --logdir runs
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from agents.checkpoint import CheckpointError, find_resumable_checkpoint
from agents.config import (
    ALGOS,
    ENV_NAMES,
    ConciseArgumentParser,
    ConfigError,
    add_config_arguments,
    env_kwargs,
    fields_for_env,
    load_config_file,
    positive_int,
    resolve_config,
)
from agents.ignored_options import options_set_in_file
from agents.inspect_model import InspectError, add_inspect_parser, run_inspect
from agents.tune import add_tune_parser

# Values that runs saved before an option existed behaved with, where the game's default
# now differs. Resuming such a run keeps them.
LEGACY_DEFAULTS = {
    "snake": {
        "no_progress_limit": 0,
        "starvation": False,
        "starvation_reward": -1.0,
        "hunger_feature": False,
        "path_features": False,
        "n_step": 1,
    },
}

DESCRIPTIONS = {
    "tictactoe": "Learn tic-tac-toe from zero knowledge by self-play (one network plays both sides).",
    "snake": "Learn snake on a square grid (10 x 10 by default).",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the parser: one sub-command per game, each with every configuration option."""
    parser = ConciseArgumentParser(
        prog="train.py",
        description="Train a from-scratch DQN agent with checkpoints and TensorBoard logs.",
    )
    games = parser.add_subparsers(
        dest="env", metavar="ENV", required=True, parser_class=ConciseArgumentParser
    )
    for env_name in ENV_NAMES:
        game = games.add_parser(
            env_name, help=DESCRIPTIONS[env_name], description=DESCRIPTIONS[env_name]
        )
        game.add_argument(
            "--config",
            metavar="FILE",
            help="YAML or JSON file whose keys are the options below (dashes or underscores)",
        )
        game.add_argument(
            "--resume",
            metavar="RUN_DIR_OR_FILE",
            help="continue a run from its newest valid checkpoint, or from the given checkpoint",
        )
        add_config_arguments(game, env_name)
    add_compare_parser(games)
    add_inspect_parser(games)
    add_tune_parser(games)
    return parser


def comma_list(kind: type) -> Any:
    """Return an argparse type that parses comma-separated values of ``kind``."""

    def parse(text: str) -> list:
        try:
            values = [kind(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__} values, got {text!r}"
            ) from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected at least one value, got {text!r}")
        return values

    return parse


def add_compare_parser(games: Any) -> None:
    """Add ``compare``: every algorithm and seed, one protocol, one report."""
    description = (
        "Train each algorithm and DQN variant with each seed under the same budget and "
        "evaluation, then write a report folder: evaluations.csv, report.md and plots. Finished "
        "runs are kept; unfinished ones resume. Options after -- go to every train.py run, e.g. "
        "-- --eval-every 5000 --num-envs 8."
    )
    compare = games.add_parser(
        "compare", help="compare algorithms and DQN variants over seeds", description=description
    )
    compare.add_argument("game", choices=ENV_NAMES, help="game to compare on")
    compare.add_argument(
        "--algos",
        type=comma_list(str),
        default=None,
        help=f"comma-separated algorithms from {', '.join(ALGOS)} (default: dqn,sb3-dqn,sb3-ppo, "
        "or none when --variants is given)",
    )
    compare.add_argument(
        "--variants",
        nargs="+",
        action="extend",
        default=None,
        metavar="NAME:KEY=VALUE[,KEY=VALUE...]",
        help="variants of our DQN, each with option overrides or config=FILE, e.g. "
        "rmsprop:optimizer=rmsprop deep:hidden_sizes=64,64,64",
    )
    compare.add_argument(
        "--seeds",
        type=comma_list(int),
        default=[0, 1, 2],
        help="comma-separated seeds (default: 0,1,2)",
    )
    compare.add_argument(
        "--total-timesteps",
        type=positive_int,
        required=True,
        help="environment steps per run (steps)",
    )
    compare.add_argument(
        "--out",
        default=None,
        help="report folder (default: runs/compare-GAME); runs go in OUT/runs",
    )
    compare.add_argument(
        "--jobs", type=positive_int, default=1, help="runs trained at once, one process each"
    )
    compare.add_argument(
        "--baseline-hyperparameters",
        choices=("ours", "sb3"),
        default="ours",
        help="ours: SB3 uses our DQN's values for shared keys; sb3: SB3's own defaults",
    )


# Options that shape the environment, the network or the learner. A resumed run keeps them,
# because its replay buffer, weights and evaluations belong to them.
RUN_DEFINING_OPTIONS = {"algo", "network", "hidden_sizes", "activation", "dropout", "dueling"}


def check_resume_changes(
    env_name: str, saved: dict[str, Any], requested: dict[str, Any]
) -> None:
    """Reject changes to options a resumed run must keep, and print the other changes.

    Raises:
        ConfigError: If ``requested`` changes an environment or network option of the run.
    """
    fixed = RUN_DEFINING_OPTIONS | set(env_kwargs(resolve_config(env_name, {}), env_name))
    changed = []
    for name, value in requested.items():
        old = saved.get(name)
        same = (
            tuple(value) == tuple(old)
            if isinstance(value, (list, tuple)) and isinstance(old, (list, tuple))
            else value == old
        )
        if same or name in ("total_timesteps", "run_dir", "progress"):
            continue
        if name in fixed:
            option = "--" + name.replace("_", "-")
            raise ConfigError(
                f"{option} {value} differs from the resumed run's {old}: a resumed run keeps "
                "its environment, network and algorithm; start a new run to change them"
            )
        changed.append(f"{name} {old} -> {value}")
    if changed:
        print("Resuming with changed options: " + ", ".join(changed))


def resolve_run(args: argparse.Namespace) -> tuple[Any, Path, dict[str, Any] | None]:
    """Combine defaults, the resumed run, the config file and explicit options.

    Returns:
        The configuration, the run directory, and the checkpoint payload when resuming.
    """
    env_name = args.env
    field_names = {f.name for f in fields_for_env(env_name)}
    explicit = {key: value for key, value in vars(args).items() if key in field_names}
    overrides: dict[str, Any] = {}
    payload = None
    run_dir = None
    if args.resume:
        from agents.baseline_trainer import find_baseline_checkpoint

        baseline = find_baseline_checkpoint(args.resume)
        if baseline is not None:
            checkpoint_path, metadata = baseline
            payload = {
                "baseline": (checkpoint_path, metadata),
                "checkpoint_path": str(checkpoint_path),
                **metadata,
            }
        else:
            checkpoint_path, payload = find_resumable_checkpoint(args.resume)
            if "agent" not in payload or "counters" not in payload:
                raise CheckpointError(
                    f"{checkpoint_path} is a model file, not a checkpoint; resume from the run "
                    "folder or one of its checkpoints/step_*.pt files"
                )
            payload["checkpoint_path"] = str(checkpoint_path)
        saved_env = payload.get("env_name")
        if saved_env != env_name:
            raise CheckpointError(
                f"{checkpoint_path} is a {saved_env} checkpoint; resume it with "
                f"'python train.py {saved_env} --resume ...'"
            )
        # Options added after the run was saved take the values that reproduce how it ran.
        saved_config = {**LEGACY_DEFAULTS.get(env_name, {}), **dict(payload["config"])}
        saved_config.pop("env", None)
        # The run continues where its checkpoint lies, even if the folder was moved.
        saved_config.pop("run_dir", None)
        overrides.update(saved_config)
        folder = checkpoint_path.parent
        run_dir = folder.parent if folder.name == "checkpoints" else folder
    # The user set the command-line options and the config-file values unlike the defaults.
    set_by_user = set(explicit)
    file_values: dict[str, Any] = {}
    if args.config:
        file_values = load_config_file(args.config, env_name)
        overrides.update(file_values)
        set_by_user |= options_set_in_file(file_values, env_name)
    if payload is not None:
        check_resume_changes(env_name, saved_config, {**file_values, **explicit})
    overrides.update(explicit)
    config = resolve_config(env_name, overrides, set_by_user)
    if payload is not None:
        print(f"Resuming from {payload['checkpoint_path']} at step {payload['global_step']}")
    if config.run_dir:
        run_dir = Path(config.run_dir)
    elif run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / f"{env_name}-{config.algo}-seed{config.seed}-{stamp}"
    config.run_dir = str(run_dir)
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise ConfigError(f"run directory {run_dir} is a file; choose a folder for --run-dir")
    if payload is None and _contains_a_run(Path(run_dir)):
        raise ConfigError(
            f"run directory {run_dir} already contains a run; continue it with --resume {run_dir} "
            "or choose another --run-dir"
        )
    if payload is not None:
        saved_algo = payload["config"].get("algo", "dqn")
        if saved_algo != config.algo:
            raise ConfigError(
                f"the checkpoint was trained with --algo {saved_algo}; resume it with that algo, "
                f"not {config.algo}"
            )
    if payload is not None and config.total_timesteps < int(payload["global_step"]):
        raise ConfigError(
            f"total_timesteps {config.total_timesteps:,} is below the checkpoint's step "
            f"{int(payload['global_step']):,}; pass a larger --total-timesteps"
        )
    return config, Path(run_dir), payload


def _contains_a_run(run_dir: Path) -> bool:
    checkpoints = run_dir / "checkpoints"
    has_checkpoints = checkpoints.is_dir() and any(checkpoints.iterdir())
    return has_checkpoints or (run_dir / "evaluations.csv").exists()


def main(argv: list[str] | None = None) -> int:
    """Run ``train.py``; return the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    forwarded: list[str] = []
    if arguments[:1] in (["compare"], ["tune"]) and "--" in arguments:
        split = arguments.index("--")
        arguments, forwarded = arguments[:split], arguments[split + 1 :]
    args = parser.parse_args(arguments)
    if args.env == "compare":
        return run_compare(parser, args, forwarded, argv)
    if args.env == "inspect":
        try:
            return run_inspect(args)
        except (InspectError, CheckpointError) as error:
            parser.exit(2, f"train.py: error: {error}\n")
        except OSError as error:
            print(f"train.py: error: {error}", file=sys.stderr)
            return 1
    if args.env == "tune":
        from agents.tune import run_tune

        command = "python train.py " + " ".join(sys.argv[1:] if argv is None else argv)
        return run_tune(args, forwarded, command)
    try:
        config, run_dir, payload = resolve_run(args)
    except ConfigError as error:
        parser.exit(2, f"train.py: error: {error}\n")
    except CheckpointError as error:
        parser.exit(2, f"train.py: error: {error}\n")

    # Imported late so that --help and option errors return before the heavy imports.
    from agents.trainer import Trainer, TrainingError

    print(f"Run directory: {run_dir}")
    try:
        if config.algo.startswith("sb3-"):
            from agents.baseline_trainer import BaselineTrainer

            resume = None if payload is None else payload["baseline"]
            trainer: Any = BaselineTrainer(args.env, config, run_dir, resume=resume)
        else:
            trainer = Trainer(args.env, config, run_dir, resume=payload)
        result = trainer.run()
    except (TrainingError, CheckpointError, MemoryError, ValueError, OSError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 1
    if result.interrupted:
        print(
            f"Stopped at step {result.global_step:,}; checkpoint saved. Resume with: "
            f"python train.py {args.env} --resume {result.run_dir}"
        )
        return 0
    print(f"Done: {result.global_step:,} steps. Models and logs in {result.run_dir}")
    return 0


def run_compare(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    forwarded: list[str],
    argv: list[str] | None,
) -> int:
    """Check the comparison's options, then train and report."""
    args.variants = args.variants or []
    if args.algos is None:
        args.algos = [] if args.variants else ["dqn", "sb3-dqn", "sb3-ppo"]
    unknown = [algo for algo in args.algos if algo not in ALGOS]
    if unknown:
        parser.exit(
            2, f"train.py: error: unknown algorithm {unknown[0]!r}: expected one of {list(ALGOS)}\n"
        )
    options = [*forwarded, "--baseline-hyperparameters", args.baseline_hyperparameters]
    # Check the forwarded options once here, so a typo fails now and not in every run.
    try:
        probe = build_parser().parse_args([args.game, *options])
        explicit = {
            key: value
            for key, value in vars(probe).items()
            if key in {f.name for f in fields_for_env(args.game)}
        }
        for algo in args.algos:
            resolve_config(
                args.game,
                {**explicit, "algo": algo, "total_timesteps": args.total_timesteps},
                set(explicit),
            )
        from agents.compare_variants import parse_variants

        variants = parse_variants(args.variants, args.game, explicit, args.total_timesteps)
    except ConfigError as error:
        parser.exit(2, f"train.py: error: {error}\n")
    from agents.compare import compare

    out_dir = Path(args.out or f"runs/compare-{args.game}")
    command = "python train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    return compare(
        args.game,
        args.algos,
        args.seeds,
        args.total_timesteps,
        out_dir,
        options,
        args.jobs,
        command,
        args.baseline_hyperparameters,
        variants,
    )


if __name__ == "__main__":
    sys.exit(main())
