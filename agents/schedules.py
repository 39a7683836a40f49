"""Learning-rate schedules and early stopping for the DQN trainer.

The learning rate is a function of the environment step ``t`` of a run of
``T = total_timesteps`` steps, with ``L = learning_rate``, ``W = lr_warmup_steps`` and the
final rate ``F = lr_final_fraction * L``:

- warm-up, for ``t < W``: the schedule's value times ``t / W``, rising linearly from 0;
- ``constant``: ``L``;
- ``linear``: ``L + (F - L) * p``, with progress ``p = (t - W) / (T - W)`` clipped to [0, 1];
- ``cosine``: ``F + (L - F) * (1 + cos(pi * p)) / 2``;
- ``plateau``: ``max(lr_min, L * lr_plateau_factor ** k)``, where ``k`` counts the
  reductions so far. The rate is reduced after ``lr_plateau_patience`` evaluations in a
  row without a better score (``metrics["score"]``, higher is better), and the count of
  such evaluations then starts again from 0.

Warm-up counts from step 0, like epsilon, although updates only begin at
``learning_starts``. Early stopping ends a run when an evaluation reaches the game's
target (``stop_at_target``) or when the score has not improved for
``early_stop_patience`` evaluations. The plateau and early-stopping counters are saved in
every checkpoint, so a resumed run continues them; the step-based schedules need no state.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.config import TrainConfig
    from agents.trainer import Trainer

logger = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "linear", "cosine", "plateau")


class ImprovementCounter:
    """The best score so far and how many evaluations in a row have not beaten it."""

    def __init__(self) -> None:
        self.best_score = -math.inf
        self.best_step = -1
        self.evaluations_without_improvement = 0

    def update(self, score: float, global_step: int) -> bool:
        """Record one evaluation's score; return whether it beat the best so far."""
        if score > self.best_score:
            self.best_score = score
            self.best_step = global_step
            self.evaluations_without_improvement = 0
            return True
        self.evaluations_without_improvement += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        """Return the counter as plain numbers for a checkpoint."""
        return {
            "best_score": float(self.best_score),
            "best_step": int(self.best_step),
            "evaluations_without_improvement": int(self.evaluations_without_improvement),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.best_score = float(state["best_score"])
        self.best_step = int(state["best_step"])
        self.evaluations_without_improvement = int(state["evaluations_without_improvement"])


class LearningRateSchedule:
    """The learning rate at each environment step, with the plateau rule's state.

    Args:
        config: The run's configuration; its ``lr_*`` options and ``learning_rate``,
            ``total_timesteps`` choose the schedule.
    """

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.num_reductions = 0
        self.plateau = ImprovementCounter()

    def value(self, global_step: int) -> float:
        """Return the learning rate for the updates taken at ``global_step``."""
        config = self.config
        base = config.learning_rate
        warmup = config.lr_warmup_steps
        if config.lr_schedule == "plateau":
            rate = max(config.lr_min, base * config.lr_plateau_factor**self.num_reductions)
        elif config.lr_schedule in ("linear", "cosine"):
            final = config.lr_final_fraction * base
            span = max(1, config.total_timesteps - warmup)
            progress = min(1.0, max(0.0, (global_step - warmup) / span))
            if config.lr_schedule == "linear":
                rate = base + (final - base) * progress
            else:
                rate = final + (base - final) * (1.0 + math.cos(math.pi * progress)) / 2.0
        else:
            rate = base
        if global_step < warmup:
            rate *= max(0, global_step) / warmup
        return rate

    def on_evaluation(self, global_step: int, score: float) -> None:
        """Count an evaluation for the plateau rule, reducing the rate after its patience."""
        config = self.config
        if config.lr_schedule != "plateau":
            return
        self.plateau.update(score, global_step)
        if self.plateau.evaluations_without_improvement < config.lr_plateau_patience:
            return
        self.plateau.evaluations_without_improvement = 0
        before = self.value(global_step)
        self.num_reductions += 1
        logger.info(
            "learning rate reduced from %.3g to %.3g at step %d: %s without a better score "
            "than %.4f (step %d)",
            before,
            self.value(global_step),
            global_step,
            _count_evaluations(config.lr_plateau_patience),
            self.plateau.best_score,
            self.plateau.best_step,
        )

    def state_dict(self) -> dict[str, Any]:
        """Return the plateau rule's state for a checkpoint."""
        return {"num_reductions": self.num_reductions, "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.num_reductions = int(state["num_reductions"])
        self.plateau.load_state_dict(state["plateau"])


class EarlyStopping:
    """Decides after each evaluation whether a run has reached its target or stalled.

    Args:
        config: The run's configuration (``stop_at_target``, ``target_score``,
            ``early_stop_patience``).
        env_name: ``"tictactoe"`` or ``"snake"``; it decides what the target is.
    """

    def __init__(self, config: TrainConfig, env_name: str) -> None:
        self.config = config
        self.env_name = env_name
        self.counter = ImprovementCounter()

    def check(
        self, global_step: int, metrics: dict[str, float], count_patience: bool = True
    ) -> str | None:
        """Record an evaluation; return the reason to stop as a sentence, or None to go on.

        With ``count_patience`` false (evaluations before the first update) only the
        target is checked.
        """
        config = self.config
        if count_patience:
            self.counter.update(metrics["score"], global_step)
        if config.stop_at_target:
            reached = self.target_reached(metrics)
            if reached is not None:
                return f"reached target: {reached} at step {global_step}"
        patience = config.early_stop_patience
        if (
            count_patience
            and patience > 0
            and self.counter.evaluations_without_improvement >= patience
        ):
            return (
                f"{_count_evaluations(self.counter.evaluations_without_improvement)} without "
                "a better evaluation score than "
                f"{self.counter.best_score:.4f} (step {self.counter.best_step}); stopped at "
                f"step {global_step}"
            )
        return None

    def target_reached(self, metrics: dict[str, float]) -> str | None:
        """Describe the game's target if ``metrics`` reach it, else return None."""
        if self.env_name == "tictactoe":
            # Validation allows stop_at_target only on 3 x 3, where the exhaustive check runs.
            if metrics["losing_lines_as_x"] == 0 and metrics["losing_lines_as_o"] == 0:
                return "never loses in the exhaustive check"
            return None
        if metrics["mean_score"] >= self.config.target_score:
            return (
                f"greedy mean score {metrics['mean_score']:.2f} apples, at least the target "
                f"{self.config.target_score:g}"
            )
        return None

    def state_dict(self) -> dict[str, Any]:
        """Return the patience counter for a checkpoint."""
        return {"counter": self.counter.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.counter.load_state_dict(state["counter"])


class RunSchedules:
    """The learning-rate schedule and early stopping of one run, with their saved state.

    Args:
        config: The run's configuration.
        env_name: ``"tictactoe"`` or ``"snake"``.
    """

    def __init__(self, config: TrainConfig, env_name: str) -> None:
        self.learning_rate = LearningRateSchedule(config)
        self.early_stopping = EarlyStopping(config, env_name)

    def on_evaluation(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """Update both rules after a periodic evaluation; ask ``trainer`` to stop if due.

        This is the signature of ``Trainer.evaluation_callbacks``.
        """
        step = trainer.global_step
        # Before the first update the network is untrained, so its evaluations measure no
        # progress and count neither for the plateau nor for patience. A target reached by
        # chance still counts.
        learning = trainer.agent.num_updates > 0
        if learning:
            self.learning_rate.on_evaluation(step, metrics["score"])
        reason = self.early_stopping.check(step, metrics, count_patience=learning)
        if reason is not None:
            logger.info("stopping early: %s", reason)
            trainer.request_stop(reason)

    def state_dict(self) -> dict[str, Any]:
        """Return the state that a checkpoint saves."""
        return {
            "learning_rate": self.learning_rate.state_dict(),
            "early_stopping": self.early_stopping.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore a checkpoint's state; None (a checkpoint from before schedules) starts afresh."""
        if state is None:
            return
        self.learning_rate.load_state_dict(state["learning_rate"])
        self.early_stopping.load_state_dict(state["early_stopping"])


def _count_evaluations(count: int) -> str:
    return f"{count} evaluation" if count == 1 else f"{count} evaluations"


def validate_schedule_options(config: TrainConfig, env_name: str) -> None:
    """Check the learning-rate schedule and early-stopping options.

    Raises:
        ConfigError: Naming the first invalid option and its value.
    """
    from agents.config import ConfigError

    if config.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(
            f"lr_schedule must be one of {list(LR_SCHEDULES)}, got {config.lr_schedule!r}"
        )
    warmup = config.lr_warmup_steps
    if warmup < 0:
        raise ConfigError(f"lr_warmup_steps must be zero or positive, got {warmup}")
    if warmup >= config.total_timesteps:
        raise ConfigError(
            f"lr_warmup_steps must be below total_timesteps ({config.total_timesteps}), "
            f"got {warmup}"
        )
    if 0 < warmup <= config.learning_starts:
        raise ConfigError(
            f"lr_warmup_steps ({warmup}) ends before the first update at learning_starts "
            f"({config.learning_starts}); the warm-up counts from step 0, so make it longer"
        )
    if not 0.0 <= config.lr_final_fraction <= 1.0:
        raise ConfigError(
            f"lr_final_fraction must be between 0 and 1, got {config.lr_final_fraction}"
        )
    if not 0.0 < config.lr_plateau_factor < 1.0:
        raise ConfigError(f"lr_plateau_factor must be in (0, 1), got {config.lr_plateau_factor}")
    if config.lr_plateau_patience <= 0:
        raise ConfigError(f"lr_plateau_patience must be positive, got {config.lr_plateau_patience}")
    if not 0.0 <= config.lr_min <= config.learning_rate:
        raise ConfigError(
            f"lr_min must be between 0 and learning_rate ({config.learning_rate}), "
            f"got {config.lr_min}"
        )
    if config.early_stop_patience < 0:
        raise ConfigError(
            f"early_stop_patience must be zero or positive, got {config.early_stop_patience}"
        )
    _validate_target(config, env_name)
    _validate_algo(config)


def _validate_target(config: TrainConfig, env_name: str) -> None:
    from agents.config import ConfigError

    if env_name == "tictactoe":
        if config.stop_at_target and (config.board_size, config.win_length) != (3, 3):
            raise ConfigError(
                "stop_at_target needs the exhaustive check, which runs on 3 x 3 with 3 in a "
                f"row only, got board_size {config.board_size}, win_length {config.win_length}"
            )
        return
    if config.target_score < 0:
        raise ConfigError(f"target_score must be zero or positive, got {config.target_score}")
    if config.stop_at_target and config.target_score == 0:
        raise ConfigError("stop_at_target on snake needs --target-score (greedy mean apples)")
    if config.target_score > 0 and not config.stop_at_target:
        raise ConfigError(
            f"target_score {config.target_score:g} has no effect without --stop-at-target; add it"
        )


def _validate_algo(config: TrainConfig) -> None:
    from agents.config import ConfigError

    if config.algo == "dqn":
        return
    used = {
        "lr_schedule": config.lr_schedule != "constant",
        "lr_warmup_steps": config.lr_warmup_steps > 0,
        "stop_at_target": config.stop_at_target,
        "early_stop_patience": config.early_stop_patience > 0,
        "prioritized_replay": config.prioritized_replay,
    }
    for name, is_set in used.items():
        if is_set:
            raise ConfigError(f"{name} applies to --algo dqn only, got --algo {config.algo}")
