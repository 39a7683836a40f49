"""Gymnasium environment around the snake rules of :mod:`envs.snake_rules`."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.rendering import PygameCanvas
from envs.snake_rules import DIRECTION_DELTAS, NUM_DIRECTIONS, SnakeGame, opposite_direction

OBSERVATION_TYPES = ("features", "grid")
ACTION_MODES = ("relative", "absolute")

# Relative actions, and the change of heading each one makes (a quarter turn per step).
STRAIGHT, TURN_LEFT, TURN_RIGHT = 0, 1, 2
_RELATIVE_TURNS = (0, 3, 1)

# Names of the feature vector entries, in order. "Move" entries follow the action order.
FEATURE_NAMES_RELATIVE: tuple[str, ...] = (
    *(f"danger_{move}" for move in ("straight", "left", "right")),
    *(f"heading_{name}" for name in ("up", "right", "down", "left")),
    *(f"food_{side}" for side in ("ahead", "left", "right", "behind")),
    "food_offset_ahead",
    "food_offset_left",
    *(f"reachable_fraction_{move}" for move in ("straight", "left", "right")),
    *(f"tail_reachable_{move}" for move in ("straight", "left", "right")),
    "length_fraction",
    "tail_offset_ahead",
    "tail_offset_left",
)
FEATURE_NAMES_ABSOLUTE: tuple[str, ...] = (
    *(f"danger_{name}" for name in ("up", "right", "down", "left")),
    *(f"heading_{name}" for name in ("up", "right", "down", "left")),
    *(f"food_{name}" for name in ("up", "right", "down", "left")),
    "food_offset_x",
    "food_offset_y",
    *(f"reachable_fraction_{name}" for name in ("up", "right", "down", "left")),
    *(f"tail_reachable_{name}" for name in ("up", "right", "down", "left")),
    "length_fraction",
    "tail_offset_x",
    "tail_offset_y",
)

# Channels of the grid observation.
GRID_CHANNELS = ("head", "body", "food", "tail")

# Cells are at least 32 pixels wide, and larger on small boards so the window is at least
# 320 pixels wide and the status line fits.
_MIN_CELL_PIXELS = 32
_MIN_WINDOW_PIXELS = 320
_STATUS_PIXELS = 28
_MAX_BOARD_PIXELS = 640
_MIN_FIT_CELL_PIXELS = 8
_EYE = (20, 20, 28)
_BACKGROUND = (24, 24, 32)
_GRID_LINE = (44, 44, 56)
_BODY = (60, 170, 80)
_HEAD = (150, 230, 110)
_FOOD = (220, 60, 60)
_TEXT = (235, 235, 235)


def _validate_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"expected {name} in {list(choices)}, got {value!r}")


def _validate_real(name: str, value: Any, minimum: float = -math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"expected {name} as a real number, got {value!r}")
    if not math.isfinite(value) or value < minimum:
        bound = "" if minimum == -math.inf else f" >= {minimum}"
        raise ValueError(f"expected a finite {name}{bound}, got {value!r}")
    return float(value)


class SnakeEnv(gym.Env):
    """Snake on a square (or rectangular) board, as a single-agent Gymnasium environment.

    ## Description

    The snake moves one cell per step. Eating the food makes it one cell longer and puts new
    food on a random free cell. Hitting a wall or its own body ends the episode, and so does
    filling the board, which is a win. The rules, including the tail rule (the head may enter
    the cell that the tail leaves on the same step), are those of
    :class:`envs.snake_rules.SnakeGame`.

    ## Action Space

    ``action_mode="relative"`` (default): ``Discrete(3)``, 0 straight on, 1 turn left, 2 turn
    right, relative to the heading. No action reverses the snake.

    ``action_mode="absolute"``: ``Discrete(4)``, 0 up, 1 right, 2 down, 3 left. The action
    that would reverse the head into its neck is treated as straight on, and
    :meth:`action_masks` and ``info["action_mask"]`` mark it as masked.

    ## Observation Space

    ``observation="features"`` (default): a ``float32`` vector for MLPs, listed in
    :attr:`feature_names`. With relative actions it is in the snake's frame ("ahead" is the
    heading, "left" a quarter turn to the left) and has 22 entries. With absolute actions it
    uses the board's axes (x right, y down) and has 25 entries. ``hunger_feature`` adds one
    entry and ``path_features`` two per action. In order:

    - ``danger_*`` (one per action), in {0, 1}: the action kills the snake now. The tail's
      cell counts as free when the move does not eat, because the tail leaves it.
    - ``heading_up/right/down/left``, in {0, 1}: one-hot heading on the board.
    - ``food_*`` (ahead, left, right, behind, or up, right, down, left), in {0, 1}: the food
      lies strictly on that side of the head.
    - Two food offsets, in [-1, 1]: (ahead, left) or (x, y) cells from the head to the food,
      divided by ``max(width, height) - 1`` (relative) or by ``width - 1`` and
      ``height - 1`` (absolute).
    - ``reachable_fraction_*`` (one per action), in [0, 1]: fraction of the free cells after
      the action that the new head can reach through free cells. 0 for a fatal action.
    - ``tail_reachable_*`` (one per action), in {0, 1}: after the action, the head can
      reach the tail's cell. 0 for a fatal action.
    - ``length_fraction``, in (0, 1]: snake length divided by the number of cells.
    - Two tail offsets, in [-1, 1]: cells from the head to the tail, scaled like the food
      offsets.
    - ``hunger``, in [0, 1], only with ``hunger_feature=True``: steps since the last apple
      (or the start) divided by the no-progress limit. Without it, how close the limit is
      cannot be seen, so a starvation penalty could not be predicted from the observation.
    - ``food_distance_*`` (one per action), in [0, 1], only with ``path_features=True``:
      moves from the new head to the food along the shortest path through the cells free
      after the action, divided by the number of cells. It is 0 for the action that eats,
      and 1 when the action is fatal or the food cannot be reached that way.
    - ``food_path_*`` (one per action), in {0, 1}, only with ``path_features=True``: the
      action starts a shortest path to the food (its ``food_distance`` is the smallest and
      the food is reachable). The food offsets give the straight-line
      direction even when the body is in the way, and these entries give the way around.

    Reachability uses the board right after the move, see
    :meth:`envs.snake_rules.SnakeGame.assess_moves`. With absolute actions, the reversing
    action has the entries of the straight-on action because it moves the same way. All
    food entries are 0 once the board is full.

    ``observation="grid"``: a ``uint8`` vector in {0, 1} of length ``4 * height * width``, for
    CNNs after reshaping to :attr:`grid_shape` ``(4, height, width)``. Channels: 0 head,
    1 body (every snake cell but the head), 2 food, 3 tail. It is flat because
    Stable-Baselines3's checker warns about image-shaped spaces smaller than 36 x 36.

    ## Rewards

    ``apple_reward`` (default 1.0) for a step that eats, ``death_reward`` (default -1.0) for
    a step that dies, ``step_reward`` (default 0.0) otherwise. Optional shaping: when
    ``distance_shaping`` is positive, every step that does not die also earns
    ``distance_shaping * (d_before - d_after) / (width + height - 2)``, where ``d`` is the
    Manhattan distance from the head to the food it is heading for (0 once eaten). This is
    the difference of a potential with discount 1, so the sum over each apple's stretch
    depends only on where that stretch started.

    ## Starting State

    A snake of length 3 lies horizontally in the middle of the board, head at
    ``(width // 2, height // 2)``, heading right. The food is on a random free cell.

    ## Episode End

    Termination: the snake hits a wall or its body, or fills the board (a win, with the
    apple reward of the last apple). The no-progress end: ``no_progress_limit`` steps (by
    default ``no_progress_factor * length``) pass without eating since the last apple or the
    start. By default it is a truncation without penalty; with ``starvation=True`` the snake
    starves: the episode terminates with ``starvation_reward`` (default ``death_reward``).
    A step that dies is terminated even if it also reaches the limit. ``info["end_reason"]``
    is ``"wall"``, ``"body"``, ``"win"`` or ``"no_progress"``, and ``None`` while running.

    ``info`` also contains ``score`` (apples eaten), ``length``, ``steps_since_food`` and
    ``action_mask``.

    ## Arguments

    ```python
    import envs
    import gymnasium as gym
    env = gym.make("dqn_arena/Snake-v0", grid_size=10, observation="features")
    ```

    Args:
        render_mode: ``"human"``, ``"rgb_array"``, ``"ansi"`` or ``None``.
        grid_size: Side of the square board, at least 4.
        width: Number of columns, overriding ``grid_size``.
        height: Number of rows, overriding ``grid_size``.
        observation: ``"features"`` or ``"grid"``, see Observation Space.
        action_mode: ``"relative"`` or ``"absolute"``, see Action Space.
        no_progress_factor: Steps allowed per cell of length between apples before the
            no-progress end, a positive integer.
        no_progress_limit: Steps allowed between apples, the same at every length; None
            uses ``no_progress_factor``.
        starvation: End the episode at the no-progress limit as a death (terminated, with
            ``starvation_reward``) instead of a truncation without penalty.
        starvation_reward: Reward for starving; None uses ``death_reward``. Below
            ``death_reward``, starving is worse than a collision, so circling until the
            limit never beats trying for the food.
        hunger_feature: Add the ``hunger`` entry to the feature observation.
        path_features: Add the ``food_distance_*`` and ``food_path_*`` entries to the
            feature observation.
        apple_reward: Reward for eating.
        death_reward: Reward for dying.
        step_reward: Reward for any other step, often 0 or a small negative number.
        distance_shaping: Scale of the optional shaping term, 0 (off) or more.

    ## Version History

    * v0: Initial version.
    """

    metadata = {"render_modes": ["human", "rgb_array", "ansi"], "render_fps": 10}

    def __init__(
        self,
        *,
        render_mode: str | None = None,
        grid_size: int = 10,
        width: int | None = None,
        height: int | None = None,
        observation: str = "features",
        action_mode: str = "relative",
        no_progress_factor: int = 100,
        no_progress_limit: int | None = None,
        starvation: bool = False,
        starvation_reward: float | None = None,
        hunger_feature: bool = False,
        path_features: bool = False,
        apple_reward: float = 1.0,
        death_reward: float = -1.0,
        step_reward: float = 0.0,
        distance_shaping: float = 0.0,
    ) -> None:
        _validate_choice("render_mode", render_mode, [None, *self.metadata["render_modes"]])
        _validate_choice("observation", observation, OBSERVATION_TYPES)
        _validate_choice("action_mode", action_mode, ACTION_MODES)
        if isinstance(no_progress_factor, bool) or not isinstance(
            no_progress_factor, (int, np.integer)
        ):
            raise ValueError(f"expected an integer no_progress_factor, got {no_progress_factor!r}")
        if no_progress_factor < 1:
            raise ValueError(f"expected no_progress_factor >= 1, got {no_progress_factor}")
        if no_progress_limit is not None and (
            isinstance(no_progress_limit, bool)
            or not isinstance(no_progress_limit, (int, np.integer))
            or no_progress_limit < 1
        ):
            raise ValueError(
                f"expected a positive integer or None for no_progress_limit, "
                f"got {no_progress_limit!r}"
            )
        if hunger_feature and observation != "features":
            raise ValueError("hunger_feature needs observation='features'")
        if path_features and observation != "features":
            raise ValueError("path_features needs observation='features'")
        self.render_mode = render_mode
        self.observation = observation
        self.no_progress_limit = None if no_progress_limit is None else int(no_progress_limit)
        self.starvation = bool(starvation)
        self.hunger_feature = bool(hunger_feature)
        self.path_features = bool(path_features)
        self.action_mode = action_mode
        self.no_progress_factor = int(no_progress_factor)
        self.apple_reward = _validate_real("apple_reward", apple_reward)
        self.death_reward = _validate_real("death_reward", death_reward)
        self.starvation_reward = (
            self.death_reward
            if starvation_reward is None
            else _validate_real("starvation_reward", starvation_reward)
        )
        self.step_reward = _validate_real("step_reward", step_reward)
        self.distance_shaping = _validate_real("distance_shaping", distance_shaping, 0.0)

        # SnakeGame validates the sizes, and reset() swaps in the seeded generator.
        board_width = grid_size if width is None else width
        board_height = grid_size if height is None else height
        self.game = SnakeGame(board_width, board_height, rng=np.random.default_rng(0))
        self.width = self.game.width
        self.height = self.game.height
        self.grid_shape = (len(GRID_CHANNELS), self.height, self.width)

        self._relative = action_mode == "relative"
        self.action_space = spaces.Discrete(3 if self._relative else NUM_DIRECTIONS)
        self._all_actions_mask = np.ones(self.action_space.n, dtype=bool)
        self.feature_names = FEATURE_NAMES_RELATIVE if self._relative else FEATURE_NAMES_ABSOLUTE
        if self.hunger_feature:
            self.feature_names = (*self.feature_names, "hunger")
        if self.path_features:
            moves = self.feature_names[: self.action_space.n]
            self.feature_names = (
                *self.feature_names,
                *(name.replace("danger_", "food_distance_") for name in moves),
                *(name.replace("danger_", "food_path_") for name in moves),
            )
        self.observation_space = self._build_observation_space()

        self.canvas: PygameCanvas | None = None
        # Cells of at least 32 pixels make the window at least 320 pixels wide, unless the
        # board is so large that the window would not fit a 768-pixel-high screen.
        fitting = max(_MIN_FIT_CELL_PIXELS, _MAX_BOARD_PIXELS // max(self.width, self.height))
        self._cell_pixels = min(
            max(_MIN_CELL_PIXELS, -(-_MIN_WINDOW_PIXELS // self.width)), fitting
        )
        self.status_text: str | None = None
        """Text for the status line, shown in place of the score when set (play.py uses it)."""
        self._steps_since_food = 0
        self._end_reason: str | None = None
        self._episode_over = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new episode, seeding the food placement when ``seed`` is given."""
        super().reset(seed=seed)
        self.game.rng = self.np_random
        self.game.reset()
        return self._start_episode()

    def set_state(
        self,
        body: Iterable[Sequence[int]],
        direction: int,
        food: Sequence[int] | None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode from a given position, for tests and debugging.

        The arguments are those of :meth:`envs.snake_rules.SnakeGame.from_state`. Later food
        comes from the environment's generator, so call :meth:`reset` first to seed it.

        Returns:
            The observation and info of the new position, as :meth:`reset` returns them.

        Raises:
            ValueError: If the position is invalid.
        """
        self.game = SnakeGame.from_state(
            body, direction, food, self.width, self.height, rng=self.np_random
        )
        return self._start_episode()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the snake by one action and return Gymnasium's five-tuple.

        Raises:
            ValueError: If ``action`` is not in the action space.
            RuntimeError: If the episode has ended and :meth:`reset` was not called.
        """
        if self._episode_over:
            raise RuntimeError("step() was called after the episode ended. Call reset() first.")
        direction = self._action_to_direction(action)
        distance_before = self._food_distance() if self.distance_shaping else 0

        result = self.game.step(direction)
        self._steps_since_food = 0 if result.ate else self._steps_since_food + 1
        terminated = result.died or result.won

        # Rewards: apple, death or step reward, plus the optional shaping term.
        if result.died:
            reward = self.death_reward
        elif result.ate:
            reward = self.apple_reward
        else:
            reward = self.step_reward
        if self.distance_shaping and not result.died:
            distance_after = 0 if result.ate else self._food_distance()
            scale = self.distance_shaping / (self.width + self.height - 2)
            reward += scale * (distance_before - distance_after)

        # The no-progress end, unless the step already ended the game: a truncation, or with
        # starvation a death.
        truncated = not terminated and self._steps_since_food >= self._no_progress_steps()
        if truncated and self.starvation:
            truncated, terminated = False, True
            reward = self.starvation_reward
            self._end_reason = "no_progress"
        elif terminated:
            self._end_reason = self.game.end_cause
        elif truncated:
            self._end_reason = "no_progress"
        self._episode_over = terminated or truncated

        if self.render_mode == "human":
            self.render()
        return self._observe(), float(reward), terminated, truncated, self._info()

    def action_masks(self) -> np.ndarray:
        """Return a boolean mask of the actions that do what they name.

        Relative actions are all valid. Among absolute actions, the one that would reverse
        the snake into its neck is masked out, because it would move straight on.
        """
        mask = self._all_actions_mask.copy()
        if not self._relative and self.game.length > 1:
            mask[opposite_direction(self.game.direction)] = False
        return mask

    def render(self) -> np.ndarray | str | None:
        """Draw the game in the mode chosen at construction.

        Returns:
            An ``(H, W, 3)`` ``uint8`` array in ``"rgb_array"`` mode, the board as text in
            ``"ansi"`` mode, and ``None`` in ``"human"`` mode or without a render mode.
        """
        if self.render_mode is None:
            gym.logger.warn(
                "render() was called without a render_mode. Pass render_mode to SnakeEnv."
            )
            return None
        if self.render_mode == "ansi":
            return self.game.to_text() + "\n" + self._status_text() + "\n"

        canvas = self._get_canvas()
        self._draw(canvas)
        if self.render_mode == "human":
            canvas.present()
            return None
        return canvas.to_rgb_array()

    def close(self) -> None:
        """Close the render window, if one is open."""
        if self.canvas is not None:
            self.canvas.close()
            self.canvas = None

    def _start_episode(self) -> tuple[np.ndarray, dict[str, Any]]:
        self._steps_since_food = 0
        self._episode_over = self.game.game_over
        self._end_reason = self.game.end_cause
        if self.render_mode == "human":
            self.render()
        return self._observe(), self._info()

    def _build_observation_space(self) -> spaces.Box:
        if self.observation == "grid":
            size = len(GRID_CHANNELS) * self.height * self.width
            return spaces.Box(low=0, high=1, shape=(size,), dtype=np.uint8)
        low = np.zeros(len(self.feature_names), dtype=np.float32)
        for index, name in enumerate(self.feature_names):
            if "_offset_" in name:
                low[index] = -1.0
        high = np.ones(len(self.feature_names), dtype=np.float32)
        return spaces.Box(low=low, high=high, dtype=np.float32)

    def _action_to_direction(self, action: int) -> int:
        try:
            value = operator.index(action)
        except TypeError:
            value = -1
        if not 0 <= value < self.action_space.n:
            raise ValueError(f"expected an action in 0..{self.action_space.n - 1}, got {action!r}")
        if self._relative:
            return (self.game.direction + _RELATIVE_TURNS[value]) % NUM_DIRECTIONS
        return value

    def _no_progress_steps(self) -> int:
        """Return the steps without food that end the episode at the current length."""
        if self.no_progress_limit is not None:
            return self.no_progress_limit
        return self.no_progress_factor * self.game.length

    def _food_distance(self) -> int:
        if self.game.food is None:
            return 0
        (head_x, head_y), (food_x, food_y) = self.game.head, self.game.food
        return abs(food_x - head_x) + abs(food_y - head_y)

    def _info(self) -> dict[str, Any]:
        return {
            "score": self.game.score,
            "length": self.game.length,
            "end_reason": self._end_reason,
            "steps_since_food": self._steps_since_food,
            "action_mask": self.action_masks(),
        }

    def _observe(self) -> np.ndarray:
        if self.observation == "grid":
            return self._grid_observation()
        return self._feature_observation()

    def _grid_observation(self) -> np.ndarray:
        num_cells = self.width * self.height
        grid = np.zeros(len(GRID_CHANNELS) * num_cells, dtype=np.uint8)
        grid[num_cells : 2 * num_cells] = np.frombuffer(self.game.occupied_cells, dtype=np.uint8)
        head_x, head_y = self.game.head
        head = head_y * self.width + head_x
        grid[head] = 1
        grid[num_cells + head] = 0
        if self.game.food is not None:
            food_x, food_y = self.game.food
            grid[2 * num_cells + food_y * self.width + food_x] = 1
        tail_x, tail_y = self.game.tail
        grid[3 * num_cells + tail_y * self.width + tail_x] = 1
        return grid

    def _feature_observation(self) -> np.ndarray:
        game = self.game
        heading = game.direction
        if self._relative:
            directions = [(heading + turn) % NUM_DIRECTIONS for turn in _RELATIVE_TURNS]
        else:
            directions = list(range(NUM_DIRECTIONS))
        assessments = game.assess_moves(directions, food_distances=self.path_features)

        features = [1.0 if assessment.fatal else 0.0 for assessment in assessments]
        features += [1.0 if direction == heading else 0.0 for direction in range(NUM_DIRECTIONS)]
        features += self._food_features()
        features += [assessment.reachable_fraction for assessment in assessments]
        features += [1.0 if assessment.tail_reachable else 0.0 for assessment in assessments]
        features.append(game.length / game.num_cells)
        features += self._offset(game.tail)
        if self.hunger_feature:
            features.append(min(1.0, self._steps_since_food / self._no_progress_steps()))
        if self.path_features:
            distances = [assessment.food_distance for assessment in assessments]
            known = [distance for distance in distances if distance is not None]
            shortest = min(known) if known else None
            features += [
                1.0 if distance is None else distance / game.num_cells for distance in distances
            ]
            features += [
                1.0 if distance is not None and distance == shortest else 0.0
                for distance in distances
            ]
        return np.array(features, dtype=np.float32)

    def _food_features(self) -> list[float]:
        """Return the food side flags followed by the food offset."""
        if self.game.food is None:
            return [0.0] * 6
        offset_a, offset_b = self._offset(self.game.food)
        if self._relative:
            # (ahead, left) offsets become the flags ahead, left, right, behind.
            sides = (offset_a > 0, offset_b > 0, offset_b < 0, offset_a < 0)
        else:
            # (x, y) offsets with y down become the flags up, right, down, left.
            sides = (offset_b < 0, offset_a > 0, offset_b > 0, offset_a < 0)
        return [1.0 if side else 0.0 for side in sides] + [offset_a, offset_b]

    def _offset(self, cell: tuple[int, int]) -> list[float]:
        """Return the scaled offset from the head to ``cell`` in the observation's frame."""
        (head_x, head_y), (x, y) = self.game.head, cell
        dx, dy = x - head_x, y - head_y
        if not self._relative:
            return [dx / (self.width - 1), dy / (self.height - 1)]
        forward_x, forward_y = DIRECTION_DELTAS[self.game.direction]
        left_x, left_y = DIRECTION_DELTAS[(self.game.direction + 3) % NUM_DIRECTIONS]
        scale = max(self.width, self.height) - 1
        return [(dx * forward_x + dy * forward_y) / scale, (dx * left_x + dy * left_y) / scale]

    def _status_text(self) -> str:
        if self.status_text is not None:
            return self.status_text
        status = f"score {self.game.score}  length {self.game.length}"
        if self._end_reason is not None:
            status += f"  over: {self._end_reason}"
        return status

    def _get_canvas(self) -> PygameCanvas:
        if self.canvas is None:
            self.canvas = PygameCanvas(
                self.width * self._cell_pixels,
                self.height * self._cell_pixels + _STATUS_PIXELS,
                title="dqn-arena: snake",
                human=self.render_mode == "human",
                fps=self.metadata["render_fps"],
            )
        return self.canvas

    def _draw(self, canvas: PygameCanvas) -> None:
        import pygame

        surface = canvas.surface
        cell_pixels = self._cell_pixels
        board_width = self.width * cell_pixels
        board_height = self.height * cell_pixels
        surface.fill(_BACKGROUND)
        for column in range(1, self.width):
            x = column * cell_pixels
            pygame.draw.line(surface, _GRID_LINE, (x, 0), (x, board_height - 1))
        for row in range(1, self.height + 1):
            y = row * cell_pixels
            pygame.draw.line(surface, _GRID_LINE, (0, y), (board_width - 1, y))

        if self.game.food is not None:
            food_x, food_y = self.game.food
            half = cell_pixels // 2
            center = (food_x * cell_pixels + half, food_y * cell_pixels + half)
            pygame.draw.circle(surface, _FOOD, center, half - 3)
        self._draw_body(surface, pygame)

        status_center = (board_width // 2, board_height + _STATUS_PIXELS // 2)
        canvas.draw_text(self._status_text(), status_center, 22, _TEXT)

    def _draw_body(self, surface: Any, pygame: Any) -> None:
        cell_pixels = self._cell_pixels
        gap = max(1, cell_pixels // 8)
        body = list(self.game.body)
        rects = [
            pygame.Rect(x * cell_pixels, y * cell_pixels, cell_pixels, cell_pixels).inflate(
                -2 * gap, -2 * gap
            )
            for x, y in body
        ]
        # Bridge each pair of neighbouring segments, so folds show which cells connect.
        for index in range(1, len(rects)):
            joined = rects[index].union(rects[index - 1])
            if joined.width > cell_pixels and joined.height > cell_pixels:
                continue
            pygame.draw.rect(surface, _BODY, joined)
        for index, rect in enumerate(rects):
            pygame.draw.rect(surface, _HEAD if index == 0 else _BODY, rect)

        # Two eyes on the head, on the side it is heading to.
        head = rects[0]
        delta_x, delta_y = DIRECTION_DELTAS[self.game.direction]
        forward = (head.width // 4 * delta_x, head.height // 4 * delta_y)
        side = (head.width // 4 * -delta_y, head.height // 4 * delta_x)
        radius = max(1, cell_pixels // 10)
        for sign in (-1, 1):
            eye = (
                head.centerx + forward[0] + sign * side[0],
                head.centery + forward[1] + sign * side[1],
            )
            pygame.draw.circle(surface, _EYE, eye, radius)
