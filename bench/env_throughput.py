"""Environment steps per second of tic-tac-toe and snake, as ratios to Gymnasium's CartPole.

Each workload steps one environment made with ``gymnasium.make`` (so every one carries
Gymnasium's default wrappers) with uniformly random legal actions, drawn from
``info["action_mask"]`` where the environment gives one and from all actions otherwise,
by the same code for every workload. Episodes that end are reset, and the resets count in
the time but not in the steps. The workloads:

- ``cartpole``: ``CartPole-v1``, the reference, with its registered 500-step time limit.
- ``tictactoe_selfplay``: 3 x 3 tic-tac-toe without an opponent, each step one move of
  the player to move.
- ``tictactoe_vs_random``: 3 x 3 against the built-in random opponent, each step the
  agent's move and the opponent's reply.
- ``snake_features`` and ``snake_grid``: 10 x 10 snake with relative actions and the
  feature or the grid observation.
- ``snake_train_defaults``: the environment that ``train.py snake`` builds by default, whose
  feature observation adds the hunger entry and the path features.

Absolute steps per second depend on the machine and its load, so the script runs every
workload for ``--seconds`` in turn, ``--repeats`` times, rotating the order each round so
that load from other processes hits all of them alike. It reports each workload's median,
the ratio of that median to CartPole's median, and the mean steps per episode. It prints
a table and writes JSON.

Random play keeps episodes short: a random snake on 10 x 10 dies after about 20 steps at
length 3 or 4. The costs that grow with the snake's length (the flood fills behind the
feature observation, the food placement) are therefore near their smallest here, and a
trained agent's longer snake costs more per step.

Batched environments, which would step many boards in one numpy call, are not built yet.
The training loop's ``--num-envs`` steps a list of these environments one after another,
so the script measures one environment at a time and reports no batched figure.

Usage:
    python bench/env_throughput.py                      # 5 rounds of 1 s per workload
    python bench/env_throughput.py --seconds 0.5 --repeats 3 --out /tmp/throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

# Run as `python bench/env_throughput.py`, Python puts bench/ first on the path instead of
# the repository root, which contains the packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from agents.config import env_kwargs, resolve_config
from envs import SNAKE_ID, TICTACTOE_ID

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "env_throughput.json"
REFERENCE = "cartpole"

# Workload name and a function that makes its environment.
WORKLOADS: dict[str, Callable[[], gym.Env]] = {
    REFERENCE: lambda: gym.make("CartPole-v1"),
    "tictactoe_selfplay": lambda: gym.make(TICTACTOE_ID),
    "tictactoe_vs_random": lambda: gym.make(TICTACTOE_ID, opponent="random"),
    "snake_features": lambda: gym.make(SNAKE_ID, grid_size=10, observation="features"),
    "snake_grid": lambda: gym.make(SNAKE_ID, grid_size=10, observation="grid"),
    "snake_train_defaults": lambda: gym.make(
        SNAKE_ID, **env_kwargs(resolve_config("snake", {}), "snake")
    ),
}


def time_steps(env: gym.Env, seconds: float, rng: np.random.Generator) -> tuple[float, int, int]:
    """Step ``env`` with random legal actions for about ``seconds``.

    Resets after an episode ends are timed but not counted as steps.

    Returns:
        Steps per second, the number of steps and the number of episodes that ended.
    """
    all_actions = np.ones(env.action_space.n, dtype=bool)
    _, info = env.reset(seed=int(rng.integers(2**31)))
    steps = 0
    episodes = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        legal = np.flatnonzero(info.get("action_mask", all_actions))
        action = int(legal[rng.integers(len(legal))])
        _, _, terminated, truncated, info = env.step(action)
        steps += 1
        if terminated or truncated:
            episodes += 1
            _, info = env.reset()
        if steps % 64 == 0 and time.perf_counter() >= deadline:
            break
    return steps / (time.perf_counter() - started), steps, episodes


def measure(
    seconds: float, repeats: int, seed: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Measure every workload ``repeats`` times, rotating the order each round.

    Returns:
        Steps per second of each measurement, by workload, in the order they ran, and the
        mean steps per ended episode of each workload over all its measurements.
    """
    rng = np.random.default_rng(seed)
    envs = {name: make_env() for name, make_env in WORKLOADS.items()}
    # One short untimed run each, so imports and first-call costs stay out of the samples.
    for env in envs.values():
        time_steps(env, 0.05, rng)

    samples: dict[str, list[float]] = {name: [] for name in envs}
    counts = {name: [0, 0] for name in envs}
    names = list(envs)
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            rate, steps, episodes = time_steps(envs[name], seconds, rng)
            samples[name].append(rate)
            counts[name][0] += steps
            counts[name][1] += episodes
        print(f"round {round_index + 1} of {repeats} done", file=sys.stderr, flush=True)
    for env in envs.values():
        env.close()
    episode_lengths = {name: steps / max(episodes, 1) for name, (steps, episodes) in counts.items()}
    return samples, episode_lengths


def summarise(
    samples: dict[str, list[float]], episode_lengths: dict[str, float]
) -> list[dict[str, Any]]:
    """Return one row per workload with its median and its ratio to CartPole's median."""
    reference = statistics.median(samples[REFERENCE])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append(
            {
                "workload": name,
                "median_steps_per_second": round(median, 1),
                "ratio_to_cartpole": round(median / reference, 4),
                "min_steps_per_second": round(min(values), 1),
                "max_steps_per_second": round(max(values), 1),
                "steps_per_second": [round(value, 1) for value in values],
                "mean_steps_per_episode": round(episode_lengths[name], 1),
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Format the rows as a Markdown table."""
    lines = [
        "| Workload | Median steps/s | Min | Max | Ratio to CartPole-v1 | Steps per episode |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['workload']} | {row['median_steps_per_second']:,.0f} | "
            f"{row['min_steps_per_second']:,.0f} | {row['max_steps_per_second']:,.0f} | "
            f"{row['ratio_to_cartpole']:.3f} | {row['mean_steps_per_episode']:.1f} |"
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
    """Measure the workloads, print the table and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="seconds per measurement (default 1.0)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="measurements of each workload (default 5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file to write")
    args = parser.parse_args()
    if not args.seconds > 0:
        parser.error(f"expected --seconds > 0, got {args.seconds}")
    if args.repeats < 1:
        parser.error(f"expected --repeats >= 1, got {args.repeats}")

    rows = summarise(*measure(args.seconds, args.repeats, args.seed))
    print(format_table(rows))

    result = {
        "seconds_per_measurement": args.seconds,
        "repeats": args.repeats,
        "seed": args.seed,
        "workloads": rows,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{describe_cpu()}, Python {platform.python_version()}, "
        f"gymnasium {gym.__version__}, numpy {np.__version__}",
        "command": shlex.join(["python", *sys.argv]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
