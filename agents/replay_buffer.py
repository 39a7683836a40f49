"""Experience replay preallocated in numpy with compact dtypes."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass
class ReplayBatch:
    """A sampled batch of transitions, as numpy arrays with the batch on axis 0.

    Attributes:
        discounts: Per-transition discount of the bootstrapped value, ``gamma ** k`` for a
            transition spanning ``k`` steps; None means ``gamma`` for every transition.
        weights: Importance-sampling weights of prioritized replay, multiplying each
            transition's loss; None means equal weights.
        indices: Buffer slots of the transitions, to update their priorities.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray
    next_action_masks: np.ndarray | None
    discounts: np.ndarray | None = None
    weights: np.ndarray | None = None
    indices: np.ndarray | None = None


def available_memory_bytes() -> int | None:
    """Return the memory available to new allocations, or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class ReplayBuffer:
    """Fixed-size ring buffer of transitions.

    Observations keep the dtype the environment declares (``int8`` or ``uint8`` for
    boards and grids), actions are stored as ``int16`` and terminations as ``bool``. Every
    transition keeps its own next observation, so the last step of an episode stores the
    real final observation, never the reset observation of the next episode. Only
    ``terminated`` is stored: a truncated step is stored as not terminated, so its target
    still bootstraps from the next observation. Each transition also stores the number of
    steps it spans (1, or up to n with n-step returns), from which sampling derives its
    discount ``gamma ** steps``.

    Args:
        capacity: Maximum number of transitions; the oldest are overwritten first.
        observation_shape: Shape of one observation.
        observation_dtype: Dtype to store observations in.
        num_actions: Size of the discrete action space.
        store_action_masks: Keep the legal-action mask of each next observation, so the
            bootstrapped maximum only considers legal actions.
        seed: Seed of the buffer's own sampling generator.
        gamma: Discount factor for the per-transition discounts of sampled batches. None
            leaves ``ReplayBatch.discounts`` empty and accepts only one-step transitions.

    Raises:
        ValueError: If ``capacity`` is not positive.
        MemoryError: If the arrays do not fit in memory; the message gives the size needed.
    """

    def __init__(
        self,
        capacity: int,
        observation_shape: tuple[int, ...],
        observation_dtype: np.dtype | type,
        num_actions: int,
        *,
        store_action_masks: bool,
        seed: int | None = None,
        gamma: float | None = None,
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"buffer_size must be positive, got {capacity}")
        if num_actions > np.iinfo(np.int16).max:
            raise ValueError(f"at most 32767 actions fit in int16, got {num_actions}")
        self.capacity = int(capacity)
        self.observation_shape = tuple(observation_shape)
        self.observation_dtype = np.dtype(observation_dtype)
        self.num_actions = num_actions
        self.store_action_masks = store_action_masks
        self.gamma = gamma
        needed = self.nbytes_for(
            capacity, observation_shape, observation_dtype, num_actions, store_action_masks
        )
        # numpy allocates lazily, so a buffer larger than the machine would only fail once
        # it fills, hours into a run. Compare with the available memory up front instead.
        available = available_memory_bytes()
        if available is not None and needed > available:
            raise MemoryError(
                f"replay buffer of {capacity:,} transitions needs {needed / 2**30:.2f} GiB, but "
                f"only {available / 2**30:.2f} GiB of memory is available; lower buffer_size"
            )
        try:
            self.observations = np.zeros((capacity, *observation_shape), self.observation_dtype)
            self.next_observations = np.zeros_like(self.observations)
            self.actions = np.zeros(capacity, np.int16)
            self.rewards = np.zeros(capacity, np.float32)
            self.terminations = np.zeros(capacity, np.bool_)
            self.num_steps = np.ones(capacity, np.uint8)
            self.next_action_masks = (
                np.zeros((capacity, num_actions), np.bool_) if store_action_masks else None
            )
        except MemoryError as error:
            raise MemoryError(
                f"replay buffer of {capacity:,} transitions needs {needed / 2**30:.2f} GiB, "
                "which does not fit in memory; lower buffer_size"
            ) from error
        self.position = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def nbytes_for(
        capacity: int,
        observation_shape: tuple[int, ...],
        observation_dtype: np.dtype | type,
        num_actions: int,
        store_action_masks: bool,
    ) -> int:
        """Return the bytes the buffer's arrays take for ``capacity`` transitions."""
        observation_bytes = int(np.prod(observation_shape)) * np.dtype(observation_dtype).itemsize
        per_transition = 2 * observation_bytes + 2 + 4 + 1 + 1
        if store_action_masks:
            per_transition += num_actions
        return capacity * per_transition

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_observations: np.ndarray,
        terminations: np.ndarray,
        next_action_masks: np.ndarray | None = None,
        num_steps: np.ndarray | None = None,
    ) -> np.ndarray:
        """Append a batch of transitions (batch on axis 0), overwriting the oldest.

        Args:
            num_steps: Steps each transition spans; None means one step each.

        Returns:
            The buffer slots written, in order.
        """
        count = len(actions)
        if count > self.capacity:
            raise ValueError(f"cannot add {count} transitions to a buffer of {self.capacity}")
        if num_steps is not None and self.gamma is None and np.any(num_steps != 1):
            raise ValueError("multi-step transitions need a buffer created with gamma")
        indices = (self.position + np.arange(count)) % self.capacity
        self.observations[indices] = observations
        self.next_observations[indices] = next_observations
        self.actions[indices] = actions
        self.rewards[indices] = rewards
        self.terminations[indices] = terminations
        if self.next_action_masks is not None:
            if next_action_masks is None:
                raise ValueError("this buffer stores action masks; pass next_action_masks")
            self.next_action_masks[indices] = next_action_masks
        self.num_steps[indices] = 1 if num_steps is None else num_steps
        self.position = int((self.position + count) % self.capacity)
        self.size = min(self.size + count, self.capacity)
        return indices

    def sample(self, batch_size: int) -> ReplayBatch:
        """Draw ``batch_size`` transitions uniformly, with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        indices = self.rng.integers(0, self.size, size=batch_size)
        return self._gather(indices)

    def _gather(self, indices: np.ndarray) -> ReplayBatch:
        masks = None if self.next_action_masks is None else self.next_action_masks[indices]
        discounts = None
        if self.gamma is not None:
            discounts = np.power(self.gamma, self.num_steps[indices]).astype(np.float32)
        return ReplayBatch(
            observations=self.observations[indices],
            actions=self.actions[indices],
            rewards=self.rewards[indices],
            next_observations=self.next_observations[indices],
            terminations=self.terminations[indices],
            next_action_masks=masks,
            discounts=discounts,
            indices=indices,
        )

    def state_dict(self) -> dict:
        """Return the filled part of the buffer and its sampling state, as plain arrays."""
        arrays = {
            "observations": self.observations[: self.size],
            "next_observations": self.next_observations[: self.size],
            "actions": self.actions[: self.size],
            "rewards": self.rewards[: self.size],
            "terminations": self.terminations[: self.size],
            "num_steps": self.num_steps[: self.size],
        }
        if self.next_action_masks is not None:
            arrays["next_action_masks"] = self.next_action_masks[: self.size]
        return {
            "arrays": arrays,
            "position": self.position,
            "size": self.size,
            "rng_state": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            ValueError: If the saved arrays do not match this buffer's shapes.
        """
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(
                f"saved replay buffer contains {size} transitions, more than buffer_size "
                f"{self.capacity}"
            )
        # Buffers saved before step counts were stored hold one-step transitions only.
        self.num_steps[:size] = 1
        for name, saved in state["arrays"].items():
            target = getattr(self, name)
            if target is None or saved.shape[1:] != target.shape[1:]:
                raise ValueError(f"saved replay buffer field {name!r} does not match this buffer")
            target[:size] = saved
        self.size = size
        self.position = int(state["position"]) % self.capacity
        self.rng.bit_generator.state = state["rng_state"]
