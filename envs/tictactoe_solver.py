"""Tic-tac-toe players: exact minimax on 3 x 3, alpha-beta search on larger boards, random.

:func:`solve_positions` solves every reachable 3 x 3 position once, on first use, and keeps
the table for the rest of the process. The players share one interface,
``select_action(game, rng) -> int``, and draw any randomness from the generator they are
given, so a caller that seeds that generator reproduces their moves.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from envs.tictactoe_rules import EMPTY, TicTacToeGame, lines_through_cells, winning_lines

_SOLVED_BOARD_SIZE = 3
_SOLVED_WIN_LENGTH = 3
_TIE_BREAKS = ("random", "first")
PLAYER_NAMES = ("random", "perfect", "mix")
# Memo entry of the 3 x 3 solver for a terminal position, kept only to count those positions.
_TERMINAL = 9


@runtime_checkable
class Player(Protocol):
    """Interface of a player: a ``name`` and ``select_action(game, rng)``."""

    name: str

    def select_action(self, game: TicTacToeGame, rng: np.random.Generator) -> int:
        """Return a legal cell for the player to move in ``game``."""
        ...


@dataclass(frozen=True)
class PositionTable:
    """Minimax solution of every reachable non-terminal 3 x 3 position.

    Rows are sorted by number of marks, then by :meth:`TicTacToeGame.key`, so row 0 is the
    empty board. All arrays are read-only.

    Attributes:
        cells: Int8 array (N, 9) of cell values (0 empty, 1 X, 2 O).
        to_move: Int8 array (N,) of the player to move (0 X, 1 O).
        values: Int8 array (N,) of minimax values for the player to move: +1 win, 0 draw,
            -1 loss, with perfect play from both sides.
        optimal_mask: Bool array (N, 9), True on the moves that keep the minimax value.
        observations: Int8 array (N, 18), as :meth:`TicTacToeGame.observation` returns them.
        index: Map from :meth:`TicTacToeGame.key` to row.
        num_terminal: Reachable positions where the game has ended, which have no row.
    """

    cells: np.ndarray
    to_move: np.ndarray
    values: np.ndarray
    optimal_mask: np.ndarray
    observations: np.ndarray
    index: dict[bytes, int]
    num_terminal: int

    @property
    def num_positions(self) -> int:
        """Number of non-terminal positions, the table's rows."""
        return len(self.values)

    @property
    def num_reachable(self) -> int:
        """Number of reachable positions, terminal ones included."""
        return len(self.values) + self.num_terminal

    def row(self, game: TicTacToeGame) -> int:
        """Return the row of ``game``'s position.

        Raises:
            KeyError: If the position is terminal or unreachable (not in the table).
        """
        try:
            return self.index[game.key()]
        except KeyError:
            raise KeyError(
                f"position not in the table (it is terminal or unreachable):\n{game.to_text()}"
            ) from None


def _negamax(
    cells: list[int], player: int, lines: list[tuple[int, ...]], memo: dict[bytes, int]
) -> int:
    """Return the minimax value of a non-terminal position for ``player``, filling ``memo``."""
    key = bytes(cells)
    if key in memo:
        return memo[key]
    best = -2
    for cell in range(len(cells)):
        if cells[cell] != EMPTY:
            continue
        # No cut-off once a win is found: every reachable position must enter the memo.
        best = max(best, _move_value(cells, player, cell, lines, memo))
    memo[key] = best
    return best


def _move_value(
    cells: list[int], player: int, cell: int, lines: list[tuple[int, ...]], memo: dict[bytes, int]
) -> int:
    """Return the value for ``player`` of playing ``cell``, recording terminal children."""
    mark = player + 1
    cells[cell] = mark
    try:
        if any(cell in line and all(cells[c] == mark for c in line) for line in lines):
            memo.setdefault(bytes(cells), _TERMINAL)
            return 1
        if EMPTY not in cells:
            memo.setdefault(bytes(cells), _TERMINAL)
            return 0
        return -_negamax(cells, 1 - player, lines, memo)
    finally:
        cells[cell] = EMPTY


@functools.cache
def _solve_3x3() -> PositionTable:
    lines = [tuple(int(c) for c in line) for line in winning_lines(3, 3)]
    memo: dict[bytes, int] = {}
    _negamax([EMPTY] * 9, 0, lines, memo)
    keys = sorted(
        (key for key, value in memo.items() if value != _TERMINAL),
        key=lambda key: (sum(1 for v in key if v != EMPTY), key),
    )
    num_terminal = len(memo) - len(keys)

    num_positions = len(keys)
    cells = np.frombuffer(b"".join(keys), dtype=np.int8).reshape(num_positions, 9).copy()
    to_move = (np.count_nonzero(cells, axis=1) % 2).astype(np.int8)
    values = np.array([memo[key] for key in keys], dtype=np.int8)
    optimal_mask = np.zeros((num_positions, 9), dtype=bool)
    for row, key in enumerate(keys):
        board = list(key)
        for cell in range(9):
            if board[cell] == EMPTY:
                value = _move_value(board, int(to_move[row]), cell, lines, memo)
                optimal_mask[row, cell] = value == values[row]

    mine = cells == (to_move[:, None] + 1)
    theirs = cells == (2 - to_move[:, None])
    observations = np.concatenate([mine, theirs], axis=1).astype(np.int8)
    for array in (cells, to_move, values, optimal_mask, observations):
        array.flags.writeable = False
    index = {key: row for row, key in enumerate(keys)}
    return PositionTable(cells, to_move, values, optimal_mask, observations, index, num_terminal)


def solve_positions(board_size: int = 3, win_length: int = 3) -> PositionTable:
    """Return the minimax table of all reachable non-terminal 3 x 3 positions.

    The table is computed on the first call and cached for the rest of the process.

    Raises:
        ValueError: If the board is not 3 x 3 with 3 in a row, which this solver cannot solve.
    """
    if (board_size, win_length) != (_SOLVED_BOARD_SIZE, _SOLVED_WIN_LENGTH):
        raise ValueError(
            f"expected board_size=3 and win_length=3 for the exact solver, got "
            f"board_size={board_size}, win_length={win_length}; use AlphaBetaPlayer instead"
        )
    return _solve_3x3()


def _validate_tie_break(tie_break: str) -> str:
    if tie_break not in _TIE_BREAKS:
        raise ValueError(f"expected tie_break in {_TIE_BREAKS}, got {tie_break!r}")
    return tie_break


def _check_in_progress(game: TicTacToeGame) -> None:
    if game.is_over:
        raise ValueError(f"expected a game in progress, got a finished game:\n{game.to_text()}")


def _break_tie(candidates: np.ndarray, tie_break: str, rng: np.random.Generator) -> int:
    if tie_break == "first":
        return int(candidates[0])
    return int(rng.choice(candidates))


class RandomPlayer:
    """A player that picks uniformly among the legal moves."""

    name = "random"

    def select_action(self, game: TicTacToeGame, rng: np.random.Generator) -> int:
        """Return a legal cell drawn uniformly from ``rng``.

        Raises:
            ValueError: If the game is over.
        """
        _check_in_progress(game)
        return int(rng.choice(game.legal_actions()))


class PerfectPlayer:
    """A player that never leaves the minimax value on 3 x 3 with 3 in a row.

    Args:
        tie_break: How to choose among the optimal moves. ``"random"`` draws one with the
            generator passed to :meth:`select_action`, and ``"first"`` takes the lowest cell.

    Raises:
        ValueError: If ``tie_break`` is unknown.
    """

    name = "perfect"

    def __init__(self, tie_break: str = "random") -> None:
        self.tie_break = _validate_tie_break(tie_break)

    def select_action(self, game: TicTacToeGame, rng: np.random.Generator) -> int:
        """Return an optimal move for the player to move.

        Raises:
            ValueError: If the game is over or not 3 x 3 with 3 in a row.
        """
        _check_in_progress(game)
        table = solve_positions(game.board_size, game.win_length)
        row = table.row(game)
        return _break_tie(np.flatnonzero(table.optimal_mask[row]), self.tie_break, rng)


class MixedPlayer:
    """A player that hands each move to one of several players, drawn at random.

    Args:
        players: The players to choose from.
        probabilities: Chance of each player per move. They must be non-negative and sum to 1.

    Raises:
        ValueError: If the lengths differ or the probabilities are invalid.
    """

    def __init__(self, players: Sequence[Player], probabilities: Sequence[float]) -> None:
        if len(players) == 0:
            raise ValueError("expected at least one player, got none")
        if len(players) != len(probabilities):
            raise ValueError(
                f"expected one probability per player ({len(players)}), got {len(probabilities)}"
            )
        weights = np.asarray(probabilities, dtype=np.float64)
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(
                f"expected non-negative probabilities summing to 1, got {list(probabilities)}"
            )
        self.players = list(players)
        self.probabilities = weights / weights.sum()
        parts = [f"{p.name}:{w:g}" for p, w in zip(self.players, self.probabilities, strict=True)]
        self.name = f"mix({','.join(parts)})"

    def select_action(self, game: TicTacToeGame, rng: np.random.Generator) -> int:
        """Draw a player from ``rng`` and return its move."""
        choice = int(rng.choice(len(self.players), p=self.probabilities))
        return self.players[choice].select_action(game, rng)


def make_player(name: str, board_size: int = 3, win_length: int = 3) -> Player:
    """Build a player by name for a board.

    Args:
        name: ``"random"``, ``"perfect"`` or ``"mix"``. The perfect player is exact minimax
            on 3 x 3 with 3 in a row and a depth-limited :class:`AlphaBetaPlayer` on other
            boards. The mix hands each move to the random or the perfect player with
            probability 1/2.
        board_size: Board side n.
        win_length: Marks in a row needed to win, k.

    Raises:
        ValueError: If ``name`` is unknown.
    """
    if name == "random":
        return RandomPlayer()
    if name == "perfect":
        if (board_size, win_length) == (_SOLVED_BOARD_SIZE, _SOLVED_WIN_LENGTH):
            return PerfectPlayer()
        return AlphaBetaPlayer()
    if name == "mix":
        strong = make_player("perfect", board_size, win_length)
        return MixedPlayer([RandomPlayer(), strong], [0.5, 0.5])
    raise ValueError(f"expected a player name in {PLAYER_NAMES}, got {name!r}")


class AlphaBetaPlayer:
    """A depth-limited alpha-beta (negamax) player for any board size.

    This player is NOT perfect. It searches ``depth`` plies ahead and scores the positions
    there with a heuristic, so it misses threats that need more moves to see. It always takes
    an immediate win and, with ``depth >= 2``, blocks a single immediate threat.

    The heuristic sums, over the lines that hold marks of only one player, ``10 ** count``
    for the side to move's lines minus the same for the opponent's. Moves are searched in
    order of how much they change that score, so pruning cuts most of the tree.

    Args:
        depth: Plies to search, at least 1. Each extra ply multiplies the search time by
            roughly the number of empty cells, less what pruning cuts.
        tie_break: ``"random"`` or ``"first"``, as for :class:`PerfectPlayer`.

    Raises:
        ValueError: If ``depth`` < 1 or ``tie_break`` is unknown.
    """

    def __init__(self, depth: int = 4, tie_break: str = "random") -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"expected an integer depth >= 1, got {depth!r}")
        self.depth = depth
        self.tie_break = _validate_tie_break(tie_break)
        self.name = f"alphabeta(depth={depth})"

    def select_action(self, game: TicTacToeGame, rng: np.random.Generator) -> int:
        """Return the move with the best search score, ties broken by ``tie_break``.

        Raises:
            ValueError: If the game is over.
        """
        _check_in_progress(game)
        search = _AlphaBetaSearch(game)
        scores = search.score_root_moves(self.depth)
        best = max(scores.values())
        candidates = np.array(sorted(cell for cell, score in scores.items() if score == best))
        return _break_tie(candidates, self.tie_break, rng)


# Search scores: a win is worth more than any heuristic sum and is reduced per ply of delay,
# so the search prefers quicker wins and slower losses.
_WIN_SCORE = 10**9


class _AlphaBetaSearch:
    """Negamax search state: the board as a list, and per-line mark counts kept up to date."""

    def __init__(self, game: TicTacToeGame) -> None:
        self.win_length = game.win_length
        self.cells = [int(value) for value in game.cells]
        lines = winning_lines(game.board_size, game.win_length)
        line_ids = {tuple(int(c) for c in line): i for i, line in enumerate(lines)}
        self.lines_of_cell = [
            tuple(line_ids[tuple(int(c) for c in line)] for line in through)
            for through in lines_through_cells(game.board_size, game.win_length)
        ]
        # counts[line][player]: marks of that player on the line.
        self.counts = [[0, 0] for _ in range(len(lines))]
        for line_id, line in enumerate(lines):
            for cell in line:
                if self.cells[cell] != EMPTY:
                    self.counts[line_id][self.cells[cell] - 1] += 1
        self.weights = [0] + [10**count for count in range(1, self.win_length)]
        self.player = game.current_player
        self.score = sum(self._line_score(line_id, self.player) for line_id in range(len(lines)))

    def _line_score(self, line_id: int, player: int) -> int:
        mine, theirs = self.counts[line_id][player], self.counts[line_id][1 - player]
        if theirs == 0:
            return self.weights[mine]
        if mine == 0:
            return -self.weights[theirs]
        return 0

    def _move_gain(self, cell: int, player: int) -> tuple[int, bool]:
        """Return the heuristic change for ``player`` of playing ``cell``, and whether it wins."""
        gain = 0
        for line_id in self.lines_of_cell[cell]:
            mine, theirs = self.counts[line_id]
            if player == 1:
                mine, theirs = theirs, mine
            if theirs == 0:
                if mine + 1 == self.win_length:
                    return 0, True
                gain += self.weights[mine + 1] - self.weights[mine]
            elif mine == 0:
                # The move blocks the opponent's line, whose score drops to 0.
                gain += self.weights[theirs]
        return gain, False

    def _place(self, cell: int, player: int, gain: int) -> None:
        self.cells[cell] = player + 1
        for line_id in self.lines_of_cell[cell]:
            self.counts[line_id][player] += 1
        self.player = 1 - player
        self.score = -(self.score + gain)

    def _remove(self, cell: int, player: int, gain: int) -> None:
        self.cells[cell] = EMPTY
        for line_id in self.lines_of_cell[cell]:
            self.counts[line_id][player] -= 1
        self.player = player
        self.score = -self.score - gain

    def _ordered_moves(self) -> tuple[list[tuple[int, int]], bool]:
        """Return (gain, cell) for each empty cell, best first, and whether one of them wins."""
        moves = []
        for cell, value in enumerate(self.cells):
            if value != EMPTY:
                continue
            gain, wins = self._move_gain(cell, self.player)
            if wins:
                return [(gain, cell)], True
            moves.append((gain, cell))
        moves.sort(reverse=True)
        return moves, False

    def _negamax(self, depth: int, alpha: int, beta: int) -> int:
        """Return the score of the position for the side to move, searched ``depth`` plies."""
        moves, wins = self._ordered_moves()
        if wins:
            return _WIN_SCORE + depth
        if not moves:
            return 0
        if depth == 1:
            return self.score + moves[0][0]
        best = -_WIN_SCORE * 2
        player = self.player
        for gain, cell in moves:
            self._place(cell, player, gain)
            value = -self._negamax(depth - 1, -beta, -alpha)
            self._remove(cell, player, gain)
            best = max(best, value)
            alpha = max(alpha, value)
            if alpha >= beta:
                break
        return best

    def score_root_moves(self, depth: int) -> dict[int, int]:
        """Return a search score for every root move, exact for the moves that tie the best.

        Each root move is searched with a window that starts one below the best score so far,
        so every move that ties the best gets its exact score and ties can be broken fairly. A
        worse move gets an upper bound below the best score.
        """
        moves, wins = self._ordered_moves()
        if wins:
            return {moves[0][1]: _WIN_SCORE + depth}
        scores: dict[int, int] = {}
        best = -_WIN_SCORE * 2
        player = self.player
        for gain, cell in moves:
            self._place(cell, player, gain)
            if depth == 1 or EMPTY not in self.cells:
                value = -self.score if depth == 1 else 0
            else:
                value = -self._negamax(depth - 1, -_WIN_SCORE * 2, -(best - 1))
            self._remove(cell, player, gain)
            scores[cell] = value
            best = max(best, value)
        return scores
