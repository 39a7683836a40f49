"""TensorBoard logging when episodes never end, and training without any window."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import agents.trainer as trainer_module
from agents.config import resolve_config
from agents.trainer import Trainer, TrainingError, open_summary_writer
from tests.conftest import ROOT


class EndlessEnv(gym.Env):
    """An episode that never ends within the test: a counter the agent cannot finish."""

    observation_space = spaces.Box(0.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self._observation(), {"action_mask": np.ones(3, bool)}

    def step(self, action):
        self.steps += 1
        return self._observation(), 0.0, False, False, {"action_mask": np.ones(3, bool)}

    def _observation(self):
        return self.np_random.random(4).astype(np.float32)


def test_scalars_written_when_episodes_never_end(tmp_path, monkeypatch):
    monkeypatch.setattr(
        trainer_module, "make_env", lambda name, kwargs, render_mode=None: EndlessEnv()
    )
    # Evaluation plays the real snake game, which this network's input does not fit; this
    # test is about logging, so evaluation returns a constant.
    monkeypatch.setattr(
        Trainer, "evaluate_policy", lambda self, policy, n: {"score": 0.0, "mean_score": 0.0}
    )
    monkeypatch.setattr(Trainer, "_final_evaluation", lambda self: {})
    config = resolve_config(
        "snake",
        {
            "total_timesteps": 5000,
            "learning_starts": 500,
            "log_interval": 1000,
            "eval_every": 10_000,
            "num_envs": 4,
            "progress": False,
            "buffer_size": 5000,
        },
    )
    result = Trainer("snake", config, tmp_path).run()
    assert result.global_step == 5000

    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    tags = events.Tags()["scalars"]
    for tag in ("train/loss", "rollout/exploration_rate", "time/fps"):
        assert tag in tags, tag
    assert [e.step for e in events.Scalars("time/fps")] == [1000, 2000, 3000, 4000, 5000]
    assert "rollout/ep_rew_mean" not in tags  # No episode ended.


def test_missing_tensorboard_gives_clear_message(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(TrainingError, match="pip install tensorboard"):
        open_summary_writer(tmp_path, 0)


def test_training_never_imports_pygame(tmp_path):
    code = (
        "import sys; from agents.config import resolve_config; from agents.trainer import Trainer; "
        "config = resolve_config('snake', {'total_timesteps': 600, 'learning_starts': 100, "
        "'eval_every': 300, 'eval_episodes': 2, 'final_eval_episodes': 2, 'progress': False, "
        "'buffer_size': 1000}); "
        f"Trainer('snake', config, {str(tmp_path)!r}).run(); "
        "print('pygame' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"
