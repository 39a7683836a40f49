"""Tests of the 3 x 3 minimax table and of the random, perfect, alpha-beta and mixed players."""

import numpy as np
import pytest

from envs.tictactoe_rules import O, TicTacToeGame, X
from envs.tictactoe_solver import (
    AlphaBetaPlayer,
    MixedPlayer,
    PerfectPlayer,
    Player,
    RandomPlayer,
    make_player,
    solve_positions,
)


def _play_game(players, rng, board_size=3, win_length=3):
    game = TicTacToeGame(board_size, win_length)
    while not game.is_over:
        game.play(players[game.current_player].select_action(game, rng))
    return game


def _game_from_cells(cells):
    """Rebuild a game from its cells by alternating X's and O's marks in index order."""
    moves_x = [int(m) for m in np.flatnonzero(cells == 1)]
    moves_o = [int(m) for m in np.flatnonzero(cells == 2)]
    moves = []
    for turn in range(len(moves_x) + len(moves_o)):
        moves.append(moves_x[turn // 2] if turn % 2 == 0 else moves_o[turn // 2])
    return TicTacToeGame.from_moves(moves)


def _child_value(game, action):
    """Return the minimax value for the mover of playing ``action``, using the table."""
    table = solve_positions()
    child = game.copy()
    child.play(action)
    if child.winner is not None:
        return 1
    if child.is_draw:
        return 0
    return -int(table.values[table.row(child)])


def test_position_counts():
    table = solve_positions()
    assert table.num_positions == 4520
    assert table.num_reachable == 5478
    assert table.num_terminal == 958
    assert len(table.index) == 4520


def test_table_shapes_and_dtypes():
    table = solve_positions()
    assert table.cells.shape == (4520, 9)
    assert table.cells.dtype == np.int8
    assert table.to_move.shape == (4520,)
    assert table.to_move.dtype == np.int8
    assert table.values.dtype == np.int8
    assert set(np.unique(table.values)) == {-1, 0, 1}
    assert table.optimal_mask.shape == (4520, 9)
    assert table.optimal_mask.dtype == bool
    assert table.observations.shape == (4520, 18)
    assert table.observations.dtype == np.int8
    assert not table.values.flags.writeable


def test_table_is_cached():
    assert solve_positions() is solve_positions()


def test_empty_board_is_draw():
    table = solve_positions()
    row = table.row(TicTacToeGame())
    assert row == 0
    assert table.values[row] == 0
    assert table.optimal_mask[row].all()


def test_known_win_position():
    # X has marks on 0 and 1 with 2 open, and O on 3 and 4. X to move wins at 2.
    game = TicTacToeGame.from_moves([0, 3, 1, 4])
    table = solve_positions()
    row = table.row(game)
    assert table.to_move[row] == X
    assert table.values[row] == 1
    assert table.optimal_mask[row, 2]
    assert not table.optimal_mask[row, 8]


def test_known_loss_position():
    # X has marks on 0, 4 and 6, so it threatens 3 (0-3-6) and 2 (2-4-6). O can block one.
    game = TicTacToeGame.from_moves([0, 8, 4, 1, 6])
    table = solve_positions()
    row = table.row(game)
    assert table.to_move[row] == O
    assert table.values[row] == -1
    # Every move loses, so every legal move keeps the value.
    assert np.array_equal(table.optimal_mask[row], game.action_mask())


def test_table_rows_match_game():
    table = solve_positions()
    rng = np.random.default_rng(3)
    for row in rng.choice(table.num_positions, size=300, replace=False):
        cells = table.cells[row]
        game = _game_from_cells(cells)
        assert table.row(game) == row
        assert table.to_move[row] == game.current_player
        assert np.array_equal(table.observations[row], game.observation())


def test_values_satisfy_minimax():
    table = solve_positions()
    for key, row in table.index.items():
        cells = np.frombuffer(key, dtype=np.int8)
        game = _game_from_cells(cells)
        child_values = {int(a): _child_value(game, a) for a in game.legal_actions()}
        assert table.values[row] == max(child_values.values())
        expected_mask = np.zeros(9, dtype=bool)
        for action, value in child_values.items():
            expected_mask[action] = value == table.values[row]
        assert np.array_equal(table.optimal_mask[row], expected_mask)


def test_terminal_position_not_in_table():
    table = solve_positions()
    with pytest.raises(KeyError, match="terminal or unreachable"):
        table.row(TicTacToeGame.from_moves([0, 3, 1, 4, 2]))


@pytest.mark.parametrize(("size", "k"), [(4, 4), (3, 4), (5, 4)])
def test_solver_rejects_other_boards(size, k):
    with pytest.raises(ValueError, match="board_size=3 and win_length=3"):
        solve_positions(size, k)


@pytest.mark.parametrize("perfect_side", [X, O])
def test_perfect_never_loses_to_random(perfect_side):
    rng = np.random.default_rng(perfect_side)
    players = [RandomPlayer(), RandomPlayer()]
    players[perfect_side] = PerfectPlayer()
    for _ in range(300):
        game = _play_game(players, rng)
        assert game.winner in (None, perfect_side), game.to_text()


def test_two_perfect_players_draw():
    rng = np.random.default_rng(11)
    players = [PerfectPlayer(), PerfectPlayer()]
    for _ in range(100):
        game = _play_game(players, rng)
        assert game.is_draw, game.to_text()


def test_perfect_first_tie_break_is_lowest_optimal():
    table = solve_positions()
    player = PerfectPlayer(tie_break="first")
    rng = np.random.default_rng(0)
    game = TicTacToeGame.from_moves([4])
    expected = int(np.flatnonzero(table.optimal_mask[table.row(game)])[0])
    assert player.select_action(game, rng) == expected
    assert player.select_action(TicTacToeGame(), rng) == 0


def test_perfect_takes_win():
    game = TicTacToeGame.from_moves([0, 3, 1, 4])
    player = PerfectPlayer(tie_break="random")
    for seed in range(10):
        assert player.select_action(game, np.random.default_rng(seed)) == 2


def test_perfect_rejects_large_board():
    with pytest.raises(ValueError, match="board_size=3"):
        PerfectPlayer().select_action(TicTacToeGame(4, 4), np.random.default_rng(0))


def test_players_reject_finished_game():
    game = TicTacToeGame.from_moves([0, 3, 1, 4, 2])
    rng = np.random.default_rng(0)
    for player in (RandomPlayer(), PerfectPlayer(), AlphaBetaPlayer()):
        with pytest.raises(ValueError, match="game in progress"):
            player.select_action(game, rng)


def test_random_player_reproducible_and_legal():
    game = TicTacToeGame.from_moves([0, 4, 8])
    first = [RandomPlayer().select_action(game, np.random.default_rng(5)) for _ in range(3)]
    assert len(set(first)) == 1
    rng = np.random.default_rng(1)
    seen = {RandomPlayer().select_action(game, rng) for _ in range(200)}
    assert seen == set(int(a) for a in game.legal_actions())


@pytest.mark.parametrize("tie_break", ["first", "random"])
@pytest.mark.parametrize(
    ("size", "k", "moves", "winning_cell"),
    [
        # X has 0, 1 and 2 of the top row, and O has 4, 5 and 6. X to move wins at 3.
        (4, 4, [0, 4, 1, 5, 2, 6], 3),
        # X has 0, 1 and 3 of the top row, with a gap. X to move wins at 2.
        (5, 4, [0, 10, 1, 11, 3, 20], 2),
        # X has 4, 8 and 12 of an anti-diagonal on 5 x 5. X to move wins at 16.
        (5, 4, [4, 0, 8, 1, 12, 24], 16),
    ],
)
def test_alphabeta_takes_immediate_win(size, k, moves, winning_cell, tie_break):
    game = TicTacToeGame.from_moves(moves, size, k)
    assert game.current_player == X
    player = AlphaBetaPlayer(tie_break=tie_break)
    for seed in range(3):
        assert player.select_action(game, np.random.default_rng(seed)) == winning_cell


@pytest.mark.parametrize("depth", [2, 4])
@pytest.mark.parametrize(
    ("size", "k", "moves", "blocking_cell"),
    [
        # X has 0, 1 and 2 of the top row, so O must block at 3.
        (4, 4, [0, 5, 1, 10, 2], 3),
        # X has 0, 1 and 2 of the top row. Cells 1 to 4 would need 3 and 4, so O must block 3.
        (5, 4, [0, 12, 1, 13, 2], 3),
        # X has column 1 at rows 1 to 3. O has 21 at row 4, so only cell 1 completes it.
        (5, 4, [6, 21, 11, 0, 16], 1),
    ],
)
def test_alphabeta_blocks_immediate_loss(size, k, moves, blocking_cell, depth):
    game = TicTacToeGame.from_moves(moves, size, k)
    assert game.current_player == O
    player = AlphaBetaPlayer(depth=depth)
    for seed in range(3):
        assert player.select_action(game, np.random.default_rng(seed)) == blocking_cell


def test_alphabeta_agrees_with_minimax_on_small_board():
    table = solve_positions()
    player = AlphaBetaPlayer(depth=9, tie_break="first")
    rng = np.random.default_rng(2)
    for row in rng.choice(table.num_positions, size=200, replace=False):
        cells = table.cells[row]
        game = _game_from_cells(cells)
        action = player.select_action(game, rng)
        assert table.optimal_mask[row, action], f"{action} not optimal in\n{game.to_text()}"


@pytest.mark.parametrize(("size", "k"), [(4, 4), (5, 4)])
def test_alphabeta_never_loses_to_random(size, k):
    rng = np.random.default_rng(0)
    for alphabeta_side in (X, O):
        players = [RandomPlayer(), RandomPlayer()]
        players[alphabeta_side] = AlphaBetaPlayer()
        results = [_play_game(players, rng, size, k).winner for _ in range(4)]
        assert results.count(1 - alphabeta_side) == 0


def test_alphabeta_games_finish_on_large_boards():
    rng = np.random.default_rng(4)
    for size, k in [(4, 4), (5, 4)]:
        game = _play_game([AlphaBetaPlayer(), AlphaBetaPlayer()], rng, size, k)
        assert game.is_over


@pytest.mark.parametrize("depth", [0, -1, 1.5, True])
def test_alphabeta_rejects_bad_depth(depth):
    with pytest.raises(ValueError, match="depth"):
        AlphaBetaPlayer(depth=depth)


def test_alphabeta_docstring_says_not_perfect():
    assert "NOT perfect" in AlphaBetaPlayer.__doc__


@pytest.mark.parametrize("tie_break", ["best", "", None])
def test_bad_tie_break_raises(tie_break):
    with pytest.raises(ValueError, match="tie_break"):
        PerfectPlayer(tie_break=tie_break)
    with pytest.raises(ValueError, match="tie_break"):
        AlphaBetaPlayer(tie_break=tie_break)


def test_mixed_player_draws_from_players():
    game = TicTacToeGame.from_moves([0, 3, 1, 4])
    rng = np.random.default_rng(0)
    only_perfect = MixedPlayer([RandomPlayer(), PerfectPlayer()], [0.0, 1.0])
    assert all(only_perfect.select_action(game, rng) == 2 for _ in range(20))
    half = MixedPlayer([RandomPlayer(), PerfectPlayer()], [0.5, 0.5])
    actions = {half.select_action(game, rng) for _ in range(200)}
    assert 2 in actions
    assert len(actions) > 1


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [([0.5], "one probability per player"), ([0.7, 0.7], "summing to 1"), ([-0.5, 1.5], "non")],
)
def test_mixed_player_validates(probabilities, message):
    with pytest.raises(ValueError, match=message):
        MixedPlayer([RandomPlayer(), PerfectPlayer()], probabilities)


def test_mixed_player_needs_players():
    with pytest.raises(ValueError, match="at least one player"):
        MixedPlayer([], [])


@pytest.mark.parametrize(
    ("name", "size", "k", "expected_type"),
    [
        ("random", 3, 3, RandomPlayer),
        ("perfect", 3, 3, PerfectPlayer),
        ("perfect", 4, 4, AlphaBetaPlayer),
        ("perfect", 5, 4, AlphaBetaPlayer),
        ("mix", 3, 3, MixedPlayer),
        ("mix", 5, 4, MixedPlayer),
    ],
)
def test_make_player(name, size, k, expected_type):
    player = make_player(name, size, k)
    assert isinstance(player, expected_type)
    assert isinstance(player, Player)
    assert isinstance(player.name, str)
    game = TicTacToeGame(size, k)
    assert game.action_mask()[player.select_action(game, np.random.default_rng(0))]


def test_make_player_mix_is_half_random():
    player = make_player("mix", 4, 4)
    assert np.allclose(player.probabilities, [0.5, 0.5])
    assert isinstance(player.players[0], RandomPlayer)
    assert isinstance(player.players[1], AlphaBetaPlayer)


@pytest.mark.parametrize("name", ["minimax", "Random", ""])
def test_make_player_rejects_unknown_name(name):
    with pytest.raises(ValueError, match="expected a player name"):
        make_player(name)
