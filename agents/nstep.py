"""n-step returns: turn each stream of one-step transitions into n-step transitions.

A stream is the sequence of one agent's transitions in one episode: one environment for a
single-agent game, or one player on one board for self-play. From the one-step
transitions ``(s_t, a_t, r_t, s_{t+1})`` of a stream the accumulator builds

    (s_t, a_t, r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1}, s_{t+k}, terminated, k)

with ``k = n`` inside an episode. At the end of an episode every open window is closed
early, so the last transitions span fewer steps (``k < n``). The stored ``k`` gives the
per-transition discount ``gamma^k`` of the bootstrapped value. When the episode
terminated, those closed windows are terminal and do not bootstrap. When it was truncated
(a time limit), they bootstrap from the last real observation, as a one-step truncated
transition does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np


@dataclass
class NStepTransition:
    """One transition spanning ``num_steps`` steps of its stream."""

    observation: np.ndarray
    action: int
    reward: float
    next_observation: np.ndarray
    terminated: bool
    next_action_mask: np.ndarray
    num_steps: int


@dataclass
class _Step:
    observation: np.ndarray
    action: int
    reward: float


class NStepAccumulator:
    """Per-stream windows of recent steps, which emit n-step transitions as they complete.

    With ``n_step = 1`` every pushed transition comes straight back unchanged, with
    ``num_steps = 1``.

    Args:
        n_step: Steps per transition, at least 1.
        gamma: Discount factor applied inside the summed rewards.

    Raises:
        ValueError: If ``n_step`` is below 1.
    """

    def __init__(self, n_step: int, gamma: float) -> None:
        if n_step < 1:
            raise ValueError(f"n_step must be at least 1, got {n_step}")
        self.n_step = n_step
        self.gamma = gamma
        self.windows: dict[Hashable, deque[_Step]] = {}

    def push(
        self,
        stream: Hashable,
        observation: np.ndarray,
        action: int,
        reward: float,
        next_observation: np.ndarray,
        terminated: bool,
        next_action_mask: np.ndarray,
        *,
        episode_over: bool,
    ) -> list[NStepTransition]:
        """Add one step of ``stream`` and return the transitions that are now complete.

        Args:
            stream: Key of the stream (an environment index, or a board and a player).
            observation, action, reward, next_observation, next_action_mask: The step.
            terminated: True where the episode ended by its own rules.
            episode_over: True on the stream's last step (terminated or truncated); every
                open window of the stream is then closed and returned.
        """
        window = self.windows.setdefault(stream, deque())
        window.append(_Step(observation, action, reward))
        if episode_over:
            completed = [
                self._close(window, start, next_observation, terminated, next_action_mask)
                for start in range(len(window))
            ]
            del self.windows[stream]
            return completed
        if len(window) < self.n_step:
            return []
        completed = [self._close(window, 0, next_observation, False, next_action_mask)]
        window.popleft()
        return completed

    def _close(
        self,
        window: deque[_Step],
        start: int,
        next_observation: np.ndarray,
        terminated: bool,
        next_action_mask: np.ndarray,
    ) -> NStepTransition:
        steps = list(window)[start:]
        discounted = sum(step.reward * self.gamma**k for k, step in enumerate(steps))
        first = steps[0]
        return NStepTransition(
            observation=first.observation,
            action=first.action,
            reward=float(discounted),
            next_observation=next_observation,
            terminated=terminated,
            next_action_mask=next_action_mask,
            num_steps=len(steps),
        )
