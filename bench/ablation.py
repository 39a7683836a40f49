"""Ablation: each sample-efficiency switch flipped against the defaults, over several seeds.

For every variant (the defaults, then one switch changed at a time) and seed, a run
trains until it meets every target of the game, or until ``total_timesteps``. The targets
are those of ``bench/time_to_target.py``: tic-tac-toe never loses in the exhaustive check,
and snake reaches a greedy mean of 20 apples, then 30. The table gives, per variant, how
many seeds reached each target and the median steps, games and training seconds to it.

Usage:
    python bench/ablation.py --env tictactoe --seeds 0,1,2
    python bench/ablation.py --env snake --seeds 0,1 --set eval_every=10000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.time_to_target import parse_set_options, run_seed, target_names

# One switch changed at a time; the name says what differs from the defaults.
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "tictactoe": {
        "defaults": {},
        "no symmetry augmentation": {"symmetry_augmentation": False},
        "no Double DQN": {"double_q": False},
        "dueling head": {"dueling": True},
        "3-step returns": {"n_step": 3},
        "prioritized replay": {"prioritized_replay": True},
    },
    "snake": {
        "defaults": {},
        "no Double DQN": {"double_q": False},
        "dueling head": {"dueling": True},
        "1-step returns": {"n_step": 1},
        "prioritized replay": {"prioritized_replay": True},
        "no path features": {"path_features": False},
        "grid observation with a CNN": {"observation": "grid", "network": "cnn"},
    },
}


def main() -> None:
    """Run every variant over the seeds and print one row per variant and target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--variants", default="", help="comma-separated names (default: all)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override for all"
    )
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    shared = parse_set_options(parser, args.env, args.set)
    variants = VARIANTS[args.env]
    chosen = [name.strip() for name in args.variants.split(",") if name.strip()] or list(variants)
    unknown = [name for name in chosen if name not in variants]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(variants)}")
    out = Path(args.out or ROOT / "bench" / "results" / f"ablation_{args.env}.json")

    table = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in chosen:
            rows = []
            for seed in seeds:
                folder = Path(scratch) / f"{name.replace(' ', '_')}-seed{seed}"
                rows.append(run_seed(args.env, seed, {**shared, **variants[name]}, folder))
                print(json.dumps({"variant": name, **rows[-1]}), flush=True)
            for target in target_names(args.env):
                reached = [row["targets"][target] for row in rows if target in row["targets"]]
                entry: dict[str, Any] = {
                    "variant": name,
                    "target": target,
                    "seeds_reached": len(reached),
                    "seeds": len(rows),
                }
                for key in ("steps", "games", "train_seconds"):
                    values = [item[key] for item in reached]
                    entry[f"median_{key}"] = statistics.median(values) if values else None
                entry["rows"] = rows
                table.append(entry)

    print(f"\n{args.env}, seeds {seeds}")
    print("| variant | target | seeds reached | median steps | median games | median seconds |")
    print("|---|---|---|---|---|---|")
    for entry in table:
        print(
            f"| {entry['variant']} | {entry['target']} | {entry['seeds_reached']}/"
            f"{entry['seeds']} | {entry['median_steps']} | {entry['median_games']} | "
            f"{entry['median_train_seconds']} |"
        )
    result = {
        "env": args.env,
        "seeds": seeds,
        "shared_overrides": shared,
        "table": table,
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python", *sys.argv]),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
