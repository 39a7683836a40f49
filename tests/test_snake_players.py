"""Reference snake players and their evaluation through the shared snake protocol."""

from __future__ import annotations

import numpy as np
import pytest

from agents.evaluation import (
    direction_to_action,
    evaluate_snake,
    evaluate_snake_player,
    snake_score,
)
from agents.snake_players import (
    GreedySnakePlayer,
    HamiltonianCyclePlayer,
    RandomSnakePlayer,
    hamiltonian_cycle,
    max_space_direction,
    non_reversing_directions,
    shortest_path_direction,
)
from envs.snake_env import STRAIGHT, TURN_LEFT, TURN_RIGHT, SnakeEnv
from envs.snake_rules import (
    DIRECTION_DELTAS,
    DOWN,
    LEFT,
    RIGHT,
    UP,
    SnakeGame,
    opposite_direction,
)

METRIC_KEYS = {
    "mean_score",
    "median_score",
    "p10_score",
    "max_score",
    "mean_episode_length",
    "num_episodes",
    "end_wall",
    "end_body",
    "end_no_progress",
    "end_win",
    "score",
}


def play_env_episode(env: SnakeEnv, player, seed: int) -> tuple[list[tuple[int, int]], dict]:
    """Play one episode of ``player`` in ``env``, returning each move's head and last info."""
    rng = np.random.default_rng(seed + 1)
    env.reset(seed=seed)
    heads = []
    while True:
        direction = player.select_direction(env.game, rng)
        _, _, terminated, truncated, info = env.step(direction_to_action(env, direction))
        heads.append(env.game.head)
        if terminated or truncated:
            return heads, info


@pytest.mark.parametrize("width, height", [(4, 4), (6, 6), (10, 10), (4, 5), (5, 6), (6, 7)])
def test_hamiltonian_cycle_covers_board(width, height):
    cycle = hamiltonian_cycle(width, height)
    assert len(cycle) == width * height
    assert set(cycle) == {(x, y) for x in range(width) for y in range(height)}
    for cell, following in zip(cycle, cycle[1:] + cycle[:1]):
        assert abs(cell[0] - following[0]) + abs(cell[1] - following[1]) == 1, (cell, following)


@pytest.mark.parametrize("width, height", [(5, 5), (7, 9)])
def test_hamiltonian_cycle_rejects_odd_board(width, height):
    with pytest.raises(ValueError, match="odd number of cells"):
        hamiltonian_cycle(width, height)
    with pytest.raises(ValueError, match="odd number of cells"):
        HamiltonianCyclePlayer(width, height)


@pytest.mark.parametrize("width, height", [(1, 4), (4, 0), (4.0, 4), (True, 4)])
def test_hamiltonian_cycle_rejects_invalid_side(width, height):
    with pytest.raises(ValueError, match="expected an integer"):
        hamiltonian_cycle(width, height)


def test_cycle_player_rejects_other_board():
    player = HamiltonianCyclePlayer(6, 6)
    game = SnakeGame(4, 4, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected a 6x6 board, got 4x4"):
        player.select_direction(game, np.random.default_rng(0))


@pytest.mark.parametrize("size", [4, 6])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cycle_player_fills_board(size, seed):
    env = SnakeEnv(grid_size=size)
    _, info = play_env_episode(env, HamiltonianCyclePlayer(size, size), seed)
    assert info["end_reason"] == "win"
    assert env.game.length == size * size
    assert env.game.food is None
    assert info["score"] == size * size - 3


@pytest.mark.parametrize("width, height", [(6, 6), (4, 5), (6, 5)])
def test_cycle_visits_each_cell_once_per_lap(width, height):
    env = SnakeEnv(width=width, height=height)
    heads, info = play_env_episode(env, HamiltonianCyclePlayer(width, height), seed=4)
    assert info["end_reason"] == "win"
    num_cells = width * height
    assert len(heads) >= 2 * num_cells
    # Any num_cells consecutive moves along the cycle make one lap, so check every window.
    for start in range(len(heads) - num_cells + 1):
        window = heads[start : start + num_cells]
        assert len(set(window)) == num_cells, f"moves {start}..{start + num_cells - 1}"


def test_cycle_player_not_truncated_at_bound():
    # 36 cells = 3 * 11 + 3, the largest board on which factor 11 cannot truncate the player.
    env = SnakeEnv(grid_size=6, no_progress_factor=11)
    for seed in range(5):
        _, info = play_env_episode(env, HamiltonianCyclePlayer(6, 6), seed)
        assert info["end_reason"] == "win", f"seed {seed}"


def test_random_player_draws_non_reversing_moves():
    game = SnakeGame(6, 6, rng=np.random.default_rng(0))
    player = RandomSnakePlayer()
    rng = np.random.default_rng(1)
    draws = [player.select_direction(game, rng) for _ in range(3000)]
    counts = np.bincount(draws, minlength=4)
    assert counts[opposite_direction(game.direction)] == 0
    for direction in non_reversing_directions(game):
        assert 900 <= counts[direction] <= 1100, counts


def test_non_reversing_directions_of_one_cell_snake():
    game = SnakeGame.from_state([(2, 2)], UP, (0, 0), width=5, height=5)
    assert sorted(non_reversing_directions(game)) == [UP, RIGHT, DOWN, LEFT]


def test_greedy_player_never_reverses():
    player = GreedySnakePlayer()
    rng = np.random.default_rng(0)
    for seed in range(3):
        game = SnakeGame(10, 10, rng=np.random.default_rng(seed))
        while not game.game_over:
            direction = player.select_direction(game, rng)
            assert direction != opposite_direction(game.direction)
            game.step(direction)


def test_shortest_path_waits_for_tail():
    # The food in the top-left corner is walled in by the body. Going left would enter
    # (1, 1) one move before the tail end of the body leaves it, so the shortest path
    # starts down and takes 5 moves.
    body = [(2, 1), (2, 0), (1, 0), (1, 1), (0, 1)]
    game = SnakeGame.from_state(body, DOWN, (0, 0), width=4, height=4)
    assert shortest_path_direction(game) == DOWN

    player = GreedySnakePlayer()
    rng = np.random.default_rng(0)
    for _ in range(4):
        assert not game.step(player.select_direction(game, rng)).ate
    result = game.step(player.select_direction(game, rng))
    assert result.ate
    assert not result.died


def test_greedy_without_path_takes_heading_when_all_fatal():
    # The head is in the top-left corner with the neck below it. Its other neighbour (1, 0)
    # is a body cell that stays for 5 more moves, so no path exists and every move is fatal.
    body = [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0), (2, 1), (2, 2), (2, 3)]
    game = SnakeGame.from_state(body, UP, (3, 3), width=4, height=4)
    assert shortest_path_direction(game) is None
    assert GreedySnakePlayer().select_direction(game, np.random.default_rng(0)) == UP


def test_shortest_path_of_full_board_is_none():
    cycle = hamiltonian_cycle(4, 4)
    body = cycle[::-1]
    direction = DIRECTION_DELTAS.index((body[0][0] - body[1][0], body[0][1] - body[1][1]))
    game = SnakeGame.from_state(body, direction, None, width=4, height=4)
    assert shortest_path_direction(game) is None


def test_max_space_direction_avoids_wall():
    game = SnakeGame.from_state([(3, 0), (2, 0), (1, 0)], RIGHT, (0, 3), width=4, height=4)
    assert max_space_direction(game) == DOWN


def test_greedy_scores_above_random():
    env_kwargs = {"grid_size": 10}
    greedy = evaluate_snake_player(GreedySnakePlayer(), env_kwargs, num_episodes=8, seed=10_000)
    random = evaluate_snake_player(RandomSnakePlayer(), env_kwargs, num_episodes=8, seed=10_000)
    assert random["mean_score"] < 3
    assert greedy["mean_score"] >= 15
    assert greedy["p10_score"] > random["max_score"]


@pytest.mark.parametrize("action_mode", ["relative", "absolute"])
def test_direction_to_action(action_mode):
    env = SnakeEnv(grid_size=6, action_mode=action_mode)
    env.reset(seed=0)
    assert env.game.direction == RIGHT
    actions = [direction_to_action(env, direction) for direction in (UP, RIGHT, DOWN, LEFT)]
    if action_mode == "absolute":
        assert actions == [UP, RIGHT, DOWN, LEFT]
    else:
        assert actions == [TURN_LEFT, STRAIGHT, TURN_RIGHT, STRAIGHT]
    with pytest.raises(ValueError, match="direction in 0..3"):
        direction_to_action(env, 4)


def test_player_evaluation_matches_policy_evaluation():
    class StraightPlayer:
        name = "straight"

        def select_direction(self, game, rng):
            return game.direction

    class StraightPolicy:
        name = "straight"

        def select_actions(self, observations, action_masks):
            return np.full(len(observations), STRAIGHT)

    env_kwargs = {"grid_size": 6}
    from_player = evaluate_snake_player(StraightPlayer(), env_kwargs, num_episodes=5, seed=7)
    from_policy = evaluate_snake(StraightPolicy(), env_kwargs, num_episodes=5, seed=7)
    assert from_player == from_policy


def test_random_evaluation_ignores_max_parallel():
    env_kwargs = {"grid_size": 6}
    player = RandomSnakePlayer()
    with_one_env = evaluate_snake_player(
        player, env_kwargs, num_episodes=10, seed=3, max_parallel=1
    )
    with_four_envs = evaluate_snake_player(
        player, env_kwargs, num_episodes=10, seed=3, max_parallel=4
    )
    assert with_one_env == with_four_envs


@pytest.mark.parametrize(
    "env_kwargs",
    [
        {"grid_size": 6},
        {"grid_size": 6, "observation": "grid", "action_mode": "absolute"},
    ],
)
@pytest.mark.parametrize(
    "player", [RandomSnakePlayer(), GreedySnakePlayer(), HamiltonianCyclePlayer(6, 6)]
)
def test_players_run_through_evaluation(player, env_kwargs):
    metrics = evaluate_snake_player(player, env_kwargs, num_episodes=4, seed=0)
    assert set(metrics) == METRIC_KEYS
    assert metrics["num_episodes"] == 4
    ends = sum(metrics[f"end_{reason}"] for reason in ("wall", "body", "no_progress", "win"))
    assert ends == 4
    if isinstance(player, HamiltonianCyclePlayer):
        assert metrics["end_win"] == 4
        assert metrics["mean_score"] == 33


def test_snake_score_charges_looping_games():
    steady = {"mean_score": 40.0, "end_no_progress": 0.0, "num_episodes": 20.0}
    assert snake_score(steady, 100) == 40.0
    # One looping game in 20 costs 100 / 20 apples, and 12 of 20 cost 60.
    assert snake_score({**steady, "end_no_progress": 1.0}, 100) == pytest.approx(35.0)
    circling = {"mean_score": 81.45, "end_no_progress": 12.0, "num_episodes": 20.0}
    later = {"mean_score": 79.45, "end_no_progress": 0.0, "num_episodes": 20.0}
    assert snake_score(circling, 100) == pytest.approx(21.45)
    assert snake_score(later, 100) > snake_score(circling, 100)


class CirclingPolicy:
    """Turns right at every step: it circles a 2 x 2 square and never eats."""

    name = "circling"

    def select_actions(self, observations, action_masks):
        return np.full(len(observations), 2)


def test_evaluation_score_counts_limit_endings():
    env_kwargs = {"grid_size": 6, "no_progress_limit": 30}
    metrics = evaluate_snake(CirclingPolicy(), env_kwargs, num_episodes=4, seed=0)
    assert metrics["end_no_progress"] == 4
    assert metrics["score"] == pytest.approx(metrics["mean_score"] - 36)
