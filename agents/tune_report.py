"""The report of a ``train.py tune`` study, written from its Optuna storage.

The run folder receives ``best_config.yaml`` (the best trial's options, which
``train.py GAME --config`` reads), ``trials.csv`` (every trial, best first), ``report.md``
(the study, the table of the best trials and the plots) and PNG plots drawn with
``optuna.visualization.matplotlib``: the optimization history, the hyperparameter
importances and the periodic evaluation scores of every trial.
"""

from __future__ import annotations

import csv
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from agents.checkpoint import atomic_write
from agents.tune_space import to_overrides

logger = logging.getLogger(__name__)

OBJECTIVE = (
    'The objective is `metrics["score"]` (higher is better) of the final evaluation of each '
    "trial's best model: the model with the best periodic evaluation, evaluated again with "
    "`final_eval_episodes` episodes, as in the trial's `results.json`. The pruner compares "
    "the periodic evaluation scores of trials at equal steps."
)
# Below this many finished trials the report warns that the importances are rough.
_FEW_TRIALS = 10
_STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}


def write_study_report(
    study: Any,
    env_name: str,
    run_dir: Path,
    storage: str,
    command: str,
    save_best: Path | None,
    top: int,
) -> Path | None:
    """Write the best configuration, the trial table, the plots and ``report.md``.

    Args:
        study: The Optuna study, loaded from its storage.
        env_name: Game of the study.
        run_dir: Folder of the report files.
        storage: Storage URL with the password masked.
        command: The command line, quoted in the report.
        save_best: Another path for the best configuration, or None.
        top: Rows in the report's table of best trials.

    Returns:
        The best configuration file in ``run_dir``, or None when no trial finished.
    """
    trials = sorted(study.get_trials(deepcopy=False), key=_ranking_key)
    complete = [trial for trial in trials if trial.state.name == "COMPLETE"]
    param_names = _param_names(trials)
    write_trials_csv(trials, param_names, run_dir / "trials.csv")

    best_path = None
    if complete:
        best_path = run_dir / "best_config.yaml"
        write_best_config(complete[0], env_name, study.study_name, best_path)
        if save_best is not None:
            write_best_config(complete[0], env_name, study.study_name, save_best)
            print(f"Best configuration also written to {save_best}")
    plots, notes = plot_study(study, env_name, run_dir)
    report = write_markdown(
        study,
        env_name,
        run_dir,
        trials,
        param_names,
        storage,
        command,
        best_path,
        plots,
        notes,
        top,
    )
    print(f"Report: {report}")
    if best_path is None:
        print("No trial finished, so there is no best configuration.")
    else:
        best = complete[0]
        print(f"Best trial {best.number}: score {best.value:.4f}; configuration in {best_path}")
    return best_path


def _ranking_key(trial: Any) -> tuple[int, float, int]:
    """Sort finished trials by score, then pruned ones by their best report, then the rest."""
    state = trial.state.name
    if state == "COMPLETE":
        value = trial.value
    elif trial.intermediate_values:
        value = max(trial.intermediate_values.values())
    else:
        value = float("-inf")
    return _STATE_ORDER.get(state, 5), -value, trial.number


def _param_names(trials: list[Any]) -> list[str]:
    names: list[str] = []
    for trial in sorted(trials, key=lambda trial: trial.number):
        names.extend(name for name in trial.params if name not in names)
    return names


def _duration_seconds(trial: Any) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def trial_row(trial: Any, param_names: list[str]) -> dict[str, Any]:
    """Return one trial as a flat row: outcome, timing, worker and parameters."""
    duration = _duration_seconds(trial)
    attributes = trial.user_attrs
    last_step = max(trial.intermediate_values) if trial.intermediate_values else ""
    row = {
        "trial": trial.number,
        "state": trial.state.name,
        # Optuna gives a pruned trial its last report as value; only finished trials score.
        "value": trial.value if trial.state.name == "COMPLETE" else "",
        "duration_s": "" if duration is None else round(duration, 1),
        "last_reported_step": last_step,
        "best_periodic_score": attributes.get("best_periodic_score", ""),
        "pruned_at_step": attributes.get("pruned_at_step", ""),
        "worker": attributes.get("worker", ""),
        "worker_pid": attributes.get("worker_pid", ""),
        "error": attributes.get("error", ""),
    }
    for name in param_names:
        row[name] = trial.params.get(name, "")
    row["trial_dir"] = attributes.get("trial_dir", "")
    return row


def write_trials_csv(trials: list[Any], param_names: list[str], path: Path) -> None:
    """Write every trial, best first, one column per parameter."""
    rows = [trial_row(trial, param_names) for trial in trials]
    fieldnames = list(trial_row(trials[0], param_names)) if trials else ["trial", "state"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def best_config_values(trial: Any, env_name: str) -> dict[str, Any]:
    """Return the options of a trial that a configuration file keeps.

    Trials run by ``train.py tune`` store them as the ``config`` user attribute (fixed
    options and sampled values). For a trial without it, the sampled values alone are used.
    """
    if "config" in trial.user_attrs:
        return dict(trial.user_attrs["config"])
    values = to_overrides(env_name, trial.params)
    return {
        key: list(value) if isinstance(value, tuple) else value for key, value in values.items()
    }


def write_best_config(trial: Any, env_name: str, study_name: str, path: Path) -> None:
    """Write a trial's options as YAML that ``train.py GAME --config`` accepts."""
    steps = trial.user_attrs.get("trial_timesteps")
    budget = f" after {steps:,} steps" if isinstance(steps, int) else ""
    header = [
        (
            f"# Best trial of Optuna study {study_name!r}: trial {trial.number}, score "
            f"{trial.value:.4f}{budget}."
        ),
        f"# Train with: python train.py {env_name} --config {path}",
        "# Options not listed take the game's defaults, total_timesteps among them.",
    ]
    data = {"env": env_name, **best_config_values(trial, env_name)}
    text = "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_markdown(
    study: Any,
    env_name: str,
    run_dir: Path,
    trials: list[Any],
    param_names: list[str],
    storage: str,
    command: str,
    best_path: Path | None,
    plots: list[Path],
    notes: list[str],
    top: int,
) -> Path:
    """Write ``report.md``: the study, the best trials, the plots and the failed trials."""
    counts = {state: 0 for state in _STATE_ORDER}
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    summary = ", ".join(f"{count} {state.lower()}" for state, count in counts.items() if count)
    lines = [
        f"# {env_name}: DQN hyperparameter search",
        "",
        (
            f"Study `{study.study_name}` in `{storage}`. Command: `{command}`. "
            f"Report written {time.strftime('%Y-%m-%d %H:%M')}."
        ),
        "",
        f"Trials: {len(trials)} ({summary or 'none'}).",
        "",
        OBJECTIVE,
        "",
    ]
    if best_path is not None:
        best = trials[0]
        lines += [
            (
                f"Best trial: {best.number}, score {best.value:.4f}. Its options are in "
                f"`{best_path.name}`: `python train.py {env_name} --config {best_path}`."
            ),
            "",
        ]
    lines += _best_trials_table(trials, param_names, top)
    for path in plots:
        lines += [f"![{path.stem.replace('_', ' ')}]({path.name})", ""]
    failed = [trial for trial in trials if trial.state.name == "FAIL"]
    if failed:
        lines += ["## Failed trials", ""]
        for trial in failed:
            reason = trial.user_attrs.get("error") or trial.system_attrs.get("fail_reason", "")
            lines.append(f"- trial {trial.number}: {reason or 'no reason recorded'}")
        lines.append("")
    lines += [f"- {note}" for note in notes]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def _best_trials_table(trials: list[Any], param_names: list[str], top: int) -> list[str]:
    shown = [trial for trial in trials if trial.state.name in ("COMPLETE", "PRUNED")][:top]
    if not shown:
        return []
    headers = ["Trial", "Score", "State", "Duration (s)", *param_names]
    lines = [f"## Best trials (top {len(shown)})", ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "---|" * len(headers))
    for trial in shown:
        duration = _duration_seconds(trial)
        cells = [
            str(trial.number),
            f"{trial.value:.4f}" if trial.state.name == "COMPLETE" else "",
            trial.state.name.lower(),
            "" if duration is None else f"{duration:.0f}",
            *(_format(trial.params.get(name, "")) for name in param_names),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Pruned trials have no score; the table lists them after the finished ones.", ""]
    return lines


def plot_study(study: Any, env_name: str, run_dir: Path) -> tuple[list[Path], list[str]]:
    """Draw the study's plots into PNG files.

    Returns:
        The files written, and notes on plots that could not be drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from matplotlib.ticker import MaxNLocator
    from optuna.visualization import matplotlib as optuna_plots

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    written, notes = [], []
    if not complete:
        notes.append(
            "No trial finished, so the optimization history and importances are not drawn."
        )
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            axes = optuna_plots.plot_optimization_history(study, target_name="score")
        _label(
            axes,
            f"{env_name}: score of each finished trial and the best so far",
            "trial number",
            "score (final evaluation of the best model)",
        )
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        names = {"score": "finished trial", "Best Value": "best so far"}
        handles, labels = axes.get_legend_handles_labels()
        axes.legend(handles, [names.get(label, label) for label in labels], loc="lower right")
        written.append(_save(axes.figure, run_dir / "optimization_history.png", plt))
    if len(complete) >= 2:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                axes = optuna_plots.plot_param_importances(study, target_name="score")
        except (ValueError, RuntimeError) as error:
            logger.warning("could not draw the parameter importances: %s", error)
            notes.append(f"The parameter importances could not be computed: {error}")
        else:
            _label(
                axes,
                f"{env_name}: hyperparameter importance for the score",
                "importance (normalized to sum to 1)",
                "hyperparameter",
            )
            if axes.get_legend() is not None:
                axes.get_legend().remove()
            written.append(_save(axes.figure, run_dir / "param_importances.png", plt))
            if len(complete) < _FEW_TRIALS:
                notes.append(
                    f"The importances rest on {len(complete)} finished trials, too few to "
                    "tell the parameters apart reliably."
                )
    elif complete:
        notes.append("Parameter importances need at least 2 finished trials.")
    figure = plot_intermediate_values(study, env_name)
    if figure is not None:
        written.append(_save(figure, run_dir / "intermediate_values.png", plt))
    return written, notes


def _label(axes: Any, title: str, x_label: str, y_label: str) -> None:
    # Optuna puts its own title on the left; the game and metric replace it.
    axes.set_title("", loc="left")
    axes.set_title(title, fontsize=12)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)


def _save(figure: Any, path: Path, plt: Any) -> Path:
    figure.set_size_inches(10, 6)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_intermediate_values(study: Any, env_name: str) -> Any:
    """Plot every trial's periodic evaluation scores, coloured by outcome; None without any.

    Optuna's own version colours trials without a legend, so this one is drawn directly.
    """
    import matplotlib.pyplot as plt

    colours = {"COMPLETE": "tab:blue", "PRUNED": "tab:orange", "FAIL": "tab:gray"}
    labels = {"COMPLETE": "finished", "PRUNED": "pruned (x: where)", "FAIL": "failed"}
    trials = [trial for trial in study.get_trials(deepcopy=False) if trial.intermediate_values]
    if not trials:
        return None
    figure, axes = plt.subplots()
    labelled = set()
    for trial in trials:
        state = trial.state.name
        steps = sorted(trial.intermediate_values)
        scores = [trial.intermediate_values[step] for step in steps]
        label = labels.get(state, state.lower()) if state not in labelled else None
        labelled.add(state)
        colour = colours.get(state, "tab:green")
        axes.plot(steps, scores, marker=".", color=colour, alpha=0.7, label=label)
        if state == "PRUNED":
            axes.plot(steps[-1], scores[-1], marker="x", markersize=9, color=colour)
    axes.set_title(f"{env_name}: periodic evaluation score of each trial", fontsize=12)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("score (periodic evaluation)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    return figure
