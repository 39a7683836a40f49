"""Gymnasium environment for tic-tac-toe, for self-play or against a built-in opponent."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from envs.rendering import PygameCanvas
from envs.tictactoe_rules import IllegalMoveError, O, TicTacToeGame, X, player_name
from envs.tictactoe_solver import PLAYER_NAMES, Player, make_player

_AGENT_SIDES = {"x": X, "o": O}

# Layout in pixels. The board keeps the same size for every n, so cells shrink as n grows.
_BOARD_PX = 360
_MARGIN_PX = 20
_STATUS_PX = 48
_GRID_WIDTH_PX = 4
_MARK_WIDTH_PX = 8
_WIN_LINE_WIDTH_PX = 10
_MARK_INSET = 0.22  # Gap between a mark and its cell's edge, as a fraction of the cell.
_STATUS_FONT_SIZE = 32

_BACKGROUND = (245, 245, 240)
_GRID_COLOR = (60, 60, 60)
_X_COLOR = (200, 60, 50)
_O_COLOR = (40, 90, 190)
_WIN_CELL_COLOR = (250, 225, 140)
_WIN_LINE_COLOR = (40, 150, 70)
_STATUS_COLOR = (30, 30, 30)


class TicTacToeEnv(gymnasium.Env):
    """Tic-tac-toe on an n x n board where k marks in a row win.

    ## Description

    Two players, X and O, take turns placing marks; X moves first. The game is played either
    by two agents that share the environment (self-play), or by one agent against a built-in
    or user-supplied opponent that replies inside :meth:`step`.

    ## Action Space

    ``Discrete(n * n)``: the cell to mark, numbered row by row (``row * n + col``).
    ``info["action_mask"]`` and :meth:`action_masks` mark the legal cells.

    ## Observation Space

    ``Box(0, 1, (2 * n * n,), int8)``, seen from one player: the first n * n entries are 1
    where that player has a mark, the next n * n are 1 where the opponent has one. Without an
    opponent, the viewing player is the one to move next (``info["current_player"]``). With
    an opponent, it is always the agent.

    ## Rewards

    Rewards belong to the player who made the move: +1 for a winning move and 0 for any other
    legal move, including the one that draws. Against an opponent, the agent also gets -1
    when the opponent's reply wins. An illegal move gives ``illegal_move_reward``.

    Illegal-move rule: an action on an occupied cell or outside ``0..n*n-1`` ends the episode
    at once. The board is left unchanged, the mover gets ``illegal_move_reward``,
    ``terminated`` is True, ``info["illegal_move"]`` is True and ``info["winner"]`` is -1.
    An agent that repeats illegal moves therefore cannot keep an episode alive. An action
    that is not an integer at all raises TypeError.

    ## Starting State

    An empty board with X to move. Against an opponent, when the agent plays O, the opponent
    has already made its first move when :meth:`reset` returns.

    ## Episode End

    The episode terminates on a win, a full board (draw) or an illegal move. It is never
    truncated. Calling :meth:`step` after the end, or before the first :meth:`reset`, raises
    ``gymnasium.error.ResetNeeded``.

    ## Info

    Returned by :meth:`reset` and every :meth:`step`:

    * ``action_mask``: Bool array (n * n,) of legal cells for the player to move, all False
      after the end.
    * ``current_player``: The player to move next, 0 for X or 1 for O.
    * ``winner``: 0 or 1 once a player has won, otherwise -1. Every info value is an int,
      bool or array of one type, so Gymnasium's vector environments can stack them.
    * ``draw``: True when the board is full without a winner.
    * ``illegal_move``: True when the episode ended on an illegal move.
    * ``agent_player``: Against an opponent only, the agent's side (0 or 1).
    * ``opponent_action``: Against an opponent only, the cell the opponent played during
      this call, or -1.

    ## Arguments

    All keyword-only.

    * ``render_mode``: None, ``"human"`` (pygame window), ``"rgb_array"`` or ``"ansi"``.
    * ``board_size``: Board side n, at least 3. Default 3.
    * ``win_length``: Marks in a row needed to win, k, with ``3 <= k <= n``. Default 3.
    * ``opponent``: None for self-play, a name from ``("random", "perfect", "mix")``, or an
      object with ``select_action(game, rng) -> int``. "perfect" is exact minimax on 3 x 3
      and a depth-limited alpha-beta search, which can lose, on larger boards. Opponents get
      the environment's ``np_random``, so a seeded reset reproduces their moves.
    * ``agent_player``: The agent's side against an opponent: ``"x"``, ``"o"``, or
      ``"random"`` to draw it from ``np_random`` on every reset. Ignored in self-play.
    * ``illegal_move_reward``: Reward for an illegal move. Default -1.0.

    ## Version History

    * v0: Initial version.
    """

    metadata = {"render_modes": ["human", "rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        *,
        render_mode: str | None = None,
        board_size: int = 3,
        win_length: int = 3,
        opponent: str | Player | None = None,
        agent_player: str = "random",
        illegal_move_reward: float = -1.0,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"expected render_mode in {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        if agent_player not in (*_AGENT_SIDES, "random"):
            raise ValueError(f"expected agent_player 'x', 'o' or 'random', got {agent_player!r}")
        if not np.isfinite(illegal_move_reward):
            raise ValueError(f"expected a finite illegal_move_reward, got {illegal_move_reward}")
        self.render_mode = render_mode
        self._game = TicTacToeGame(board_size, win_length)
        self._agent_side_choice = agent_player
        self.illegal_move_reward = float(illegal_move_reward)
        self._next_opponent = self._build_opponent(opponent)
        self._opponent = self._next_opponent

        num_cells = self._game.num_cells
        self.observation_space = spaces.Box(0, 1, (2 * num_cells,), np.int8)
        self.action_space = spaces.Discrete(num_cells)

        self._agent_player: int | None = None
        self._opponent_action: int | None = None
        self._illegal_move = False
        self._needs_reset = True
        self._cell_px = _BOARD_PX // self._game.board_size
        self.canvas: PygameCanvas | None = None
        # Text for the status bar under the board. When set, it replaces the game's state.
        self.status_text: str | None = None

    def _build_opponent(self, opponent: str | Player | None) -> Player | None:
        if opponent is None:
            return None
        if isinstance(opponent, str):
            if opponent not in PLAYER_NAMES:
                raise ValueError(
                    f"expected opponent None or one of {PLAYER_NAMES}, got {opponent!r}"
                )
            return make_player(opponent, self._game.board_size, self._game.win_length)
        if not callable(getattr(opponent, "select_action", None)):
            raise TypeError(
                "expected opponent None, a name or an object with select_action(game, rng), "
                f"got {opponent!r}"
            )
        return opponent

    @property
    def game(self) -> TicTacToeGame:
        """The live game. Treat it as read-only and call ``copy()`` before changing it."""
        return self._game

    @property
    def opponent(self) -> Player | None:
        """Opponent of the current episode, or None in self-play."""
        return self._opponent

    @property
    def agent_player(self) -> int | None:
        """The agent's side in this episode (0 X, 1 O), or None in self-play."""
        return self._agent_player

    def set_opponent(self, opponent: str | Player | None) -> None:
        """Replace the opponent from the next :meth:`reset` on. None switches to self-play.

        Raises:
            ValueError: If ``opponent`` is an unknown name.
            TypeError: If ``opponent`` has no ``select_action`` method.
        """
        self._next_opponent = self._build_opponent(opponent)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new game. An opponent that plays X makes its first move before this returns."""
        super().reset(seed=seed)
        self._game = TicTacToeGame(self._game.board_size, self._game.win_length)
        self._opponent = self._next_opponent
        self._illegal_move = False
        self._opponent_action = None
        self._needs_reset = False

        self._agent_player = None
        if self._opponent is not None:
            if self._agent_side_choice == "random":
                self._agent_player = int(self.np_random.integers(2))
            else:
                self._agent_player = _AGENT_SIDES[self._agent_side_choice]
            if self._agent_player == O:
                self._play_opponent_move()

        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Play ``action`` for the player to move and, against an opponent, its reply.

        Raises:
            ResetNeeded: If the episode has ended or :meth:`reset` was never called.
            TypeError: If ``action`` is not an integer.
        """
        if self._needs_reset:
            raise ResetNeeded(
                "step() needs a running episode, but it has ended or not started. "
                "Call reset() first."
            )
        mover = self._game.current_player
        self._opponent_action = None
        try:
            self._game.play(action)
        except IllegalMoveError:
            self._illegal_move = True
            reward = self.illegal_move_reward
        else:
            if self._opponent is not None and not self._game.is_over:
                self._play_opponent_move()
            reward = self._reward_for(mover)

        terminated = self._illegal_move or self._game.is_over
        self._needs_reset = terminated
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, False, self._info()

    def _play_opponent_move(self) -> None:
        # The opponent gets a copy, so a buggy opponent cannot change the game.
        action = self._opponent.select_action(self._game.copy(), self.np_random)
        try:
            self._game.play(action)
        except IllegalMoveError as error:
            raise RuntimeError(
                f"opponent {getattr(self._opponent, 'name', self._opponent)!r} chose an illegal "
                f"move: {error}"
            ) from error
        self._opponent_action = int(action)

    def _reward_for(self, player: int) -> float:
        if self._game.winner is None:
            return 0.0
        return 1.0 if self._game.winner == player else -1.0

    def _observation(self) -> np.ndarray:
        return self._game.observation(self._agent_player)

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "action_mask": self.action_masks(),
            "current_player": self._game.current_player,
            "winner": -1 if self._game.winner is None else self._game.winner,
            "draw": self._game.is_draw,
            "illegal_move": self._illegal_move,
        }
        if self._opponent is not None:
            info["agent_player"] = int(self._agent_player)
            info["opponent_action"] = (
                -1 if self._opponent_action is None else self._opponent_action
            )
        return info

    def action_masks(self) -> np.ndarray:
        """Return the legal cells for the player to move (bool, n * n), all False after the end.

        sb3-contrib's MaskablePPO calls this method.
        """
        if self._illegal_move:
            return np.zeros(self._game.num_cells, dtype=bool)
        return self._game.action_mask()

    # Rendering.

    @property
    def window_size(self) -> tuple[int, int]:
        """Width and height of the rendered frame in pixels, status bar included."""
        side = self._cell_px * self._game.board_size + 2 * _MARGIN_PX
        return side, side + _STATUS_PX

    def cell_at_pixel(self, x: int, y: int) -> int | None:
        """Return the cell under pixel (x, y) of the frame, or None outside the board."""
        col = (int(x) - _MARGIN_PX) // self._cell_px
        row = (int(y) - _MARGIN_PX) // self._cell_px
        size = self._game.board_size
        if x < _MARGIN_PX or y < _MARGIN_PX or col >= size or row >= size:
            return None
        return row * size + col

    def cell_center(self, cell: int) -> tuple[int, int]:
        """Return the pixel (x, y) at the centre of ``cell``."""
        row, col = divmod(int(cell), self._game.board_size)
        half = self._cell_px // 2
        return _MARGIN_PX + col * self._cell_px + half, _MARGIN_PX + row * self._cell_px + half

    def status(self) -> str:
        """Return the status bar text: ``status_text`` when set, otherwise the game's state."""
        if self.status_text is not None:
            return self.status_text
        if self._illegal_move:
            return f"Illegal move by {player_name(self._game.current_player)}"
        if self._game.winner is not None:
            return f"{player_name(self._game.winner)} wins"
        if self._game.is_draw:
            return "Draw"
        return f"{player_name(self._game.current_player)} to move"

    def render(self) -> np.ndarray | str | None:
        """Draw the game in the configured render mode.

        Returns:
            An H x W x 3 uint8 frame for ``"rgb_array"``, the text board and status for
            ``"ansi"``, and None for ``"human"`` (which shows a window) or without a mode.
        """
        if self.render_mode is None:
            gymnasium.logger.warn(
                "render() was called without a render_mode. Pass render_mode to the "
                "constructor, e.g. gymnasium.make('dqn_arena/TicTacToe-v0', render_mode='ansi')"
            )
            return None
        if self.render_mode == "ansi":
            return f"{self._game.to_text()}\n{self.status()}\n"

        if self.canvas is None:
            width, height = self.window_size
            self.canvas = PygameCanvas(
                width,
                height,
                title="dqn-arena tic-tac-toe",
                human=self.render_mode == "human",
                fps=self.metadata["render_fps"],
            )
        self._draw_frame(self.canvas)
        if self.render_mode == "human":
            self.canvas.present()
            return None
        return self.canvas.to_rgb_array()

    def _draw_frame(self, canvas: PygameCanvas) -> None:
        import pygame

        canvas.surface.fill(_BACKGROUND)
        self._draw_winning_cells(canvas.surface, pygame)
        self._draw_grid(canvas.surface, pygame)
        for cell, value in enumerate(self._game.cells):
            if value == X + 1:
                self._draw_x(canvas.surface, pygame, cell)
            elif value == O + 1:
                self._draw_o(canvas.surface, pygame, cell)
        self._draw_winning_line(canvas.surface, pygame)

        # The status bar spans from the board's lower edge to the bottom of the frame.
        width, height = self.window_size
        status_top = _MARGIN_PX + self._game.board_size * self._cell_px
        center = (width // 2, (status_top + height) // 2)
        canvas.draw_text(self.status(), center, _STATUS_FONT_SIZE, _STATUS_COLOR)

    def _draw_grid(self, surface: Any, pygame: Any) -> None:
        size = self._game.board_size
        board_end = _MARGIN_PX + size * self._cell_px
        for index in range(1, size):
            offset = _MARGIN_PX + index * self._cell_px
            pygame.draw.line(
                surface, _GRID_COLOR, (offset, _MARGIN_PX), (offset, board_end), _GRID_WIDTH_PX
            )
            pygame.draw.line(
                surface, _GRID_COLOR, (_MARGIN_PX, offset), (board_end, offset), _GRID_WIDTH_PX
            )

    def _draw_x(self, surface: Any, pygame: Any, cell: int) -> None:
        x, y = self.cell_center(cell)
        reach = int(self._cell_px * (0.5 - _MARK_INSET))
        pygame.draw.line(
            surface, _X_COLOR, (x - reach, y - reach), (x + reach, y + reach), _MARK_WIDTH_PX
        )
        pygame.draw.line(
            surface, _X_COLOR, (x - reach, y + reach), (x + reach, y - reach), _MARK_WIDTH_PX
        )

    def _draw_o(self, surface: Any, pygame: Any, cell: int) -> None:
        radius = int(self._cell_px * (0.5 - _MARK_INSET))
        pygame.draw.circle(surface, _O_COLOR, self.cell_center(cell), radius, _MARK_WIDTH_PX)

    def _draw_winning_cells(self, surface: Any, pygame: Any) -> None:
        if self._game.winning_line is None:
            return
        for cell in self._game.winning_line:
            row, col = divmod(int(cell), self._game.board_size)
            left, top = _MARGIN_PX + col * self._cell_px, _MARGIN_PX + row * self._cell_px
            pygame.draw.rect(surface, _WIN_CELL_COLOR, (left, top, self._cell_px, self._cell_px))

    def _draw_winning_line(self, surface: Any, pygame: Any) -> None:
        line = self._game.winning_line
        if line is None:
            return
        start, end = self.cell_center(line[0]), self.cell_center(line[-1])
        pygame.draw.line(surface, _WIN_LINE_COLOR, start, end, _WIN_LINE_WIDTH_PX)

    def close(self) -> None:
        """Close the pygame window or surface, if one was opened. Safe to call twice."""
        if self.canvas is not None:
            self.canvas.close()
            self.canvas = None
