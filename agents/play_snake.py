"""Snake front end of play.py: watch an agent, play with the arrow keys, or evaluate."""

from __future__ import annotations

import argparse
from collections import deque
from collections.abc import Callable
from typing import Any

from agents.evaluation import evaluate_snake
from agents.frontend import (
    apply_env_options,
    load_model,
    model_env_kwargs,
    wait_frames,
    window_closed,
)
from envs.snake_env import SnakeEnv
from envs.snake_rules import opposite_direction

# Directions of the snake rules: 0 up, 1 right, 2 down, 3 left.
_MAX_QUEUED_TURNS = 3
_START_TEXT = "Press an arrow key to start"


def run_snake(args: argparse.Namespace) -> int:
    """Dispatch to evaluation, watching, or human play; return the exit code."""
    if args.model is None:
        kwargs = apply_env_options({}, "snake", args)
        return play_human(kwargs, args)
    kwargs = model_env_kwargs(args.model, "snake", args)
    policy = load_model(args.model, "snake", kwargs)
    if args.render == "none":
        metrics = evaluate_snake(policy, kwargs, num_episodes=args.episodes or 100, seed=args.seed)
        print(format_snake_metrics(metrics, args.model))
        return 0
    return watch(policy, kwargs, args)


def format_snake_metrics(metrics: dict[str, float], label: str) -> str:
    """Format snake evaluation statistics as a small table."""
    lines = [
        f"{label}: {metrics['num_episodes']:.0f} greedy episodes",
        f"  score   mean {metrics['mean_score']:.2f}  median {metrics['median_score']:.1f}  "
        f"10th percentile {metrics['p10_score']:.1f}  max {metrics['max_score']:.0f}",
        f"  steps   mean {metrics['mean_episode_length']:.1f} per episode",
        "  ended   "
        + "  ".join(
            f"{reason} {metrics[f'end_{reason}']:.0f}"
            for reason in ("wall", "body", "no_progress", "win")
        ),
    ]
    return "\n".join(lines)


def _set_fps(env: SnakeEnv, fps: int | None) -> None:
    if fps is not None:
        env.metadata = {**env.metadata, "render_fps": fps}


def watch(policy: Any, kwargs: dict[str, Any], args: argparse.Namespace) -> int:
    """Show the greedy agent playing episodes in a window or as text."""
    render_mode = "human" if args.render == "window" else "ansi"
    env = SnakeEnv(render_mode=render_mode, **kwargs)
    _set_fps(env, args.fps)
    episode = 0
    try:
        while args.episodes is None or episode < args.episodes:
            observation, info = env.reset(seed=args.seed + episode)
            done = False
            while not done:
                action = policy.select_actions(observation[None], info["action_mask"][None])[0]
                observation, _, terminated, truncated, info = env.step(int(action))
                done = terminated or truncated
                if render_mode == "ansi":
                    print(env.render(), end="\n\n")
                elif window_closed(env.canvas):
                    return 0
            episode += 1
            print(f"Episode {episode}: {info['score']} apples, ended by {info['end_reason']}")
            if render_mode == "human" and not wait_frames(env.canvas, 1.0):
                return 0
            if render_mode == "human" and window_closed(env.canvas):
                return 0
    finally:
        env.close()
    return 0


def play_human(
    kwargs: dict[str, Any],
    args: argparse.Namespace,
    next_events: Callable[[Any], list[Any]] | None = None,
) -> int:
    """Let a person steer the snake with the arrow keys (or WASD) in a window.

    Key presses are queued and applied one per tick, each checked against the heading the
    snake will have after the turns queued before it, so two quick presses (up, then left
    while moving right) turn twice and never reverse into the neck.

    Args:
        kwargs: Snake environment settings.
        args: Parsed play.py options (``seed``, ``fps``).
        next_events: Returns the events of one frame given the canvas; tests pass synthetic
            events here. Defaults to the window's event queue.
    """
    import pygame

    keys = {
        pygame.K_UP: 0,
        pygame.K_w: 0,
        pygame.K_RIGHT: 1,
        pygame.K_d: 1,
        pygame.K_DOWN: 2,
        pygame.K_s: 2,
        pygame.K_LEFT: 3,
        pygame.K_a: 3,
    }
    env = SnakeEnv(render_mode="human", action_mode="absolute", **kwargs)
    _set_fps(env, args.fps or 8)
    episode = 0
    try:
        env.status_text = _START_TEXT
        env.reset(seed=args.seed)
        turns: deque[int] = deque()
        waiting = True  # Each game starts on the first arrow key, not on its own.
        over = False
        while True:
            events = next_events(env.canvas) if next_events else env.canvas.pump_events()
            for event in events:
                if event.type == pygame.QUIT:
                    return 0
                if event.type != pygame.KEYDOWN:
                    continue
                if event.key in (pygame.K_ESCAPE, pygame.K_q):
                    return 0
                if over and event.key in (pygame.K_SPACE, pygame.K_RETURN):
                    episode += 1
                    env.status_text = _START_TEXT
                    env.reset(seed=args.seed + episode)
                    turns.clear()
                    over, waiting = False, True
                elif not over and event.key in keys:
                    queue_turn(turns, env.game.direction, keys[event.key])
                    if waiting:
                        waiting = False
                        env.status_text = None
            if env.canvas.closed:
                return 0
            if over or waiting:
                env.render()
                continue
            heading = turns.popleft() if turns else env.game.direction
            _, _, terminated, truncated, info = env.step(heading)
            if terminated or truncated:
                over = True
                endings = {"no_progress": "no progress", "win": "board filled"}
                ending = endings.get(info["end_reason"], f"hit the {info['end_reason']}")
                env.status_text = f"{info['score']} apples, {ending}. Space: again, Esc: quit"
                print(f"Game over: {info['score']} apples ({info['end_reason']}).")
    finally:
        env.close()


def queue_turn(turns: deque[int], heading: int, requested: int) -> None:
    """Queue a requested direction unless it repeats or reverses the last planned heading."""
    planned = turns[-1] if turns else heading
    if requested in (planned, opposite_direction(planned)):
        return
    if len(turns) < _MAX_QUEUED_TURNS:
        turns.append(requested)
