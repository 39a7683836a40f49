"""Greedy actions of a small batch of observations through a compiled forward pass.

Collectors ask for the greedy actions of a few observations (one per environment) at every
step, through :meth:`agents.dqn.DQNAgent.act`. In eager mode the module calls, dtype
conversion, masking and argmax of that forward pass cost several times its arithmetic.
:class:`CompiledGreedyActions` traces the forward pass, the legal-action mask and the argmax
into one graph and compiles it as :mod:`agents.compiled_update` does for the update.

Each input shape gets its own compiled function, and compiling one takes seconds, so a
shape is compiled only once it has been requested ``compile_after`` times. A collector
repeats one shape, its number of environments. The shorter steps that stop exactly on an
evaluation mark come once per evaluation, so they keep the eager forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from agents.compiled_update import compile_traced

# Requests of one input shape before it is compiled: a collector of 8 environments reaches
# it after 400 steps.
DEFAULT_COMPILE_AFTER = 50


def _as_tensor(array: np.ndarray, dtype: np.dtype | type | None = None) -> torch.Tensor:
    # torch.from_numpy shares memory, so read-only arrays are copied first.
    array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


class CompiledGreedyActions:
    """Greedy actions of a Q-network, compiled per input shape once the shape recurs.

    Args:
        network: The Q-network, in evaluation mode and without dropout. Its parameters may
            change in place (optimizer steps, ``load_state_dict``) between calls.
        compile_after: Requests of one input shape before that shape is compiled.
    """

    def __init__(self, network: nn.Module, *, compile_after: int = DEFAULT_COMPILE_AFTER) -> None:
        self.network = network
        self.compile_after = compile_after
        named = dict(network.named_parameters())
        self.names = list(named)
        self.parameters = list(named.values())
        self.request_counts: dict[tuple, int] = {}
        self._functions: dict[tuple, Callable[..., list[torch.Tensor]]] = {}

    def __call__(
        self, observations: np.ndarray, action_masks: np.ndarray | None
    ) -> np.ndarray | None:
        """Return the best legal action of each observation, or None to use the eager forward.

        None is returned until the input shape has recurred ``compile_after`` times.

        Raises:
            Exception: Whatever tracing or compiling raises, on the request that compiles a
                shape; nothing has changed then.
        """
        key = (
            observations.shape,
            observations.dtype,
            None if action_masks is None else action_masks.shape,
        )
        function = self._functions.get(key)
        inputs = [_as_tensor(observations)]
        if action_masks is not None:
            inputs.append(_as_tensor(action_masks, np.bool_))
        if function is None:
            count = self.request_counts.get(key, 0) + 1
            self.request_counts[key] = count
            if count < self.compile_after:
                return None
            function = compile_traced(
                self._flat_forward(action_masks is not None), self.parameters + inputs
            )
            self._functions[key] = function
        with torch.no_grad():
            (actions,) = function(*self.parameters, *inputs)
        return actions.numpy()

    def _flat_forward(self, masked: bool) -> Callable[..., list[torch.Tensor]]:
        """Return the forward pass and argmax as a function of a flat list of tensors."""
        # Imported here because agents.dqn imports this module.
        from agents.dqn import masked_argmax

        network = self.network
        names = self.names
        count = len(names)

        def greedy(*arguments: torch.Tensor) -> list[torch.Tensor]:
            parameters = dict(zip(names, arguments[:count], strict=True))
            observations = arguments[count].to(torch.float32)
            q_values = functional_call(network, parameters, (observations,))
            return [masked_argmax(q_values, arguments[count + 1] if masked else None)]

        return greedy
