"""Greedy policies from trained models, and tic-tac-toe players built on them.

A policy maps a batch of observations and legal-action masks to actions. Watching,
playing and evaluating always use the greedy action: no exploration, whatever epsilon the
model was trained with, and dropout switched off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from agents.checkpoint import CheckpointError, load_model_file
from agents.dqn import masked_argmax
from agents.networks import NetworkSpec, build_q_network


class Policy(Protocol):
    """Anything that picks actions for a batch of observations."""

    name: str

    def select_actions(
        self, observations: np.ndarray, action_masks: np.ndarray | None
    ) -> np.ndarray:
        """Return one action per observation."""
        ...


class QNetworkPolicy:
    """Greedy policy of a Q-network: the legal action with the largest Q-value.

    Args:
        q_network: The network; it is switched to evaluation mode.
        name: Label for reports.
        metadata: Model file contents other than weights (env, shapes, training steps).
    """

    def __init__(self, q_network: torch.nn.Module, name: str, metadata: dict[str, Any]) -> None:
        self.q_network = q_network.eval()
        self.name = name
        self.metadata = metadata

    @torch.no_grad()
    def q_values(self, observations: np.ndarray) -> np.ndarray:
        """Return Q-values (batch, actions) of a batch of observations."""
        self.q_network.eval()
        inputs = torch.from_numpy(np.array(observations, dtype=np.float32))
        device = next(self.q_network.parameters()).device
        return self.q_network(inputs.to(device)).cpu().numpy()

    def select_actions(
        self, observations: np.ndarray, action_masks: np.ndarray | None
    ) -> np.ndarray:
        q_values = torch.from_numpy(self.q_values(observations))
        masks = None if action_masks is None else torch.from_numpy(np.asarray(action_masks, bool))
        return masked_argmax(q_values, masks).numpy()


class AgentPolicy:
    """Greedy policy view of a :class:`agents.dqn.DQNAgent` during training."""

    def __init__(self, agent: Any, name: str = "dqn") -> None:
        self.agent = agent
        self.name = name

    def q_values(self, observations: np.ndarray) -> np.ndarray:
        """Return Q-values (batch, actions) of a batch of observations."""
        return self.agent.q_values(observations)

    def select_actions(
        self, observations: np.ndarray, action_masks: np.ndarray | None
    ) -> np.ndarray:
        return self.agent.greedy_actions(observations, action_masks)


def load_policy(
    path: str | os.PathLike,
    *,
    env_id: str | None = None,
    observation_shape: tuple[int, ...] | None = None,
    num_actions: int | None = None,
    device: str = "cpu",
) -> QNetworkPolicy:
    """Load a dqn-arena model file as a greedy policy, checking that it fits the environment.

    Raises:
        CheckpointError: If the file is unreadable, unsafe, or made for another environment,
            observation shape or action count; the message names the file and both values.
    """
    path = Path(path)
    data = load_model_file(path)
    try:
        spec = NetworkSpec.from_dict(data["network"])
        saved_env = str(data["env_id"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{path} has invalid model metadata ({error!r})") from None
    if env_id is not None and saved_env != env_id:
        raise CheckpointError(f"{path} was trained on {saved_env}, expected a model for {env_id}")
    if observation_shape is not None and tuple(spec.input_shape) != tuple(observation_shape):
        raise CheckpointError(
            f"{path} expects observations of shape {tuple(spec.input_shape)}, but the "
            f"environment gives {tuple(observation_shape)} (env settings "
            f"{data.get('env_kwargs')})"
        )
    if num_actions is not None and spec.num_actions != num_actions:
        raise CheckpointError(
            f"{path} has {spec.num_actions} actions, but the environment has {num_actions} "
            f"(env settings {data.get('env_kwargs')})"
        )
    try:
        q_network = build_q_network(spec)
    except (ValueError, TypeError, RuntimeError, MemoryError) as error:
        raise CheckpointError(f"{path} describes a network that cannot be built: {error}") from None
    try:
        q_network.load_state_dict(data["q_network"])
    except (KeyError, RuntimeError, TypeError) as error:
        first_line = str(error).splitlines()[0]
        raise CheckpointError(
            f"{path} contains weights that do not fit its network: {first_line}"
        ) from None
    metadata = {key: value for key, value in data.items() if not _is_weights(value)}
    return QNetworkPolicy(q_network.to(device), name=path.name, metadata=metadata)


def _is_weights(value: Any) -> bool:
    return isinstance(value, dict) and any(
        isinstance(item, torch.Tensor) for item in value.values()
    )


class PolicyPlayer:
    """Tic-tac-toe player that plays a policy's greedy move, for opponents and evaluation.

    Args:
        policy: Policy over tic-tac-toe observations.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = policy.name

    def select_action(self, game: Any, rng: np.random.Generator | None = None) -> int:
        """Return the policy's move in ``game``; ``rng`` is unused because the move is greedy."""
        observation = game.observation()[None]
        mask = game.action_mask()[None]
        return int(self.policy.select_actions(observation, mask)[0])
