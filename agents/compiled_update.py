"""A whole DQN update, optimizer step included, traced once and compiled by Inductor.

For the small networks of these games an update costs more in Python and dispatch than in
arithmetic. ``torch.compile`` removes most of the per-operation cost, but each call of a
compiled function still evaluates Dynamo's guards (about a hundred here, one per input
tensor property), and the optimizer step stays a separate Python call. This module traces
the update with :func:`torch.fx.experimental.proxy_tensor.make_fx` instead. The targets,
forward and backward passes, gradient clipping and, for Adam, the parameter step itself
become one graph of ATen operations. :func:`torch._inductor.compile` turns that graph into
one compiled function, called with a flat list of tensors and no guards.

That function is only valid for the input shapes and dtypes it was traced with, so
:class:`CompiledUpdate` keys its compiled functions on them and checks the key on every
call. Settings (gamma, loss, Double DQN, clipping, the optimizer's betas, eps and weight
decay) are read once at trace time: they are fixed for an agent's lifetime. The learning
rate enters through an input tensor, so schedules work without a new trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx.experimental.proxy_tensor import make_fx

if TYPE_CHECKING:
    from agents.dqn import DQNAgent

# Adam options that the traced step implements; any other value uses ``optimizer.step()``.
_TRACED_ADAM_OPTIONS = {
    "amsgrad": False,
    "maximize": False,
    "differentiable": False,
    "capturable": False,
    "decoupled_weight_decay": False,
}

BatchInputs = tuple[torch.Tensor | None, ...]


def uses_traced_adam(optimizer: torch.optim.Optimizer) -> bool:
    """Return whether the optimizer is a plain Adam whose step the traced graph can take."""
    if type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    return all(
        group.get(name, default) == default for name, default in _TRACED_ADAM_OPTIONS.items()
    )


def compile_traced(
    function: Callable[..., list[torch.Tensor]], arguments: list[torch.Tensor]
) -> Callable[..., list[torch.Tensor]]:
    """Trace ``function`` on copies of ``arguments`` and compile the graph with Inductor.

    The compiled function takes tensors of exactly the shapes, strides and dtypes of
    ``arguments`` and does not check them: callers key their compiled functions on them.

    Raises:
        Exception: Whatever tracing or compiling raises (a missing C++ compiler, an
            operation that cannot be traced).
    """
    # Tracing runs the function, so it runs on copies. Traced with fake tensors instead, the
    # update's graph compiled to a function about 1.5 times slower (torch 2.13, CPU).
    copies = [argument.clone() for argument in arguments]
    with torch.no_grad():
        graph = make_fx(function)(*copies)
        with torch._inductor.config.patch(size_asserts=False):
            return torch._inductor.compile(graph, arguments)


class CompiledUpdate:
    """DQN updates of one agent through a traced and compiled graph.

    With Adam (without amsgrad, maximize or decoupled weight decay) the graph also applies
    the optimizer step, in place on the parameters and on the optimizer's own state
    tensors, so ``optimizer.state_dict()`` stays valid for checkpoints. With any other
    optimizer the graph returns the gradients and ``optimizer.step()`` applies them.

    Args:
        agent: The agent whose networks, settings and optimizer the update uses.
    """

    def __init__(self, agent: DQNAgent) -> None:
        self.agent = agent
        self.names = list(agent._parameters)
        self.parameters = [agent._parameters[name] for name in self.names]
        self.target_parameters = [agent._target_parameters[name] for name in self.names]
        self.traced_adam = uses_traced_adam(agent.optimizer)
        self._functions: dict[tuple, Callable[..., list[torch.Tensor]]] = {}

    def __call__(self, inputs: BatchInputs) -> tuple[float, float, np.ndarray]:
        """Take one update on batch tensors ordered as ``DQNAgent._functional_update`` takes them.

        Returns:
            The loss, the mean Q-value of the taken actions, and the absolute TD errors.

        Raises:
            Exception: Whatever tracing or compiling raises, on the first call for a new
                input signature; nothing has changed then.
        """
        key = tuple(None if tensor is None else (tensor.shape, tensor.dtype) for tensor in inputs)
        batch = [tensor for tensor in inputs if tensor is not None]
        arguments = self.parameters + self.target_parameters + self._optimizer_inputs() + batch
        function = self._functions.get(key)
        if function is None:
            function = self._compile(key, arguments)
            self._functions[key] = function
        with torch.no_grad():
            outputs = function(*arguments)
        if not self.traced_adam:
            for parameter, gradient in zip(self.parameters, outputs[2:], strict=True):
                parameter.grad = gradient
            self.agent.optimizer.step()
        loss, q_mean = outputs[0].tolist()
        # NOTE: only CPU runs are tested; on other devices a failure falls back to eager.
        return loss, q_mean, outputs[1].cpu().numpy()

    def _optimizer_inputs(self) -> list[torch.Tensor]:
        if not self.traced_adam:
            return []
        group = self.agent.optimizer.param_groups[0]
        learning_rate = float(group["lr"])
        beta1, beta2 = group["betas"]
        # The state is looked up on every call because optimizer.load_state_dict replaces it.
        states = [self._adam_state(parameter) for parameter in self.parameters]
        # Each parameter's step size and bias correction, in Python floats as Adam's own
        # step computes them. Computed inside the graph, they were recomputed for every
        # vector of parameters, which took longer than the rest of the step.
        scalars = []
        for state in states:
            step = float(state["step"]) + 1
            scalars.append(learning_rate / (1 - beta1**step))
            scalars.append(math.sqrt(1 - beta2**step))
        return (
            [state["exp_avg"] for state in states]
            + [state["exp_avg_sq"] for state in states]
            + [state["step"] for state in states]
            + [torch.tensor(scalars, dtype=torch.float64, device=self.parameters[0].device)]
        )

    def _adam_state(self, parameter: torch.Tensor) -> dict[str, torch.Tensor]:
        state = self.agent.optimizer.state[parameter]
        if "step" not in state:
            # The tensors Adam itself creates on its first step (a float32 step for fused Adam).
            state["step"] = torch.zeros((), dtype=torch.float32, device=parameter.device)
            state["exp_avg"] = torch.zeros_like(parameter, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(parameter, memory_format=torch.preserve_format)
        return state

    def _compile(
        self, key: tuple, arguments: list[torch.Tensor]
    ) -> Callable[..., list[torch.Tensor]]:
        present = [signature is not None for signature in key]
        return compile_traced(self._flat_update(present), arguments)

    def _flat_update(self, present: list[bool]) -> Callable[..., list[torch.Tensor]]:
        """Return the update as a function of a flat list of tensors, for tracing."""
        agent = self.agent
        names = self.names
        count = len(names)
        traced_adam = self.traced_adam
        group = agent.optimizer.param_groups[0]

        def update(*arguments: torch.Tensor) -> list[torch.Tensor]:
            parameters = list(arguments[:count])
            target_parameters = arguments[count : 2 * count]
            rest = list(arguments[2 * count :])
            if traced_adam:
                optimizer_state, rest = rest[: 3 * count + 1], rest[3 * count + 1 :]
            batch: list[torch.Tensor | None] = [rest.pop(0) if given else None for given in present]
            # The graph converts stored dtypes (int8 boards, int16 actions) itself.
            batch[0] = batch[0].to(torch.float32)
            batch[1] = batch[1].to(torch.float32)
            batch[2] = batch[2].long()
            gradients, loss, q_mean, td_errors = agent._functional_update(
                dict(zip(names, parameters, strict=True)),
                dict(zip(names, target_parameters, strict=True)),
                *batch,
            )
            gradient_list = [gradients[name] for name in names]
            stats = torch.stack([loss, q_mean])
            if not traced_adam:
                return [stats, td_errors, *gradient_list]
            _adam_step(parameters, gradient_list, optimizer_state, group)
            return [stats, td_errors]

        return update


def _adam_step(
    parameters: list[torch.Tensor],
    gradients: list[torch.Tensor],
    optimizer_state: list[torch.Tensor],
    group: dict,
) -> None:
    """Apply Adam's step in place, as ``torch.optim.Adam`` (not AdamW) computes it.

    ``optimizer_state`` contains the first and second moments and step counts of every
    parameter, then one tensor with each parameter's step size and square root of its
    second bias correction.
    """
    count = len(parameters)
    exp_avgs = optimizer_state[:count]
    exp_avg_sqs = optimizer_state[count : 2 * count]
    steps = optimizer_state[2 * count : 3 * count]
    scalars = optimizer_state[3 * count].to(parameters[0].dtype)  # (2 * count,)
    beta1, beta2 = group["betas"]
    eps = group["eps"]
    weight_decay = group["weight_decay"]
    for index, (parameter, gradient, exp_avg, exp_avg_sq, step) in enumerate(
        zip(parameters, gradients, exp_avgs, exp_avg_sqs, steps, strict=True)
    ):
        if weight_decay != 0:
            gradient = gradient + weight_decay * parameter
        step.add_(1)
        exp_avg.lerp_(gradient, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
        step_size = scalars[2 * index]
        denominator = exp_avg_sq.sqrt() / scalars[2 * index + 1] + eps
        parameter.sub_(step_size * exp_avg / denominator)
