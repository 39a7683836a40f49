"""Experience collection: single-agent environments, and tic-tac-toe self-play.

A collector steps a group of environments with one forward pass for all of them and
returns the transitions as arrays ready for :meth:`agents.replay_buffer.ReplayBuffer.add`.

Self-play design (tic-tac-toe). One shared network plays both sides; observations are
always seen from the player to move, so X and O positions look alike to it. Each side's
transition spans from its own move to its next turn: ``(s, a, r, s')`` where ``s'`` is the
position the same player faces after the opponent's reply. When a move ends the game, the
mover's transition gets the mover's reward (+1 for a win, 0 for a draw) and is terminal,
and the opponent's pending transition gets the negated reward (-1 after a loss, 0 after a
draw) and is terminal too. The target is then the plain ``r + gamma * max Q(s')`` with no
sign flip, and the opponent is always the current network with the same exploration.

n-step returns (``n_step > 1``) are built per stream by :class:`agents.nstep.NStepAccumulator`
before the transitions leave a collector: per environment for single-agent games, and per
board and player for self-play, where the n steps are the player's own moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.nstep import NStepAccumulator, NStepTransition
from envs.tictactoe_rules import symmetry_action_maps, symmetry_permutations


@dataclass
class Transitions:
    """Transitions collected in one step of a collector, batch on axis 0."""

    observations: list[np.ndarray] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    next_observations: list[np.ndarray] = field(default_factory=list)
    terminations: list[bool] = field(default_factory=list)
    next_action_masks: list[np.ndarray] = field(default_factory=list)
    num_steps: list[int] = field(default_factory=list)

    def append(
        self,
        observation: np.ndarray,
        action: int,
        reward: float,
        next_observation: np.ndarray,
        terminated: bool,
        next_action_mask: np.ndarray,
        num_steps: int = 1,
    ) -> None:
        """Add one transition spanning ``num_steps`` steps."""
        self.observations.append(observation)
        self.actions.append(action)
        self.rewards.append(reward)
        self.next_observations.append(next_observation)
        self.terminations.append(terminated)
        self.next_action_masks.append(next_action_mask)
        self.num_steps.append(num_steps)

    def __len__(self) -> int:
        return len(self.actions)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Return the transitions as stacked arrays keyed like ``ReplayBuffer.add``."""
        return {
            "observations": np.stack(self.observations),
            "actions": np.asarray(self.actions, dtype=np.int64),
            "rewards": np.asarray(self.rewards, dtype=np.float32),
            "next_observations": np.stack(self.next_observations),
            "terminations": np.asarray(self.terminations, dtype=np.bool_),
            "next_action_masks": np.stack(self.next_action_masks),
            "num_steps": np.asarray(self.num_steps, dtype=np.uint8),
        }


@dataclass
class StackedTransitions:
    """Transitions already stacked into the arrays that ``ReplayBuffer.add`` takes."""

    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["actions"])

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays keyed like ``ReplayBuffer.add``."""
        return self.arrays


class TransitionBlocks:
    """Transitions gathered in blocks of rows, such as the symmetric copies of one transition.

    The rows of a block share their reward, termination and step count.
    """

    def __init__(self) -> None:
        self.observations: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.next_observations: list[np.ndarray] = []
        self.next_action_masks: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.terminations: list[bool] = []
        self.num_steps: list[int] = []
        self.block_sizes: list[int] = []

    def add(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        reward: float,
        next_observations: np.ndarray,
        terminated: bool,
        next_action_masks: np.ndarray,
        num_steps: int,
    ) -> None:
        """Add a block of transitions, batch on axis 0."""
        self.observations.append(observations)
        self.actions.append(actions)
        self.next_observations.append(next_observations)
        self.next_action_masks.append(next_action_masks)
        self.rewards.append(reward)
        self.terminations.append(terminated)
        self.num_steps.append(num_steps)
        self.block_sizes.append(len(actions))

    def __len__(self) -> int:
        return sum(self.block_sizes)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Return the transitions as arrays keyed like ``ReplayBuffer.add``.

        Raises:
            ValueError: If no block was added (callers check ``len`` first).
        """
        sizes = self.block_sizes
        return {
            "observations": np.concatenate(self.observations),
            "actions": np.concatenate(self.actions).astype(np.int64, copy=False),
            "rewards": np.repeat(np.asarray(self.rewards, dtype=np.float32), sizes),
            "next_observations": np.concatenate(self.next_observations),
            "terminations": np.repeat(np.asarray(self.terminations, dtype=np.bool_), sizes),
            "next_action_masks": np.concatenate(self.next_action_masks),
            "num_steps": np.repeat(np.asarray(self.num_steps, dtype=np.uint8), sizes),
        }


@dataclass
class EpisodeRecord:
    """Summary of one finished episode (or game) for logging."""

    episode_return: float
    length: int
    info: dict[str, Any]


def act_on_first(
    collector: Any, agent: Any, epsilon: float, num_steps: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Choose actions for the first ``num_steps`` environments of a collector in one batch.

    Returns:
        The number of environments stepped, their observations, masks and actions.
    """
    count = min(num_steps, len(collector.envs))
    observations = np.stack(collector.observations[:count])
    masks = np.stack(collector.masks[:count])
    return count, observations, masks, agent.act(observations, epsilon, masks)


class EnvCollector:
    """Steps single-agent environments, resetting each one when its episode ends.

    Args:
        envs: Environments that report ``info["action_mask"]``.
        seed: Environment ``i`` is first reset with ``seed + i``.
        n_step: Steps summed into each transition (1: one-step transitions).
        gamma: Discount factor inside the n-step sums.
    """

    def __init__(self, envs: list[Any], seed: int, *, n_step: int = 1, gamma: float = 0.99) -> None:
        self.envs = envs
        self.n_step_accumulator = NStepAccumulator(n_step, gamma)
        # One-step transitions skip the n-step windows. Switched off, the same transitions
        # come through the accumulator, which the tests compare.
        self.one_step = n_step == 1
        self.observations: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.returns = [0.0] * len(envs)
        self.lengths = [0] * len(envs)
        for index, env in enumerate(envs):
            observation, info = env.reset(seed=seed + index)
            self.observations.append(observation)
            self.masks.append(info["action_mask"])

    def step(
        self, agent: Any, epsilon: float, num_steps: int
    ) -> tuple[Transitions | StackedTransitions, list[EpisodeRecord]]:
        """Step the first ``num_steps`` environments once each."""
        count, observations, _, actions = act_on_first(self, agent, epsilon, num_steps)
        if self.one_step:
            return self._step_one_step(count, observations, actions)
        transitions = Transitions()
        finished: list[EpisodeRecord] = []
        for index in range(count):
            action = int(actions[index])
            next_observation, reward, terminated, truncated, info = self.envs[index].step(action)
            completed = self.n_step_accumulator.push(
                index,
                observations[index],
                action,
                float(reward),
                next_observation,
                terminated,
                info["action_mask"],
                episode_over=terminated or truncated,
            )
            for transition in completed:
                _append(transitions, transition)
            self._end_step(
                index, float(reward), terminated or truncated, next_observation, info, finished
            )
        return transitions, finished

    def _step_one_step(
        self, count: int, observations: np.ndarray, actions: np.ndarray
    ) -> tuple[StackedTransitions, list[EpisodeRecord]]:
        # One transition per environment and step, so the stacked observations that chose
        # the actions are the transitions' observations, and no n-step window is needed.
        rewards: list[float] = []
        terminations: list[bool] = []
        next_observations: list[np.ndarray] = []
        next_masks: list[np.ndarray] = []
        finished: list[EpisodeRecord] = []
        for index, action in enumerate(actions.tolist()):
            next_observation, reward, terminated, truncated, info = self.envs[index].step(action)
            reward = float(reward)
            rewards.append(reward)
            terminations.append(terminated)
            next_observations.append(next_observation)
            next_masks.append(info["action_mask"])
            self._end_step(index, reward, terminated or truncated, next_observation, info, finished)
        arrays = {
            "observations": observations,
            "actions": np.asarray(actions, dtype=np.int64),
            "rewards": np.asarray(rewards, dtype=np.float32),
            "next_observations": np.stack(next_observations),
            "terminations": np.asarray(terminations, dtype=np.bool_),
            "next_action_masks": np.stack(next_masks),
            "num_steps": np.ones(count, dtype=np.uint8),
        }
        return StackedTransitions(arrays), finished

    def _end_step(
        self,
        index: int,
        reward: float,
        episode_over: bool,
        next_observation: np.ndarray,
        info: dict,
        finished: list[EpisodeRecord],
    ) -> None:
        """Count the step into the episode's return and length; reset the env at its end."""
        self.returns[index] += reward
        self.lengths[index] += 1
        if episode_over:
            finished.append(EpisodeRecord(self.returns[index], self.lengths[index], info))
            self.returns[index] = 0.0
            self.lengths[index] = 0
            next_observation, info = self.envs[index].reset()
        self.observations[index] = next_observation
        self.masks[index] = info["action_mask"]

    def close(self) -> None:
        """Close every environment."""
        for env in self.envs:
            env.close()


class SelfPlayCollector:
    """Plays tic-tac-toe games of the agent against itself, one move per board per step.

    Args:
        envs: Two-player tic-tac-toe environments (``opponent=None``).
        seed: Board ``i`` is first reset with ``seed + i``.
        augment_symmetries: Also store the 7 rotated and reflected copies of each
            transition, which are equally valid because the rules are symmetric.
        n_step: Own moves summed into each transition (1: one-step transitions).
        gamma: Discount factor inside the n-step sums.
    """

    def __init__(
        self,
        envs: list[Any],
        seed: int,
        *,
        augment_symmetries: bool,
        n_step: int = 1,
        gamma: float = 0.99,
    ) -> None:
        self.envs = envs
        self.augment_symmetries = augment_symmetries
        # Streams are keyed by (board, player), and a game's end closes both of its streams.
        self.n_step_accumulator = NStepAccumulator(n_step, gamma)
        # One-step transitions skip the n-step windows, as in EnvCollector.
        self.one_step = n_step == 1
        board_size = envs[0].unwrapped.game.board_size
        self.permutations = symmetry_permutations(board_size)  # (8, cells)
        self.action_maps = symmetry_action_maps(board_size)  # (8, cells)
        self.num_cells = board_size * board_size
        # The same cell permutation applied to both planes (own marks, opponent marks).
        self.plane_permutations = np.concatenate(
            [self.permutations, self.permutations + self.num_cells], axis=1
        )  # (8, 2 * cells)
        self.observations: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.players: list[int] = []
        # pending[i][p]: (observation, action) of player p's last move on board i, waiting for
        # the position p faces next.
        self.pending: list[list[tuple[np.ndarray, int] | None]] = []
        self.lengths = [0] * len(envs)
        for index, env in enumerate(envs):
            observation, info = env.reset(seed=seed + index)
            self._start_game(index, observation, info, first=True)

    def _start_game(self, index: int, observation: np.ndarray, info: dict, first: bool) -> None:
        if first:
            self.observations.append(observation)
            self.masks.append(info["action_mask"])
            self.players.append(int(info["current_player"]))
            self.pending.append([None, None])
            return
        self.observations[index] = observation
        self.masks[index] = info["action_mask"]
        self.players[index] = int(info["current_player"])
        self.pending[index] = [None, None]
        self.lengths[index] = 0

    def step(
        self, agent: Any, epsilon: float, num_steps: int
    ) -> tuple[TransitionBlocks, list[EpisodeRecord]]:
        """Play one move on each of the first ``num_steps`` boards."""
        count, observations, masks, actions = act_on_first(self, agent, epsilon, num_steps)
        transitions = TransitionBlocks()
        finished: list[EpisodeRecord] = []
        no_moves = np.zeros(self.num_cells, dtype=np.bool_)
        for index in range(count):
            env = self.envs[index]
            player = self.players[index]
            observation = observations[index]
            action = int(actions[index])

            # The position this player faces now completes its previous transition.
            pending = self.pending[index][player]
            if pending is not None:
                self._push(
                    transitions, (index, player), *pending, 0.0, observation, False, masks[index]
                )

            next_observation, reward, terminated, truncated, info = env.step(action)
            self.lengths[index] += 1
            if terminated or truncated:
                # Game over: the mover's reward and its negation close both sides.
                self._push(
                    transitions,
                    (index, player),
                    observation,
                    action,
                    float(reward),
                    next_observation,
                    True,
                    no_moves,
                )
                opponent_pending = self.pending[index][1 - player]
                if opponent_pending is not None:
                    self._push(
                        transitions,
                        (index, 1 - player),
                        *opponent_pending,
                        -float(reward),
                        next_observation,
                        True,
                        no_moves,
                    )
                finished.append(EpisodeRecord(float(reward), self.lengths[index], info))
                next_observation, info = env.reset()
                self._start_game(index, next_observation, info, first=False)
                continue

            self.pending[index][player] = (observation, action)
            self.observations[index] = next_observation
            self.masks[index] = info["action_mask"]
            self.players[index] = int(info["current_player"])
        return transitions, finished

    def _push(
        self,
        transitions: TransitionBlocks,
        stream: tuple[int, int],
        observation: np.ndarray,
        action: int,
        reward: float,
        next_observation: np.ndarray,
        terminated: bool,
        next_mask: np.ndarray,
    ) -> None:
        if self.one_step:
            transition = NStepTransition(
                observation, action, reward, next_observation, terminated, next_mask, 1
            )
            self._store(transitions, transition)
            return
        # Every self-play game ends by the rules, so a terminal step closes the stream.
        completed = self.n_step_accumulator.push(
            stream,
            observation,
            action,
            reward,
            next_observation,
            terminated,
            next_mask,
            episode_over=terminated,
        )
        for transition in completed:
            self._store(transitions, transition)

    def _store(self, transitions: TransitionBlocks, transition: NStepTransition) -> None:
        if not self.augment_symmetries:
            transitions.add(
                transition.observation[np.newaxis],
                np.array([transition.action]),
                transition.reward,
                transition.next_observation[np.newaxis],
                transition.terminated,
                transition.next_action_mask[np.newaxis],
                transition.num_steps,
            )
            return
        # All 8 rotated and reflected copies at once, in the order of the symmetry tables.
        transitions.add(
            transition.observation[self.plane_permutations],  # (8, 2 * cells)
            self.action_maps[:, transition.action],  # (8,)
            transition.reward,
            transition.next_observation[self.plane_permutations],
            transition.terminated,
            transition.next_action_mask[self.permutations],  # (8, cells)
            transition.num_steps,
        )

    def close(self) -> None:
        """Close every environment."""
        for env in self.envs:
            env.close()


def _append(transitions: Transitions, transition: NStepTransition) -> None:
    transitions.append(
        transition.observation,
        transition.action,
        transition.reward,
        transition.next_observation,
        transition.terminated,
        transition.next_action_mask,
        transition.num_steps,
    )
