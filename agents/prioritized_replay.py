"""Prioritized experience replay, proportional variant (Schaul et al., 2016).

Transition ``i`` is sampled with probability ``P(i) = p_i / sum_k p_k``, where its
priority is ``p_i = (|td_error_i| + eps) ** alpha`` after it was last trained on. New
transitions get the largest priority given so far, so each is likely to be replayed at
least once. Sampling by priority biases the updates, and importance-sampling weights
``w_i = (N * P(i)) ** -beta`` correct that bias. The weights are divided by the largest
weight in the batch, so they only scale updates down. The trainer raises ``beta`` towards
1 (full correction) over the run and passes it to each call of ``sample``.
"""

from __future__ import annotations

import logging

import numpy as np

from agents.replay_buffer import ReplayBatch, ReplayBuffer

logger = logging.getLogger(__name__)


class SumTree:
    """A binary tree of non-negative priorities in which each node is the sum of its children.

    The tree is one array: node 1 is the root, node ``j`` has children ``2j`` and
    ``2j + 1``, and leaf ``i`` (the priority of buffer slot ``i``) is node
    ``num_leaves + i``. Updates and searches touch one node per level, and both work on
    whole batches with one numpy operation per level. Parents are recomputed from their
    children, never adjusted by differences, so rounding errors do not accumulate.

    Args:
        capacity: Number of leaves in use; the leaf count is rounded up to a power of two.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.num_leaves = 1 << (capacity - 1).bit_length()
        self.depth = self.num_leaves.bit_length() - 1
        self.nodes = np.zeros(2 * self.num_leaves, np.float64)

    @property
    def total(self) -> float:
        """Sum of all priorities."""
        return float(self.nodes[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Return the priorities of the leaves ``indices``."""
        return self.nodes[self.num_leaves + np.asarray(indices)]

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set the priorities of the leaves ``indices``. For a repeated index, the last wins.

        Raises:
            ValueError: If an index is out of range or a priority is negative or not finite.
        """
        indices = np.asarray(indices, np.int64).ravel()
        priorities = np.broadcast_to(np.asarray(priorities, np.float64), indices.shape)
        if len(indices) == 0:
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise ValueError(
                f"leaf indices must be in [0, {self.capacity}), got {indices.min()} to "
                f"{indices.max()}"
            )
        if not np.all(np.isfinite(priorities)) or priorities.min() < 0:
            raise ValueError(
                f"priorities must be finite and non-negative, got minimum {priorities.min()}"
            )
        # Keep the last occurrence of each index. np.unique on the reversed array returns
        # the first position there, which is the last one here.
        unique, position_in_reversed = np.unique(indices[::-1], return_index=True)
        nodes = unique + self.num_leaves
        self.nodes[nodes] = priorities[::-1][position_in_reversed]

        # Recompute the ancestors, one level at a time up to the root. Repeated parents
        # are written twice with the same sum, which is harmless.
        for _ in range(self.depth):
            nodes = nodes // 2
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def set_all(self, priorities: np.ndarray) -> None:
        """Replace every priority: ``priorities[i]`` for leaf ``i``, 0 beyond them."""
        priorities = np.asarray(priorities, np.float64)
        if len(priorities) > self.capacity:
            raise ValueError(f"expected at most {self.capacity} priorities, got {len(priorities)}")
        if not np.all(np.isfinite(priorities)) or (len(priorities) and priorities.min() < 0):
            raise ValueError("priorities must be finite and non-negative")
        self.nodes[:] = 0.0
        self.nodes[self.num_leaves : self.num_leaves + len(priorities)] = priorities
        level = self.num_leaves // 2
        while level >= 1:
            children = self.nodes[2 * level : 4 * level]
            self.nodes[level : 2 * level] = children[0::2] + children[1::2]
            level //= 2

    def find(self, values: np.ndarray) -> np.ndarray:
        """Return, per value in ``[0, total)``, the leaf whose priority interval contains it.

        Leaf ``i`` covers ``[sum of leaves before i, that sum + p_i)``, so a value drawn
        uniformly from ``[0, total)`` lands on leaf ``i`` with probability ``p_i / total``.
        Leaves of priority 0 cover nothing and are not returned. The exception is a value
        that rounding pushes past the last positive leaf, so callers clamp the result to
        their filled range.
        """
        values = np.asarray(values, np.float64).copy()
        nodes = np.ones(len(values), np.int64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sums = self.nodes[left]
            go_right = values >= left_sums
            values = np.where(go_right, values - left_sums, values)
            nodes = left + go_right
        return nodes - self.num_leaves


class PrioritizedReplayBuffer(ReplayBuffer):
    """A :class:`ReplayBuffer` that samples transitions in proportion to their priority.

    The arguments before ``alpha`` are those of :class:`ReplayBuffer`. The tree takes 16
    bytes per slot, rounded up to a power of two.

    Args:
        alpha: Priority exponent: 0 samples uniformly, 1 fully in proportion to the TD error.
        eps: Added to each absolute TD error so that no transition's priority is 0.
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
        alpha: float = 0.6,
        eps: float = 1e-6,
    ) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be zero or positive, got {alpha}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}")
        super().__init__(
            capacity,
            observation_shape,
            observation_dtype,
            num_actions,
            store_action_masks=store_action_masks,
            seed=seed,
            gamma=gamma,
        )
        self.alpha = alpha
        self.eps = eps
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0

    def add(self, *args, **kwargs) -> np.ndarray:
        """Append transitions like :meth:`ReplayBuffer.add`, each at the largest priority."""
        indices = super().add(*args, **kwargs)
        self.tree.update(indices, self.max_priority)
        return indices

    def sample(self, batch_size: int, beta: float = 1.0) -> ReplayBatch:
        """Draw ``batch_size`` transitions by priority, with importance-sampling weights.

        The range ``[0, total)`` is cut into ``batch_size`` equal segments and one value
        is drawn uniformly from each, which keeps each transition's expected count at
        ``batch_size * P(i)`` with less spread than independent draws. The batch comes
        out ordered by slot.

        Args:
            beta: Exponent of the importance-sampling correction, from 0 (none) to 1 (full).
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        total = self.tree.total
        segment = total / batch_size
        values = (np.arange(batch_size) + self.rng.random(batch_size)) * segment
        indices = np.minimum(self.tree.find(values), self.size - 1)

        # Importance-sampling weights, normalised by the largest one in the batch.
        probabilities = self.tree.get(indices) / total
        weights = (self.size * probabilities) ** -beta
        weights /= weights.max()

        batch = self._gather(indices)
        batch.weights = weights.astype(np.float32)
        return batch

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priorities of ``indices`` from their absolute TD errors."""
        priorities = (np.abs(np.asarray(td_errors, np.float64)) + self.eps) ** self.alpha
        self.tree.update(indices, priorities)
        self.max_priority = max(self.max_priority, float(priorities.max(initial=0.0)))

    def state_dict(self) -> dict:
        """Return :meth:`ReplayBuffer.state_dict` plus the priorities and their maximum."""
        state = super().state_dict()
        state["priorities"] = self.tree.get(np.arange(self.size))
        state["max_priority"] = self.max_priority
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned.

        A state saved by a uniform :class:`ReplayBuffer` has no priorities, so its
        transitions all start at the largest priority, as new ones do.

        Raises:
            ValueError: If the saved arrays do not match this buffer's shapes.
        """
        super().load_state_dict(state)
        if "priorities" not in state:
            logger.warning(
                "saved replay buffer has no priorities; all %d transitions start at priority %g",
                self.size,
                self.max_priority,
            )
            self.tree.set_all(np.full(self.size, self.max_priority))
            return
        priorities = np.asarray(state["priorities"], np.float64)
        if priorities.shape != (self.size,):
            raise ValueError(
                f"saved replay buffer has {len(priorities)} priorities for {self.size} transitions"
            )
        self.max_priority = float(state["max_priority"])
        self.tree.set_all(priorities)
