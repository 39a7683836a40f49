"""Reference snake players that read the game state: random, shortest path, Hamiltonian cycle.

They give the scores of trained agents a scale. Each follows the
:class:`agents.evaluation.SnakePlayer` protocol, so
:func:`agents.evaluation.evaluate_snake_player` runs them through the same episodes,
seeds and metrics as :func:`agents.evaluation.evaluate_snake` runs a trained agent::

    from agents.evaluation import evaluate_snake_player
    from agents.snake_players import GreedySnakePlayer

    metrics = evaluate_snake_player(GreedySnakePlayer(), {"grid_size": 10}, seed=10_000)

Directions are those of :mod:`envs.snake_rules`: 0 up, 1 right, 2 down, 3 left.
"""

from __future__ import annotations

import numpy as np

from envs.snake_rules import (
    DIRECTION_DELTAS,
    NUM_DIRECTIONS,
    SnakeGame,
    opposite_direction,
)

Cell = tuple[int, int]


def non_reversing_directions(game: SnakeGame) -> list[int]:
    """Return the directions that do not reverse the snake, the heading first.

    A snake longer than one cell cannot reverse into its neck, which lies opposite its
    heading. A snake of one cell may move in all four directions.
    """
    heading = game.direction
    directions = [(heading + turn) % NUM_DIRECTIONS for turn in range(NUM_DIRECTIONS)]
    if game.length > 1:
        directions.remove(opposite_direction(heading))
    return directions


class RandomSnakePlayer:
    """Moves uniformly at random among the directions that do not reverse the snake.

    It does not avoid walls or its body, so it shows the score of play without any skill.
    """

    name = "random"

    def select_direction(self, game: SnakeGame, rng: np.random.Generator) -> int:
        """Return a direction drawn uniformly from :func:`non_reversing_directions`."""
        directions = non_reversing_directions(game)
        return directions[int(rng.integers(len(directions)))]


class GreedySnakePlayer:
    """Walks a shortest path to the food, or without one moves toward the most free space.

    The path search is a breadth-first search through free cells that treats the tail as
    moving: the body cell ``i`` places from the head is left after ``length - i`` moves
    that do not eat, so the head may enter it on that move or later. Among shortest paths
    it prefers one whose first move goes straight on. When no path exists, it takes the non-reversing
    move that leaves the head the largest reachable region
    (:meth:`envs.snake_rules.SnakeGame.assess_moves`), preferring a move from which the
    tail stays reachable, then going straight on. It plans nothing beyond the next apple,
    so it often walls itself in once the snake is long.
    """

    name = "greedy"

    def select_direction(self, game: SnakeGame, rng: np.random.Generator) -> int:
        """Return the first move of a shortest path to the food, else the max-space move."""
        direction = shortest_path_direction(game)
        if direction is None:
            direction = max_space_direction(game)
        return direction


def shortest_path_direction(game: SnakeGame) -> int | None:
    """Return the first move of a shortest path from the head to the food.

    The search treats the tail as moving, as :class:`GreedySnakePlayer` describes, and its
    first move never reverses into the neck. Each cell is visited at most once, so the
    search misses paths that cross the head's own trail after the trail has moved on. It
    may then return a longer path than the shortest, or ``None``.

    Returns:
        The direction of the first move, or ``None`` when there is no food or no path.
    """
    if game.food is None:
        return None
    width, height = game.width, game.height
    length = game.length
    food = _index(game.food, width)
    head = _index(game.head, width)

    # Number of moves after which the head may enter each cell: 0 for a free cell.
    free_after = [0] * (width * height)
    for position, cell in enumerate(game.body):
        free_after[_index(cell, width)] = length - position

    directions = non_reversing_directions(game)
    first_direction = [-1] * (width * height)
    visited = bytearray(width * height)
    visited[head] = 1
    frontier = [head]
    moves = 0
    while frontier:
        moves += 1
        next_frontier = []
        for cell in frontier:
            x, y = cell % width, cell // width
            for direction in directions if cell == head else range(NUM_DIRECTIONS):
                dx, dy = DIRECTION_DELTAS[direction]
                if not (0 <= x + dx < width and 0 <= y + dy < height):
                    continue
                target = (y + dy) * width + x + dx
                if visited[target] or free_after[target] > moves:
                    continue
                visited[target] = 1
                first = direction if cell == head else first_direction[cell]
                if target == food:
                    return first
                first_direction[target] = first
                next_frontier.append(target)
        frontier = next_frontier
    return None


def max_space_direction(game: SnakeGame) -> int:
    """Return the non-reversing move that leaves the head the most reachable free cells.

    Ties go to a move from which the tail stays reachable, then to the heading. When every
    move is fatal, the snake goes straight on.
    """
    directions = non_reversing_directions(game)
    assessments = game.assess_moves(directions)
    best = max(
        range(len(directions)),
        key=lambda option: (
            not assessments[option].fatal,
            assessments[option].reachable_fraction,
            assessments[option].tail_reachable,
            -option,
        ),
    )
    return directions[best]


def hamiltonian_cycle(width: int, height: int) -> list[Cell]:
    """Return a cycle that visits every cell of the board once.

    Each cell is next to the one before it, and the last cell is next to the first. With
    an even height, the cycle runs right along the top row, snakes through the other rows
    between columns 1 and ``width - 1``, and comes back up column 0. With an odd height and
    an even width, it is the same construction with rows and columns swapped.

    Raises:
        ValueError: If a side is not an integer of at least 2, or if both sides are odd.
            A board with an odd number of cells has no Hamiltonian cycle, because every
            move changes the colour of a checkerboard colouring, so a closed tour has as
            many cells of one colour as of the other.
    """
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
            raise ValueError(f"expected an integer {name} >= 2, got {value!r}")
    if height % 2 == 0:
        return _row_cycle(int(width), int(height))
    if width % 2 == 0:
        return [(x, y) for y, x in _row_cycle(int(height), int(width))]
    raise ValueError(
        f"expected a board with an even width or height for a Hamiltonian cycle, got "
        f"{width}x{height}, which has an odd number of cells and therefore no such cycle"
    )


def _row_cycle(width: int, height: int) -> list[Cell]:
    """Return the cycle of :func:`hamiltonian_cycle` for an even ``height``."""
    cells = [(x, 0) for x in range(width)]
    for y in range(1, height):
        columns = range(width - 1, 0, -1) if y % 2 == 1 else range(1, width)
        cells += [(x, y) for x in columns]
    cells += [(0, y) for y in range(height - 1, 0, -1)]
    return cells


class HamiltonianCyclePlayer:
    """Follows a fixed cycle through every cell, so it fills the board without dying.

    The cycle is :func:`hamiltonian_cycle`. The player goes around it in the direction in
    which the neck lies behind the head. Once the body lies along the cycle, the cells
    from the head onward to the tail are exactly the free cells, so the head never meets
    its body and reaches the food within ``num_cells - length`` moves. On an even height
    the head and neck of the starting snake already lie along the cycle, and its tail
    leaves before the head could come back to it. On an odd height the cycle crosses the
    starting body, and the player takes the next cell of the cycle that is free.

    No-progress limit: :class:`envs.snake_env.SnakeEnv` truncates an episode after
    ``no_progress_factor * length`` moves without food. On the default 10x10 board with
    the default factor of 100 this player is never truncated. At most 96 moves pass
    without food (100 cells minus length 3, minus the move that eats), and the limit is at
    least 300. By the same count, on an even-height board it is never truncated when
    the board has at most ``3 * no_progress_factor + 3`` cells, which for the default
    factor covers every even square board up to 16x16. On larger boards a short snake can
    be truncated while it travels to food far behind it.

    Filling the board takes about ``num_cells ** 2 / 4`` moves on average (the food is
    half the free cells ahead), about 2,400 on 10x10.

    Args:
        width: Number of columns of the boards it plays on.
        height: Number of rows of the boards it plays on.

    Raises:
        ValueError: If both sides are odd, as :func:`hamiltonian_cycle` raises.
    """

    name = "hamiltonian_cycle"

    def __init__(self, width: int = 10, height: int = 10) -> None:
        self.cycle = hamiltonian_cycle(width, height)
        self.width = int(width)
        self.height = int(height)
        self._position = {cell: index for index, cell in enumerate(self.cycle)}

    def select_direction(self, game: SnakeGame, rng: np.random.Generator) -> int:
        """Return the direction of the next cell of the cycle.

        Raises:
            ValueError: If the game's board is not the size the player was built for.
        """
        if (game.width, game.height) != (self.width, self.height):
            raise ValueError(
                f"expected a {self.width}x{self.height} board, got {game.width}x{game.height}; "
                f"build HamiltonianCyclePlayer(width={game.width}, height={game.height})"
            )
        head_x, head_y = game.head
        position = self._position[game.head]
        ahead = self.cycle[(position + 1) % len(self.cycle)]
        behind = self.cycle[position - 1]
        neck = game.body[1] if game.length > 1 else None

        if neck == behind:
            target = ahead
        elif neck == ahead:
            target = behind
        else:
            # The body crosses the cycle at the head, so take a free next cell. The tail's
            # cell counts as free because the food is never on it.
            target = ahead
            if game.is_occupied(ahead) and ahead != game.tail:
                target = behind
        # NOTE: on odd-height boards, during the first moves the head could still enter the
        # starting neck if the snake ate on both of its first two moves, which keeps the
        # neck in place. No test covers that case.
        return DIRECTION_DELTAS.index((target[0] - head_x, target[1] - head_y))


def _index(cell: Cell, width: int) -> int:
    return cell[1] * width + cell[0]
