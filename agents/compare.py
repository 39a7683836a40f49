"""``train.py compare``: train several algorithms over several seeds and report side by side.

The candidates are algorithms (``--algos``) and variants of our DQN (``--variants``, see
:mod:`agents.compare_variants`). Every run is a plain ``train.py`` run in
``OUT/runs/NAME-seedS``, where NAME is the algorithm or the variant, with the same
environment, seeds, step budget and evaluation protocol (the same ``eval_every`` marks,
episodes and evaluation seeds). A run that finished (``results.json`` present, for the
whole budget or stopped early by its own rule) is not trained again, and an unfinished one
is resumed from its newest checkpoint, so the command can be stopped and started again.
Runs go ``--jobs`` at a time, each in its own process.

The report folder gets ``evaluations.csv`` (every evaluation of every run; a ``variant``
column names the variant of a DQN variant's rows), ``report.md`` (the table and the plots)
and two PNG plots of the evaluation metric against environment steps and against
wall-clock seconds, with the mean and a 95% confidence band over seeds.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Two-sided 95% Student t quantiles for 1 to 30 degrees of freedom; 1.96 above.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Candidate:
    """One algorithm or DQN variant of a comparison.

    Attributes:
        name: Label in the report and prefix of its run folders: the algorithm or variant name.
        algo: The ``--algo`` of its runs.
        options: Extra ``train.py`` options of its runs, after the shared ones.
        description: What the variant changes, for the report; empty for a plain algorithm.
    """

    name: str
    algo: str
    options: tuple[str, ...] = ()
    description: str = ""

    @property
    def is_variant(self) -> bool:
        """Whether this is a DQN variant rather than a plain algorithm."""
        return self.name != self.algo


@dataclass
class GameMetric:
    """The metric a comparison plots and the targets it times, for one game."""

    column: str
    label: str
    higher_is_better: bool
    targets: tuple[tuple[str, str, float], ...]  # (label, column, threshold)
    bounds: tuple[float | None, float | None] = (None, None)  # where the bands are clipped


METRICS = {
    "tictactoe": GameMetric(
        column="optimal_move_rate",
        label="minimax-optimal move rate (4,520 positions)",
        higher_is_better=True,
        targets=(("never loses (exhaustive check)", "losing_lines", 0.0),),
        bounds=(0.0, 1.0),
    ),
    "snake": GameMetric(
        column="mean_score",
        label="greedy mean score (apples)",
        higher_is_better=True,
        targets=(
            ("greedy mean >= 10", "mean_score", 10.0),
            ("greedy mean >= 20", "mean_score", 20.0),
        ),
        bounds=(0.0, None),
    ),
}


def confidence_interval(values: list[float]) -> tuple[float, float]:
    """Return the mean and the half-width of its 95% Student t interval (0 for one value)."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    if len(array) < 2:
        return mean, 0.0
    degrees = len(array) - 1
    quantile = _T_975[degrees - 1] if degrees <= len(_T_975) else 1.96
    return mean, float(quantile * array.std(ddof=1) / math.sqrt(len(array)))


def run_directory(out_dir: Path, name: str, seed: int) -> Path:
    """Return the folder of one run of a comparison; ``name`` is an algorithm or variant."""
    return out_dir / "runs" / f"{name}-seed{seed}"


def is_finished(run_dir: Path, total_timesteps: int) -> bool:
    """Return whether a run has its final results for ``total_timesteps`` or an early stop."""
    path = run_dir / "results.json"
    if not path.exists():
        return False
    try:
        results = json.loads(path.read_text())
        if int(results["total_timesteps"]) >= total_timesteps:
            return True
    except (ValueError, KeyError, OSError):
        return False
    # Only an early stop records another reason, because an interrupted run writes no
    # results.json at all.
    return results.get("stop_reason", "reached total_timesteps") != "reached total_timesteps"


# Each run folder records the train.py options it was started with, so a rerun can tell
# whether a folder of the same name belongs to the same definition.
OPTIONS_FILE = "compare_options.json"


def _check_saved_options(out_dir: Path, run_options: dict[tuple[str, int], list[str]]) -> None:
    from agents.config import ConfigError

    for (name, seed), arguments in run_options.items():
        path = run_directory(out_dir, name, seed) / OPTIONS_FILE
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if saved != arguments:
            raise ConfigError(
                f"{path.parent} was trained with options {' '.join(saved)!r}, not "
                f"{' '.join(arguments)!r}; give the changed variant a new name or use "
                "another --out"
            )


def train_command(
    env_name: str, algo: str, seed: int, run_dir: Path, options: list[str], resume: bool
) -> list[str]:
    """Return the ``train.py`` command line of one run."""
    command = [sys.executable, str(ROOT / "train.py"), env_name, "--algo", algo]
    command += ["--seed", str(seed), "--run-dir", str(run_dir), "--no-progress", *options]
    if resume:
        command += ["--resume", str(run_dir)]
    return command


def run_all(
    env_name: str,
    candidates: list[Candidate],
    seeds: list[int],
    out_dir: Path,
    total_timesteps: int,
    options: list[str],
    jobs: int,
) -> list[tuple[str, int, int]]:
    """Train every (candidate, seed) pair that is not finished; return failed runs' exit codes.

    Raises:
        ConfigError: If a run folder was trained with other options than the same name and
            seed get now (a redefined variant, or changed options after ``--``).
    """
    run_options = {
        (candidate.name, seed): [
            "--total-timesteps",
            str(total_timesteps),
            *options,
            *candidate.options,
        ]
        for candidate in candidates
        for seed in seeds
    }
    _check_saved_options(out_dir, run_options)
    pending = []
    for candidate in candidates:
        for seed in seeds:
            run_dir = run_directory(out_dir, candidate.name, seed)
            if is_finished(run_dir, total_timesteps):
                print(f"{candidate.name} seed {seed}: finished earlier, kept")
                continue
            resume = (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir())
            pending.append((candidate, seed, run_dir, resume))

    def train(item: tuple[Candidate, int, Path, bool]) -> tuple[str, int, int]:
        candidate, seed, run_dir, resume = item
        run_dir.mkdir(parents=True, exist_ok=True)
        arguments = run_options[(candidate.name, seed)]
        (run_dir / OPTIONS_FILE).write_text(json.dumps(arguments) + "\n", encoding="utf-8")
        command = train_command(env_name, candidate.algo, seed, run_dir, arguments, resume)
        started = time.monotonic()
        label = f"{candidate.name} seed {seed}"
        print(f"{label}: {'resuming' if resume else 'training'} ...", flush=True)
        with (run_dir / "train.log").open("a", encoding="utf-8") as log:
            code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        print(f"{label}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        return candidate.name, seed, code

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(train, pending))
    return [result for result in results if result[2] != 0]


def read_evaluations(
    out_dir: Path, candidates: list[Candidate], seeds: list[int]
) -> list[dict[str, Any]]:
    """Collect every run's ``evaluations.csv`` rows, tagged with algorithm, variant and seed.

    Each row's ``name`` is the candidate's name, which the tables and plots group by.
    """
    rows = []
    for candidate in candidates:
        tags: dict[str, Any] = {"algo": candidate.algo}
        if candidate.is_variant:
            tags["variant"] = candidate.name
        for seed in seeds:
            path = run_directory(out_dir, candidate.name, seed) / "evaluations.csv"
            if not path.exists():
                continue
            with path.open(encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    parsed = {key: float(value) for key, value in row.items() if value != ""}
                    rows.append({**tags, "seed": seed, **parsed, "name": candidate.name})
    return rows


def write_evaluations_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write all evaluation rows with the union of their columns, ``variant`` after ``algo``."""
    columns: list[str] = ["algo"]
    if any("variant" in row for row in rows):
        columns.append("variant")
    for row in rows:
        columns.extend(key for key in row if key not in columns and key != "name")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def summarise(
    env_name: str, rows: list[dict[str, Any]], out_dir: Path, names: list[str], seeds: list[int]
) -> list[dict[str, str]]:
    """Build one table row per algorithm or variant: final metric, time to targets, throughput."""
    metric = METRICS[env_name]
    table = []
    for name in names:
        results = []
        for seed in seeds:
            path = run_directory(out_dir, name, seed) / "results.json"
            if path.exists():
                results.append(json.loads(path.read_text()))
        if not results:
            continue
        row = {"Algorithm": name, "Seeds": str(len(results))}
        final_values = [result["metrics"][metric.column] for result in results]
        mean, half = confidence_interval(final_values)
        row["Final " + metric.column] = f"{mean:.3f} ± {half:.3f}"
        if env_name == "tictactoe":
            lines = [result["metrics"]["losing_lines"] for result in results]
            row["Final lost lines"] = "{:.1f} ± {:.1f}".format(*confidence_interval(lines))
        for label, column, threshold in metric.targets:
            row[f"Steps to {label}"], row[f"Seconds to {label}"] = _time_to_target(
                rows, name, seeds, column, threshold, lower_is_target=column == "losing_lines"
            )
        speeds = [r["total_timesteps"] / max(1e-9, r["train_seconds"]) for r in results]
        row["Training steps/s"] = "{:.0f} ± {:.0f}".format(*confidence_interval(speeds))
        table.append(row)
    return table


def _time_to_target(
    rows: list[dict[str, Any]],
    name: str,
    seeds: list[int],
    column: str,
    threshold: float,
    lower_is_target: bool,
) -> tuple[str, str]:
    steps, seconds = [], []
    for seed in seeds:
        series = [r for r in rows if r["name"] == name and r["seed"] == seed and column in r]
        series.sort(key=lambda r: r["global_step"])
        for row in series:
            reached = row[column] <= threshold if lower_is_target else row[column] >= threshold
            if reached:
                steps.append(row["global_step"])
                seconds.append(row["wall_seconds"])
                break
    if not steps:
        return f"not reached (0/{len(seeds)})", "-"
    reached = f"{len(steps)}/{len(seeds)}"
    return f"{np.median(steps):,.0f} (median, {reached})", f"{np.median(seconds):.0f} (median)"


def plot_curves(
    env_name: str, rows: list[dict[str, Any]], names: list[str], out_dir: Path
) -> list[Path]:
    """Plot the metric against steps and against seconds: mean over seeds, 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = METRICS[env_name]
    paths = []
    for x_column, x_label, file_name in (
        ("global_step", "environment steps", "metric_vs_steps.png"),
        ("wall_seconds", "wall-clock seconds (training and evaluation)", "metric_vs_seconds.png"),
    ):
        figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
        for name in names:
            curve = _mean_curve(rows, name, metric.column, x_column)
            if curve is None:
                continue
            x_values, means, halves = curve
            axes.plot(x_values, means, label=name, linewidth=2)
            # The t interval can leave the metric's range with few seeds; clip it there.
            low, high = metric.bounds
            lower = means - halves if low is None else np.maximum(means - halves, low)
            upper = means + halves if high is None else np.minimum(means + halves, high)
            axes.fill_between(x_values, lower, upper, alpha=0.2)
        axes.set_xlabel(x_label)
        axes.set_ylabel(metric.label)
        axes.set_title(f"{env_name}: {metric.label}, mean and 95% interval over seeds")
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = out_dir / file_name
        figure.savefig(path)
        plt.close(figure)
        paths.append(path)
    return paths


def _mean_curve(
    rows: list[dict[str, Any]], name: str, column: str, x_column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    by_step: dict[float, list[dict[str, Any]]] = {}
    for row in rows:
        if row["name"] == name and column in row:
            by_step.setdefault(row["global_step"], []).append(row)
    if not by_step:
        return None
    x_values, means, halves = [], [], []
    for step in sorted(by_step):
        group = by_step[step]
        mean, half = confidence_interval([row[column] for row in group])
        x_values.append(float(np.mean([row[x_column] for row in group])))
        means.append(mean)
        halves.append(half)
    return np.asarray(x_values), np.asarray(means), np.asarray(halves)


def machine_description() -> str:
    """Describe the machine and library versions for the report."""
    import stable_baselines3
    import torch

    processor = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                processor = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{processor}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"stable-baselines3 {stable_baselines3.__version__}"
    )


def write_report(
    env_name: str,
    command: str,
    table: list[dict[str, str]],
    plots: list[Path],
    out_dir: Path,
    notes: list[str],
    title: str = "comparison of algorithms",
) -> Path:
    """Write ``report.md`` with the command, date, machine, table, plots and notes."""
    lines = [
        f"# {env_name}: {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {time.strftime('%Y-%m-%d')}. Machine: {machine_description()}.",
        "",
    ]
    if table:
        headers = list(table[0])
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "---|" * len(headers))
        for row in table:
            lines.append("| " + " | ".join(row.get(header, "") for header in headers) + " |")
        lines.append("")
    lines.append(
        "Final values are the best model of each run (by periodic evaluation), evaluated again "
        "with `final_eval_episodes`; ± gives the half-width of the 95% Student t interval over "
        "seeds. Times to a target are the first periodic evaluation that reached it (median over "
        "the seeds that did). Training steps/s excludes time spent evaluating."
    )
    lines.append("")
    for path in plots:
        lines.append(f"![{path.stem}]({path.name})")
        lines.append("")
    for note in notes:
        lines.append(f"- {note}")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def compare(
    env_name: str,
    algos: list[str],
    seeds: list[int],
    total_timesteps: int,
    out_dir: Path,
    options: list[str],
    jobs: int,
    command: str,
    hyperparameters: str = "ours",
    variants: list[Candidate] | None = None,
) -> int:
    """Run a whole comparison and write its report; return the process exit code.

    ``options`` are extra ``train.py`` options given to every run. ``variants`` are DQN
    variants (see :func:`agents.compare_variants.parse_variants`) compared beside ``algos``.
    """
    candidates = [Candidate(algo, algo) for algo in algos] + list(variants or [])
    names = [candidate.name for candidate in candidates]
    out_dir.mkdir(parents=True, exist_ok=True)
    from agents.config import ConfigError

    try:
        failures = run_all(env_name, candidates, seeds, out_dir, total_timesteps, options, jobs)
    except ConfigError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    rows = read_evaluations(out_dir, candidates, seeds)
    write_evaluations_csv(rows, out_dir / "evaluations.csv")
    table = summarise(env_name, rows, out_dir, names, seeds)
    plots = plot_curves(env_name, rows, names, out_dir)
    from agents.compare_variants import early_stop_notes, variant_notes

    notes = report_notes(env_name, algos, hyperparameters)
    notes += variant_notes(env_name, rows, candidates)
    notes += early_stop_notes(out_dir, candidates, seeds, total_timesteps)
    head_to_head = compare_at_equal_steps(env_name, rows, "dqn", "sb3-dqn")
    if head_to_head:
        notes.insert(0, head_to_head)
    for name, seed, code in failures:
        notes.append(f"{name} seed {seed} failed with exit code {code}; see its train.log.")
    title = "comparison of algorithms"
    if variants:
        title = (
            "comparison of algorithms and DQN variants" if algos else "comparison of DQN variants"
        )
    report = write_report(env_name, command, table, plots, out_dir, notes, title)
    print(f"Report: {report}")
    return 1 if failures else 0


def compare_at_equal_steps(
    env_name: str, rows: list[dict[str, Any]], ours: str, theirs: str
) -> str | None:
    """Say at how many shared evaluation marks ``ours`` matched or beat ``theirs`` (seed means)."""
    metric = METRICS[env_name]
    ours_curve = _mean_curve(rows, ours, metric.column, "global_step")
    theirs_curve = _mean_curve(rows, theirs, metric.column, "global_step")
    if ours_curve is None or theirs_curve is None:
        return None
    ours_by_step = dict(zip(ours_curve[0], ours_curve[1], strict=True))
    theirs_by_step = dict(zip(theirs_curve[0], theirs_curve[1], strict=True))
    shared = sorted(set(ours_by_step) & set(theirs_by_step))
    if not shared:
        return None
    sign = 1.0 if metric.higher_is_better else -1.0
    at_least = [step for step in shared if sign * (ours_by_step[step] - theirs_by_step[step]) >= 0]
    behind = [f"{step:,.0f}" for step in shared if step not in at_least]
    last = shared[-1]
    text = (
        f"At equal environment steps, {ours}'s mean {metric.column} over seeds matched or beat "
        f"{theirs}'s at {len(at_least)} of {len(shared)} evaluation marks; at the last mark "
        f"({last:,.0f} steps) it was {ours_by_step[last]:.3f} against {theirs_by_step[last]:.3f}."
    )
    if behind:
        text += f" It was behind at {', '.join(behind)} steps."
    return text


def report_notes(env_name: str, algos: list[str], hyperparameters: str) -> list[str]:
    """Explain what a reader of the report must know about the settings."""
    if not any(algo.startswith("sb3-") for algo in algos):
        return []
    notes = [
        "Stable-Baselines3 algorithms use "
        + (
            "their library defaults, apart from the network."
            if hyperparameters == "sb3"
            else "our DQN's values for the keys they share (learning rate, gamma, network, "
            "buffer, batch size, exploration, target updates; SB3 DQN's train_freq, "
            "gradient_steps and target interval are converted to the same updates per "
            "transition)."
        )
    ]
    if env_name == "tictactoe":
        notes.append(
            "Our DQN learns by self-play against its current network; Stable-Baselines3 "
            "algorithms play the single-agent environment against a pool of frozen copies of "
            "themselves. SB3's DQN, PPO and A2C cannot mask moves: an illegal move loses the "
            "game, and an illegal greedy move counts as a loss in the evaluation. MaskablePPO "
            "gets the legal-move mask when training and predicting."
        )
    if any(algo in ("sb3-ppo", "sb3-a2c", "sb3-maskable-ppo") for algo in algos):
        notes.append(
            "PPO-family runs finish whole rollouts, so they may train a few steps past the budget."
        )
    return notes
