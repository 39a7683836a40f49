"""Evaluation shared by training and play.py: exhaustive tic-tac-toe checks and snake statistics.

Every evaluation of a trained policy plays it greedily, never exploring. Snake reference
players, which read the game instead of an observation, go through the same snake
protocol with :func:`evaluate_snake_player`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from agents.policies import Policy, PolicyPlayer
from envs.snake_env import STRAIGHT, TURN_LEFT, TURN_RIGHT, SnakeEnv
from envs.snake_rules import NUM_DIRECTIONS, SnakeGame, validate_direction
from envs.tictactoe_rules import O, X, TicTacToeGame
from envs.tictactoe_solver import make_player, solve_positions

# Relative action for each change of heading in quarter turns to the right.
_RELATIVE_ACTION_OF_TURN = (STRAIGHT, TURN_RIGHT, STRAIGHT, TURN_LEFT)

# Picks one action per running episode, given the environments, their episode indices,
# and the stacked observations and action masks.
_ActionChooser = Callable[[list[SnakeEnv], list[int], np.ndarray, np.ndarray], np.ndarray]


class TablePlayer:
    """Plays a precomputed greedy move for each 3 x 3 position (one forward pass in all).

    Args:
        policy: Policy whose greedy moves are tabulated over every reachable position.
    """

    def __init__(self, policy: Policy) -> None:
        table = solve_positions(3, 3)
        masks = table.cells == 0
        self.name = policy.name
        self.table = table
        self.moves = policy.select_actions(table.observations, masks)  # (4520,)

    def select_action(self, game: TicTacToeGame, rng: np.random.Generator | None = None) -> int:
        """Return the tabulated greedy move of ``game``'s position."""
        return int(self.moves[self.table.index[game.key()]])

    def optimal_move_rate(self) -> float:
        """Return the share of non-terminal positions where the greedy move is minimax-optimal."""
        rows = np.arange(len(self.moves))
        return float(self.table.optimal_mask[rows, self.moves].mean())

    def illegal_move_rate(self) -> float:
        """Return the share of non-terminal positions where the greedy move is illegal."""
        rows = np.arange(len(self.moves))
        return float(self.table.cells[rows, self.moves].astype(bool).mean())


def count_losing_lines(
    player: Any, agent_side: int, board_size: int = 3, win_length: int = 3
) -> tuple[int, int]:
    """Play ``player`` against every possible sequence of opponent replies.

    The agent moves greedily; at each opponent turn every legal move is tried. Each
    finished game is one line. An illegal move by the agent ends its line as a loss, the
    environment's rule for illegal moves.

    Returns:
        The number of lines the agent loses and the number of lines in total.
    """
    losses = 0
    lines = 0
    stack = [TicTacToeGame(board_size, win_length)]
    while stack:
        game = stack.pop()
        if game.is_over:
            lines += 1
            losses += int(game.winner == 1 - agent_side)
            continue
        if game.current_player == agent_side:
            move = player.select_action(game)
            if not _is_legal(game, move):
                lines += 1
                losses += 1
                continue
            child = game.copy()
            child.play(move)
            stack.append(child)
            continue
        for action in game.legal_actions():
            child = game.copy()
            child.play(int(action))
            stack.append(child)
    return losses, lines


def _is_legal(game: TicTacToeGame, move: int) -> bool:
    return 0 <= move < game.num_cells and bool(game.action_mask()[move])


def play_games(
    player: Any,
    opponent: Any,
    agent_side: int,
    num_games: int,
    rng: np.random.Generator,
    board_size: int,
    win_length: int,
) -> dict[str, int]:
    """Play ``num_games`` games with the agent on ``agent_side``; count wins, draws and losses.

    An illegal move by the agent loses the game, and is also counted under ``illegal``.
    """
    counts = {"win": 0, "draw": 0, "loss": 0, "illegal": 0}
    for _ in range(num_games):
        game = TicTacToeGame(board_size, win_length)
        illegal = False
        while not game.is_over:
            mover = player if game.current_player == agent_side else opponent
            move = int(mover.select_action(game, rng))
            if mover is player and not _is_legal(game, move):
                illegal = True
                break
            game.play(move)
        if illegal:
            counts["loss"] += 1
            counts["illegal"] += 1
        elif game.winner is None:
            counts["draw"] += 1
        elif game.winner == agent_side:
            counts["win"] += 1
        else:
            counts["loss"] += 1
    return counts


def evaluate_tictactoe(
    policy: Policy,
    *,
    board_size: int = 3,
    win_length: int = 3,
    num_games: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Evaluate a greedy tic-tac-toe policy.

    On 3 x 3 this includes the exhaustive check (lines lost against every possible
    opponent, as X and as O) and the share of the 4,520 reachable non-terminal positions
    where the greedy move is minimax-optimal. On every board size it plays ``num_games``
    games per side against a random player and against the perfect player (depth-limited
    alpha-beta above 3 x 3, which is not perfect).

    Returns:
        Flat metrics; ``score`` orders models (higher is better): on 3 x 3 a smaller share
        of lost lines, as X plus as O, then a higher optimal-move rate; wins minus losses
        elsewhere. A model that never loses scores its optimal-move rate.
    """
    rng = np.random.default_rng(seed)
    metrics: dict[str, float] = {}
    if (board_size, win_length) == (3, 3):
        player: Any = TablePlayer(policy)
        for side, label in ((X, "x"), (O, "o")):
            losses, lines = count_losing_lines(player, side)
            metrics[f"losing_lines_as_{label}"] = losses
            metrics[f"lines_as_{label}"] = lines
        metrics["losing_lines"] = metrics["losing_lines_as_x"] + metrics["losing_lines_as_o"]
        metrics["optimal_move_rate"] = player.optimal_move_rate()
        metrics["illegal_move_rate"] = player.illegal_move_rate()
    else:
        player = PolicyPlayer(policy)

    balance = 0.0
    for opponent_name in ("random", "perfect"):
        opponent = make_player(opponent_name, board_size, win_length)
        for side, label in ((X, "x"), (O, "o")):
            counts = play_games(player, opponent, side, num_games, rng, board_size, win_length)
            for outcome in ("win", "draw", "loss"):
                metrics[f"vs_{opponent_name}_as_{label}_{outcome}"] = counts[outcome] / num_games
            balance += (counts["win"] - counts["loss"]) / num_games

    if "losing_lines" in metrics:
        metrics["score"] = tictactoe_score(metrics)
    else:
        metrics["score"] = balance
    return metrics


def tictactoe_score(metrics: dict[str, float]) -> float:
    """Return the 3 x 3 ranking score: the share of lost lines first, then optimal moves.

    The share, not the count: a model that ends games early with illegal moves reaches
    fewer lines, and a count would reward it for that. A deterministic player meets at most
    945 lines per side, so one lost line costs more than 1000 / 945 > 1, more than any
    difference in the optimal-move rate can give back.
    """
    loss_share = (
        metrics["losing_lines_as_x"] / metrics["lines_as_x"]
        + metrics["losing_lines_as_o"] / metrics["lines_as_o"]
    )
    return metrics["optimal_move_rate"] - 1000.0 * loss_share


def evaluate_snake(
    policy: Policy,
    env_kwargs: dict[str, Any],
    *,
    num_episodes: int = 100,
    seed: int = 0,
    max_parallel: int = 32,
) -> dict[str, float]:
    """Play ``num_episodes`` greedy snake episodes and summarise their scores.

    Episodes run in parallel batches so one forward pass serves many boards. Episode ``i``
    starts from ``reset(seed=seed + i)``, so every evaluation with the same seed gets the
    same starting positions and food draws for the same moves.

    Returns:
        Mean, median, 10th percentile and maximum score, the mean episode length, the
        count of each way an episode ended (``end_<reason>``), and ``score``, which orders
        models: see :func:`snake_score`.
    """

    def choose_actions(
        envs: list[SnakeEnv], episodes: list[int], observations: np.ndarray, masks: np.ndarray
    ) -> np.ndarray:
        return policy.select_actions(observations, masks)

    return _play_snake_episodes(choose_actions, env_kwargs, num_episodes, seed, max_parallel)


class SnakePlayer(Protocol):
    """A snake player that reads the game itself instead of an observation.

    Reference players such as shortest-path search need the whole board, which no
    observation carries, so :func:`evaluate_snake_player` hands them the environment's
    :class:`envs.snake_rules.SnakeGame`. A player must not change the game.
    """

    name: str

    def select_direction(self, game: SnakeGame, rng: np.random.Generator) -> int:
        """Return the direction of the next move: 0 up, 1 right, 2 down, 3 left."""
        ...


def evaluate_snake_player(
    player: SnakePlayer,
    env_kwargs: dict[str, Any],
    *,
    num_episodes: int = 100,
    seed: int = 0,
    max_parallel: int = 32,
) -> dict[str, float]:
    """Play ``num_episodes`` snake episodes with a player that reads the game state.

    The protocol is that of :func:`evaluate_snake`: the same environments, episode ``i``
    starting from ``reset(seed=seed + i)``, and the same metrics, so reference players and
    trained agents are measured alike. Each step the player gets the running
    environment's game and a generator of its own for that episode, spawned from the
    episode's seed. A random player therefore does not shift the food draws, and its moves
    do not depend on ``max_parallel``. The chosen direction goes through ``env.step`` as the
    matching action of the environment's action mode (see :func:`direction_to_action`).

    Returns:
        The metrics of :func:`evaluate_snake`.
    """
    generators: dict[int, np.random.Generator] = {}

    def choose_actions(
        envs: list[SnakeEnv], episodes: list[int], observations: np.ndarray, masks: np.ndarray
    ) -> np.ndarray:
        actions = []
        for env, episode in zip(envs, episodes, strict=True):
            if episode not in generators:
                child_seed = np.random.SeedSequence(seed + episode).spawn(1)[0]
                generators[episode] = np.random.default_rng(child_seed)
            direction = player.select_direction(env.game, generators[episode])
            actions.append(direction_to_action(env, direction))
        return np.asarray(actions, dtype=np.int64)

    return _play_snake_episodes(choose_actions, env_kwargs, num_episodes, seed, max_parallel)


def direction_to_action(env: SnakeEnv, direction: int) -> int:
    """Return the action of ``env`` that moves its snake in the absolute ``direction``.

    With absolute actions the action is the direction itself. Relative actions cannot
    express a reversal, so a reversal becomes straight on, which is what the rules make of
    a reversal into the neck anyway.

    Raises:
        ValueError: If ``direction`` is not 0, 1, 2 or 3.
    """
    direction = validate_direction(direction)
    if env.action_mode == "absolute":
        return direction
    turn = (direction - env.game.direction) % NUM_DIRECTIONS
    return _RELATIVE_ACTION_OF_TURN[turn]


def _play_snake_episodes(
    choose_actions: _ActionChooser,
    env_kwargs: dict[str, Any],
    num_episodes: int,
    seed: int,
    max_parallel: int,
) -> dict[str, float]:
    """Run the snake evaluation protocol with ``choose_actions`` acting, and summarise it."""
    scores: list[int] = []
    lengths: list[int] = []
    reasons: Counter[str] = Counter()
    next_episode = 0
    envs = [SnakeEnv(**env_kwargs) for _ in range(min(max_parallel, num_episodes))]
    active: list[tuple[SnakeEnv, np.ndarray, np.ndarray]] = []
    episodes: list[int] = []
    for env in envs:
        observation, info = env.reset(seed=seed + next_episode)
        episodes.append(next_episode)
        next_episode += 1
        active.append((env, observation, info["action_mask"]))
    steps = [0] * len(active)

    while active:
        running_envs = [env for env, _, _ in active]
        observations = np.stack([observation for _, observation, _ in active])
        masks = np.stack([mask for _, _, mask in active])
        actions = choose_actions(running_envs, episodes, observations, masks)
        still_active = []
        still_steps = []
        still_episodes = []
        for (env, _, _), action, count, episode in zip(
            active, actions, steps, episodes, strict=True
        ):
            observation, _, terminated, truncated, info = env.step(int(action))
            count += 1
            if terminated or truncated:
                scores.append(int(info["score"]))
                lengths.append(count)
                reasons[str(info["end_reason"])] += 1
                if next_episode < num_episodes:
                    observation, info = env.reset(seed=seed + next_episode)
                    still_active.append((env, observation, info["action_mask"]))
                    still_steps.append(0)
                    still_episodes.append(next_episode)
                    next_episode += 1
                continue
            still_active.append((env, observation, info["action_mask"]))
            still_steps.append(count)
            still_episodes.append(episode)
        active, steps, episodes = still_active, still_steps, still_episodes
    for env in envs:
        env.close()
    return _summarise_snake_episodes(
        scores, lengths, reasons, envs[0].width * envs[0].height
    )


def snake_score(metrics: dict[str, float], num_cells: int) -> float:
    """Return the snake ranking score: the mean apples, less a full board per looping game.

    Each game that ends by the no-progress limit costs ``num_cells`` apples, spread over
    the games: with 20 games on 10 x 10, one such game costs 5 apples of the mean and half
    of them 50. Ranking by the mean alone, the best checkpoint of a run was often one that
    circled until the limit in many of its games while a later one circled in none.
    """
    share = metrics["end_no_progress"] / metrics["num_episodes"]
    return metrics["mean_score"] - num_cells * share


def _summarise_snake_episodes(
    scores: list[int], lengths: list[int], reasons: Counter[str], num_cells: int
) -> dict[str, float]:
    score_array = np.asarray(scores, dtype=np.float64)
    metrics: dict[str, float] = {
        "mean_score": float(score_array.mean()),
        "median_score": float(np.median(score_array)),
        "p10_score": float(np.percentile(score_array, 10)),
        "max_score": float(score_array.max()),
        "mean_episode_length": float(np.mean(lengths)),
        "num_episodes": float(len(scores)),
    }
    for reason in ("wall", "body", "no_progress", "win"):
        metrics[f"end_{reason}"] = float(reasons.get(reason, 0))
    metrics["score"] = snake_score(metrics, num_cells)
    return metrics
