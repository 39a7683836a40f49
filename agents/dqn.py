"""Deep Q-Network agent: epsilon-greedy acting with legal-move masks and TD updates."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad_and_value
from torch.nn import functional

from agents.compiled_acting import CompiledGreedyActions
from agents.compiled_update import CompiledUpdate
from agents.networks import NetworkSpec, build_q_network
from agents.replay_buffer import ReplayBatch

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "rmsprop")
LOSSES = ("huber", "mse")


@dataclass
class UpdateSettings:
    """Settings of one gradient update, with Stable-Baselines3's names where they exist.

    Attributes:
        learning_rate: Optimizer step size.
        gamma: Discount factor of future rewards.
        tau: Target network update coefficient: 1.0 copies the Q-network every
            ``target_update_interval`` updates; below 1.0 applies Polyak averaging
            ``target = tau * online + (1 - tau) * target`` at that interval.
        max_grad_norm: Gradient norm clipping threshold; 0 or less disables clipping.
        double_q: Choose the next action with the Q-network and evaluate it with the target
            network (Double DQN) instead of the target network's own maximum.
        loss: ``"huber"`` (smooth L1) or ``"mse"``.
        optimizer: ``"adam"`` or ``"rmsprop"``.
        weight_decay: L2 penalty coefficient passed to the optimizer.
        compile_update: Compute each update (targets, loss, gradients, clipping and, for
            Adam, the optimizer step) as one traced graph compiled by Inductor (see
            :mod:`agents.compiled_update`). For small networks most of an eager update is
            per-operation overhead, which compiling removes; the first update then takes
            a few seconds to compile. On CPU the greedy forward pass of
            :meth:`DQNAgent.act` is compiled too, for each batch shape that recurs (see
            :mod:`agents.compiled_acting`). Where compiling fails (no C++ compiler, for
            example) the agent warns and keeps the eager code. Networks with dropout
            always use the eager code.
    """

    learning_rate: float = 1e-3
    gamma: float = 0.99
    tau: float = 1.0
    max_grad_norm: float = 10.0
    double_q: bool = True
    loss: str = "huber"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    compile_update: bool = False


def masked_argmax(q_values: torch.Tensor, action_masks: torch.Tensor | None) -> torch.Tensor:
    """Return the index of the largest Q-value among legal actions, per row."""
    if action_masks is None:
        return q_values.argmax(dim=1)
    return q_values.masked_fill(~action_masks, float("-inf")).argmax(dim=1)


def compute_td_targets(
    rewards: torch.Tensor,
    terminations: torch.Tensor,
    next_q_target: torch.Tensor,
    gamma: float | torch.Tensor,
    next_action_masks: torch.Tensor | None = None,
    next_q_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """Compute ``r + gamma * (1 - terminated) * Q_target(s', a*)`` for a batch.

    ``a*`` is the legal action with the largest target Q-value, or, when ``next_q_online``
    is given (Double DQN), the legal action with the largest online Q-value. Truncation is
    not an input: a truncated transition bootstraps like any non-terminal one. A next
    state without any legal action contributes 0.

    Args:
        rewards: Shape (batch,).
        terminations: Shape (batch,), true where the episode ended by its own rules.
        next_q_target: Target-network Q-values of the next observations, (batch, actions).
        gamma: Discount factor, or one discount per transition, (batch,): ``gamma ** k``
            for n-step transitions that span ``k`` steps.
        next_action_masks: Legal actions in the next observations, (batch, actions) bool.
        next_q_online: Online-network Q-values of the next observations, for Double DQN.
    """
    selector = next_q_online if next_q_online is not None else next_q_target
    next_actions = masked_argmax(selector, next_action_masks)
    next_values = next_q_target.gather(1, next_actions.unsqueeze(1)).squeeze(1)  # (batch,)
    if next_action_masks is not None:
        has_legal_action = next_action_masks.any(dim=1)
        next_values = torch.where(has_legal_action, next_values, torch.zeros_like(next_values))
    not_terminated = (~terminations).to(rewards.dtype)
    return rewards + gamma * not_terminated * next_values


class DQNAgent:
    """A Q-network, its target network and optimizer, with acting and learning steps.

    Args:
        spec: Q-network architecture.
        settings: Update hyperparameters.
        device: Torch device for both networks.
        seed: Seed of the agent's exploration generator.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        settings: UpdateSettings,
        *,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        if settings.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {settings.optimizer!r}")
        if settings.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {settings.loss!r}")
        if not 0.0 < settings.tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {settings.tau}")
        self.spec = spec
        self.settings = settings
        self.device = torch.device(device)
        self.q_network = build_q_network(spec).to(self.device)
        self.target_network = copy.deepcopy(self.q_network)
        self.target_network.eval()
        for parameter in self.target_network.parameters():
            parameter.requires_grad_(False)
        self.optimizer = _make_optimizer(self.q_network, settings)
        self.rng = np.random.default_rng(seed)
        self.num_updates = 0
        # Training and evaluation modes differ only through dropout; without it, switching
        # modes (a walk over every module) on each call is skipped.
        self._switch_modes = any(isinstance(m, nn.Dropout) for m in self.q_network.modules())
        self.q_network.eval()
        # Parameters change in place (optimizer steps, load_state_dict), so these stay valid.
        self._parameters = dict(self.q_network.named_parameters())
        self._target_parameters = dict(self.target_network.named_parameters())
        self._compiled_update: CompiledUpdate | None = None
        self._compiled_greedy: CompiledGreedyActions | None = None
        if settings.compile_update and not self._switch_modes:
            self._compiled_update = CompiledUpdate(self)
            if self.device.type == "cpu":
                # Observations arrive as numpy arrays, which the compiled forward reads in place.
                self._compiled_greedy = CompiledGreedyActions(self.q_network)

    def _as_tensor(self, observations: np.ndarray) -> torch.Tensor:
        # np.array copies, so read-only inputs (cached tables, for example) are safe to wrap.
        return torch.from_numpy(np.array(observations, dtype=np.float32)).to(self.device)

    @torch.inference_mode()
    def q_values(self, observations: np.ndarray) -> np.ndarray:
        """Return Q-values (batch, actions) of a batch of observations, in evaluation mode."""
        if self._switch_modes:
            self.q_network.eval()
        return self.q_network(self._as_tensor(observations)).cpu().numpy()

    def greedy_actions(
        self, observations: np.ndarray, action_masks: np.ndarray | None = None
    ) -> np.ndarray:
        """Return the best legal action of each observation, never exploring."""
        q_values = torch.from_numpy(self.q_values(observations))
        masks = None if action_masks is None else torch.from_numpy(np.asarray(action_masks, bool))
        return masked_argmax(q_values, masks).numpy()

    def act(
        self,
        observations: np.ndarray,
        epsilon: float,
        action_masks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Choose one action per observation, epsilon-greedily among legal actions.

        Exploration draws uniformly from the legal actions only, so with ``epsilon = 1`` no
        illegal action is ever chosen.
        """
        actions = self._compiled_greedy_actions(observations, action_masks)
        if actions is None:
            actions = self.greedy_actions(observations, action_masks)
        explore = self.rng.random(len(actions)) < epsilon
        if explore.any():
            num_actions = self.spec.num_actions
            scores = self.rng.random((int(explore.sum()), num_actions))
            if action_masks is not None:
                scores = np.where(np.asarray(action_masks, bool)[explore], scores, -1.0)
            actions[explore] = scores.argmax(axis=1)
        return actions

    def _compiled_greedy_actions(
        self, observations: np.ndarray, action_masks: np.ndarray | None
    ) -> np.ndarray | None:
        """Return greedy actions from the compiled forward pass, or None to use the eager one."""
        if self._compiled_greedy is None or not isinstance(observations, np.ndarray):
            return None
        try:
            return self._compiled_greedy(
                observations, None if action_masks is None else np.asarray(action_masks)
            )
        except Exception as error:  # noqa: BLE001 - any compiler failure falls back
            logger.warning(
                "compiling the greedy forward pass failed (%s: %s); using the eager one",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
            self._compiled_greedy = None
            return None

    def train_on_batch(self, batch: ReplayBatch) -> tuple[float, float, np.ndarray]:
        """Take one gradient step on a replay batch.

        The batch's per-transition ``discounts`` replace ``gamma`` where given, and its
        ``weights`` turn the loss into a weighted mean.

        Returns:
            The loss, the mean Q-value of the taken actions, and the absolute TD error of
            each transition (batch,), measured before the step, for prioritized replay.
        """
        if self._compiled_update is not None:
            try:
                result = self._compiled_update(self._stored_batch_tensors(batch))
            except Exception as error:  # noqa: BLE001 - any compiler failure falls back
                logger.warning(
                    "compiling the update failed (%s: %s); using the eager update",
                    type(error).__name__,
                    str(error).splitlines()[0] if str(error) else "",
                )
                self._compiled_update = None
            else:
                self.num_updates += 1
                return result
        inputs = self._batch_tensors(batch)
        return self._eager_update(*inputs)

    def _batch_tensors(self, batch: ReplayBatch) -> tuple[torch.Tensor | None, ...]:
        next_masks = discounts = weights = None
        if batch.next_action_masks is not None:
            next_masks = torch.as_tensor(batch.next_action_masks, device=self.device)
        if batch.discounts is not None:
            discounts = torch.as_tensor(batch.discounts, device=self.device)
        if batch.weights is not None:
            weights = torch.as_tensor(batch.weights, device=self.device)
        return (
            self._as_tensor(batch.observations),
            self._as_tensor(batch.next_observations),
            torch.as_tensor(batch.actions, device=self.device).long(),
            torch.as_tensor(batch.rewards, device=self.device),
            torch.as_tensor(batch.terminations, device=self.device),
            next_masks,
            discounts,
            weights,
        )

    def _stored_batch_tensors(self, batch: ReplayBatch) -> tuple[torch.Tensor | None, ...]:
        """Return the batch as tensors in the dtypes the buffer stores, sharing its arrays."""
        return tuple(
            None if array is None else _shared_tensor(array, self.device)
            for array in (
                batch.observations,
                batch.next_observations,
                batch.actions,
                batch.rewards,
                batch.terminations,
                batch.next_action_masks,
                batch.discounts,
                batch.weights,
            )
        )

    def _td_loss(
        self, q_taken: torch.Tensor, td_target: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        if self.settings.loss == "huber":
            losses = functional.smooth_l1_loss(q_taken, td_target, reduction="none")
        else:
            losses = functional.mse_loss(q_taken, td_target, reduction="none")
        return losses.mean() if weights is None else (weights * losses).mean()

    def _functional_update(
        self,
        parameters: dict[str, torch.Tensor],
        target_parameters: dict[str, torch.Tensor],
        observations: torch.Tensor,
        next_observations: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        terminations: torch.Tensor,
        next_masks: torch.Tensor | None,
        discounts: torch.Tensor | None,
        weights: torch.Tensor | None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return clipped gradients, the loss, the mean taken Q-value and absolute TD errors.

        Nothing is changed in place.

        The same computation as :meth:`_eager_update` up to the optimizer step, written as
        a pure function of the parameters so that :mod:`agents.compiled_update` can trace
        targets, forward and backward passes and clipping into one graph.
        """
        settings = self.settings
        network = self.q_network
        with torch.no_grad():
            next_q_target = functional_call(network, target_parameters, (next_observations,))
            next_q_online = None
            if settings.double_q:
                next_q_online = functional_call(network, parameters, (next_observations,))
            gamma = settings.gamma if discounts is None else discounts
            td_target = compute_td_targets(
                rewards, terminations, next_q_target, gamma, next_masks, next_q_online
            )

        def loss_of(params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
            q_values = functional_call(network, params, (observations,))
            q_taken = q_values.gather(1, actions.unsqueeze(1)).squeeze(1)
            return self._td_loss(q_taken, td_target, weights), q_taken

        gradients, (loss, q_taken) = grad_and_value(loss_of, has_aux=True)(parameters)
        if settings.max_grad_norm > 0:
            norms = torch.stack([torch.linalg.vector_norm(g) for g in gradients.values()])
            total_norm = torch.linalg.vector_norm(norms)
            scale = torch.clamp(settings.max_grad_norm / (total_norm + 1e-6), max=1.0)
            gradients = {name: g * scale for name, g in gradients.items()}
        return gradients, loss, q_taken.mean(), (td_target - q_taken).abs()

    def _eager_update(
        self,
        observations: torch.Tensor,
        next_observations: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        terminations: torch.Tensor,
        next_masks: torch.Tensor | None,
        discounts: torch.Tensor | None,
        weights: torch.Tensor | None,
    ) -> tuple[float, float, np.ndarray]:
        settings = self.settings
        # Target: bootstrap from the target network, choosing the action online for Double DQN.
        with torch.no_grad():
            next_q_target = self.target_network(next_observations)
            next_q_online = None
            if settings.double_q:
                if self._switch_modes:
                    self.q_network.eval()
                next_q_online = self.q_network(next_observations)
            gamma = settings.gamma if discounts is None else discounts
            td_target = compute_td_targets(
                rewards, terminations, next_q_target, gamma, next_masks, next_q_online
            )

        # Prediction: Q-values of the actions that were taken.
        if self._switch_modes:
            self.q_network.train()
        q_taken = self.q_network(observations).gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = self._td_loss(q_taken, td_target, weights)
        td_errors = (td_target - q_taken.detach()).abs()

        # Optimise, clipping the gradient norm.
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.q_network.parameters(), settings.max_grad_norm)
        self.optimizer.step()
        if self._switch_modes:
            self.q_network.eval()
        self.num_updates += 1
        return (
            float(loss.item()),
            float(q_taken.detach().mean().item()),
            td_errors.cpu().numpy(),
        )

    @torch.no_grad()
    def update_target_network(self) -> None:
        """Copy (``tau = 1``) or Polyak-average the Q-network into the target network."""
        tau = self.settings.tau
        if tau >= 1.0:
            self.target_network.load_state_dict(self.q_network.state_dict())
            return
        for target, online in zip(
            self.target_network.parameters(), self.q_network.parameters(), strict=True
        ):
            target.mul_(1.0 - tau).add_(online, alpha=tau)

    def set_learning_rate(self, learning_rate: float) -> None:
        """Set the optimizer's learning rate for the next updates."""
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def state_dict(self) -> dict:
        """Return networks, optimizer, update count and exploration generator state."""
        return {
            "q_network": self.q_network.state_dict(),
            "target_network": self.target_network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "num_updates": self.num_updates,
            "rng_state": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.q_network.load_state_dict(state["q_network"])
        self.target_network.load_state_dict(state["target_network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.num_updates = int(state["num_updates"])
        self.rng.bit_generator.state = state["rng_state"]


def _shared_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    # torch.from_numpy shares memory; read-only or strided arrays are copied first.
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = np.ascontiguousarray(array).copy()
    tensor = torch.from_numpy(array)
    return tensor if device.type == "cpu" else tensor.to(device)


def _make_optimizer(network: nn.Module, settings: UpdateSettings) -> torch.optim.Optimizer:
    """Build the optimizer, fused into one kernel per step where this torch supports it."""
    options = {"lr": settings.learning_rate, "weight_decay": settings.weight_decay}
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(network.parameters(), foreach=True, **options)
    try:
        return torch.optim.Adam(network.parameters(), fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        # Older torch builds fuse Adam only on GPUs.
        return torch.optim.Adam(network.parameters(), **options)
