"""Tests of the Gymnasium snake environment in envs.snake_env."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.snake_env import (
    FEATURE_NAMES_ABSOLUTE,
    FEATURE_NAMES_RELATIVE,
    STRAIGHT,
    TURN_LEFT,
    TURN_RIGHT,
    SnakeEnv,
)
from envs.snake_rules import DIRECTION_DELTAS, DOWN, LEFT, RIGHT, UP, opposite_direction

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBSERVATIONS = ("features", "grid")
ACTION_MODES = ("relative", "absolute")

# A Hamiltonian cycle of the 4x4 board that contains the starting snake (0,2)-(1,2)-(2,2).
CYCLE_4X4 = [
    (0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (3, 2), (3, 3), (2, 3),
    (1, 3), (0, 3), (0, 2), (1, 2), (2, 2), (2, 1), (1, 1), (0, 1),
]  # fmt: skip


@pytest.fixture
def headless_display(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def straight_body(head: tuple[int, int], direction: int, length: int = 3) -> list[tuple[int, int]]:
    """Return a straight body with its head at ``head``, heading ``direction``."""
    dx, dy = DIRECTION_DELTAS[direction]
    return [(head[0] - i * dx, head[1] - i * dy) for i in range(length)]


def test_make_registered_id():
    env = gym.make(envs.SNAKE_ID)
    obs, info = env.reset(seed=0)
    assert env.spec.id == "dqn_arena/Snake-v0"
    assert env.observation_space.contains(obs)
    assert info["length"] == 3
    env.close()


@pytest.mark.parametrize("observation", OBSERVATIONS)
@pytest.mark.parametrize("action_mode", ACTION_MODES)
def test_check_env_passes_without_warnings(observation, action_mode, headless_display):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # gym.make gives the env a spec, which the render check needs to try every mode.
        env = gym.make(
            envs.SNAKE_ID,
            observation=observation,
            action_mode=action_mode,
            render_mode="rgb_array",
        )
        gymnasium_check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(SnakeEnv(observation=observation, action_mode=action_mode), warn=True)


def test_absolute_reversal_continues_straight():
    env = SnakeEnv(action_mode="absolute")
    env.reset(seed=0)
    _, info = env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (9, 9))
    assert info["action_mask"].tolist() == [True, True, True, False]
    _, reward, terminated, truncated, info = env.step(LEFT)
    assert env.game.head == (6, 5)
    assert not terminated
    assert not truncated
    assert reward == 0.0
    assert info["length"] == 3


@pytest.mark.parametrize("heading", [UP, RIGHT, DOWN, LEFT])
def test_relative_actions_never_reverse(heading):
    env = SnakeEnv()
    env.reset(seed=0)
    expected = {
        STRAIGHT: heading,
        TURN_LEFT: (heading + 3) % 4,
        TURN_RIGHT: (heading + 1) % 4,
    }
    for action, direction in expected.items():
        env.set_state(straight_body((5, 5), heading), heading, (0, 0))
        env.step(action)
        assert env.game.direction == direction
        assert env.game.direction != opposite_direction(heading)
        dx, dy = DIRECTION_DELTAS[direction]
        assert env.game.head == (5 + dx, 5 + dy)


def test_starvation_at_fixed_limit_terminates():
    # The same circling snake with a fixed limit of 7 steps and starvation: step 7 ends the
    # game as a death, with the death reward, terminated rather than truncated.
    env = SnakeEnv(
        no_progress_limit=7, starvation=True, starvation_reward=-2.0, step_reward=-0.01
    )
    env.reset(seed=0)
    env.set_state([(5, 5), (4, 5), (4, 6)], RIGHT, (9, 9))
    for step in range(1, 7):
        _, reward, terminated, truncated, _ = env.step(TURN_RIGHT)
        assert (terminated, truncated) == (False, False), f"ended at step {step}"
        assert reward == pytest.approx(-0.01)
    _, reward, terminated, truncated, info = env.step(TURN_RIGHT)
    assert terminated
    assert not truncated
    assert reward == pytest.approx(-2.0)
    assert info["end_reason"] == "no_progress"


@pytest.mark.parametrize("action_mode", ["relative", "absolute"])
def test_path_features_follow_the_way_around_the_body(action_mode):
    env = SnakeEnv(path_features=True, action_mode=action_mode, grid_size=6)
    env.reset(seed=0)
    # The food at (2,0) lies behind the body along row 1; the tail at (0,1) leaves its
    # cell on the next move, which opens the way round the left end of that row.
    body = [(2, 2), (2, 3), (3, 3), (4, 3), (4, 2), (4, 1), (3, 1), (2, 1), (1, 1), (0, 1)]
    obs, _ = env.set_state(body, UP, (2, 0))
    names = env.feature_names
    num_actions = env.action_space.n
    assert len(names) == obs.shape[0] == env.observation_space.shape[0]
    assert env.observation_space.contains(obs)
    features = dict(zip(names, obs.tolist()))
    if action_mode == "relative":
        left, straight, right = "left", "straight", "right"
    else:
        left, straight, right = "left", "up", "right"
    assert features[f"food_distance_{left}"] == pytest.approx(5 / 36)
    assert features[f"food_path_{left}"] == 1.0
    for move in (straight, right):
        assert features[f"food_distance_{move}"] == 1.0
        assert features[f"food_path_{move}"] == 0.0
    assert names[-2 * num_actions :] == tuple(
        [f"food_distance_{name[len('danger_'):]}" for name in names[:num_actions]]
        + [f"food_path_{name[len('danger_'):]}" for name in names[:num_actions]]
    )


def test_path_features_mark_every_shortest_move():
    env = SnakeEnv(path_features=True)
    env.reset(seed=0)
    # Food diagonally ahead-left: straight on and the left turn are both one move closer.
    obs, _ = env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (6, 4))
    features = dict(zip(env.feature_names, obs.tolist()))
    assert features["food_distance_straight"] == pytest.approx(1 / 100)
    assert features["food_distance_left"] == pytest.approx(1 / 100)
    assert features["food_distance_right"] == pytest.approx(3 / 100)
    assert [features[f"food_path_{move}"] for move in ("straight", "left", "right")] == [
        1.0, 1.0, 0.0,
    ]  # fmt: skip


def test_hunger_feature_counts_towards_the_limit():
    env = SnakeEnv(no_progress_limit=8, hunger_feature=True)
    obs, _ = env.reset(seed=0)
    assert env.feature_names[-1] == "hunger"
    assert obs.shape == (23,)
    assert env.observation_space.contains(obs)
    env.set_state([(5, 5), (4, 5), (4, 6)], RIGHT, (9, 9))
    hungers = [env.step(TURN_RIGHT)[0][-1] for _ in range(3)]
    assert hungers == pytest.approx([1 / 8, 2 / 8, 3 / 8])
    # Eating resets it: food straight ahead of the head.
    env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (6, 5))
    obs, reward, *_ = env.step(STRAIGHT)
    assert reward == pytest.approx(1.0)
    assert obs[-1] == 0.0


def test_action_masks_match_mode():
    relative = SnakeEnv()
    relative.reset(seed=0)
    assert relative.action_masks().tolist() == [True, True, True]
    absolute = SnakeEnv(action_mode="absolute")
    absolute.reset(seed=0)
    absolute.set_state(straight_body((5, 5), UP), UP, (0, 0))
    assert absolute.action_masks().dtype == np.bool_
    assert absolute.action_masks().tolist() == [True, True, False, True]


@pytest.mark.parametrize(("factor", "limit"), [(100, 300), (2, 6)])
def test_no_progress_truncates_circling_snake(factor, limit):
    # Turning right forever circles the 2x2 square (5,5), (5,6), (4,6), (4,5). The food at
    # (9,9) is out of reach, so the episode ends after factor * 3 steps.
    env = SnakeEnv(no_progress_factor=factor, step_reward=-0.01)
    env.reset(seed=0)
    env.set_state([(5, 5), (4, 5), (4, 6)], RIGHT, (9, 9))
    for step in range(1, limit):
        _, reward, terminated, truncated, info = env.step(TURN_RIGHT)
        assert not terminated, f"terminated at step {step}"
        assert not truncated, f"truncated at step {step}"
        assert info["steps_since_food"] == step
        assert info["end_reason"] is None
    _, reward, terminated, truncated, info = env.step(TURN_RIGHT)
    assert truncated
    assert not terminated
    assert reward == pytest.approx(-0.01)
    assert info["end_reason"] == "no_progress"
    assert info["steps_since_food"] == limit
    with pytest.raises(RuntimeError, match="reset"):
        env.step(TURN_RIGHT)


def test_win_on_4x4_terminates():
    env = SnakeEnv(grid_size=4, action_mode="absolute", apple_reward=2.0)
    env.reset(seed=5)
    assert list(env.game.body) == [(2, 2), (1, 2), (0, 2)]
    for _ in range(16 * 16):
        head = env.game.head
        next_cell = CYCLE_4X4[(CYCLE_4X4.index(head) + 1) % len(CYCLE_4X4)]
        action = DIRECTION_DELTAS.index((next_cell[0] - head[0], next_cell[1] - head[1]))
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            break
    assert terminated
    assert not truncated
    assert reward == 2.0
    assert info["end_reason"] == "win"
    assert info["score"] == 13
    assert info["length"] == 16


@pytest.mark.parametrize(
    ("body", "direction", "action", "cause"),
    [
        ([(9, 5), (8, 5), (7, 5)], RIGHT, STRAIGHT, "wall"),
        ([(2, 2), (3, 2), (3, 3), (2, 3), (1, 3)], LEFT, TURN_LEFT, "body"),
    ],
)
def test_death_terminates_with_death_reward(body, direction, action, cause):
    env = SnakeEnv(death_reward=-5.0, step_reward=-0.1, distance_shaping=1.0)
    env.reset(seed=0)
    env.set_state(body, direction, (0, 9))
    _, reward, terminated, truncated, info = env.step(action)
    assert terminated
    assert not truncated
    assert reward == -5.0
    assert info["end_reason"] == cause


def test_eating_rewards_and_resets_counter():
    env = SnakeEnv(apple_reward=3.0)
    env.reset(seed=0)
    env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (7, 5))
    _, _, _, _, info = env.step(STRAIGHT)
    assert info["steps_since_food"] == 1
    _, reward, terminated, _, info = env.step(STRAIGHT)
    assert reward == 3.0
    assert not terminated
    assert info["score"] == 1
    assert info["length"] == 4
    assert info["steps_since_food"] == 0
    assert env.game.food not in env.game.body


def test_distance_shaping_rewards_approach():
    env = SnakeEnv(distance_shaping=1.0, step_reward=0.0)
    env.reset(seed=0)
    env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (7, 5))
    scale = 1.0 / (10 + 10 - 2)
    _, toward, _, _, _ = env.step(STRAIGHT)
    assert toward == pytest.approx(scale)
    _, eat, _, _, _ = env.step(STRAIGHT)
    assert eat == pytest.approx(1.0 + scale)

    env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (7, 5))
    _, away, _, _, _ = env.step(TURN_LEFT)
    assert away == pytest.approx(-scale)


def test_shaping_off_by_default():
    env = SnakeEnv()
    env.reset(seed=0)
    env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (9, 5))
    _, reward, _, _, _ = env.step(STRAIGHT)
    assert reward == 0.0


def test_features_layout_relative():
    env = SnakeEnv()
    env.reset(seed=0)
    obs, _ = env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (7, 2))
    expected = {
        "danger_straight": 0.0, "danger_left": 0.0, "danger_right": 0.0,
        "heading_up": 0.0, "heading_right": 1.0, "heading_down": 0.0, "heading_left": 0.0,
        "food_ahead": 1.0, "food_left": 1.0, "food_right": 0.0, "food_behind": 0.0,
        "food_offset_ahead": 2 / 9, "food_offset_left": 3 / 9,
        "reachable_fraction_straight": 1.0, "reachable_fraction_left": 1.0,
        "reachable_fraction_right": 1.0,
        "tail_reachable_straight": 1.0, "tail_reachable_left": 1.0,
        "tail_reachable_right": 1.0,
        "length_fraction": 0.03, "tail_offset_ahead": -2 / 9, "tail_offset_left": 0.0,
    }  # fmt: skip
    assert list(expected) == list(FEATURE_NAMES_RELATIVE)
    np.testing.assert_allclose(obs, list(expected.values()), rtol=1e-6)


def test_features_layout_absolute():
    env = SnakeEnv(action_mode="absolute")
    env.reset(seed=0)
    obs, _ = env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (7, 2))
    expected = {
        "danger_up": 0.0, "danger_right": 0.0, "danger_down": 0.0, "danger_left": 0.0,
        "heading_up": 0.0, "heading_right": 1.0, "heading_down": 0.0, "heading_left": 0.0,
        "food_up": 1.0, "food_right": 1.0, "food_down": 0.0, "food_left": 0.0,
        "food_offset_x": 2 / 9, "food_offset_y": -3 / 9,
        "reachable_fraction_up": 1.0, "reachable_fraction_right": 1.0,
        "reachable_fraction_down": 1.0, "reachable_fraction_left": 1.0,
        "tail_reachable_up": 1.0, "tail_reachable_right": 1.0,
        "tail_reachable_down": 1.0, "tail_reachable_left": 1.0,
        "length_fraction": 0.03, "tail_offset_x": -2 / 9, "tail_offset_y": 0.0,
    }  # fmt: skip
    assert list(expected) == list(FEATURE_NAMES_ABSOLUTE)
    np.testing.assert_allclose(obs, list(expected.values()), rtol=1e-6)


def test_features_show_danger_and_pocket():
    # Heading up along the left wall at (0,1): left is the wall and right is the body. The
    # cell ahead, (0,0), is a pocket with no free cell around it, but the tail will have
    # moved to (1,0) next to it, and leaves that cell on the following move.
    env = SnakeEnv(grid_size=6)
    env.reset(seed=0)
    body = [(0, 1), (0, 2), (1, 2), (1, 1), (1, 0), (2, 0)]
    obs, _ = env.set_state(body, UP, (5, 5))
    features = dict(zip(env.feature_names, obs.tolist()))
    assert features["danger_straight"] == 0.0
    assert features["danger_left"] == 1.0
    assert features["danger_right"] == 1.0
    assert features["reachable_fraction_straight"] == 0.0
    assert features["tail_reachable_straight"] == 1.0
    assert features["reachable_fraction_left"] == 0.0
    assert features["tail_reachable_left"] == 0.0
    assert features["length_fraction"] == pytest.approx(6 / 36)
    assert features["tail_offset_ahead"] == pytest.approx(1 / 5)
    assert features["tail_offset_left"] == pytest.approx(-2 / 5)


def test_grid_observation_channels():
    env = SnakeEnv(observation="grid", grid_size=6)
    env.reset(seed=0)
    obs, _ = env.set_state([(3, 2), (2, 2), (2, 3), (1, 3)], RIGHT, (5, 0))
    assert env.grid_shape == (4, 6, 6)
    assert obs.shape == (4 * 6 * 6,)
    grid = obs.reshape(env.grid_shape)
    head, body, food, tail = grid
    assert list(zip(*np.nonzero(head.T))) == [(3, 2)]
    assert sorted(zip(*np.nonzero(body.T))) == [(1, 3), (2, 2), (2, 3)]
    assert list(zip(*np.nonzero(food.T))) == [(5, 0)]
    assert list(zip(*np.nonzero(tail.T))) == [(1, 3)]


@pytest.mark.parametrize("observation", OBSERVATIONS)
@pytest.mark.parametrize("action_mode", ACTION_MODES)
@pytest.mark.parametrize("grid_size", [5, 10])
def test_random_steps_stay_in_space(observation, action_mode, grid_size):
    env = SnakeEnv(observation=observation, action_mode=action_mode, grid_size=grid_size)
    space = env.observation_space
    obs, info = env.reset(seed=grid_size)
    rng = np.random.default_rng(1)
    num_apples = 0
    for _ in range(1000):
        assert obs.dtype == space.dtype
        assert obs.shape == space.shape
        assert space.contains(obs)
        assert set(info) == {"score", "length", "end_reason", "steps_since_food", "action_mask"}
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        num_apples += reward == env.apple_reward
        if terminated or truncated:
            assert info["end_reason"] is not None
            obs, info = env.reset()
    assert num_apples > 0


def test_seeded_episodes_are_deterministic():
    first, second = SnakeEnv(grid_size=6), SnakeEnv(grid_size=6)
    observations = [first.reset(seed=123)[0], second.reset(seed=123)[0]]
    np.testing.assert_array_equal(observations[0], observations[1])
    actions = np.random.default_rng(9).integers(0, 3, size=500).tolist()
    num_episodes = 1
    for step, action in enumerate(actions):
        transitions = []
        for index, env in enumerate((first, second)):
            random.seed(1000 * step + index)
            np.random.seed(1000 * step + index)
            transitions.append(env.step(action))
        obs_a, reward_a, terminated_a, truncated_a, _ = transitions[0]
        obs_b, reward_b, terminated_b, truncated_b, _ = transitions[1]
        np.testing.assert_array_equal(obs_a, obs_b)
        assert reward_a == reward_b
        assert (terminated_a, truncated_a) == (terminated_b, truncated_b)
        assert first.game.food == second.game.food
        if terminated_a or truncated_a:
            num_episodes += 1
            np.testing.assert_array_equal(first.reset()[0], second.reset()[0])
            assert first.game.food == second.game.food
    assert num_episodes > 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_mode": "window"}, "render_mode"),
        ({"grid_size": 3}, "width >= 4, got 3"),
        ({"width": 12, "height": 2}, "height >= 4, got 2"),
        ({"observation": "pixels"}, "observation"),
        ({"action_mode": "diagonal"}, "action_mode"),
        ({"no_progress_factor": 0}, "no_progress_factor >= 1, got 0"),
        ({"no_progress_factor": 1.5}, "integer no_progress_factor"),
        ({"apple_reward": "1"}, "apple_reward as a real number"),
        ({"death_reward": float("nan")}, "finite death_reward"),
        ({"step_reward": float("inf")}, "finite step_reward"),
        ({"distance_shaping": -0.5}, "distance_shaping >= 0.0, got -0.5"),
        ({"no_progress_limit": 0}, "no_progress_limit, got 0"),
        ({"no_progress_limit": True}, "no_progress_limit, got True"),
        ({"hunger_feature": True, "observation": "grid"}, "hunger_feature needs"),
        ({"path_features": True, "observation": "grid"}, "path_features needs"),
    ],
)
def test_constructor_rejects_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SnakeEnv(**kwargs)


def test_rectangular_board_from_width_and_height():
    env = SnakeEnv(width=8, height=5, observation="grid")
    obs, _ = env.reset(seed=0)
    assert env.grid_shape == (4, 5, 8)
    assert obs.shape == (4 * 5 * 8,)
    assert list(env.game.body) == [(4, 2), (3, 2), (2, 2)]


@pytest.mark.parametrize(
    ("action_mode", "action"),
    [("relative", 3), ("absolute", 4), ("relative", -1), ("relative", 1.0)],
)
def test_step_rejects_invalid_action(action_mode, action):
    env = SnakeEnv(action_mode=action_mode)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected an action"):
        env.step(action)


def test_set_state_rejects_invalid_position():
    env = SnakeEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="next to the previous"):
        env.set_state([(5, 5), (3, 5)], RIGHT, (0, 0))


def test_rgb_array_draws_head_and_food(headless_display):
    env = SnakeEnv(render_mode="rgb_array")
    env.reset(seed=0)
    env.set_state([(5, 5), (4, 5), (3, 5)], RIGHT, (7, 2))
    frame = env.render()
    assert frame.dtype == np.uint8
    assert frame.shape == (10 * 32 + 28, 10 * 32, 3)
    cell_center = 32 // 2
    head_pixel = frame[5 * 32 + cell_center, 5 * 32 + cell_center]
    body_pixel = frame[5 * 32 + cell_center, 4 * 32 + cell_center]
    food_pixel = frame[2 * 32 + cell_center, 7 * 32 + cell_center]
    empty_pixel = frame[8 * 32 + cell_center, 8 * 32 + cell_center]
    assert tuple(head_pixel) == (150, 230, 110)
    assert tuple(body_pixel) == (60, 170, 80)
    assert tuple(food_pixel) == (220, 60, 60)
    assert tuple(empty_pixel) == (24, 24, 32)
    env.close()
    assert env.canvas is None


def test_ansi_matches_game():
    env = SnakeEnv(render_mode="ansi", grid_size=5)
    env.reset(seed=0)
    env.set_state([(2, 2), (1, 2), (0, 2)], RIGHT, (4, 4))
    text = env.render()
    lines = text.splitlines()
    assert lines[:5] == env.game.to_text().splitlines()
    assert lines[2] == "oo@.."
    assert lines[4] == "....*"
    assert lines[5] == "score 0  length 3"
    env.step(TURN_LEFT)
    env.step(STRAIGHT)
    env.step(STRAIGHT)
    assert env.render().splitlines()[5] == "score 0  length 3  over: wall"


def test_human_mode_runs_headless(headless_display):
    env = SnakeEnv(render_mode="human")
    env.metadata = {**env.metadata, "render_fps": 1000}
    env.reset(seed=0)
    assert env.canvas is not None
    for _ in range(5):
        _, _, terminated, truncated, _ = env.step(STRAIGHT)
        if terminated or truncated:
            break
    assert env.render() is None
    env.close()
    assert env.canvas is None
    env.close()


def test_no_render_mode_never_imports_pygame():
    script = (
        "import sys, gymnasium, envs\n"
        "for observation in ('features', 'grid'):\n"
        "    env = gymnasium.make('dqn_arena/Snake-v0', observation=observation)\n"
        "    env.reset(seed=0)\n"
        "    for _ in range(200):\n"
        "        _, _, terminated, truncated, _ = env.step(env.action_space.sample())\n"
        "        if terminated or truncated:\n"
        "            env.reset()\n"
        "    env.close()\n"
        "assert 'pygame' not in sys.modules, 'pygame was imported'\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
