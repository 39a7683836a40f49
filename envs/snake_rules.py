"""Rules of snake on a rectangular board, with no drawing and no Gymnasium.

Cells are ``(x, y)`` pairs with ``x`` growing to the right and ``y`` growing downward. The
snake's body is listed head first. Directions are integers: 0 up, 1 right, 2 down, 3 left.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
NUM_DIRECTIONS = 4
DIRECTION_NAMES = ("up", "right", "down", "left")

# Cell offset (dx, dy) of one move in each direction, indexed by direction.
DIRECTION_DELTAS: tuple[tuple[int, int], ...] = ((0, -1), (1, 0), (0, 1), (-1, 0))

# The starting snake is 3 cells long and lies horizontally, so a 4-cell-wide board is the
# smallest that leaves a free cell in front of its head.
MIN_WIDTH = 4
MIN_HEIGHT = 4
START_LENGTH = 3


def validate_direction(direction: int) -> int:
    """Return ``direction`` as a plain ``int``.

    Raises:
        ValueError: If ``direction`` is not an integer in 0..3.
    """
    try:
        value = operator.index(direction)
    except TypeError:
        raise ValueError(f"expected an integer direction in 0..3, got {direction!r}") from None
    if not 0 <= value < NUM_DIRECTIONS:
        raise ValueError(f"expected an integer direction in 0..3, got {direction!r}")
    return value


def opposite_direction(direction: int) -> int:
    """Return the direction that points the opposite way to ``direction``."""
    return (direction + 2) % NUM_DIRECTIONS


@dataclass(frozen=True)
class StepResult:
    """Outcome of one move of the snake.

    Attributes:
        ate: The head moved onto the food and the snake grew by one cell.
        died: The move hit a wall or the body, so the game is over.
        cause: ``"wall"`` or ``"body"`` when ``died``, otherwise ``None``.
        won: The snake filled the board, so the game is over.
    """

    ate: bool
    died: bool
    cause: str | None
    won: bool


class MoveAssessment(NamedTuple):
    """Predicted outcome of one move, judged on the board before the move.

    Attributes:
        fatal: The move hits a wall or the body.
        reachable_fraction: Fraction of the free cells after the move that the new head can
            reach through free cells, in [0, 1]. 0 for a fatal move, 1 for a move that
            fills the board.
        tail_reachable: After the move, the new head is next to the tail or can reach a
            free cell next to it. ``False`` for a fatal move.
        food_distance: Moves from the new head to the food along the shortest path through
            the cells that are free after the move, 0 for the move that eats. ``None`` when
            the move is fatal, the food cannot be reached, or the board is full.
    """

    fatal: bool
    reachable_fraction: float
    tail_reachable: bool
    food_distance: int | None = None


_FATAL_MOVE = MoveAssessment(fatal=True, reachable_fraction=0.0, tail_reachable=False)

# StepResult is immutable, so step() returns these shared instances instead of allocating.
_MOVED = StepResult(ate=False, died=False, cause=None, won=False)
_ATE = StepResult(ate=True, died=False, cause=None, won=False)
_WON = StepResult(ate=True, died=False, cause=None, won=True)
_HIT_WALL = StepResult(ate=False, died=True, cause="wall", won=False)
_HIT_BODY = StepResult(ate=False, died=True, cause="body", won=False)


class _FreeRegion:
    """Free cells as a bitmask (bit ``y * width + x``), split into components on request.

    A flood fill grows a bitmask by one cell in every direction per iteration, with shifts
    and masks. A component therefore costs a few big-integer operations per step of
    distance from the seed cell, instead of Python work per cell.
    """

    def __init__(
        self, free: int, width: int, not_first_column: int, not_last_column: int
    ) -> None:
        self._free = free
        self._width = width
        self._not_first_column = not_first_column
        self._not_last_column = not_last_column
        self._components: list[int] = []

    def component(self, cell: int) -> int:
        """Return the bitmask of the connected component of free cells that contains ``cell``."""
        bit = 1 << cell
        for component in self._components:
            if component & bit:
                return component
        free, width = self._free, self._width
        not_first_column, not_last_column = self._not_first_column, self._not_last_column
        region = bit
        while True:
            grown = (
                region
                | ((region & not_first_column) >> 1)
                | ((region & not_last_column) << 1)
                | (region >> width)
                | (region << width)
            ) & free
            if grown == region:
                break
            region = grown
        self._components.append(region)
        return region


def _validate_board_size(width: int, height: int) -> None:
    for name, value, minimum in (("width", width, MIN_WIDTH), ("height", height, MIN_HEIGHT)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"expected an integer {name}, got {value!r}")
        if value < minimum:
            raise ValueError(f"expected {name} >= {minimum}, got {value}")


class SnakeGame:
    """A game of snake: the board, the snake, the food and the rules of one move.

    Rules of :meth:`step`:

    - The head moves one cell in the requested direction. Leaving the board kills the snake
      (cause ``"wall"``), and so does entering a body cell (cause ``"body"``). A fatal move
      leaves the board as it was before the move.
    - A direction that would reverse the head straight into the neck (the second body cell)
      is treated as "continue straight". A snake of length 1 has no neck and may reverse.
    - Tail rule: when the snake does not eat, its tail leaves its cell on the same move, so
      the head may enter the cell that the tail is leaving. When the snake eats, the tail
      stays and the snake grows by one cell, so entering the tail's cell on that move would
      kill it. That second case never arises in play, because the food is never placed on
      a body cell, and :meth:`from_state` rejects food on the body too.
    - Entering the food cell increases :attr:`score` and :attr:`length` by one and places
      new food uniformly at random on a free cell, drawn from :attr:`rng`.
    - Filling every cell of the board wins: :attr:`food` becomes ``None`` and the game is
      over.

    Each move updates the body and the occupancy grid in O(1). Only placing new food scans
    the board.

    Args:
        width: Number of columns, at least 4.
        height: Number of rows, at least 4.
        rng: Source of the food positions. A new unseeded generator is used when ``None``.

    Attributes:
        width: Number of columns.
        height: Number of rows.
        rng: Generator that places the food. Callers may replace it between games.
        body: Snake cells, head first.
        direction: Direction of the last move (the heading).
        food: Food cell, or ``None`` when the board is full.
        score: Apples eaten since the start of the game.
        game_over: The snake died or won, so :meth:`step` raises until :meth:`reset`.
        end_cause: ``"wall"``, ``"body"`` or ``"win"`` once the game is over, else ``None``.
    """

    def __init__(
        self, width: int = 10, height: int = 10, rng: np.random.Generator | None = None
    ) -> None:
        self._init_board(width, height, rng)
        self.reset()

    @classmethod
    def from_state(
        cls,
        body: Iterable[Sequence[int]],
        direction: int,
        food: Sequence[int] | None,
        width: int = 10,
        height: int = 10,
        rng: np.random.Generator | None = None,
    ) -> SnakeGame:
        """Build a game in a given position, for tests and debugging.

        The score starts at ``len(body) - 3`` (at least 0), so that a body built by play
        keeps ``length == 3 + score``.

        Args:
            body: Snake cells, head first, each next to the previous one.
            direction: Heading. It must point from the neck to the head when the body has
                two cells or more.
            food: Food cell, which must be free. ``None`` places food at random from
                ``rng``, and is required when the body fills the board.
            width: Number of columns, at least 4.
            height: Number of rows, at least 4.
            rng: Source of later food positions.

        Returns:
            The game in that position. A body that fills the board is a won game.

        Raises:
            ValueError: If a cell is off the board, repeated or not next to the previous
                one, if the direction is invalid or does not match the body, or if the
                food is on the body.
        """
        # Skip __init__, whose reset() would draw food from rng and shift its stream.
        game = cls.__new__(cls)
        game._init_board(width, height, rng)
        game._load_state(body, direction, food)
        return game

    def reset(self) -> None:
        """Start a new game: a snake of length 3 in the middle heading right, and new food.

        The head is at ``(width // 2, height // 2)`` and the body extends to its left.
        """
        head_x = self.width // 2
        head_y = self.height // 2
        cells = [(head_x - offset, head_y) for offset in range(START_LENGTH)]
        self._set_body(cells, RIGHT)
        self.score = 0
        self.food = None
        self._place_food()

    @property
    def head(self) -> tuple[int, int]:
        """Head cell."""
        return self.body[0]

    @property
    def tail(self) -> tuple[int, int]:
        """Tail cell (the head itself for a snake of length 1)."""
        return self.body[-1]

    @property
    def length(self) -> int:
        """Number of cells of the snake."""
        return len(self.body)

    @property
    def num_cells(self) -> int:
        """Number of cells of the board."""
        return self.width * self.height

    @property
    def won(self) -> bool:
        """Whether the snake has filled the board."""
        return self.end_cause == "win"

    @property
    def occupancy(self) -> np.ndarray:
        """Read-only ``(height, width)`` ``uint8`` view of the board, 1 on snake cells.

        The view shares memory with the game, so it follows later moves.
        """
        view = np.frombuffer(self._occupied, dtype=np.uint8).reshape(self.height, self.width)
        view.flags.writeable = False
        return view

    @property
    def occupied_cells(self) -> bytearray:
        """Occupancy as a flat ``bytearray`` indexed by ``y * width + x``.

        This is the game's own buffer, kept for fast reads by the environment. Callers must
        not write to it.
        """
        return self._occupied

    def is_occupied(self, cell: tuple[int, int]) -> bool:
        """Return whether ``cell``, which must be on the board, is part of the snake."""
        x, y = cell
        return bool(self._occupied[y * self.width + x])

    def resolve_direction(self, direction: int) -> int:
        """Return the direction a move actually takes, replacing a reversal by the heading.

        Raises:
            ValueError: If ``direction`` is not 0, 1, 2 or 3.
        """
        direction = validate_direction(direction)
        if len(self.body) > 1:
            dx, dy = DIRECTION_DELTAS[direction]
            head_x, head_y = self.body[0]
            if (head_x + dx, head_y + dy) == self.body[1]:
                return self.direction
        return direction

    def step(self, direction: int) -> StepResult:
        """Move the snake one cell and apply the rules listed in the class docstring.

        Args:
            direction: Requested direction, 0 up, 1 right, 2 down, 3 left.

        Returns:
            What happened on this move.

        Raises:
            ValueError: If ``direction`` is not 0, 1, 2 or 3.
            RuntimeError: If the game is already over.
        """
        if self.game_over:
            raise RuntimeError("step() was called after the game ended. Call reset() first.")
        direction = self.resolve_direction(direction)
        self.direction = direction

        dx, dy = DIRECTION_DELTAS[direction]
        head_x, head_y = self.body[0]
        x = head_x + dx
        y = head_y + dy
        if not (0 <= x < self.width and 0 <= y < self.height):
            return self._end(_HIT_WALL)

        # The tail leaves its cell on this move unless the snake eats, so only then is
        # the tail's cell safe to enter.
        new_head = (x, y)
        ate = new_head == self.food
        index = y * self.width + x
        if self._occupied[index] and (ate or new_head != self.body[-1]):
            return self._end(_HIT_BODY)

        if not ate:
            tail_x, tail_y = self.body.pop()
            tail = tail_y * self.width + tail_x
            self._occupied[tail] = 0
            self._body_mask ^= 1 << tail
        self.body.appendleft(new_head)
        self._occupied[index] = 1
        self._body_mask |= 1 << index
        if not ate:
            return _MOVED

        self.score += 1
        if len(self.body) == self.num_cells:
            self.food = None
            return self._end(_WON)
        self._place_food()
        return _ATE

    def assess_moves(
        self, directions: Sequence[int], *, food_distances: bool = False
    ) -> list[MoveAssessment]:
        """Judge what :meth:`step` would lead to for each requested direction.

        Reachability is static: it uses the board right after the move and ignores that
        the body keeps moving later. The free region after a move is the current free
        region plus the tail's cell unless the move eats, minus the new head's cell. The
        cells that the new head reaches are exactly its component in the current free
        region, joined with the tail's cell when the move does not eat, minus the head's
        cell. So one flood fill per component that touches a candidate cell or the tail
        serves every move.

        With ``food_distances``, one breadth-first search from the food fills in each
        move's ``food_distance``. A path from the new head never passes back through the
        new head, and the tail's cell is free after every move that does not eat. So one
        search through the current free cells and the tail's cell serves every move.

        Args:
            directions: Requested directions, resolved as :meth:`step` resolves them.
            food_distances: Also compute the path length from each new head to the food.

        Returns:
            One assessment per direction, in the same order.

        Raises:
            ValueError: If a direction is not 0, 1, 2 or 3.
        """
        head_x, head_y = self.body[0]
        tail_x, tail_y = self.body[-1]
        head = head_y * self.width + head_x
        tail = tail_y * self.width + tail_x
        food = -1 if self.food is None else self.food[1] * self.width + self.food[0]
        free = self._all_cells_mask & ~self._body_mask
        region = _FreeRegion(free, self.width, self._not_first_column, self._not_last_column)

        # The component that contains the tail's cell once the tail has left it.
        tail_region = 1 << tail
        for neighbour in self._neighbours[tail]:
            if free >> neighbour & 1 and not tail_region >> neighbour & 1:
                tail_region |= region.component(neighbour)
        tail_region_size = tail_region.bit_count()

        step_targets = self._step_targets[head]
        targets = [step_targets[self.resolve_direction(direction)] for direction in directions]
        distances: dict[int, int] = {}
        if food_distances and food >= 0:
            distances = self._path_lengths(food, free | 1 << tail, targets)

        assessments = []
        for target in targets:
            if target < 0:
                assessments.append(_FATAL_MOVE)
                continue
            eats = target == food
            if self._occupied[target] and target != tail:
                assessments.append(_FATAL_MOVE)
                continue
            num_free_after = self.num_cells - len(self.body) - (1 if eats else 0)
            if num_free_after == 0:
                assessments.append(MoveAssessment(False, 1.0, True, distances.get(target)))
                continue

            if target == tail:
                num_reachable = tail_region_size - 1
                tail_reachable = True
            else:
                component = region.component(target)
                if not eats and component & tail_region:
                    num_reachable = tail_region_size - 1
                    tail_reachable = True
                elif len(self.body) == 1:
                    # The new head is also the tail.
                    num_reachable = component.bit_count() - 1
                    tail_reachable = True
                else:
                    num_reachable = component.bit_count() - 1
                    # The tail stays when the snake eats and otherwise moves to body[-2].
                    new_tail_x, new_tail_y = self.body[-1] if eats else self.body[-2]
                    new_tail = new_tail_y * self.width + new_tail_x
                    tail_reachable = bool(self._neighbour_masks[new_tail] & component)
            assessments.append(
                MoveAssessment(
                    False, num_reachable / num_free_after, tail_reachable, distances.get(target)
                )
            )
        return assessments

    def _path_lengths(self, source: int, passable: int, targets: Sequence[int]) -> dict[int, int]:
        """Return the path length from ``source`` to each reachable target cell.

        A breadth-first search on bitmasks: each iteration adds the next ring of cells, so
        it costs a few big-integer operations per step of distance. Paths run through the
        cells set in ``passable``, and a target outside it is never reached.
        """
        width = self.width
        target_bits = 0
        for target in targets:
            if target >= 0:
                target_bits |= 1 << target
        reached = 1 << source
        lengths = {source: 0} if target_bits & reached else {}
        pending = target_bits & ~reached
        distance = 0
        not_first_column, not_last_column = self._not_first_column, self._not_last_column
        while pending:
            grown = (
                reached
                | ((reached & not_first_column) >> 1)
                | ((reached & not_last_column) << 1)
                | (reached >> width)
                | (reached << width)
            ) & passable
            if grown == reached:
                break
            distance += 1
            found = grown & pending
            while found:
                lowest = found & -found
                lengths[lowest.bit_length() - 1] = distance
                found ^= lowest
            pending &= ~grown
            reached = grown
        return lengths

    def to_text(self) -> str:
        """Draw the board as text, one line per row.

        ``@`` is the head, ``o`` another body cell, ``*`` the food and ``.`` a free cell.
        """
        rows = [["."] * self.width for _ in range(self.height)]
        for x, y in self.body:
            rows[y][x] = "o"
        if self.food is not None:
            food_x, food_y = self.food
            rows[food_y][food_x] = "*"
        head_x, head_y = self.body[0]
        rows[head_y][head_x] = "@"
        return "\n".join("".join(row) for row in rows)

    def _init_board(self, width: int, height: int, rng: np.random.Generator | None) -> None:
        _validate_board_size(width, height)
        self.width = int(width)
        self.height = int(height)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.body: deque[tuple[int, int]] = deque()
        self.direction = RIGHT
        self.food: tuple[int, int] | None = None
        self.score = 0
        self.game_over = False
        self.end_cause: str | None = None
        # One byte per cell, index y * width + x, 1 where the snake is.
        self._occupied = bytearray(self.width * self.height)

        # Cell index reached from each cell in each direction, -1 off the board, and each
        # cell's on-board neighbours, so that moves and neighbour lookups skip bounds checks.
        step_targets = []
        for index in range(self.width * self.height):
            x, y = index % self.width, index // self.width
            targets = []
            for dx, dy in DIRECTION_DELTAS:
                inside = 0 <= x + dx < self.width and 0 <= y + dy < self.height
                targets.append((y + dy) * self.width + x + dx if inside else -1)
            step_targets.append(tuple(targets))
        self._step_targets: tuple[tuple[int, ...], ...] = tuple(step_targets)
        self._neighbours: tuple[tuple[int, ...], ...] = tuple(
            tuple(target for target in targets if target >= 0) for targets in step_targets
        )

        # Bitmasks over cells (bit y * width + x) for the flood fill of assess_moves. The
        # body mask is kept in sync with the occupancy buffer.
        self._body_mask = 0
        self._all_cells_mask = (1 << self.num_cells) - 1
        first_column = sum(1 << (row * self.width) for row in range(self.height))
        last_column = first_column << (self.width - 1)
        self._not_first_column = self._all_cells_mask & ~first_column
        self._not_last_column = self._all_cells_mask & ~last_column
        self._neighbour_masks = tuple(
            sum(1 << neighbour for neighbour in neighbours) for neighbours in self._neighbours
        )

    def _end(self, result: StepResult) -> StepResult:
        self.game_over = True
        self.end_cause = "win" if result.won else result.cause
        return result

    def _set_body(self, cells: list[tuple[int, int]], direction: int) -> None:
        self.body = deque(cells)
        self.direction = direction
        self.game_over = False
        self.end_cause = None
        self._occupied[:] = bytes(len(self._occupied))
        self._body_mask = 0
        for x, y in cells:
            self._occupied[y * self.width + x] = 1
            self._body_mask |= 1 << (y * self.width + x)

    def _place_food(self) -> None:
        """Put the food on a free cell drawn uniformly from :attr:`rng`."""
        free = np.flatnonzero(np.frombuffer(self._occupied, dtype=np.uint8) == 0)
        if free.size == 0:
            self.food = None
            return
        index = int(free[self.rng.integers(free.size)])
        self.food = (index % self.width, index // self.width)

    def _load_state(
        self, body: Iterable[Sequence[int]], direction: int, food: Sequence[int] | None
    ) -> None:
        cells = [self._validate_cell(cell, "body cell") for cell in body]
        if not cells:
            raise ValueError("expected a body with at least one cell, got an empty body")
        if len(set(cells)) != len(cells):
            raise ValueError(f"expected distinct body cells, got {cells}")
        for previous, cell in zip(cells, cells[1:]):
            if abs(previous[0] - cell[0]) + abs(previous[1] - cell[1]) != 1:
                raise ValueError(
                    f"expected each body cell next to the previous one, got {cell} after "
                    f"{previous}"
                )
        direction = validate_direction(direction)
        if len(cells) > 1:
            (head_x, head_y), (neck_x, neck_y) = cells[0], cells[1]
            if (head_x - neck_x, head_y - neck_y) != DIRECTION_DELTAS[direction]:
                raise ValueError(
                    f"expected the direction of the move from neck {cells[1]} to head "
                    f"{cells[0]}, got {DIRECTION_NAMES[direction]} ({direction})"
                )

        self._set_body(cells, direction)
        self.score = max(len(cells) - START_LENGTH, 0)
        self.food = None
        if len(cells) == self.num_cells:
            if food is not None:
                raise ValueError(f"expected no food on a full board, got {tuple(food)}")
            self._end(_WON)
        elif food is None:
            self._place_food()
        else:
            food_cell = self._validate_cell(food, "food")
            if food_cell in set(cells):
                raise ValueError(f"expected food on a free cell, got {food_cell} on the body")
            self.food = food_cell

    def _validate_cell(self, cell: Sequence[int], name: str) -> tuple[int, int]:
        try:
            x, y = cell
        except (TypeError, ValueError):
            raise ValueError(f"expected {name} as an (x, y) pair, got {cell!r}") from None
        for value in (x, y):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"expected integer coordinates for {name}, got {cell!r}")
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise ValueError(
                f"expected {name} on the {self.width}x{self.height} board, got {(x, y)}"
            )
        return int(x), int(y)
