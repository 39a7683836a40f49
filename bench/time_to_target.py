"""Time to target: steps, games and seconds until our DQN first reaches a target, per seed.

Targets, checked at every periodic evaluation of a default run:

- tic-tac-toe: the first model that never loses in the exhaustive check (no losing line as
  X or as O);
- snake: the first greedy mean of at least 20 apples, and of at least 30 apples, with the
  share of evaluation episodes that ended by the no-progress limit at that point.

Each seed trains with the game's defaults (plus ``--set`` overrides) and stops as soon as
the last target is met, or at ``total_timesteps``. Seconds are training seconds: wall-clock
time minus the time spent in evaluations. The script prints one row per seed and the
medians, and writes them as JSON.

Usage:
    python bench/time_to_target.py --env tictactoe --seeds 0,1,2,3,4
    python bench/time_to_target.py --env snake --seeds 0,1,2 --set total_timesteps=2000000
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch

from agents.config import ConfigError, parse_assignments, resolve_config
from agents.trainer import Trainer

SNAKE_TARGETS = (20.0, 30.0)


def target_names(env_name: str) -> list[str]:
    """Return the names of the targets checked for ``env_name``, in the order they are met."""
    if env_name == "tictactoe":
        return ["never_loses"]
    return [f"mean_{target:g}_apples" for target in SNAKE_TARGETS]


def targets_met(env_name: str, metrics: dict[str, float]) -> list[str]:
    """Return the targets that one evaluation's metrics meet."""
    if env_name == "tictactoe":
        return ["never_loses"] if metrics["losing_lines"] == 0 else []
    return [
        f"mean_{target:g}_apples" for target in SNAKE_TARGETS if metrics["mean_score"] >= target
    ]


def run_seed(env_name: str, seed: int, overrides: dict[str, Any], run_dir: Path) -> dict:
    """Train one seed until every target is met; return where each was first met."""
    config = resolve_config(env_name, {**overrides, "seed": seed, "progress": False})
    trainer = Trainer(env_name, config, run_dir)
    first: dict[str, dict[str, float]] = {}

    def on_evaluation(trainer: Trainer, metrics: dict[str, float]) -> None:
        for name in targets_met(env_name, metrics):
            if name in first:
                continue
            elapsed = trainer.elapsed_before + time.monotonic() - trainer.start_time
            first[name] = {
                "steps": trainer.global_step,
                "games": trainer.num_episodes,
                "train_seconds": round(elapsed - trainer.eval_seconds, 1),
            }
            if env_name == "snake":
                episodes = metrics["num_episodes"]
                first[name]["no_progress_share"] = metrics["end_no_progress"] / episodes
                first[name]["mean_score"] = metrics["mean_score"]
        if len(first) == len(target_names(env_name)):
            trainer.request_stop("every time-to-target target met")

    trainer.evaluation_callbacks.append(on_evaluation)
    trainer.run()
    return {"seed": seed, "total_steps": trainer.global_step, "targets": first}


def parse_set_options(
    parser: argparse.ArgumentParser, env_name: str, items: list[str]
) -> dict[str, Any]:
    """Parse ``--set KEY=VALUE`` items and check them as train.py does, exiting 2 if invalid."""
    try:
        overrides = parse_assignments(env_name, items)
        resolve_config(env_name, overrides, set(overrides))
    except ConfigError as error:
        # One line, as train.py prints, without argparse's usage block.
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return overrides


def main() -> None:
    """Train each seed, then print and save the steps, games and seconds to each target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", choices=("tictactoe", "snake"), required=True)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an option"
    )
    parser.add_argument("--runs", default="", help="keep the run folders here (default: temp)")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    overrides = parse_set_options(parser, args.env, args.set)
    out = Path(args.out or ROOT / "bench" / "results" / f"time_to_target_{args.env}.json")

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(args.runs) if args.runs else Path(scratch)
        for seed in seeds:
            row = run_seed(args.env, seed, overrides, runs / f"{args.env}-seed{seed}")
            rows.append(row)
            print(json.dumps(row), flush=True)

    summary: dict[str, Any] = {}
    print(f"\n{args.env}, seeds {seeds}:")
    for name in target_names(args.env):
        reached = [row["targets"][name] for row in rows if name in row["targets"]]
        entry: dict[str, Any] = {"seeds_reached": len(reached), "seeds": len(rows)}
        if reached:
            for key in ("steps", "games", "train_seconds"):
                entry[f"median_{key}"] = statistics.median(item[key] for item in reached)
                entry[f"max_{key}"] = max(item[key] for item in reached)
        summary[name] = entry
        print(f"  {name}: {entry}")
    result = {
        "env": args.env,
        "seeds": seeds,
        "overrides": overrides,
        "rows": rows,
        "summary": summary,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "command": " ".join(["python", *sys.argv]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
