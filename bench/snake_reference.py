"""Scores of the reference snake players under the evaluation protocol of trained agents.

Runs the random, greedy (shortest path) and Hamiltonian-cycle players of
:mod:`agents.snake_players` through :func:`agents.evaluation.evaluate_snake_player` with
the environment settings of ``train.py snake``'s defaults (10x10 board) and the episode
seeds that training and ``play.py`` evaluations use (10,000 and up, as in
:func:`agents.run_support.evaluate_policy`), so the table reads on the same scale as a
trained agent's ``results.json``. It prints the table and writes it as JSON.

Usage:
    python bench/snake_reference.py                 # 100 episodes per player
    python bench/snake_reference.py --episodes 20 --out /tmp/snake_reference.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

# Run as `python bench/snake_reference.py`, Python puts bench/ first on the path instead of
# the repository root, which contains the packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from agents.config import env_kwargs, resolve_config
from agents.evaluation import evaluate_snake_player
from agents.snake_players import (
    GreedySnakePlayer,
    HamiltonianCyclePlayer,
    RandomSnakePlayer,
)

# First episode seed of every snake evaluation in agents.run_support.evaluate_policy.
EVALUATION_SEED = 10_000
END_REASONS = ("wall", "body", "no_progress", "win")
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "snake_reference.json"


def evaluate_players(num_episodes: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Evaluate the three reference players on the default training environment.

    Returns:
        The environment settings, and one row per player with its metrics and the
        wall-clock seconds the evaluation took.
    """
    config = resolve_config("snake", {})
    settings = env_kwargs(config, "snake")
    players = [
        RandomSnakePlayer(),
        GreedySnakePlayer(),
        HamiltonianCyclePlayer(config.grid_size, config.grid_size),
    ]
    rows = []
    for player in players:
        started = time.perf_counter()
        metrics = evaluate_snake_player(
            player, settings, num_episodes=num_episodes, seed=EVALUATION_SEED
        )
        seconds = time.perf_counter() - started
        rows.append({"player": player.name, "seconds": round(seconds, 2), **metrics})
        print(f"{player.name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return settings, rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Format the players' scores and end reasons as a Markdown table."""
    header = (
        "| Player | Mean | Median | 10th pct | Max | Mean steps | " + " | ".join(END_REASONS) + " |"
    )
    lines = [header, "|" + "---|" * (6 + len(END_REASONS))]
    for row in rows:
        ends = " | ".join(f"{row[f'end_{reason}']:.0f}" for reason in END_REASONS)
        lines.append(
            f"| {row['player']} | {row['mean_score']:.2f} | {row['median_score']:.1f} | "
            f"{row['p10_score']:.1f} | {row['max_score']:.0f} | "
            f"{row['mean_episode_length']:.1f} | {ends} |"
        )
    return "\n".join(lines)


def describe_cpu() -> str:
    """Return the CPU model from ``/proc/cpuinfo`` (Linux) and the number of cores."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def main() -> None:
    """Evaluate the reference players, print the table and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--episodes", type=int, default=100, help="episodes per player (default 100)"
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file to write")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"expected --episodes >= 1, got {args.episodes}")

    settings, rows = evaluate_players(args.episodes)
    print(f"{args.episodes} episodes per player, seeds {EVALUATION_SEED} and up, {settings}")
    print(format_table(rows))

    result = {
        "episodes": args.episodes,
        "first_seed": EVALUATION_SEED,
        "env_kwargs": settings,
        "players": rows,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{describe_cpu()}, Python {platform.python_version()}",
        "command": shlex.join(["python", *sys.argv]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
