"""Plots and TensorBoard projector files of ``train.py inspect``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from agents.inspect_analysis import Projection
    from agents.inspect_states import InspectOptions, StateSet

VALUE_COLORS = {"win": "#2a9d3a", "draw": "#4a74c9", "loss": "#d62828"}
SIDE_MARKERS = {"X": "o", "O": "^"}
_GAME_TITLES = {"tictactoe": "Tic-tac-toe", "snake": "Snake"}
_POINT_SIZE = 9
_DPI = 110


def write_plots(
    env_name: str,
    states: StateSet,
    projection: Projection,
    summary: dict[str, Any],
    options: InspectOptions,
) -> dict[str, str]:
    """Write ``pca.png`` and, if t-SNE ran, ``tsne.png``; return their paths by method."""
    ratios = summary["pca_explained_variance_ratio"]
    methods = {
        "pca": (
            projection.pca,
            "PCA",
            (f"PC 1 ({ratios[0]:.1%} of variance)", f"PC 2 ({ratios[1]:.1%} of variance)"),
        )
    }
    if projection.tsne is not None:
        tsne = summary["tsne"]
        methods["tsne"] = (
            projection.tsne,
            f"t-SNE (perplexity {tsne['perplexity']:g}, seed {tsne['seed']})",
            ("t-SNE 1", "t-SNE 2"),
        )
    paths = {}
    for method, (points, method_title, axis_labels) in methods.items():
        title = (
            f"{_GAME_TITLES[env_name]}: last hidden layer ({summary['hidden_units']} units), "
            f"{method_title}"
        )
        path = options.out_dir / f"{method}.png"
        if env_name == "tictactoe":
            plot_tictactoe(path, points, states, title, axis_labels)
        else:
            plot_snake(path, points, states, title, axis_labels, options.death_within)
        paths[method] = str(path)
    return paths


def plot_tictactoe(
    path: Path,
    points: np.ndarray,
    states: StateSet,
    title: str,
    axis_labels: tuple[str, str],
) -> None:
    """Scatter positions coloured by minimax value, with one marker per side to move."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    figure = Figure(figsize=(7.5, 6.5), layout="constrained")
    axes = figure.add_subplot()
    values = states.columns["value"]
    sides = states.columns["to_move"]
    colors = np.array([VALUE_COLORS[value] for value in values])
    # Points are drawn in a fixed shuffled order, so no value class always covers another.
    order = np.random.default_rng(0).permutation(len(points))
    for side, marker in SIDE_MARKERS.items():
        chosen = order[sides[order] == side]
        axes.scatter(
            points[chosen, 0],
            points[chosen, 1],
            c=colors[chosen],
            marker=marker,
            s=_POINT_SIZE,
            alpha=0.65,
            linewidths=0,
        )
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color=color,
            markersize=7,
            label=f"{value} ({int(np.sum(values == value)):,})",
        )
        for value, color in VALUE_COLORS.items()
    ]
    handles += [
        Line2D(
            [],
            [],
            marker=marker,
            linestyle="",
            color="0.35",
            markersize=7,
            label=f"{side} to move ({int(np.sum(sides == side)):,})",
        )
        for side, marker in SIDE_MARKERS.items()
    ]
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        fontsize=8,
        title="Colour: minimax value for the player to move.  Marker: side to move.",
        title_fontsize=8,
        frameon=False,
    )
    _finish(figure, axes, path, f"{title}\n{len(points):,} non-terminal positions", axis_labels)


def plot_snake(
    path: Path,
    points: np.ndarray,
    states: StateSet,
    title: str,
    axis_labels: tuple[str, str],
    death_within: int,
) -> None:
    """Scatter states coloured by max Q, with the states shortly before death marked."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    figure = Figure(figsize=(8, 6.5), layout="constrained")
    axes = figure.add_subplot()
    max_q = states.columns["max_q"]
    near_death = states.columns["death_within_k"] == "yes"
    cloud = axes.scatter(
        points[:, 0],
        points[:, 1],
        c=max_q,
        cmap="viridis",
        s=_POINT_SIZE,
        alpha=0.8,
        linewidths=0,
    )
    axes.scatter(
        points[near_death, 0],
        points[near_death, 1],
        marker="x",
        color="#e01010",
        s=28,
        linewidths=1.1,
    )
    figure.colorbar(cloud, ax=axes, label="Predicted value: max Q over legal actions")
    # Proxy handles, because a handle taken from the scatter shows one arbitrary colour.
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color="0.55",
            markersize=6,
            label=f"state, coloured by max Q ({int(np.sum(~near_death)):,})",
        ),
        Line2D(
            [],
            [],
            marker="x",
            linestyle="",
            color="#e01010",
            markersize=7,
            label=f"death within {death_within} steps ({int(near_death.sum()):,})",
        ),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    num_episodes = len(np.unique(states.columns["episode"]))
    subtitle = f"{len(points):,} states from {num_episodes} greedy episodes"
    _finish(figure, axes, path, f"{title}\n{subtitle}", axis_labels)


def _finish(figure: Any, axes: Any, path: Path, title: str, axis_labels: tuple[str, str]) -> None:
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    axes.grid(alpha=0.25)
    figure.savefig(path, dpi=_DPI)


def write_projector(folder: Path, activations: np.ndarray, states: StateSet) -> Path:
    """Write the activations and their labels for TensorBoard's embedding projector.

    ``SummaryWriter.add_embedding`` writes ``projector_config.pbtxt`` in ``folder`` and
    ``tensors.tsv`` and ``metadata.tsv`` (a header row, then one row per state) under
    ``00000/last_hidden_layer/``.

    Returns:
        The folder to pass to ``tensorboard --logdir``.
    """
    import torch
    from torch.utils.tensorboard import SummaryWriter

    header = list(states.columns)
    rows = [
        [_format_label(states.columns[name][index]) for name in header]
        for index in range(len(activations))
    ]
    writer = SummaryWriter(log_dir=str(folder))
    try:
        writer.add_embedding(
            torch.from_numpy(activations.astype(np.float32)),
            metadata=rows,
            metadata_header=header,
            tag="last_hidden_layer",
            global_step=0,
        )
    finally:
        writer.close()
    return folder


def _format_label(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4f}"
    return str(value)
