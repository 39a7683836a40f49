"""Tests of the pure tic-tac-toe rules: results, illegal moves, observations and symmetries."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.tictactoe_rules import (
    NUM_SYMMETRIES,
    IllegalMoveError,
    O,
    TicTacToeGame,
    X,
    lines_through_cells,
    symmetry_action_maps,
    symmetry_permutations,
    transform_action,
    transform_observation,
    winning_lines,
)

BOARD_SHAPES = [(3, 3), (4, 4), (5, 4)]

# (moves, board_size, win_length, winner, draw, over, text)
GAME_TABLE = [
    ([], 3, 3, None, False, False, ". . .\n. . .\n. . ."),
    ([4], 3, 3, None, False, False, ". . .\n. X .\n. . ."),
    # The ninth move fills the board and completes the 2-4-6 diagonal: a win, not a draw.
    ([0, 1, 2, 3, 4, 7, 5, 8, 6], 3, 3, X, False, True, "X O X\nO X X\nX O O"),
    ([0, 3, 1, 4, 2], 3, 3, X, False, True, "X X X\nO O .\n. . ."),
    ([0, 4, 8, 1, 7, 6, 2, 5, 3], 3, 3, None, True, True, "X O X\nX O O\nO X X"),
    ([0, 2, 3, 4, 8, 6], 3, 3, O, False, True, "X . O\nX O .\nO . X"),
    ([0, 4, 1, 5, 2, 6, 3], 4, 4, X, False, True, "X X X X\nO O O .\n. . . .\n. . . ."),
    ([0, 1, 6, 2, 12, 3, 18], 5, 4, X, False, True, None),
]


@pytest.mark.parametrize(("moves", "size", "k", "winner", "draw", "over", "text"), GAME_TABLE)
def test_game_table(moves, size, k, winner, draw, over, text):
    game = TicTacToeGame.from_moves(moves, size, k)
    assert game.winner == winner
    assert game.is_draw == draw
    assert game.is_over == over
    assert game.num_moves == len(moves)
    assert game.current_player == len(moves) % 2
    assert game.last_action == (moves[-1] if moves else None)
    if text is not None:
        assert game.to_text() == text


def test_full_board_diagonal_win_is_not_draw():
    game = TicTacToeGame.from_moves([0, 1, 2, 3, 4, 7, 5, 8, 6])
    assert game.winner == X
    assert not game.is_draw
    assert list(game.winning_line) == [2, 4, 6]
    assert np.count_nonzero(game.cells) == 9


@pytest.mark.parametrize(
    ("size", "k", "num_lines"), [(3, 3, 8), (4, 4, 10), (5, 4, 28), (4, 3, 24), (5, 5, 12)]
)
def test_winning_line_counts(size, k, num_lines):
    lines = winning_lines(size, k)
    assert lines.shape == (num_lines, k)
    assert len({tuple(sorted(line)) for line in lines}) == num_lines
    # Every line through a cell appears in that cell's table.
    for cell, through in enumerate(lines_through_cells(size, k)):
        assert np.all(np.any(through == cell, axis=1))
        assert len(through) == int(np.sum(np.any(lines == cell, axis=1)))


def _filler_cells(line, count, size, k):
    """Pick ``count`` cells off ``line`` that do not contain a complete line themselves."""
    lines = [set(int(c) for c in other) for other in winning_lines(size, k)]
    chosen: set[int] = set()
    for cell in range(size * size):
        if len(chosen) == count:
            break
        if cell in line or any(other <= chosen | {cell} for other in lines):
            continue
        chosen.add(cell)
    assert len(chosen) == count
    return sorted(chosen)


def _moves_completing(line, player, size, k):
    """Return a move order in which ``player`` completes ``line`` with its last move."""
    line = [int(c) for c in line]
    fillers = _filler_cells(line, k if player == O else k - 1, size, k)
    if player == X:
        # X moves first and last, so it makes one more move than O.
        moves = list(itertools.chain.from_iterable(zip(line[:-1], fillers, strict=True)))
        return moves + [line[-1]]
    return list(itertools.chain.from_iterable(zip(fillers, line, strict=True)))


@pytest.mark.parametrize(("size", "k"), BOARD_SHAPES)
@pytest.mark.parametrize("player", [X, O])
def test_every_line_detected(size, k, player):
    for line in winning_lines(size, k):
        moves = _moves_completing(line, player, size, k)
        game = TicTacToeGame.from_moves(moves, size, k)
        assert game.winner == player, f"line {list(line)} not detected for player {player}"
        assert sorted(game.winning_line) == sorted(line)
        assert game.is_over
        assert not game.is_draw


def test_occupied_cell_raises_and_keeps_board():
    game = TicTacToeGame.from_moves([4])
    before = game.cells.copy()
    with pytest.raises(IllegalMoveError, match=r"cell 4.*occupied"):
        game.play(4)
    assert np.array_equal(game.cells, before)
    assert game.current_player == O
    assert game.num_moves == 1
    assert game.last_action == 4


@pytest.mark.parametrize("action", [-1, 9, 100])
def test_out_of_range_raises(action):
    game = TicTacToeGame()
    with pytest.raises(IllegalMoveError, match=rf"cell {action}.*0\.\.8"):
        game.play(action)
    assert game.num_moves == 0


def test_move_after_end_raises():
    game = TicTacToeGame.from_moves([0, 3, 1, 4, 2])
    with pytest.raises(IllegalMoveError, match="cell 5.*over"):
        game.play(5)
    assert game.num_moves == 5


def test_illegal_move_error_is_value_error():
    assert issubclass(IllegalMoveError, ValueError)


def test_non_integer_action_raises_type_error():
    game = TicTacToeGame()
    with pytest.raises(TypeError):
        game.play(1.0)
    game.play(np.int64(3))
    assert game.cells[3] == 1


@pytest.mark.parametrize(
    ("size", "k", "bad_value"), [(2, 3, "2"), (3, 2, "2"), (3, 4, "4"), (4, 5, "5"), (0, 3, "0")]
)
def test_invalid_board_shape_raises(size, k, bad_value):
    with pytest.raises(ValueError, match=bad_value):
        TicTacToeGame(size, k)


def test_legal_actions_and_mask():
    game = TicTacToeGame.from_moves([0, 4])
    legal = game.legal_actions()
    assert legal.dtype == np.int64
    assert list(legal) == [1, 2, 3, 5, 6, 7, 8]
    mask = game.action_mask()
    assert mask.dtype == bool
    assert mask.shape == (9,)
    assert list(np.flatnonzero(mask)) == list(legal)


def test_mask_empty_after_end():
    game = TicTacToeGame.from_moves([0, 3, 1, 4, 2])
    assert not game.action_mask().any()
    assert game.legal_actions().size == 0


def test_observation_from_player_to_move():
    game = TicTacToeGame.from_moves([0, 4, 8])
    obs = game.observation()
    assert obs.dtype == np.int8
    assert obs.shape == (18,)
    # O is to move: its own mark at 4 comes first, then X's marks at 0 and 8.
    assert list(np.flatnonzero(obs[:9])) == [4]
    assert list(np.flatnonzero(obs[9:])) == [0, 8]
    x_view = game.observation(X)
    assert list(np.flatnonzero(x_view[:9])) == [0, 8]
    assert list(np.flatnonzero(x_view[9:])) == [4]


def test_cells_are_read_only():
    game = TicTacToeGame()
    with pytest.raises(ValueError):
        game.cells[0] = 1
    game.play(0)
    assert game.cells.dtype == np.int8
    assert game.cells[0] == 1


def test_key_identifies_position():
    first = TicTacToeGame.from_moves([0, 4, 8])
    same = TicTacToeGame.from_moves([8, 4, 0])
    other = TicTacToeGame.from_moves([0, 4, 7])
    assert isinstance(first.key(), bytes)
    assert first.key() == same.key()
    assert first.key() != other.key()


def test_copy_is_independent():
    game = TicTacToeGame.from_moves([0, 4])
    clone = game.copy()
    clone.play(8)
    assert game.num_moves == 2
    assert game.cells[8] == 0
    assert clone.cells[8] == 1
    assert clone.board_size == game.board_size


def test_properties_of_larger_board():
    game = TicTacToeGame(5, 4)
    assert game.board_size == 5
    assert game.win_length == 4
    assert game.num_cells == 25
    assert game.cells.shape == (25,)
    assert game.observation().shape == (50,)


@pytest.mark.parametrize("size", [3, 4, 5])
def test_symmetry_permutations_form_group(size):
    permutations = symmetry_permutations(size)
    assert permutations.shape == (NUM_SYMMETRIES, size * size)
    as_tuples = {tuple(p) for p in permutations}
    assert len(as_tuples) == NUM_SYMMETRIES
    for permutation in permutations:
        assert sorted(permutation) == list(range(size * size))
    # Applying one symmetry after another gives a third one of the eight.
    for first, second in itertools.product(permutations, repeat=2):
        assert tuple(first[second]) in as_tuples


def test_symmetry_rotation_direction():
    # Row 1 turns the board 90 degrees counterclockwise: the top-right corner goes top-left.
    game = TicTacToeGame.from_moves([2])
    rotated = game.cells[symmetry_permutations(3)[1]]
    assert list(np.flatnonzero(rotated)) == [0]
    assert transform_action(2, 1, 3) == 0
    # Row 4 mirrors left to right.
    assert transform_action(0, 4, 3) == 2


@pytest.mark.parametrize(("size", "k"), BOARD_SHAPES)
def test_symmetry_keeps_obs_and_action_consistent(size, k):
    rng = np.random.default_rng(7)
    permutations = symmetry_permutations(size)
    action_maps = symmetry_action_maps(size)
    for _ in range(20):
        game = TicTacToeGame(size, k)
        moves = []
        for _ in range(int(rng.integers(0, size * size - 1))):
            if game.is_over:
                break
            move = int(rng.choice(game.legal_actions()))
            game.play(move)
            moves.append(move)
        if game.is_over:
            continue
        action = int(rng.choice(game.legal_actions()))
        for symmetry in range(NUM_SYMMETRIES):
            image_moves = [int(action_maps[symmetry][m]) for m in moves]
            image = TicTacToeGame.from_moves(image_moves, size, k)
            assert np.array_equal(image.cells, game.cells[permutations[symmetry]])
            obs = transform_observation(game.observation(), symmetry, size)
            assert np.array_equal(image.observation(), obs)
            mask = transform_observation(game.action_mask(), symmetry, size)
            assert np.array_equal(image.action_mask(), mask)

            # The mapped action on the image gives the image of the position after the move.
            after = game.copy()
            after.play(action)
            image.play(transform_action(action, symmetry, size))
            assert np.array_equal(image.cells, after.cells[permutations[symmetry]])
            assert image.winner == after.winner


def test_transform_observation_keeps_batch_axes():
    batch = np.arange(2 * 18).reshape(2, 18)
    out = transform_observation(batch, 1, 3)
    assert out.shape == (2, 18)
    assert np.array_equal(out[1, :9], batch[1, :9][symmetry_permutations(3)[1]])
    assert np.array_equal(out[1, 9:], batch[1, 9:][symmetry_permutations(3)[1]])
    with pytest.raises(ValueError, match="multiple of 9"):
        transform_observation(np.zeros(10), 0, 3)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.sampled_from(BOARD_SHAPES),
    choices=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30),
)
def test_random_sequences_keep_invariants(shape, choices):
    size, k = shape
    game = TicTacToeGame(size, k)
    for choice in choices:
        if game.is_over:
            break
        legal = game.legal_actions()
        game.play(int(legal[choice % len(legal)]))
        num_x = int(np.sum(game.cells == 1))
        num_o = int(np.sum(game.cells == 2))
        assert num_x - num_o in (0, 1)
        assert num_x + num_o == game.num_moves
        assert game.observation().sum() == game.num_moves
        if game.winner is not None:
            assert game.winner == 1 - game.current_player
            assert np.all(game.cells[game.winning_line] == game.winner + 1)
        # Checked independently of the rules' own detection: a winner exactly when some
        # line of k cells contains one player's marks only.
        complete = any(
            np.all(game.cells[line] == mark) for line in winning_lines(size, k) for mark in (1, 2)
        )
        assert complete == (game.winner is not None)
