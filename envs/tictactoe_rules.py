"""Rules of tic-tac-toe on an n x n board with k in a row, free of pygame and Gymnasium.

Cells are numbered row by row, so cell ``row * board_size + col``. A cell contains 0 when empty,
1 for an X mark and 2 for an O mark (``player + 1``). X (player 0) always moves first.

The module also maps positions under the 8 symmetries of the square board (rotations and
reflections), which lets a learner augment its data. :func:`symmetry_permutations` gives the
cell permutations, and :func:`transform_action` and :func:`transform_observation` apply the
same symmetry to actions and observations.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable

import numpy as np

X = 0
O = 1  # noqa: E741 - "O" is the player's name in the game
EMPTY = 0
_PLAYER_NAMES = ("X", "O")
_MIN_BOARD_SIZE = 3
_MIN_WIN_LENGTH = 3
# Row, column and both diagonal directions as (row step, column step).
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))
NUM_SYMMETRIES = 8


class IllegalMoveError(ValueError):
    """A move onto an occupied cell, outside the board, or after the game has ended."""


def player_name(player: int) -> str:
    """Return ``"X"`` for player 0 and ``"O"`` for player 1."""
    return _PLAYER_NAMES[player]


def validate_board_shape(board_size: int, win_length: int) -> None:
    """Raise ValueError unless ``3 <= win_length <= board_size``.

    Raises:
        ValueError: If either value is not an integer or is out of range, naming the value.
    """
    if isinstance(board_size, bool) or not isinstance(board_size, (int, np.integer)):
        raise ValueError(f"expected an integer board_size, got {board_size!r}")
    if isinstance(win_length, bool) or not isinstance(win_length, (int, np.integer)):
        raise ValueError(f"expected an integer win_length, got {win_length!r}")
    if board_size < _MIN_BOARD_SIZE:
        raise ValueError(f"expected board_size >= {_MIN_BOARD_SIZE}, got {board_size}")
    if not _MIN_WIN_LENGTH <= win_length <= board_size:
        raise ValueError(
            f"expected {_MIN_WIN_LENGTH} <= win_length <= board_size ({board_size}), "
            f"got {win_length}"
        )


@functools.cache
def winning_lines(board_size: int, win_length: int) -> np.ndarray:
    """Return every run of ``win_length`` cells in a row, column or diagonal.

    Args:
        board_size: Board side n.
        win_length: Marks in a row needed to win, k.

    Returns:
        Read-only int64 array of shape (num_lines, k). Each row lists the cells of one line
        in order along its direction. A 3 x 3 board has 8 lines, 4 x 4 with k=4 has 10 and
        5 x 5 with k=4 has 28.
    """
    validate_board_shape(board_size, win_length)
    lines = []
    for d_row, d_col in _DIRECTIONS:
        for row in range(board_size):
            for col in range(board_size):
                end_row = row + d_row * (win_length - 1)
                end_col = col + d_col * (win_length - 1)
                if not (0 <= end_row < board_size and 0 <= end_col < board_size):
                    continue
                lines.append(
                    [
                        (row + d_row * step) * board_size + col + d_col * step
                        for step in range(win_length)
                    ]
                )
    result = np.array(lines, dtype=np.int64)
    result.flags.writeable = False
    return result


@functools.cache
def lines_through_cells(board_size: int, win_length: int) -> tuple[np.ndarray, ...]:
    """Return, for each cell, the winning lines that contain it.

    Returns:
        A tuple with one read-only int64 array of shape (lines through the cell, k) per cell.
    """
    lines = winning_lines(board_size, win_length)
    result = []
    for cell in range(board_size * board_size):
        through = lines[np.any(lines == cell, axis=1)].copy()
        through.flags.writeable = False
        result.append(through)
    return tuple(result)


class TicTacToeGame:
    """A game of tic-tac-toe on an n x n board where k marks in a row win.

    Win detection checks only the lines through the last move, using line tables computed
    once per (n, k), so :meth:`play` stays cheap.

    Args:
        board_size: Board side n, at least 3.
        win_length: Marks in a row needed to win, k, with ``3 <= k <= n``.

    Raises:
        ValueError: If ``board_size`` or ``win_length`` is out of range.
    """

    def __init__(self, board_size: int = 3, win_length: int = 3) -> None:
        validate_board_shape(board_size, win_length)
        self._board_size = int(board_size)
        self._win_length = int(win_length)
        self._num_cells = self._board_size * self._board_size
        self._lines_through = lines_through_cells(self._board_size, self._win_length)
        self._set_cells(np.zeros(self._num_cells, dtype=np.int8))
        self._num_moves = 0
        self._winner: int | None = None
        self._winning_line: np.ndarray | None = None
        self._last_action: int | None = None

    def _set_cells(self, cells: np.ndarray) -> None:
        self._cells = cells
        # A read-only view shares memory with the board, so it follows every move for free.
        self._cells_view = cells.view()
        self._cells_view.flags.writeable = False

    @property
    def board_size(self) -> int:
        """Board side n."""
        return self._board_size

    @property
    def win_length(self) -> int:
        """Marks in a row needed to win, k."""
        return self._win_length

    @property
    def num_cells(self) -> int:
        """Number of cells, n * n."""
        return self._num_cells

    @property
    def cells(self) -> np.ndarray:
        """Read-only int8 view of shape (n * n,): 0 empty, 1 X, 2 O."""
        return self._cells_view

    @property
    def current_player(self) -> int:
        """Player to move: 0 for X, 1 for O. After the end, the player who would move next."""
        return self._num_moves % 2

    @property
    def winner(self) -> int | None:
        """Winning player (0 or 1), or None while no line is complete."""
        return self._winner

    @property
    def winning_line(self) -> np.ndarray | None:
        """Cells of the completed line in order along it, or None without a winner."""
        return self._winning_line

    @property
    def is_draw(self) -> bool:
        """True when the board is full and no player has won."""
        return self._winner is None and self._num_moves == self._num_cells

    @property
    def is_over(self) -> bool:
        """True after a win or a draw."""
        return self._winner is not None or self._num_moves == self._num_cells

    @property
    def num_moves(self) -> int:
        """Number of marks on the board."""
        return self._num_moves

    @property
    def last_action(self) -> int | None:
        """Cell of the latest move, or None on an empty board."""
        return self._last_action

    def legal_actions(self) -> np.ndarray:
        """Return the empty cells as int64 indices in increasing order, or none after the end."""
        if self.is_over:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self._cells == EMPTY).astype(np.int64)

    def action_mask(self) -> np.ndarray:
        """Return a bool array (n * n,), True on legal cells and all False after the end."""
        if self.is_over:
            return np.zeros(self._num_cells, dtype=bool)
        return self._cells == EMPTY

    def check_action(self, action: int) -> int:
        """Return ``action`` as an int if the player to move may play it.

        Raises:
            IllegalMoveError: If the cell is out of range or occupied, or the game is over.
            TypeError: If ``action`` is not an integer.
        """
        cell = operator.index(action)
        if self.is_over:
            outcome = "a draw" if self._winner is None else f"{player_name(self._winner)} won"
            raise IllegalMoveError(f"illegal move at cell {cell}: the game is over ({outcome})")
        if not 0 <= cell < self._num_cells:
            raise IllegalMoveError(
                f"illegal move at cell {cell}: expected a cell in 0..{self._num_cells - 1}"
            )
        if self._cells[cell] != EMPTY:
            owner = player_name(int(self._cells[cell]) - 1)
            raise IllegalMoveError(f"illegal move at cell {cell}: the cell is occupied by {owner}")
        return cell

    def play(self, action: int) -> None:
        """Place the mark of the player to move on cell ``action`` and pass the turn.

        Raises:
            IllegalMoveError: If the move is illegal. The game is then left unchanged.
            TypeError: If ``action`` is not an integer.
        """
        cell = self.check_action(action)
        player = self._num_moves % 2
        mark = player + 1
        self._cells[cell] = mark
        self._num_moves += 1
        self._last_action = cell

        # Only a line through the new mark can have been completed by it.
        lines = self._lines_through[cell]
        complete = np.all(self._cells[lines] == mark, axis=1)
        if complete.any():
            self._winner = player
            self._winning_line = lines[int(np.argmax(complete))]

    def copy(self) -> TicTacToeGame:
        """Return an independent copy of the game."""
        clone = TicTacToeGame.__new__(TicTacToeGame)
        clone.__dict__.update(self.__dict__)
        clone._set_cells(self._cells.copy())
        return clone

    def observation(self, player: int | None = None) -> np.ndarray:
        """Return the board as two int8 planes seen from one player.

        Args:
            player: Viewing player, 0 or 1. Defaults to the player to move.

        Returns:
            Int8 array of shape (2 * n * n,). The first n * n entries are 1 where the viewing
            player has a mark, the next n * n are 1 where the opponent has one.
        """
        if player is None:
            player = self.current_player
        obs = np.empty(2 * self._num_cells, dtype=np.int8)
        np.equal(self._cells, player + 1, out=obs[: self._num_cells], casting="unsafe")
        np.equal(self._cells, 2 - player, out=obs[self._num_cells :], casting="unsafe")
        return obs

    def key(self) -> bytes:
        """Return a hashable key of the position (the cell values), unique for a given n and k."""
        return self._cells.tobytes()

    @classmethod
    def from_moves(
        cls, moves: Iterable[int], board_size: int = 3, win_length: int = 3
    ) -> TicTacToeGame:
        """Build the game reached by playing ``moves`` in order, X first.

        Raises:
            IllegalMoveError: If one of the moves is illegal.
        """
        game = cls(board_size, win_length)
        for move in moves:
            game.play(move)
        return game

    def to_text(self) -> str:
        """Return the board as rows of ``X``, ``O`` and ``.`` separated by spaces."""
        symbols = np.array([".", "X", "O"])[self._cells].reshape(self._board_size, -1)
        return "\n".join(" ".join(row) for row in symbols)

    def __repr__(self) -> str:
        return (
            f"TicTacToeGame(board_size={self._board_size}, win_length={self._win_length}, "
            f"moves={self._num_moves}, winner={self._winner})"
        )


@functools.cache
def symmetry_permutations(board_size: int) -> np.ndarray:
    """Return the 8 symmetries of the square board as cell permutations.

    Permutation ``p`` maps a board to its image with ``new_cells = cells[p]``, so the image's
    cell ``j`` gets the value of the original cell ``p[j]``. Row 0 is the identity, rows 1 to 3
    rotate the board by 90, 180 and 270 degrees counterclockwise (as printed by
    :meth:`TicTacToeGame.to_text`), and rows 4 to 7 mirror rows 0 to 3 left to right.

    Returns:
        Read-only int64 array of shape (8, n * n).
    """
    grid = np.arange(board_size * board_size, dtype=np.int64).reshape(board_size, board_size)
    rotations = [np.rot90(grid, turns) for turns in range(4)]
    mirrored = [np.fliplr(rotation) for rotation in rotations]
    result = np.stack([image.ravel() for image in rotations + mirrored])
    result.flags.writeable = False
    return result


@functools.cache
def symmetry_action_maps(board_size: int) -> np.ndarray:
    """Return the inverses of :func:`symmetry_permutations`, which map actions.

    A mark played on cell ``a`` lands on cell ``maps[s][a]`` of the image under symmetry
    ``s``, because ``permutations[s][maps[s][a]] == a``.

    Returns:
        Read-only int64 array of shape (8, n * n).
    """
    result = np.argsort(symmetry_permutations(board_size), axis=1)
    result.flags.writeable = False
    return result


def transform_action(action: int, symmetry: int, board_size: int) -> int:
    """Return the cell that ``action`` becomes on the board's image under ``symmetry``."""
    return int(symmetry_action_maps(board_size)[symmetry][action])


def transform_observation(obs: np.ndarray, symmetry: int, board_size: int) -> np.ndarray:
    """Apply ``symmetry`` to an observation, action mask or Q-value vector.

    Args:
        obs: Array whose last axis is a multiple of n * n: one or more planes of cells, such
            as an observation (2 planes) or an action mask (1 plane). Leading batch axes are
            kept.
        symmetry: Index into :func:`symmetry_permutations`, 0 to 7.
        board_size: Board side n.

    Returns:
        A new array of the same shape with every plane permuted as ``plane[p]``.
    """
    permutation = symmetry_permutations(board_size)[symmetry]
    num_cells = board_size * board_size
    if obs.shape[-1] % num_cells != 0:
        raise ValueError(
            f"expected a last axis that is a multiple of {num_cells}, got shape {obs.shape}"
        )
    planes = obs.reshape(*obs.shape[:-1], -1, num_cells)
    return planes[..., permutation].reshape(obs.shape)
