"""Look inside a trained Q-network: project its last hidden layer to 2-D.

``python train.py inspect RUN_DIR`` loads a model of our DQN (``best_model.pt`` unless
``--model`` names another), runs a set of states through its Q-network, and writes into
``RUN_DIR/inspect/`` (or ``--out``):

- ``pca.png`` and ``tsne.png``: the last hidden layer's activations projected to 2-D;
- ``projector/``: the same activations with one label row per state, for TensorBoard's
  embedding projector (``tensorboard --logdir RUN_DIR/inspect/projector``);
- ``summary.json`` and ``summary.txt``: state count, explained variance, t-SNE settings,
  measured separations, and the network's layers with their parameter counts.

Tic-tac-toe states are the 4,520 reachable non-terminal 3 x 3 positions, each seen from
the player to move as in self-play, and coloured by their minimax value. Snake states
come from greedy episodes of the model, coloured by the predicted value (max Q), with the
states followed by death within a few steps marked.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from agents.checkpoint import load_model_file
from agents.config import positive_int
from agents.inspect_states import DEFAULT_SNAKE_STATES, InspectError, InspectOptions

DEFAULT_MODEL = "best_model.pt"


def non_negative_int(text: str) -> int:
    """Parse a seed for argparse: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer of 0 or more, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer of 0 or more, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """Parse a positive finite number for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_inspect_parser(games: Any) -> None:
    """Add ``inspect``: 2-D projections of a trained model's last hidden layer."""
    description = (
        "Run states through a trained DQN model and project its last hidden layer to 2-D "
        "with PCA and t-SNE. Writes pca.png, tsne.png, summary.json, summary.txt and a "
        "TensorBoard projector folder into RUN_DIR/inspect. Tic-tac-toe: all 4,520 "
        "non-terminal 3x3 positions by minimax value; snake: states of greedy episodes."
    )
    inspect = games.add_parser(
        "inspect", help="plot a model's hidden layer in 2-D", description=description
    )

    inspect.add_argument("target", metavar="RUN_DIR_OR_FILE", help="run folder or model file (.pt)")
    inspect.add_argument(
        "--model",
        metavar="FILE",
        help=f"model file in RUN_DIR, or a path (default: {DEFAULT_MODEL})",
    )
    inspect.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/inspect)")

    inspect.add_argument(
        "--perplexity", type=positive_float, default=30.0, help="t-SNE perplexity (default: 30)"
    )
    inspect.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of t-SNE, of the state sample and of the snake episodes (default: 0)",
    )
    inspect.add_argument(
        "--max-states",
        type=positive_int,
        help="maximum number of states: a seeded sample of the tic-tac-toe positions, or the "
        f"first snake states (default: all 4,520 positions, {DEFAULT_SNAKE_STATES:,} snake states)",
    )
    inspect.add_argument("--no-tsne", action="store_true", help="skip t-SNE (PCA only)")

    inspect.add_argument(
        "--episodes", type=positive_int, default=5, help="snake: greedy episodes (default: 5)"
    )
    inspect.add_argument(
        "--death-within",
        type=positive_int,
        default=5,
        metavar="K",
        help="snake: mark states followed by death within K steps (default: 5)",
    )


def run_inspect(args: argparse.Namespace) -> int:
    """Run ``train.py inspect``: load, collect states, project, plot and summarise.

    Raises:
        InspectError: If a path or option is invalid, or the model is not ours.
        CheckpointError: If the model file is missing, damaged or does not fit its game.
    """
    model_path, run_dir = resolve_model_path(args.target, args.model)
    out_dir = Path(args.out) if args.out else run_dir / "inspect"
    options = InspectOptions(
        out_dir=out_dir,
        perplexity=args.perplexity,
        seed=args.seed,
        max_states=args.max_states,
        episodes=args.episodes,
        death_within=args.death_within,
        tsne=not args.no_tsne,
    )
    summary = inspect_model(model_path, options)
    print(f"Inspected {summary['num_states']:,} states of {model_path}")
    print(format_headline(summary))
    print(f"Plots, projector files and summary in {out_dir}")
    return 0


def resolve_model_path(target: str, model: str | None) -> tuple[Path, Path]:
    """Return the model file to inspect and the run folder it belongs to.

    Raises:
        InspectError: If the path does not exist, names a Stable-Baselines3 model or run, or
            both a model file and ``--model`` are given.
    """
    from agents.baselines import is_sb3_model_file

    path = Path(target)
    if not path.exists():
        raise InspectError(f"run folder or model file not found: {path}")
    if path.is_file():
        if model is not None:
            raise InspectError(
                f"{path} is already a model file; drop --model or pass the run folder"
            )
        model_path = path
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    else:
        run_dir = path
        # --model names a file in the run folder, or else a path of its own.
        inside = run_dir / (model or DEFAULT_MODEL)
        model_path = inside if inside.exists() or model is None else Path(model)
        if not model_path.exists() and model is None and (run_dir / "best_model.zip").exists():
            raise InspectError(
                f"{run_dir} is a Stable-Baselines3 run (best_model.zip); inspect supports only "
                "our DQN's .pt models"
            )
        if not model_path.exists() and model is None:
            raise InspectError(f"model file not found: {inside}")
        if not model_path.exists():
            raise InspectError(f"model file {model} not found in {run_dir} nor as a path")
    if is_sb3_model_file(model_path):
        raise InspectError(
            f"{model_path} is a Stable-Baselines3 model; inspect supports only our DQN's .pt models"
        )
    return model_path, run_dir


def inspect_model(model_path: Path, options: InspectOptions) -> dict[str, Any]:
    """Inspect one model file and write the plots, projector files and summary.

    Returns:
        The summary that ``summary.json`` contains.
    """
    from agents.frontend import load_model
    from agents.inspect_analysis import project, snake_relations, tictactoe_separation
    from agents.inspect_plots import write_plots, write_projector
    from agents.inspect_states import hidden_activations, snake_states, tictactoe_states
    from agents.networks import model_summary

    data = load_model_file(model_path)
    env_name = data.get("env_name")
    if "q_network" not in data or env_name not in ("tictactoe", "snake"):
        raise InspectError(
            f"{model_path} contains no Q-network of a trained DQN; pass best_model.pt, "
            "final_model.pt or a checkpoints/step_*.pt file"
        )
    env_kwargs = dict(data.get("env_kwargs") or {})
    check_output_folder(options.out_dir)
    policy = load_model(str(model_path), env_name, env_kwargs)

    if env_name == "tictactoe":
        states = tictactoe_states(policy, env_kwargs, options)
    else:
        states = snake_states(policy, env_kwargs, options)
    activations = hidden_activations(policy.q_network, states.observations)
    q_values = policy.q_values(states.observations)
    max_q = np.where(states.action_masks, q_values, -np.inf).max(axis=1)
    states.columns["max_q"] = max_q
    projection = project(activations, options)

    summary: dict[str, Any] = {
        "model": str(model_path),
        "env_name": env_name,
        "env_kwargs": env_kwargs,
        "global_step": int(data.get("global_step", 0)),
        "num_states": len(activations),
        "hidden_units": int(activations.shape[1]),
        **projection.settings,
        **states.facts,
    }
    if env_name == "tictactoe":
        summary.update(tictactoe_separation(states, activations, projection, options.seed))
    else:
        summary.update(snake_relations(states, projection))

    options.out_dir.mkdir(parents=True, exist_ok=True)
    # An earlier inspection's projector files go, so that no stale embedding stays listed.
    if (options.out_dir / "projector").exists():
        shutil.rmtree(options.out_dir / "projector")
    summary["plots"] = write_plots(env_name, states, projection, summary, options)
    summary["projector"] = str(write_projector(options.out_dir / "projector", activations, states))
    layers = model_summary(policy.q_network)
    write_summary(options.out_dir, summary, layers)
    return summary


def format_headline(summary: dict[str, Any]) -> str:
    """Return one line with the explained variance and, if measured, the separation."""
    ratios = summary["pca_explained_variance_ratio"]
    text = f"PCA: PC1 {ratios[0]:.1%}, PC2 {ratios[1]:.1%} of the variance"
    if "nearest_centroid_accuracy_pca" in summary:
        text += (
            f"; nearest-centroid value accuracy on PCA points "
            f"{summary['nearest_centroid_accuracy_pca']:.1%} "
            f"(majority class {summary['value_majority_share']:.1%})"
        )
    if "neighbour_agreement_tsne" in summary:
        text += (
            f"; 10-neighbour agreement on t-SNE points {summary['neighbour_agreement_tsne']:.1%}"
        )
    if summary.get("pca1_max_q_correlation") is not None:
        text += f"; correlation of PC1 with max Q {summary['pca1_max_q_correlation']:+.2f}"
    return text


def write_summary(out_dir: Path, summary: dict[str, Any], layers: str) -> None:
    """Write ``summary.json`` and a readable ``summary.txt`` with the network's layers."""
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    lines = [f"Model: {summary['model']} ({summary['env_name']}, step {summary['global_step']:,})"]
    lines.append(f"States: {summary['num_states']:,}; hidden units: {summary['hidden_units']}")
    lines.append(format_headline(summary))
    tsne = summary["tsne"]
    if tsne is None:
        lines.append("t-SNE: skipped (--no-tsne)")
    else:
        lines.append(
            f"t-SNE: perplexity {tsne['perplexity']:g}, seed {tsne['seed']}, init {tsne['init']}, "
            f"{tsne['max_iter']} iterations, KL divergence {tsne['kl_divergence']:.3f}"
        )
    skip = {"model", "env_name", "num_states", "hidden_units", "global_step", "tsne", "plots"}
    for key, value in summary.items():
        if key not in skip and key != "pca_explained_variance_ratio":
            lines.append(f"{key}: {json.dumps(value)}")
    lines += ["", "Q-network layers:", layers, ""]
    (out_dir / "summary.txt").write_text("\n".join(lines), encoding="utf-8")


def check_output_folder(out_dir: Path) -> None:
    """Check that ``out_dir`` can take the outputs, before any work is done.

    Raises:
        InspectError: If ``out_dir`` is a file, or its ``projector`` folder contains files
            that an earlier inspection did not write.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise InspectError(f"output folder {out_dir} is a file; choose a folder for --out")
    projector = out_dir / "projector"
    if projector.exists() and not is_projector_folder(projector):
        raise InspectError(
            f"{projector} exists and is not a projector folder of an earlier inspection; "
            "choose another --out"
        )


def is_projector_folder(folder: Path) -> bool:
    """Return whether ``folder`` is empty or was written by an earlier inspection."""
    if not folder.is_dir():
        return False
    return not any(folder.iterdir()) or (folder / "projector_config.pbtxt").exists()
