"""Measure the resident memory of a snake training run, to show whether it leaks.

Trains snake with the default configuration (progress bar off) through
:class:`agents.trainer.Trainer` and samples the process's resident set size (VmRSS in
``/proc/self/status``) every ``--sample-every`` steps. The replay buffer is preallocated with ``np.zeros``, whose pages
the kernel maps only when they are first written, so RSS grows while the buffer fills.
Once it is full, further growth comes from somewhere else. The script prints a table of
step against RSS and the change from the moment the buffer is full to the end of training,
and writes the figures as JSON.

Examples:
    python bench/memory.py      # 1,000,000 steps: 527 s on 2 AMD EPYC cores (2026-12-04)
    python bench/memory.py --steps 50000 --sample-every 5000 --out /tmp/memory.json

Linux only, because it reads ``/proc``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Run as `python bench/memory.py`, Python puts bench/ first on the path instead of the
# repository root, which contains the packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from agents.config import config_to_dict, resolve_config
from agents.replay_buffer import ReplayBuffer
from agents.trainer import Trainer

ENV_NAME = "snake"
MIB = 2**20
DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "memory.json"


def read_status_kib(field: str) -> int:
    """Return a memory field of ``/proc/self/status`` (VmRSS, VmHWM, ...) in KiB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"field {field} not found in /proc/self/status")


def rss_mib() -> float:
    """Return the current resident set size in MiB."""
    return read_status_kib("VmRSS") / 1024


class MemorySampledTrainer(Trainer):
    """A :class:`Trainer` that records RSS every ``sample_every`` steps of its own loop.

    It also records RSS at the first step where the replay buffer is full. Only
    ``_collect`` is wrapped, to take the samples, so the training is the Trainer's own.
    """

    def __init__(self, *args: Any, sample_every: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sample_every = sample_every
        self.next_sample_step = sample_every
        self.started = time.monotonic()
        self.samples: list[dict[str, float]] = [self.sample_rss()]
        self.buffer_full: dict[str, float] | None = None

    def sample_rss(self) -> dict[str, float]:
        """Return the step, RSS (MiB) and seconds since the trainer was built."""
        return {
            "step": self.global_step,
            "rss_mib": round(rss_mib(), 1),
            "seconds": round(time.monotonic() - self.started, 1),
        }

    def _collect(self, writer: Any) -> int:
        steps = super()._collect(writer)
        if self.buffer_full is None and len(self.replay_buffer) == self.replay_buffer.capacity:
            self.buffer_full = self.sample_rss()
        at_end = self.global_step >= self.config.total_timesteps
        if self.global_step >= self.next_sample_step or at_end:
            self.samples.append(self.sample_rss())
            while self.next_sample_step <= self.global_step:
                self.next_sample_step += self.sample_every
        return steps


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train snake with the default configuration and sample resident memory."
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=1_000_000,
        help="environment steps to train (default: 1,000,000)",
    )
    parser.add_argument(
        "--sample-every",
        type=int,
        default=25_000,
        help="environment steps between RSS samples (default: 25,000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON file for the figures (default: bench/results/memory.json)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="keep the run's checkpoints and logs here (default: a temporary folder, deleted)",
    )
    args = parser.parse_args(argv)
    if args.steps <= 0:
        parser.error(f"--steps must be positive, got {args.steps}")
    if args.sample_every <= 0:
        parser.error(f"--sample-every must be positive, got {args.sample_every}")
    if args.run_dir is not None and args.run_dir.exists() and any(args.run_dir.iterdir()):
        parser.error(f"--run-dir {args.run_dir} is not empty; choose a new folder")
    return args


def machine_description() -> dict[str, Any]:
    """Describe the CPU and the library versions that the figures depend on."""
    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model,
        "logical_cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def train_and_sample(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """Train snake in ``run_dir`` and return the RSS figures."""
    overrides = {
        "total_timesteps": args.steps,
        "seed": args.seed,
        "run_dir": str(run_dir),
        "progress": False,
    }
    config = resolve_config(ENV_NAME, overrides)
    trainer = MemorySampledTrainer(ENV_NAME, config, run_dir, sample_every=args.sample_every)
    buffer = trainer.replay_buffer
    buffer_mib = (
        ReplayBuffer.nbytes_for(
            buffer.capacity,
            buffer.observation_shape,
            buffer.observation_dtype,
            buffer.num_actions,
            buffer.store_action_masks,
        )
        / MIB
    )
    result = trainer.run()
    after_run = trainer.sample_rss()

    samples = trainer.samples
    end = samples[-1]
    figures: dict[str, Any] = {
        "interrupted": result.interrupted,
        "final_step": result.global_step,
        "replay_buffer_capacity": buffer.capacity,
        "replay_buffer_arrays_mib": round(buffer_mib, 1),
        "buffer_full": trainer.buffer_full,
        "end_of_training": end,
        "after_final_evaluation": after_run,
        "peak_rss_mib": round(read_status_kib("VmHWM") / 1024, 1),
        "samples": samples,
        "config": config_to_dict(config, ENV_NAME),
    }
    if trainer.buffer_full is not None:
        change = end["rss_mib"] - trainer.buffer_full["rss_mib"]
        figures["rss_change_after_buffer_full_mib"] = round(change, 1)
    return figures


def print_table(figures: dict[str, Any]) -> None:
    print(f"{'step':>10}  {'RSS (MiB)':>10}  {'change':>8}  {'seconds':>8}")
    previous = None
    for sample in figures["samples"]:
        change = "" if previous is None else f"{sample['rss_mib'] - previous:+.1f}"
        print(
            f"{sample['step']:>10,}  {sample['rss_mib']:>10.1f}  {change:>8}  "
            f"{sample['seconds']:>8.0f}"
        )
        previous = sample["rss_mib"]
    print(
        f"Replay buffer: {figures['replay_buffer_capacity']:,} transitions, "
        f"{figures['replay_buffer_arrays_mib']:.1f} MiB of arrays"
    )
    full = figures["buffer_full"]
    if full is None:
        print("The replay buffer never filled, so there is no change after it to report.")
    else:
        end = figures["end_of_training"]
        print(
            f"Buffer full at step {full['step']:,}: {full['rss_mib']:.1f} MiB. End of training "
            f"at step {end['step']:,}: {end['rss_mib']:.1f} MiB. "
            f"Change: {figures['rss_change_after_buffer_full_mib']:+.1f} MiB"
        )
    print(
        f"After the final evaluation: {figures['after_final_evaluation']['rss_mib']:.1f} MiB. "
        f"Peak (VmHWM): {figures['peak_rss_mib']:.1f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now().astimezone()
    if args.run_dir is None:
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
            figures = train_and_sample(args, Path(folder) / "run")
    else:
        figures = train_and_sample(args, args.run_dir)
    record = {
        "command": shlex.join(
            ["python", "bench/memory.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "started": started.isoformat(timespec="seconds"),
        "machine": machine_description(),
        **figures,
    }
    print_table(figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"Figures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
