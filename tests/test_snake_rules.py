"""Tests of the snake rules in envs.snake_rules."""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.snake_rules import (
    DIRECTION_DELTAS,
    DOWN,
    LEFT,
    RIGHT,
    UP,
    SnakeGame,
    StepResult,
)

# A Hamiltonian cycle of the 4x4 board that contains the starting snake (0,2)-(1,2)-(2,2).
CYCLE_4X4 = [
    (0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (3, 2), (3, 3), (2, 3),
    (1, 3), (0, 3), (0, 2), (1, 2), (2, 2), (2, 1), (1, 1), (0, 1),
]  # fmt: skip


def direction_between(start: tuple[int, int], end: tuple[int, int]) -> int:
    return DIRECTION_DELTAS.index((end[0] - start[0], end[1] - start[1]))


def assert_consistent(game: SnakeGame) -> None:
    body = list(game.body)
    assert len(set(body)) == len(body), f"a cell is occupied twice: {body}"
    for previous, cell in zip(body, body[1:]):
        assert abs(previous[0] - cell[0]) + abs(previous[1] - cell[1]) == 1
    expected = np.zeros((game.height, game.width), dtype=np.uint8)
    for x, y in body:
        expected[y, x] = 1
    np.testing.assert_array_equal(game.occupancy, expected)
    assert game.length == 3 + game.score
    if game.food is None:
        assert game.length == game.width * game.height
    else:
        assert game.food not in body


def assert_consistent_occupancy(game: SnakeGame) -> None:
    assert int(game.occupancy.sum()) == game.length
    for cell in game.body:
        assert game.is_occupied(cell)


def test_reset_places_starting_snake():
    game = SnakeGame(10, 10, rng=np.random.default_rng(0))
    assert list(game.body) == [(5, 5), (4, 5), (3, 5)]
    assert game.direction == RIGHT
    assert game.length == 3
    assert game.score == 0
    assert not game.game_over
    assert_consistent(game)


def test_reset_food_covers_every_free_cell():
    # Uniform placement on a 4x4 board: each of the 13 free cells appears in 400 resets.
    game = SnakeGame(4, 4, rng=np.random.default_rng(1))
    counts: dict[tuple[int, int], int] = {}
    for _ in range(400):
        game.reset()
        counts[game.food] = counts.get(game.food, 0) + 1
    assert len(counts) == 16 - 3
    assert min(counts.values()) >= 10


def test_food_ignores_global_random_state():
    foods = []
    for global_seed in (1, 2):
        random.seed(global_seed)
        np.random.seed(global_seed)
        game = SnakeGame(6, 6, rng=np.random.default_rng(7))
        foods.append([game.food] + [(game.reset(), game.food)[1] for _ in range(20)])
    assert foods[0] == foods[1]


def test_reversal_continues_straight():
    game = SnakeGame.from_state([(5, 5), (4, 5), (3, 5)], RIGHT, (9, 9))
    result = game.step(LEFT)
    assert result == StepResult(ate=False, died=False, cause=None, won=False)
    assert game.head == (6, 5)
    assert game.direction == RIGHT
    assert game.length == 3


def test_length_one_snake_may_reverse():
    game = SnakeGame.from_state([(5, 5)], RIGHT, (0, 0))
    game.step(LEFT)
    assert game.head == (4, 5)
    assert game.direction == LEFT


@pytest.mark.parametrize(
    ("body", "direction", "food", "moves", "expected_body", "expected_result"),
    [
        # Leaving the board kills, and the fatal move leaves the board unchanged.
        (
            [(9, 5), (8, 5), (7, 5)], RIGHT, (0, 0), [RIGHT],
            [(9, 5), (8, 5), (7, 5)], StepResult(False, True, "wall", False),
        ),
        (
            [(3, 0), (3, 1), (3, 2)], UP, (0, 5), [UP],
            [(3, 0), (3, 1), (3, 2)], StepResult(False, True, "wall", False),
        ),
        # Turning back into the body (not the tail) kills.
        (
            [(2, 2), (3, 2), (3, 3), (2, 3), (1, 3)], LEFT, (9, 9), [DOWN],
            [(2, 2), (3, 2), (3, 3), (2, 3), (1, 3)], StepResult(False, True, "body", False),
        ),
        # Eating grows the snake: the tail stays in place.
        (
            [(5, 5), (4, 5), (3, 5)], RIGHT, (6, 5), [RIGHT],
            [(6, 5), (5, 5), (4, 5), (3, 5)], StepResult(True, False, None, False),
        ),
        # Plain moves and turns.
        (
            [(5, 5), (4, 5), (3, 5)], RIGHT, (0, 0), [DOWN, LEFT],
            [(4, 6), (5, 6), (5, 5)], StepResult(False, False, None, False),
        ),
    ],
)  # fmt: skip
def test_step_table(body, direction, food, moves, expected_body, expected_result):
    game = SnakeGame.from_state(body, direction, food, rng=np.random.default_rng(0))
    results = [game.step(move) for move in moves]
    assert list(game.body) == expected_body
    assert results[-1] == expected_result
    assert game.game_over == expected_result.died
    assert game.end_cause == expected_result.cause


def test_tail_rule_leaving_tail_cell():
    # A 2x2 loop: the head at (1,1) is above the tail at (1,2).
    game = SnakeGame.from_state([(1, 1), (2, 1), (2, 2), (1, 2)], LEFT, (5, 5))
    result = game.step(DOWN)
    assert not result.died
    assert list(game.body) == [(1, 2), (1, 1), (2, 1), (2, 2)]
    assert_consistent_occupancy(game)


def test_tail_rule_food_on_tail_is_rejected():
    # Entering the tail's cell while eating needs food on the tail, which cannot happen.
    with pytest.raises(ValueError, match="on the body"):
        SnakeGame.from_state([(1, 1), (2, 1), (2, 2), (1, 2)], LEFT, (1, 2))


@pytest.mark.parametrize(("food", "survives"), [((9, 9), True), ((1, 2), False)])
def test_tail_rule_tail_stays_when_eating(food, survives):
    # Move 1 goes down to (1,2); move 2 goes right into (2,2), the second-to-last cell at
    # the start. Without food on (1,2) the tail has reached (2,2) and leaves it on move 2.
    # Eating on move 1 keeps the tail at (2,3), so (2,2) is still body on move 2.
    game = SnakeGame.from_state(
        [(1, 1), (2, 1), (2, 2), (2, 3)], LEFT, food, rng=np.random.default_rng(0)
    )
    first = game.step(DOWN)
    assert first.ate == (not survives)
    second = game.step(RIGHT)
    assert second.died == (not survives)
    if survives:
        assert game.head == (2, 2)
    else:
        assert second.cause == "body"


def test_win_on_4x4_cycle():
    game = SnakeGame(4, 4, rng=np.random.default_rng(3))
    assert list(game.body) == [(2, 2), (1, 2), (0, 2)]
    result = None
    for _ in range(16 * 16):
        head_position = CYCLE_4X4.index(game.head)
        next_cell = CYCLE_4X4[(head_position + 1) % len(CYCLE_4X4)]
        result = game.step(direction_between(game.head, next_cell))
        assert not result.died
        assert_consistent(game)
        if game.game_over:
            break
    assert result == StepResult(ate=True, died=False, cause=None, won=True)
    assert game.won
    assert game.end_cause == "win"
    assert game.food is None
    assert game.length == 16
    assert game.score == 13
    with pytest.raises(RuntimeError, match="reset"):
        game.step(UP)


def test_from_state_full_board_is_won():
    body = CYCLE_4X4[::-1]
    game = SnakeGame.from_state(body, direction_between(body[1], body[0]), None, 4, 4)
    assert game.game_over
    assert game.won
    assert game.food is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"body": [], "direction": RIGHT, "food": (0, 0)}, "at least one cell"),
        ({"body": [(10, 5)], "direction": RIGHT, "food": (0, 0)}, r"got \(10, 5\)"),
        ({"body": [(-1, 5)], "direction": RIGHT, "food": (0, 0)}, r"got \(-1, 5\)"),
        ({"body": [(5, 5), (3, 5)], "direction": RIGHT, "food": (0, 0)}, "next to the previous"),
        ({"body": [(5, 5), (4, 5), (5, 5)], "direction": RIGHT, "food": (0, 0)}, "distinct"),
        ({"body": [(5, 5), (4, 5)], "direction": UP, "food": (0, 0)}, "got up"),
        ({"body": [(5, 5), (4, 5)], "direction": 4, "food": (0, 0)}, "got 4"),
        ({"body": [(5, 5), (4, 5)], "direction": RIGHT, "food": (4, 5)}, "on the body"),
        ({"body": [(5, 5), (4, 5)], "direction": RIGHT, "food": (0, 10)}, r"got \(0, 10\)"),
        ({"body": [(5, 5.0)], "direction": RIGHT, "food": (0, 0)}, "integer coordinates"),
        ({"body": [5], "direction": RIGHT, "food": (0, 0)}, r"\(x, y\) pair, got 5"),
    ],
)
def test_from_state_rejects_invalid_state(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SnakeGame.from_state(**kwargs)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [(3, 10, "width >= 4, got 3"), (10, 2, "height >= 4, got 2"), ("10", 10, "integer width"),
     (True, 10, "integer width")],
)
def test_constructor_rejects_invalid_size(width, height, message):
    with pytest.raises(ValueError, match=message):
        SnakeGame(width, height)


@pytest.mark.parametrize("direction", [4, -1, 2.5, "up", None])
def test_step_rejects_invalid_direction(direction):
    game = SnakeGame(rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="direction in 0..3"):
        game.step(direction)


def test_step_accepts_numpy_integer():
    game = SnakeGame(rng=np.random.default_rng(0))
    game.step(np.int64(DOWN))
    assert game.head == (5, 6)


def test_to_text_marks_head_body_and_food():
    game = SnakeGame.from_state([(2, 1), (1, 1), (0, 1)], RIGHT, (3, 3), 4, 4)
    assert game.to_text() == "....\noo@.\n....\n...*"


def test_occupancy_view_is_read_only_and_live():
    game = SnakeGame.from_state([(2, 1), (1, 1), (0, 1)], RIGHT, (3, 3), 4, 4)
    view = game.occupancy
    with pytest.raises(ValueError):
        view[0, 0] = 1
    game.step(DOWN)
    assert view[2, 2] == 1
    assert view[1, 0] == 0


def brute_force_assessment(game: SnakeGame, direction: int) -> tuple[bool, float, bool]:
    """Play the move on a copy and flood-fill the board after it."""
    copy = SnakeGame.from_state(
        list(game.body), game.direction, game.food, game.width, game.height,
        rng=np.random.default_rng(0),
    )
    result = copy.step(direction)
    if result.died:
        return True, 0.0, False
    if result.won:
        return False, 1.0, True

    free = {
        (x, y)
        for x in range(copy.width)
        for y in range(copy.height)
        if not copy.is_occupied((x, y))
    }
    reached: set[tuple[int, int]] = set()
    frontier = deque([copy.head])
    while frontier:
        x, y = frontier.popleft()
        for dx, dy in DIRECTION_DELTAS:
            cell = (x + dx, y + dy)
            if cell in free and cell not in reached:
                reached.add(cell)
                frontier.append(cell)

    tail_x, tail_y = copy.tail
    tail_neighbours = {(tail_x + dx, tail_y + dy) for dx, dy in DIRECTION_DELTAS}
    tail_reachable = (
        copy.length == 1 or copy.head in tail_neighbours or bool(reached & tail_neighbours)
    )
    return False, len(reached) / len(free), tail_reachable


def brute_force_food_distance(game: SnakeGame, direction: int) -> int | None:
    """Play the move on a copy and search the board after it for the food."""
    copy = SnakeGame.from_state(
        list(game.body), game.direction, game.food, game.width, game.height,
        rng=np.random.default_rng(0),
    )
    result = copy.step(direction)
    if result.died or game.food is None:
        return None
    if result.ate:
        return 0
    distances = {copy.head: 0}
    frontier = deque([copy.head])
    while frontier:
        x, y = frontier.popleft()
        for dx, dy in DIRECTION_DELTAS:
            cell = (x + dx, y + dy)
            inside = 0 <= cell[0] < copy.width and 0 <= cell[1] < copy.height
            if inside and cell not in distances and not copy.is_occupied(cell):
                distances[cell] = distances[(x, y)] + 1
                frontier.append(cell)
    return distances.get(copy.food)


def choose_move(game: SnakeGame, choice: int) -> int:
    """Map 0..3 to that direction, and 4 to a move toward the food that does not die."""
    if choice < 4:
        return choice
    assessments = game.assess_moves(range(4))
    safe = [direction for direction in range(4) if not assessments[direction].fatal]
    if not safe or game.food is None:
        return game.direction
    head_x, head_y = game.head
    food_x, food_y = game.food

    def distance(direction: int) -> int:
        dx, dy = DIRECTION_DELTAS[direction]
        return abs(food_x - head_x - dx) + abs(food_y - head_y - dy)

    return min(safe, key=distance)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(4, 7),
    choices=st.lists(st.integers(0, 4), min_size=50, max_size=400),
)
def test_random_play_keeps_invariants(seed, size, choices):
    game = SnakeGame(size, size, rng=np.random.default_rng(seed))
    for choice in choices:
        if game.game_over:
            game.reset()
        score_before = game.score
        result = game.step(choose_move(game, choice))
        assert_consistent(game)
        assert game.score == score_before + (1 if result.ate else 0)
        assert result.died == (result.cause is not None)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(4, 6),
    choices=st.lists(st.integers(0, 4), min_size=1, max_size=200),
)
def test_assess_moves_matches_brute_force(seed, size, choices):
    game = SnakeGame(size, size, rng=np.random.default_rng(seed))
    for choice in choices:
        assessments = game.assess_moves(range(4), food_distances=True)
        for direction in range(4):
            expected = brute_force_assessment(game, direction)
            assert assessments[direction].fatal == expected[0]
            assert assessments[direction].reachable_fraction == pytest.approx(expected[1])
            assert assessments[direction].tail_reachable == expected[2]
            expected_distance = brute_force_food_distance(game, direction)
            assert assessments[direction].food_distance == expected_distance
        assert all(a.food_distance is None for a in game.assess_moves(range(4)))
        game.step(choose_move(game, choice))
        if game.game_over:
            game.reset()


def test_assess_moves_sees_pocket():
    # The head at (1,0) heads up a wall. Turning left enters a one-cell pocket at (0,0);
    # turning right leads to the open board.
    body = [(1, 0), (1, 1), (0, 1), (0, 2), (0, 3)]
    game = SnakeGame.from_state(body, UP, (5, 5), 6, 6)
    up, right, down, left = game.assess_moves([UP, RIGHT, DOWN, LEFT])
    assert up.fatal
    assert down == up  # the reversal resolves to straight up, into the wall
    assert not right.fatal
    assert right.reachable_fraction == pytest.approx((36 - 5 - 1) / (36 - 5))
    assert right.tail_reachable
    assert not left.fatal
    assert left.reachable_fraction == 0.0
    assert not left.tail_reachable


@pytest.mark.parametrize(
    ("body", "direction", "food", "width"),
    [
        # The head can enter the tail's cell of a 2x2 loop.
        ([(1, 1), (2, 1), (2, 2), (1, 2)], LEFT, (5, 5), 6),
        # The tail at (0,0) is boxed in by the body, but the cell after it, (1,0), borders
        # the open region through (2,0).
        ([(2, 2), (1, 2), (0, 2), (0, 1), (1, 1), (1, 0), (0, 0)], RIGHT, (5, 5), 6),
        # The food is next to the head, so one move eats and keeps the tail.
        ([(1, 1), (2, 1), (2, 2), (2, 3)], LEFT, (1, 2), 4),
        # A body wall down column 3 splits the board, so no region may wrap from the last
        # column to the first column of the next row.
        ([(3, y) for y in range(5, -1, -1)] + [(4, 0), (5, 0)], DOWN, (0, 0), 6),
        # One free cell is left and the snake can fill it.
        (CYCLE_4X4[:0:-1], LEFT, (0, 0), 4),
    ],
)
def test_assess_moves_on_fixed_positions(body, direction, food, width):
    game = SnakeGame.from_state(body, direction, food, width, width)
    assessments = game.assess_moves(range(4), food_distances=True)
    for move in range(4):
        fatal, fraction, tail_reachable = brute_force_assessment(game, move)
        assert assessments[move].fatal == fatal
        assert assessments[move].reachable_fraction == pytest.approx(fraction)
        assert assessments[move].tail_reachable == tail_reachable
        assert assessments[move].food_distance == brute_force_food_distance(game, move)


def test_food_distance_goes_around_the_body():
    # The food at (2,0) is two cells above the head at (2,2), behind the body along row 1.
    # Straight on hits the body. The tail at (0,1) leaves its cell on the move, so the
    # left turn to (1,2) goes around the wall's end in 5 more moves: (0,2), (0,1), (0,0),
    # (1,0), (2,0). The right turn enters a pocket closed by the body, from which the food
    # cannot be reached.
    body = [(2, 2), (2, 3), (3, 3), (4, 3), (4, 2), (4, 1), (3, 1), (2, 1), (1, 1), (0, 1)]
    game = SnakeGame.from_state(body, UP, (2, 0), 6, 6)
    up, right, down, left = game.assess_moves([UP, RIGHT, DOWN, LEFT], food_distances=True)
    assert up.fatal
    assert up.food_distance is None
    assert left.food_distance == 5
    assert not right.fatal
    assert right.food_distance is None
    assert down == up


def test_assess_moves_tail_reachable_behind_body():
    body = [(2, 2), (1, 2), (0, 2), (0, 1), (1, 1), (1, 0), (0, 0)]
    game = SnakeGame.from_state(body, RIGHT, (5, 5), 6, 6)
    up = game.assess_moves([UP])[0]
    assert up.tail_reachable
    # The freed tail cell (0,0) is boxed in, so it is the one free cell out of reach.
    assert up.reachable_fraction == pytest.approx((36 - 7 - 1) / (36 - 7))


def test_assess_moves_respects_board_edges():
    # The body runs down column 3 from (3,0) to the head at (3,5), and the tail is at (5,0).
    body = [(3, y) for y in range(5, -1, -1)] + [(4, 0), (5, 0)]
    game = SnakeGame.from_state(body, DOWN, (0, 0), 6, 6)
    down, right, left = game.assess_moves([DOWN, RIGHT, LEFT])
    assert down.fatal
    # Columns 0-2 contain 18 free cells, and the head takes one of them. 36 - 8 cells are free.
    assert left.reachable_fraction == pytest.approx(17 / 28)
    assert not left.tail_reachable
    # Columns 4-5 below row 0 contain 10 free cells, and the freed tail cell (5,0) joins them.
    assert right.reachable_fraction == pytest.approx(10 / 28)
    assert right.tail_reachable
