"""Check our tic-tac-toe rules against PettingZoo's and OpenSpiel's, move by move.

Random games are played with our rules and replayed in PettingZoo's ``tictactoe_v3`` and in
OpenSpiel's ``tic_tac_toe``. After every move, including the empty board, the legal moves,
whether the game has ended, the winner and the board must agree. Both libraries are
required test dependencies, so a missing one fails collection instead of skipping.

Numbering and player order, found by probing PettingZoo 1.27.0 and OpenSpiel 2.0.2 (the
probe tests below check them):

- Ours: cell ``row * 3 + col``, X (player 0) moves first.
- OpenSpiel: the same numbering (``action_to_string`` writes action 5 as ``x(1,2)``), and
  its player 0 is ``x`` and moves first, so actions and players map one to one.
- PettingZoo: cells are numbered down the columns, so its action ``col * 3 + row`` is our
  cell ``row * 3 + col``. The map is the board's transpose, which is its own inverse, and
  the same function converts both ways. ``player_1`` moves first and draws a cross (X),
  ``player_2`` draws a circle (O). The observation planes are indexed ``[col, row]``
  because PettingZoo reshapes its column-major list row by row.
"""

import os
import warnings

import numpy as np
import pyspiel
import pytest

# Importing pettingzoo sets SDL_AUDIODRIVER to "dsp" on Linux, which would leak into the
# pygame tests and the scripts they start, so the value from conftest is put back.
_audio_driver = os.environ.get("SDL_AUDIODRIVER")
with warnings.catch_warnings():
    # PettingZoo 1.27 deprecates importing environment modules in favour of its new
    # registry (`pettingzoo.make`), which 1.24 to 1.26 lack. The module works in all of them.
    warnings.filterwarnings("ignore", "The old environment creation API", DeprecationWarning)
    from pettingzoo.classic import tictactoe_v3
if _audio_driver is None:
    os.environ.pop("SDL_AUDIODRIVER", None)
else:
    os.environ["SDL_AUDIODRIVER"] = _audio_driver

from envs.tictactoe_rules import O, TicTacToeGame, X

NUM_GAMES = 300
SEED = 20_240_917
PETTINGZOO_AGENTS = ("player_1", "player_2")  # Index = our player: X, then O.
RENDER_SIZE = 300  # Pixels; each cell is a 100 x 100 tile.


def to_pettingzoo_cell(cell: int) -> int:
    """Map our row-major cell to PettingZoo's column-major action, or back again."""
    row, col = divmod(cell, 3)
    return col * 3 + row


def random_games(num_games: int, seed: int) -> list[list[int]]:
    """Play ``num_games`` games of uniformly random legal moves with our rules."""
    rng = np.random.default_rng(seed)
    games = []
    for _ in range(num_games):
        game = TicTacToeGame()
        moves = []
        while not game.is_over:
            move = int(rng.choice(game.legal_actions()))
            game.play(move)
            moves.append(move)
        games.append(moves)
    return games


GAMES = random_games(NUM_GAMES, SEED)


def outcome(moves: list[int]) -> int | None:
    return TicTacToeGame.from_moves(moves).winner


def test_sample_covers_every_outcome():
    outcomes = [outcome(moves) for moves in GAMES]
    assert outcomes.count(X) > 0
    assert outcomes.count(O) > 0
    draws = [moves for moves in GAMES if TicTacToeGame.from_moves(moves).is_draw]
    assert draws
    # Wins on the fifth move (fastest) and on the ninth (full board) are both exercised.
    assert any(len(moves) == 5 for moves in GAMES)
    assert any(len(moves) == 9 and outcome(moves) == X for moves in GAMES)


# ------------------------------------------------------------------ PettingZoo


def pettingzoo_winner(env) -> int | None:
    """Return the winner from the rewards of the final move: +1 to the winner."""
    for player, agent in enumerate(PETTINGZOO_AGENTS):
        if env.rewards[agent] == 1:
            return player
    return None


def pettingzoo_x_and_o_planes(env) -> tuple[np.ndarray, np.ndarray]:
    """Return X's and O's marks as 3 x 3 arrays indexed [row, col]."""
    planes = env.observe(PETTINGZOO_AGENTS[X])["observation"]  # (col, row, own/opponent)
    return planes[:, :, 0].T, planes[:, :, 1].T


def check_against_pettingzoo(env, game: TicTacToeGame, context: str) -> None:
    terminations = set(env.terminations.values())
    assert terminations == {game.is_over}, context
    assert not any(env.truncations.values()), context
    assert pettingzoo_winner(env) == game.winner, context
    x_marks, o_marks = pettingzoo_x_and_o_planes(env)
    board = np.asarray(game.cells).reshape(3, 3)
    np.testing.assert_array_equal(x_marks, board == 1, err_msg=context)
    np.testing.assert_array_equal(o_marks, board == 2, err_msg=context)
    if game.is_over:
        # PettingZoo ends a game through `terminations` but still lists the empty cells in
        # the mask after a win, so only ours is checked to offer no move.
        assert len(game.legal_actions()) == 0, context
        return
    agent = env.agent_selection
    assert agent == PETTINGZOO_AGENTS[game.current_player], context
    mask = env.observe(agent)["action_mask"]
    legal = {to_pettingzoo_cell(int(cell)) for cell in np.flatnonzero(mask)}
    assert legal == set(game.legal_actions().tolist()), context


def test_games_agree_with_pettingzoo():
    env = tictactoe_v3.env()
    for index, moves in enumerate(GAMES):
        env.reset(seed=index)
        game = TicTacToeGame()
        check_against_pettingzoo(env, game, f"game {index} {moves}, empty board")
        for num_played, move in enumerate(moves, start=1):
            env.step(to_pettingzoo_cell(move))
            game.play(move)
            check_against_pettingzoo(env, game, f"game {index} {moves}, move {num_played}")
    env.close()


def rendered_marks(moves: list[int]) -> np.ndarray:
    """Render PettingZoo's board after ``moves`` (its actions) and return changed pixels."""
    env = tictactoe_v3.env(render_mode="rgb_array", screen_height=RENDER_SIZE)
    env.reset()
    empty = env.render().astype(int)
    for move in moves:
        env.step(move)
    image = env.render().astype(int)
    env.close()
    return np.abs(image - empty).sum(axis=2) > 0  # (height, width)


@pytest.mark.parametrize("action", range(9))
def test_pettingzoo_numbers_cells_down_columns(action):
    changed = rendered_marks([action])
    rows, cols = np.nonzero(changed)
    tile = RENDER_SIZE // 3
    drawn_at = (int(rows.mean()) // tile, int(cols.mean()) // tile)
    assert drawn_at == divmod(to_pettingzoo_cell(action), 3)


def test_pettingzoo_player_1_moves_first_as_x():
    env = tictactoe_v3.env()
    env.reset()
    assert env.agent_selection == "player_1"
    env.close()
    # player_1 marks the top-left cell, player_2 the bottom-right. A cross is drawn
    # through the middle of its tile, while a circle leaves the middle empty.
    changed = rendered_marks([0, 8])
    tile = RENDER_SIZE // 3
    for (row, col), expected_cross in (((0, 0), True), ((2, 2), False)):
        region = changed[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile]
        rows, cols = np.nonzero(region)
        centre_row, centre_col = int(rows.mean()), int(cols.mean())
        centre = region[centre_row - 3 : centre_row + 4, centre_col - 3 : centre_col + 4]
        assert bool(centre.all()) == expected_cross, (row, col)
        assert bool(centre.any()) == expected_cross, (row, col)


# ------------------------------------------------------------------ OpenSpiel


def openspiel_winner(state) -> int | None:
    """Return the winner of a finished game from its returns: +1 to the winner."""
    if not state.is_terminal():
        return None
    returns = state.returns()
    for player in (X, O):
        if returns[player] == 1.0:
            return player
    return None


def openspiel_board(state) -> np.ndarray:
    """Return OpenSpiel's board as ours: 3 x 3, 0 empty, 1 X, 2 O."""
    rows = str(state).splitlines()
    symbols = {".": 0, "x": 1, "o": 2}
    return np.array([[symbols[char] for char in row] for row in rows], dtype=np.int8)


def check_against_openspiel(state, game: TicTacToeGame, context: str) -> None:
    assert state.is_terminal() == game.is_over, context
    assert sorted(state.legal_actions()) == game.legal_actions().tolist(), context
    assert openspiel_winner(state) == game.winner, context
    if game.is_over:
        assert state.current_player() == pyspiel.PlayerId.TERMINAL, context
        if game.is_draw:
            assert state.returns() == [0.0, 0.0], context
    else:
        assert state.current_player() == game.current_player, context
    board = np.asarray(game.cells).reshape(3, 3)
    np.testing.assert_array_equal(openspiel_board(state), board, err_msg=context)


def test_games_agree_with_openspiel():
    reference = pyspiel.load_game("tic_tac_toe")
    for index, moves in enumerate(GAMES):
        state = reference.new_initial_state()
        game = TicTacToeGame()
        check_against_openspiel(state, game, f"game {index} {moves}, empty board")
        for num_played, move in enumerate(moves, start=1):
            state.apply_action(move)
            game.play(move)
            check_against_openspiel(state, game, f"game {index} {moves}, move {num_played}")


def test_openspiel_numbers_cells_row_by_row():
    state = pyspiel.load_game("tic_tac_toe").new_initial_state()
    assert state.current_player() == X
    for cell in range(9):
        row, col = divmod(cell, 3)
        assert state.action_to_string(X, cell) == f"x({row},{col})"
        assert state.action_to_string(O, cell) == f"o({row},{col})"
