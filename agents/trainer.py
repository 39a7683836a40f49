"""The DQN training loop: collection, updates, evaluation, checkpoints and TensorBoard.

A run directory contains:

- ``config.yaml``: the resolved configuration (``train.py --config`` reads it back);
- ``model_summary.txt``: each layer with its parameter count;
- ``checkpoints/step_<N>.pt``: periodic checkpoints, by steps and by minutes, each with
  everything needed to resume (weights, target network, optimizer, counters, random
  states), and ``checkpoints/replay_buffer_<N>.pt`` beside the newest one;
- ``best_model.pt`` (best evaluation so far) and ``final_model.pt``;
- ``evaluations.csv``: every periodic evaluation; ``results.json``: the final evaluation
  of the best model;
- ``tensorboard/``: event files keyed on the global step.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.checkpoint import (
    CheckpointError,
    load_model_file,
    save_model_file,
    tensors_to_numpy,
)
from agents.collectors import EnvCollector, SelfPlayCollector
from agents.config import TrainConfig, config_to_dict, env_kwargs, write_config
from agents.dqn import DQNAgent, UpdateSettings
from agents.networks import NetworkSpec, model_summary
from agents.policies import AgentPolicy, QNetworkPolicy
from agents.prioritized_replay import PrioritizedReplayBuffer
from agents.replay_buffer import ReplayBuffer
from agents.run_support import (
    ENV_IDS,
    StopSignals,
    TrainingError,
    append_evaluation_row,
    as_random_state,
    clean_after_crash,
    describe_metrics,
    evaluate_policy,
    interrupt_on_signals,
    linear_epsilon,
    make_env,
    make_progress_bar,
    network_spec_for,
    open_summary_writer,
    random_state_as_lists,
    recorded_evaluation,
    resolve_device,
    write_results,
)
from agents.schedules import RunSchedules

logger = logging.getLogger(__name__)


# Compiling an update takes a few seconds and saves a few hundred microseconds per update.
AUTO_COMPILE_MIN_UPDATES = 20_000


def compile_update_enabled(config: TrainConfig) -> bool:
    """Return whether the run compiles its updates (``compile_update``, with ``auto`` resolved)."""
    if config.compile_update != "auto":
        return config.compile_update == "on"
    updates = (config.total_timesteps - config.learning_starts) // config.train_freq
    return updates * config.gradient_steps >= AUTO_COMPILE_MIN_UPDATES


@dataclass
class TrainingResult:
    """Outcome of a finished or interrupted run."""

    run_dir: Path
    global_step: int
    interrupted: bool
    best_metrics: dict[str, float] | None
    final_metrics: dict[str, float] | None


class Trainer:
    """Trains a DQN agent on one game and writes everything into a run directory.

    Args:
        env_name: ``"tictactoe"`` or ``"snake"``.
        config: Resolved configuration.
        run_dir: Folder for the run's files; created if missing.
        resume: A checkpoint payload to continue from (see
            :func:`agents.checkpoint.find_resumable_checkpoint`), or None for a fresh run.
    """

    def __init__(
        self,
        env_name: str,
        config: TrainConfig,
        run_dir: Path,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.env_name = env_name
        self.config = config
        self.run_dir = Path(run_dir)
        self.env_kwargs = env_kwargs(config, env_name)
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.torch_threads)
        self._seed_everything(config.seed)

        envs = [make_env(env_name, self.env_kwargs) for _ in range(config.num_envs)]
        self.spec = network_spec_for(envs[0], config)
        self.agent = DQNAgent(
            self.spec, self._update_settings(), device=self.device, seed=config.seed
        )
        observation_space = envs[0].observation_space
        buffer_options: dict[str, Any] = {}
        if config.prioritized_replay:
            buffer_options = {"alpha": config.per_alpha, "eps": config.per_eps}
        buffer_class = PrioritizedReplayBuffer if config.prioritized_replay else ReplayBuffer
        self.replay_buffer = buffer_class(
            config.buffer_size,
            observation_space.shape,
            observation_space.dtype,
            self.spec.num_actions,
            store_action_masks=True,
            seed=config.seed + 1,
            gamma=config.gamma,
            **buffer_options,
        )

        self.global_step = 0
        self.num_episodes = 0
        self.best_score = -math.inf
        self.elapsed_before = 0.0
        self.eval_seconds = 0.0
        self.last_save_step = 0
        self.last_eval_step = 0
        self.last_log_step = 0
        self.latest_eval: dict[str, float] | None = None
        self.latest_eval_step: int | None = None
        self.schedules = RunSchedules(config, env_name)
        if resume is not None:
            self._restore(resume)

        # Episodes restart after a resume; their seeds depend on the step so they differ.
        env_seed = config.seed * 100_003 + self.global_step
        n_step_options = {"n_step": config.n_step, "gamma": config.gamma}
        if env_name == "tictactoe":
            self.collector: Any = SelfPlayCollector(
                envs, env_seed, augment_symmetries=config.symmetry_augmentation, **n_step_options
            )
        else:
            self.collector = EnvCollector(envs, env_seed, **n_step_options)

        self.recent_returns: deque[float] = deque(maxlen=100)
        self.recent_lengths: deque[int] = deque(maxlen=100)
        self.recent_outcomes: deque[str] = deque(maxlen=1000)
        self.pending_losses: list[float] = []
        self.pending_q_values: list[float] = []
        self.stop_signals = StopSignals()
        # Called as callback(trainer, metrics) after each periodic evaluation. A callback may
        # call request_stop() to end the run early, or raise to abandon it.
        self.evaluation_callbacks: list[Callable[[Trainer, dict[str, float]], None]] = [
            self.schedules.on_evaluation
        ]
        self.stop_reason: str | None = None

    def request_stop(self, reason: str) -> None:
        """End the run after the current step, recording ``reason`` in ``results.json``."""
        if self.stop_reason is None:
            self.stop_reason = reason

    # ----------------------------------------------------------------- setup and restore

    def _update_settings(self) -> UpdateSettings:
        config = self.config
        return UpdateSettings(
            learning_rate=config.learning_rate,
            gamma=config.gamma,
            tau=config.tau,
            max_grad_norm=config.max_grad_norm,
            double_q=config.double_q,
            loss=config.loss,
            optimizer=config.optimizer,
            weight_decay=config.weight_decay,
            compile_update=compile_update_enabled(config),
        )

    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _restore(self, payload: dict[str, Any]) -> None:
        saved_spec = NetworkSpec.from_dict(payload["network"])
        if saved_spec != self.spec:
            raise CheckpointError(
                f"checkpoint network {saved_spec} does not match the configured {self.spec}"
            )
        self.agent.load_state_dict(payload["agent"])
        counters = payload["counters"]
        self.global_step = int(counters["global_step"])
        self.num_episodes = int(counters["num_episodes"])
        self.best_score = float(counters["best_score"])
        self.elapsed_before = float(counters["elapsed_seconds"])
        self.eval_seconds = float(counters.get("eval_seconds", 0.0))
        self.last_save_step = self.global_step
        self.last_eval_step = int(counters["last_eval_step"])
        self.last_log_step = self.global_step
        # Checkpoints written before learning-rate schedules existed have no "schedules".
        self.schedules.load_state_dict(payload.get("schedules"))
        random.setstate(as_random_state(payload["random_state"]))
        torch.set_rng_state(payload["torch_rng_state"])
        saved_at = payload.get("checkpoint_path")
        folder = Path(saved_at).parent if saved_at else self.run_dir / "checkpoints"
        self._restore_replay_buffer(folder)
        clean_after_crash(self.run_dir, self.global_step)
        # The row at the checkpoint's step may come from the final evaluation, which runs after
        # the last checkpoint is saved. It is kept, so the resumed run skips that evaluation.
        recorded = recorded_evaluation(self.run_dir, self.global_step)
        if recorded is not None:
            self.latest_eval = recorded
            self.latest_eval_step = self.global_step
            self.best_score = max(self.best_score, recorded.get("score", -math.inf))
        if not (self.run_dir / "best_model.pt").exists():
            # Resumed into another folder: its best model starts from this run's next evaluation.
            self.best_score = -math.inf

    def _restore_replay_buffer(self, checkpoint_folder: Path) -> None:
        path = checkpoint_folder / f"replay_buffer_{self.global_step:09d}.pt"
        if not path.exists():
            logger.warning("no saved replay buffer in %s; resuming with an empty one", path.parent)
            return
        try:
            saved = load_model_file(path)
        except CheckpointError as error:
            logger.warning("ignoring replay buffer: %s", error)
            return
        if int(saved["global_step"]) != self.global_step:
            logger.warning(
                "saved replay buffer is from step %s, not %s; resuming with an empty one",
                saved["global_step"],
                self.global_step,
            )
            return
        self.replay_buffer.load_state_dict(tensors_to_numpy(saved["replay_buffer"]))

    # ----------------------------------------------------------------- the loop

    def run(self) -> TrainingResult:
        """Train until ``total_timesteps``, a stop signal, or an error; save on the way out."""
        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(config, self.env_name, self.run_dir / "config.yaml")
        summary = model_summary(self.agent.q_network)
        (self.run_dir / "model_summary.txt").write_text(summary + "\n", encoding="utf-8")
        print(f"Q-network ({self.spec.kind}, {self.spec.num_actions} actions):\n{summary}")

        writer = open_summary_writer(self.run_dir / "tensorboard", self.global_step)
        progress = make_progress_bar(config, self.global_step)
        self.start_time = time.monotonic()
        self.last_save_time = self.start_time
        interrupted = False
        try:
            with self.stop_signals:
                while self.global_step < config.total_timesteps:
                    if self.stop_signals.received is not None:
                        interrupted = True
                        name = signal.Signals(self.stop_signals.received).name
                        self.request_stop(f"interrupted by {name}")
                        break
                    if self.stop_reason is not None:
                        break
                    steps = self._collect(writer)
                    self._learn()
                    progress.update(steps)
                    self._maybe_log(writer)
                    self._maybe_evaluate(writer, progress)
                    self._maybe_save()
        finally:
            progress.close()

        self.save_checkpoint()
        self.save_model(self.run_dir / "final_model.pt")
        self._maybe_log(writer, force=True)
        final_metrics = None
        if not interrupted:
            try:
                with interrupt_on_signals():
                    if self.latest_eval_step != self.global_step:
                        self._evaluate(writer)
                    final_metrics = self._final_evaluation()
            except KeyboardInterrupt:
                print("Final evaluation interrupted; the checkpoint and models are saved.")
                interrupted = True
        writer.close()
        self.collector.close()
        return TrainingResult(
            self.run_dir, self.global_step, interrupted, self.latest_eval, final_metrics
        )

    def _collect(self, writer: Any) -> int:
        # Stop exactly on the run's end and on every evaluation mark, so all algorithms are
        # evaluated at the same step counts.
        remaining = self.config.total_timesteps - self.global_step
        until_eval = self.config.eval_every - self.global_step % self.config.eval_every
        steps = min(remaining, until_eval, len(self.collector.envs))
        epsilon = linear_epsilon(self.config, self.global_step)
        transitions, finished = self.collector.step(self.agent, epsilon, steps)
        self.global_step += steps
        if len(transitions):
            self.replay_buffer.add(**transitions.as_arrays())
        for record in finished:
            self.num_episodes += 1
            self.recent_returns.append(record.episode_return)
            self.recent_lengths.append(record.length)
            if self.env_name == "tictactoe":
                # The environment reports winner -1 when nobody won (a draw).
                outcomes = {0: "x", 1: "o"}
                self.recent_outcomes.append(outcomes.get(record.info.get("winner", -1), "draw"))
            else:
                self.recent_outcomes.append(str(record.info.get("score", 0)))
        return steps

    def _learn(self) -> None:
        config = self.config
        self.agent.set_learning_rate(self.schedules.learning_rate.value(self.global_step))
        if self.global_step < config.learning_starts or len(self.replay_buffer) < config.batch_size:
            return
        due = (
            (self.global_step - config.learning_starts) // config.train_freq * config.gradient_steps
        )
        while self.agent.num_updates < due:
            # One update: sample, fit the TD target, and refresh the target network on schedule.
            # Prioritized replay also re-scores the sampled transitions by their TD errors.
            if config.prioritized_replay:
                batch = self.replay_buffer.sample(config.batch_size, beta=self.per_beta())
            else:
                batch = self.replay_buffer.sample(config.batch_size)
            loss, q_mean, td_errors = self.agent.train_on_batch(batch)
            if config.prioritized_replay:
                self.replay_buffer.update_priorities(batch.indices, td_errors)
            if not math.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss} at step {self.global_step} (update "
                    f"{self.agent.num_updates}); the last good checkpoint is kept in "
                    f"{self.run_dir / 'checkpoints'}"
                )
            self.pending_losses.append(loss)
            self.pending_q_values.append(q_mean)
            if self.agent.num_updates % config.target_update_interval == 0:
                self.agent.update_target_network()

    def per_beta(self) -> float:
        """Return the importance-sampling exponent: per_beta rising linearly to per_beta_final."""
        config = self.config
        progress = min(1.0, self.global_step / config.total_timesteps)
        return config.per_beta + progress * (config.per_beta_final - config.per_beta)

    def _maybe_log(self, writer: Any, force: bool = False) -> None:
        if self.global_step == self.last_log_step:
            return
        if not force and self.global_step - self.last_log_step < self.config.log_interval:
            return
        step = self.global_step
        elapsed = time.monotonic() - self.start_time
        fps = (step - self.last_log_step) / max(
            1e-9, elapsed - getattr(self, "_last_log_time", 0.0)
        )
        self._last_log_time = elapsed
        self.last_log_step = step
        writer.add_scalar("rollout/exploration_rate", linear_epsilon(self.config, step), step)
        writer.add_scalar("train/learning_rate", self.agent.optimizer.param_groups[0]["lr"], step)
        writer.add_scalar("time/fps", fps, step)
        writer.add_scalar("time/episodes", self.num_episodes, step)
        if self.config.prioritized_replay:
            writer.add_scalar("train/per_beta", self.per_beta(), step)
        if self.pending_losses:
            writer.add_scalar("train/loss", float(np.mean(self.pending_losses)), step)
            writer.add_scalar("train/q_mean", float(np.mean(self.pending_q_values)), step)
            writer.add_scalar("train/n_updates", self.agent.num_updates, step)
            self.pending_losses.clear()
            self.pending_q_values.clear()
        if self.recent_returns:
            writer.add_scalar("rollout/ep_rew_mean", float(np.mean(self.recent_returns)), step)
            writer.add_scalar("rollout/ep_len_mean", float(np.mean(self.recent_lengths)), step)
        if self.env_name == "tictactoe" and self.recent_outcomes:
            outcomes = list(self.recent_outcomes)
            for label in ("x", "o", "draw"):
                share = outcomes.count(label) / len(outcomes)
                writer.add_scalar(f"rollout/selfplay_{label}_rate", share, step)

    def _maybe_evaluate(self, writer: Any, progress: Any) -> None:
        if self.global_step - self.last_eval_step < self.config.eval_every:
            return
        metrics = self._evaluate(writer)
        progress.set_postfix_str(describe_metrics(self.env_name, metrics), refresh=False)
        for callback in self.evaluation_callbacks:
            callback(self, metrics)

    def _evaluate(self, writer: Any) -> dict[str, float]:
        """Evaluate the greedy agent, log and record it, and keep the best model."""
        policy = AgentPolicy(self.agent)
        metrics = self.evaluate_policy(policy, self.config.eval_episodes)
        self.last_eval_step = self.global_step
        self.latest_eval = metrics
        self.latest_eval_step = self.global_step
        for name, value in metrics.items():
            writer.add_scalar(f"eval/{name}", value, self.global_step)
        if self.env_name == "snake":
            writer.add_scalar("eval/mean_reward", metrics["mean_score"], self.global_step)
        writer.flush()
        self._append_evaluation_row(metrics)
        if metrics["score"] > self.best_score:
            self.best_score = metrics["score"]
            self.save_model(self.run_dir / "best_model.pt", metrics)
        return metrics

    def evaluate_policy(self, policy: Any, num_episodes: int) -> dict[str, float]:
        """Run the game's evaluation protocol on a greedy policy."""
        started = time.monotonic()
        metrics = evaluate_policy(self.env_name, self.config, policy, num_episodes)
        self.eval_seconds += time.monotonic() - started
        return metrics

    def _append_evaluation_row(self, metrics: dict[str, float]) -> None:
        elapsed = self.elapsed_before + time.monotonic() - self.start_time
        append_evaluation_row(
            self.run_dir, self.global_step, self.num_episodes, elapsed, self.eval_seconds, metrics
        )

    def _final_evaluation(self) -> dict[str, float]:
        """Evaluate the best model with ``final_eval_episodes`` and write ``results.json``."""
        path = self.run_dir / "best_model.pt"
        data = load_model_file(path)
        policy = QNetworkPolicy(self._network_from(data), name="best_model", metadata={})
        metrics = self.evaluate_policy(policy, self.config.final_eval_episodes)
        elapsed = self.elapsed_before + time.monotonic() - self.start_time
        fields = {
            "best_model_step": int(data["global_step"]),
            "total_timesteps": self.global_step,
            "episodes": self.num_episodes,
            "wall_seconds": round(elapsed, 1),
            "train_seconds": round(elapsed - self.eval_seconds, 1),
            "final_eval_episodes": self.config.final_eval_episodes,
            "stop_reason": self.stop_reason or "reached total_timesteps",
        }
        write_results(self.run_dir, self.env_name, fields, metrics)
        return metrics

    def _network_from(self, data: dict[str, Any]) -> torch.nn.Module:
        from agents.networks import build_q_network

        network = build_q_network(NetworkSpec.from_dict(data["network"]))
        network.load_state_dict(data["q_network"])
        return network

    # ----------------------------------------------------------------- saving

    def _maybe_save(self) -> None:
        config = self.config
        every_steps = config.save_every_steps or max(1, config.total_timesteps // 10)
        due_by_steps = self.global_step - self.last_save_step >= every_steps
        due_by_time = (
            config.save_every_minutes > 0
            and time.monotonic() - self.last_save_time >= config.save_every_minutes * 60
        )
        if due_by_steps or due_by_time:
            self.save_checkpoint()

    def _model_payload(self) -> dict[str, Any]:
        return {
            "algo": "dqn",
            "env_name": self.env_name,
            "env_id": ENV_IDS[self.env_name],
            "env_kwargs": self.env_kwargs,
            "network": self.spec.to_dict(),
            "observation_shape": list(self.spec.input_shape),
            "num_actions": self.spec.num_actions,
            "config": config_to_dict(self.config, self.env_name),
            "global_step": self.global_step,
            "q_network": self.agent.q_network.state_dict(),
        }

    def save_model(self, path: Path, metrics: dict[str, float] | None = None) -> None:
        """Save the Q-network with its metadata: enough to watch, play and evaluate."""
        payload = self._model_payload()
        if metrics is not None:
            payload["metrics"] = {key: float(value) for key, value in metrics.items()}
        save_model_file(path, payload)

    def save_checkpoint(self) -> Path:
        """Save everything needed to resume at this step, and the replay buffer beside it."""
        folder = self.run_dir / "checkpoints"
        path = folder / f"step_{self.global_step:09d}.pt"
        elapsed = self.elapsed_before + time.monotonic() - self.start_time
        payload = self._model_payload()
        payload.update(
            {
                "agent": self.agent.state_dict(),
                "counters": {
                    "global_step": self.global_step,
                    "num_episodes": self.num_episodes,
                    "best_score": self.best_score,
                    "elapsed_seconds": elapsed,
                    "eval_seconds": self.eval_seconds,
                    "last_eval_step": self.last_eval_step,
                },
                "schedules": self.schedules.state_dict(),
                "random_state": random_state_as_lists(random.getstate()),
                "torch_rng_state": torch.get_rng_state(),
            }
        )
        buffer_path = folder / f"replay_buffer_{self.global_step:09d}.pt"
        if self.config.save_replay_buffer:
            save_model_file(
                buffer_path,
                {"global_step": self.global_step, "replay_buffer": self.replay_buffer.state_dict()},
            )
        save_model_file(path, payload)
        # Older buffers go only once the new checkpoint is on disk, so a crash at any moment
        # leaves the newest complete checkpoint with its own buffer.
        for old_buffer in folder.glob("replay_buffer_*.pt"):
            if old_buffer != buffer_path:
                old_buffer.unlink(missing_ok=True)
        self.last_save_step = self.global_step
        self.last_save_time = time.monotonic()
        return path
