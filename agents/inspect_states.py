"""States of ``train.py inspect``: the positions or greedy episodes fed to the Q-network.

Tic-tac-toe states are the 4,520 reachable non-terminal 3 x 3 positions from the exact
solver's table. Snake states come from greedy episodes of the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEFAULT_SNAKE_STATES = 3_000
VALUE_NAMES = {1: "win", 0: "draw", -1: "loss"}
SIDE_NAMES = ("X", "O")
_CELL_MARKS = (".", "X", "O")
# Snake episodes that end this way count as deaths. Episodes ending in "no_progress" or "win" do not.
_DEATH_REASONS = ("wall", "body")
_SNAKE_ACTION_NAMES = {
    "relative": ("straight", "left", "right"),
    "absolute": ("up", "right", "down", "left"),
}


class InspectError(Exception):
    """Bad input to ``train.py inspect``: reported as one line with exit code 2."""


@dataclass
class InspectOptions:
    """Settings of one inspection, one field per command-line option."""

    out_dir: Path
    perplexity: float = 30.0
    seed: int = 0
    max_states: int | None = None
    episodes: int = 5
    death_within: int = 5
    tsne: bool = True


@dataclass
class StateSet:
    """States fed to the network, with one label column per metadata field.

    Attributes:
        observations: Float32 array (N, observation size).
        action_masks: Bool array (N, actions), True on legal actions.
        columns: Label name to a length-N array, written to the projector's metadata.
        facts: Game-specific figures for the summary.
        feature_names: Name of each observation entry, for feature vectors only.
    """

    observations: np.ndarray
    action_masks: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    feature_names: tuple[str, ...] | None = None


def tictactoe_states(policy: Any, env_kwargs: dict[str, Any], options: InspectOptions) -> StateSet:
    """Return the reachable non-terminal 3 x 3 positions, seen from the player to move.

    The observation of each position is the one the self-play environment gives the player
    to move, so the network receives these states exactly as in training.

    Raises:
        InspectError: If the model was trained on another board, which has no solved table.
    """
    from envs.tictactoe_solver import solve_positions

    board = (env_kwargs.get("board_size", 3), env_kwargs.get("win_length", 3))
    if board != (3, 3):
        raise InspectError(
            f"inspect covers 3x3 tic-tac-toe only (it needs the solved table); this model was "
            f"trained with board_size {board[0]}, win_length {board[1]}"
        )
    table = solve_positions(3, 3)
    rows = np.arange(table.num_positions)
    if options.max_states is not None and options.max_states < len(rows):
        rng = np.random.default_rng(options.seed)
        rows = np.sort(rng.choice(rows, size=options.max_states, replace=False))

    cells = table.cells[rows]
    action_masks = cells == 0
    greedy = policy.select_actions(table.observations[rows], action_masks)
    optimal = table.optimal_mask[rows, greedy]
    columns = {
        "value": np.array([VALUE_NAMES[int(v)] for v in table.values[rows]]),
        "to_move": np.array([SIDE_NAMES[int(side)] for side in table.to_move[rows]]),
        "marks": np.count_nonzero(cells, axis=1),
        "board": np.array([board_text(row) for row in cells]),
        "greedy_move_optimal": np.where(optimal, "yes", "no"),
    }
    counts = {name: int(np.sum(columns["value"] == name)) for name in VALUE_NAMES.values()}
    facts = {
        "num_positions_total": int(table.num_positions),
        "value_counts": counts,
        "greedy_optimal_share": float(optimal.mean()),
    }
    observations = table.observations[rows].astype(np.float32)
    return StateSet(observations, action_masks, columns, facts)


def board_text(cells: np.ndarray) -> str:
    """Return a 3 x 3 board as three rows of X, O and '.', separated by '/'."""
    marks = "".join(_CELL_MARKS[int(cell)] for cell in cells)
    return "/".join(marks[start : start + 3] for start in range(0, 9, 3))


def snake_states(policy: Any, env_kwargs: dict[str, Any], options: InspectOptions) -> StateSet:
    """Play greedy snake episodes and return their states, at most ``max_states`` of them.

    Episode ``i`` starts from ``reset(seed=seed + i)``, as in the evaluation protocol. An
    episode that reaches the cap is still played to its end, so that every kept state
    records how many steps later its episode ended.
    """
    from envs.snake_env import SnakeEnv

    max_states = options.max_states or DEFAULT_SNAKE_STATES
    env = SnakeEnv(**env_kwargs)
    observations: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    labels: dict[str, list[Any]] = {
        "episode": [],
        "step": [],
        "score": [],
        "steps_to_death": [],
        "action": [],
    }
    episodes = []
    for episode in range(options.episodes):
        if len(observations) >= max_states:
            break
        played = play_snake_episode(env, policy, options.seed + episode)
        died = played["end_reason"] in _DEATH_REASONS
        length = len(played["observations"])
        keep = min(length, max_states - len(observations))
        observations.extend(played["observations"][:keep])
        masks.extend(played["masks"][:keep])
        for step in range(keep):
            labels["episode"].append(episode)
            labels["step"].append(step)
            labels["score"].append(played["scores"][step])
            # The action of state ``step`` is move ``step + 1``; death comes with move ``length``.
            labels["steps_to_death"].append(length - step if died else -1)
            labels["action"].append(played["actions"][step])
        episodes.append(
            {"score": played["final_score"], "length": length, "end_reason": played["end_reason"]}
        )
    env.close()

    columns = {name: np.asarray(values) for name, values in labels.items()}
    names = _SNAKE_ACTION_NAMES[env.action_mode]
    columns["action"] = np.array([names[action] for action in labels["action"]], dtype=str)
    steps_to_death = columns["steps_to_death"]
    near_death = (steps_to_death > 0) & (steps_to_death <= options.death_within)
    columns["death_within_k"] = np.where(near_death, "yes", "no")
    facts = {
        "episodes": episodes,
        "death_within": options.death_within,
        "num_near_death": int(near_death.sum()),
    }
    features = (
        env.feature_names if env_kwargs.get("observation", "features") == "features" else None
    )
    return StateSet(
        np.asarray(observations, dtype=np.float32),
        np.asarray(masks, dtype=bool),
        columns,
        facts,
        feature_names=tuple(features) if features else None,
    )


def play_snake_episode(env: Any, policy: Any, seed: int) -> dict[str, Any]:
    """Play one greedy episode; return its observations, masks, scores, actions and end."""
    observation, info = env.reset(seed=seed)
    played: dict[str, Any] = {"observations": [], "masks": [], "scores": [], "actions": []}
    while True:
        mask = np.asarray(info["action_mask"], dtype=bool)
        action = int(policy.select_actions(observation[None], mask[None])[0])
        played["observations"].append(observation)
        played["masks"].append(mask)
        played["scores"].append(int(info["score"]))
        played["actions"].append(action)
        observation, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            played["final_score"] = int(info["score"])
            played["end_reason"] = str(info["end_reason"])
            return played


@torch.no_grad()
def hidden_activations(q_network: torch.nn.Module, observations: np.ndarray) -> np.ndarray:
    """Return the last hidden layer's activations (N, units), in evaluation mode."""
    q_network.eval()
    device = next(q_network.parameters()).device
    inputs = torch.from_numpy(np.asarray(observations, dtype=np.float32)).to(device)
    return q_network.hidden_features(inputs).cpu().numpy().astype(np.float64)
