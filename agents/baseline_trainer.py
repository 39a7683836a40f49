"""Training loop for the Stable-Baselines3 baselines, writing the same run folder as our DQN.

The run folder matches :mod:`agents.trainer`, with Stable-Baselines3's zip files in place of
``.pt`` files: ``config.yaml``, ``model_summary.txt``, ``checkpoints/step_<N>.zip`` (by
steps and by minutes), ``checkpoints/replay_buffer_<N>.pkl`` for SB3's DQN, ``best_model.zip``,
``final_model.zip``, ``evaluations.csv``, ``results.json`` and ``tensorboard/`` with the
same tag names. Evaluations run when the step count crosses each multiple of
``eval_every``. With several environments the count may pass the mark by fewer than
``num_envs`` steps, and the row records the mark.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.baselines import (
    FrozenPolicyPool,
    SB3Policy,
    algorithm_class,
    algorithm_kwargs,
    baseline_metadata,
    load_sb3_model,
    load_sb3_policy,
    make_baseline_env,
    read_metadata,
    save_sb3_model,
)
from agents.checkpoint import CheckpointError, atomic_write, checkpoint_step
from agents.config import TrainConfig, env_kwargs, write_config
from agents.networks import model_summary
from agents.run_support import (
    StopSignals,
    append_evaluation_row,
    clean_after_crash,
    describe_metrics,
    evaluate_policy,
    interrupt_on_signals,
    make_progress_bar,
    recorded_evaluation,
    resolve_device,
    write_results,
)

logger = logging.getLogger(__name__)


def replay_buffer_name(step: int) -> str:
    """Return the file name of SB3 DQN's replay buffer saved at ``step``."""
    return f"replay_buffer_{step:09d}.pkl"


def find_baseline_checkpoint(run_dir_or_file: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """Find the newest baseline checkpoint with readable metadata, or None if there is none.

    Damaged newer checkpoints are skipped with a warning that names them.

    Raises:
        CheckpointError: If the path does not exist, or every checkpoint in it is damaged.
    """
    path = Path(run_dir_or_file)
    if not path.exists():
        raise CheckpointError(f"resume path not found: {path}")
    if path.is_file():
        if path.suffix != ".zip":
            return None
        return path, read_metadata(path)
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    candidates = sorted(folder.glob("step_*.zip"), key=checkpoint_step, reverse=True)
    if not candidates:
        return None
    for candidate in candidates:
        try:
            return candidate, read_metadata(candidate)
        except CheckpointError as error:
            logger.warning("skipping damaged checkpoint %s: %s", candidate, error)
    raise CheckpointError(f"every checkpoint in {folder} is damaged; cannot resume")


def warn_about_rollout_overshoot(model: Any, algo: str, remaining: int, start: int) -> None:
    """Warn when PPO or A2C will pass the step budget to finish a rollout.

    Stable-Baselines3's on-policy algorithms only stop between whole rollouts of
    ``n_steps * num_envs`` steps, so the run ends at the next multiple of that size.
    """
    rollout = getattr(model, "n_steps", 0) * model.n_envs if algo != "sb3-dqn" else 0
    if rollout <= 0 or remaining <= 0 or remaining % rollout == 0:
        return
    end = start + -(-remaining // rollout) * rollout
    logger.warning(
        "%s collects %s steps per rollout and only stops between rollouts, so this run "
        "ends at step %s, not %s; lower --n-steps to stay closer to the budget",
        algo,
        f"{rollout:,}",
        f"{end:,}",
        f"{start + remaining:,}",
    )


class BaselineTrainer:
    """Trains a Stable-Baselines3 algorithm with our evaluation, checkpoints and logs.

    Args:
        env_name: ``"tictactoe"`` or ``"snake"``.
        config: Resolved configuration; ``config.algo`` names the baseline.
        run_dir: Folder for the run's files.
        resume: ``(checkpoint path, metadata)`` to continue from, or None.
    """

    def __init__(
        self,
        env_name: str,
        config: TrainConfig,
        run_dir: Path,
        resume: tuple[Path, dict[str, Any]] | None = None,
    ) -> None:
        self.env_name = env_name
        self.config = config
        self.algo = config.algo
        self.run_dir = Path(run_dir)
        self.device = resolve_device(config.device)
        self.resume = resume
        torch.set_num_threads(config.torch_threads)
        self.pool = (
            FrozenPolicyPool(self.algo, config.selfplay_pool_size)
            if env_name == "tictactoe"
            else None
        )
        self.global_step = 0
        self.num_episodes = 0
        self.best_score = -np.inf
        self.elapsed_before = 0.0
        self.eval_seconds = 0.0
        self.last_eval_mark = 0
        self.last_save_step = 0
        self.last_snapshot_step = 0
        self.latest_eval: dict[str, float] | None = None
        self.latest_eval_step: int | None = None
        self.stop_signals = StopSignals()

    def _build_model(self, vec_env: Any) -> Any:
        algorithm = algorithm_class(self.algo)
        if self.resume is None:
            return algorithm(
                "MlpPolicy",
                vec_env,
                seed=self.config.seed,
                device=self.device,
                verbose=0,
                **algorithm_kwargs(self.algo, self.config),
            )
        path, metadata = self.resume
        counters = metadata.get("counters", {})
        self.num_episodes = int(counters.get("num_episodes", 0))
        self.best_score = float(counters.get("best_score", -np.inf))
        self.elapsed_before = float(counters.get("elapsed_seconds", 0.0))
        self.eval_seconds = float(counters.get("eval_seconds", 0.0))
        self.last_eval_mark = int(counters.get("last_eval_mark", 0))
        model = load_sb3_model(algorithm, path, env=vec_env, device=self.device)
        self._load_replay_buffer(model, int(metadata["global_step"]))
        clean_after_crash(self.run_dir, int(metadata["global_step"]))
        # The final evaluation runs after the last checkpoint is saved. Its row is kept, so
        # the resumed run skips that evaluation.
        recorded = recorded_evaluation(self.run_dir, int(metadata["global_step"]))
        if recorded is not None:
            self.latest_eval = recorded
            self.latest_eval_step = int(metadata["global_step"])
            self.best_score = max(self.best_score, recorded.get("score", -np.inf))
        if not (self.run_dir / "best_model.zip").exists():
            self.best_score = -np.inf
        return model

    def _load_replay_buffer(self, model: Any, step: int) -> None:
        if self.algo != "sb3-dqn":
            return
        buffer_path = self.run_dir / "checkpoints" / replay_buffer_name(step)
        if not buffer_path.exists():
            logger.warning(
                "no replay buffer for step %s in %s; resuming with an empty one",
                step,
                buffer_path.parent,
            )
            return
        model.load_replay_buffer(buffer_path)

    def run(self) -> Any:
        """Train until ``total_timesteps`` or a stop signal; save on the way out."""
        from stable_baselines3.common.logger import configure
        from stable_baselines3.common.vec_env import DummyVecEnv

        from agents.trainer import TrainingResult

        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(config, self.env_name, self.run_dir / "config.yaml")
        factories = [
            (lambda: make_baseline_env(self.env_name, config, self.pool))
            for _ in range(config.num_envs)
        ]
        vec_env = DummyVecEnv(factories)
        vec_env.seed(config.seed)
        model = self._build_model(vec_env)
        self.model = model
        self.global_step = int(model.num_timesteps)
        self.last_save_step = self.global_step
        self.last_snapshot_step = self.global_step
        if self.pool is not None:
            self.pool.add(model.policy)
        summary = model_summary(model.policy)
        (self.run_dir / "model_summary.txt").write_text(summary + "\n", encoding="utf-8")
        print(f"{self.algo} policy ({model.policy.__class__.__name__}):\n{summary}")
        # NOTE: SB3's TensorBoard writer (2.9) opens without a purge_step, so after a crash
        # the events logged past the checkpoint stay and the resumed run logs those steps again.
        model.set_logger(configure(str(self.run_dir / "tensorboard"), ["tensorboard"]))

        self.progress = make_progress_bar(config, self.global_step)
        self.start_time = time.monotonic()
        self.last_save_time = self.start_time
        try:
            with self.stop_signals:
                remaining = config.total_timesteps - self.global_step
                warn_about_rollout_overshoot(model, self.algo, remaining, self.global_step)
                if remaining > 0:
                    model.learn(
                        total_timesteps=remaining,
                        callback=_ArenaCallback(self),
                        reset_num_timesteps=self.resume is None,
                    )
        finally:
            self.progress.close()

        interrupted = self.stop_signals.received is not None
        self.global_step = int(model.num_timesteps)
        self.save_checkpoint()
        save_sb3_model(model, self.run_dir / "final_model.zip", self._metadata())
        final_metrics = None
        if not interrupted:
            try:
                with interrupt_on_signals():
                    final_recorded = self.latest_eval_step == config.total_timesteps
                    if self.last_eval_mark < config.total_timesteps and not final_recorded:
                        self.last_eval_mark = config.total_timesteps
                        self._evaluate(self.last_eval_mark)
                    final_metrics = self._final_evaluation()
            except KeyboardInterrupt:
                print("Final evaluation interrupted; the checkpoint and models are saved.")
                interrupted = True
        vec_env.close()
        return TrainingResult(
            self.run_dir, self.global_step, interrupted, self.latest_eval, final_metrics
        )

    # ----------------------------------------------------------------- called every step

    def on_step(self, dones: np.ndarray) -> bool:
        """Count episodes, evaluate on marks, refresh opponents and save; False stops SB3."""
        config = self.config
        step = int(self.model.num_timesteps)
        self.progress.update(step - self.global_step)
        self.global_step = step
        self.num_episodes += int(np.sum(dones))

        next_mark = self.last_eval_mark + config.eval_every
        if step >= next_mark and next_mark <= config.total_timesteps:
            self.last_eval_mark = step - step % config.eval_every
            metrics = self._evaluate(self.last_eval_mark)
            self.progress.set_postfix_str(describe_metrics(self.env_name, metrics), refresh=False)
        if (
            self.pool is not None
            and step - self.last_snapshot_step >= config.selfplay_update_interval
        ):
            self.pool.add(self.model.policy)
            self.last_snapshot_step = step
        every_steps = config.save_every_steps or max(1, config.total_timesteps // 10)
        due_by_time = (
            config.save_every_minutes > 0
            and time.monotonic() - self.last_save_time >= config.save_every_minutes * 60
        )
        if step - self.last_save_step >= every_steps or due_by_time:
            self.save_checkpoint()
        return self.stop_signals.received is None

    def _evaluate(self, mark: int) -> dict[str, float]:
        started = time.monotonic()
        policy = SB3Policy(self.model, self.algo, self.algo)
        metrics = evaluate_policy(self.env_name, self.config, policy, self.config.eval_episodes)
        self.eval_seconds += time.monotonic() - started
        self.latest_eval = metrics
        self.latest_eval_step = mark
        for name, value in metrics.items():
            self.model.logger.record(f"eval/{name}", value)
        if self.env_name == "snake":
            self.model.logger.record("eval/mean_reward", metrics["mean_score"])
        self.model.logger.dump(mark)
        append_evaluation_row(
            self.run_dir, mark, self.num_episodes, self._elapsed(), self.eval_seconds, metrics
        )
        if metrics["score"] > self.best_score:
            self.best_score = metrics["score"]
            save_sb3_model(self.model, self.run_dir / "best_model.zip", self._metadata(metrics))
        return metrics

    def _elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.start_time

    # ----------------------------------------------------------------- saving

    def _metadata(self, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        metadata = baseline_metadata(self.env_name, self.config, self.global_step)
        metadata["observation_shape"] = list(self.model.observation_space.shape)
        metadata["num_actions"] = int(self.model.action_space.n)
        metadata["counters"] = {
            "global_step": self.global_step,
            "num_episodes": self.num_episodes,
            "best_score": float(self.best_score),
            "elapsed_seconds": self._elapsed(),
            "eval_seconds": self.eval_seconds,
            "last_eval_mark": self.last_eval_mark,
        }
        if metrics is not None:
            metadata["metrics"] = {key: float(value) for key, value in metrics.items()}
        return metadata

    def save_checkpoint(self) -> Path:
        """Save the model (and SB3 DQN's replay buffer) at the current step."""
        folder = self.run_dir / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step_{self.global_step:09d}.zip"
        buffer_path = folder / replay_buffer_name(self.global_step)
        if self.algo == "sb3-dqn" and self.config.save_replay_buffer:
            temporary = folder / f".{buffer_path.name}.building"
            self.model.save_replay_buffer(temporary)
            data = temporary.read_bytes()
            temporary.unlink()
            atomic_write(buffer_path, lambda handle: handle.write(data))
        save_sb3_model(self.model, path, self._metadata())
        # Older buffers go only once the new checkpoint is on disk.
        for old_buffer in folder.glob("replay_buffer_*.pkl"):
            if old_buffer != buffer_path:
                old_buffer.unlink(missing_ok=True)
        self.last_save_step = self.global_step
        self.last_save_time = time.monotonic()
        return path

    def _final_evaluation(self) -> dict[str, float]:
        """Evaluate the best model with ``final_eval_episodes`` and write ``results.json``."""
        path = self.run_dir / "best_model.zip"
        policy = load_sb3_policy(path, self.env_name, env_kwargs(self.config, self.env_name))
        metrics = evaluate_policy(
            self.env_name, self.config, policy, self.config.final_eval_episodes
        )
        elapsed = self._elapsed()
        fields = {
            "algo": self.algo,
            "baseline_hyperparameters": self.config.baseline_hyperparameters,
            "best_model_step": int(read_metadata(path)["global_step"]),
            "total_timesteps": self.global_step,
            "episodes": self.num_episodes,
            "wall_seconds": round(elapsed, 1),
            "train_seconds": round(elapsed - self.eval_seconds, 1),
            "final_eval_episodes": self.config.final_eval_episodes,
        }
        write_results(self.run_dir, self.env_name, fields, metrics)
        return metrics


class _ArenaCallback(BaseCallback):
    """Forwards every SB3 step to :meth:`BaselineTrainer.on_step`."""

    def __init__(self, trainer: BaselineTrainer) -> None:
        super().__init__()
        self.trainer = trainer

    def _on_step(self) -> bool:
        return self.trainer.on_step(self.locals.get("dones", np.zeros(1)))
