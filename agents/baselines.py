"""Stable-Baselines3 baselines on the same environments, evaluation and run layout as our DQN.

``train.py ENV --algo sb3-dqn | sb3-ppo | sb3-a2c | sb3-maskable-ppo`` trains one of them.
Hyperparameters come from the same configuration keys as our DQN where the algorithms
share them (``baseline_hyperparameters="ours"``, the default), or from Stable-Baselines3's
own defaults (``"sb3"``).

Tic-tac-toe: Stable-Baselines3 trains a single agent, so it learns in the environment's
single-agent mode, on a random side each game, against frozen copies of the learner. A new
copy joins a pool every ``selfplay_update_interval`` steps; each opponent move comes from the
newest copy half of the time and from an older one otherwise, and is a random legal move
with probability ``selfplay_opponent_eps``. Stable-Baselines3's DQN, PPO and A2C cannot mask
moves, so an illegal move loses the game (the environment's rule); MaskablePPO receives the
legal-move mask while training and predicting.

Stable-Baselines3 saves models as zip files whose parts it unpickles on load, so load them
only from trusted sources. Our metadata travels inside the zip as ``dqn_arena.json``, read
without unpickling, so a file is checked against the environment before Stable-Baselines3
opens it.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.checkpoint import CheckpointError, atomic_write
from agents.config import TrainConfig, config_to_dict, env_kwargs
from agents.run_support import ENV_IDS
from envs.snake_env import SnakeEnv
from envs.tictactoe_env import TicTacToeEnv

logger = logging.getLogger(__name__)

SB3_ALGOS = ("sb3-dqn", "sb3-ppo", "sb3-a2c", "sb3-maskable-ppo")
METADATA_NAME = "dqn_arena.json"
_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}
TRUST_WARNING = (
    "Stable-Baselines3 model files unpickle parts of their content when loaded; "
    "load them only from sources you trust"
)


def algorithm_class(algo: str) -> Any:
    """Return the Stable-Baselines3 (or sb3-contrib) class of ``algo``."""
    if algo == "sb3-dqn":
        from stable_baselines3 import DQN

        return DQN
    if algo == "sb3-ppo":
        from stable_baselines3 import PPO

        return PPO
    if algo == "sb3-a2c":
        from stable_baselines3 import A2C

        return A2C
    if algo == "sb3-maskable-ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO
    raise ValueError(f"unknown baseline {algo!r}: expected one of {list(SB3_ALGOS)}")


def algorithm_kwargs(algo: str, config: TrainConfig) -> dict[str, Any]:
    """Translate the configuration into the constructor arguments of ``algo``.

    With ``baseline_hyperparameters="sb3"`` only the network, seed and device are set, and
    everything else keeps Stable-Baselines3's defaults.
    """
    activation = _ACTIVATIONS[config.activation]
    optimizer = torch.optim.Adam if config.optimizer == "adam" else torch.optim.RMSprop
    policy_kwargs: dict[str, Any] = {
        "net_arch": list(config.hidden_sizes),
        "activation_fn": activation,
    }
    if config.baseline_hyperparameters == "sb3":
        return {"policy_kwargs": policy_kwargs}
    policy_kwargs["optimizer_class"] = optimizer
    policy_kwargs["optimizer_kwargs"] = {"weight_decay": config.weight_decay}
    shared = {"learning_rate": config.learning_rate, "gamma": config.gamma}
    if algo == "sb3-dqn":
        # Our train_freq counts transitions over all environments and target_update_interval
        # counts gradient updates; SB3 counts calls of the vectorised env.step (num_envs
        # transitions each) and environment steps. Convert both so the replay ratio
        # (updates per transition) and the target refresh rate in transitions match.
        train_freq = max(1, config.train_freq // config.num_envs)
        transitions_per_call = train_freq * config.num_envs
        gradient_steps = max(
            1, round(config.gradient_steps * transitions_per_call / config.train_freq)
        )
        transitions_per_update = config.train_freq / config.gradient_steps
        return {
            **shared,
            "policy_kwargs": policy_kwargs,
            "buffer_size": config.buffer_size,
            "learning_starts": config.learning_starts,
            "batch_size": config.batch_size,
            "tau": config.tau,
            "train_freq": train_freq,
            "gradient_steps": gradient_steps,
            "target_update_interval": max(
                1, round(config.target_update_interval * transitions_per_update)
            ),
            "exploration_fraction": config.exploration_fraction,
            "exploration_initial_eps": config.exploration_initial_eps,
            "exploration_final_eps": config.exploration_final_eps,
            "max_grad_norm": config.max_grad_norm,
            # SB3's DQN sums n-step returns in its NStepReplayBuffer, as our collectors do.
            "n_steps": config.n_step,
        }
    on_policy = {
        **shared,
        "policy_kwargs": policy_kwargs,
        "gae_lambda": config.gae_lambda,
        "ent_coef": config.ent_coef,
        "vf_coef": config.vf_coef,
    }
    if config.max_grad_norm > 0:
        on_policy["max_grad_norm"] = config.max_grad_norm
    if algo == "sb3-a2c":
        if config.n_steps:
            on_policy["n_steps"] = config.n_steps
        return on_policy
    n_steps = config.n_steps or 2048
    on_policy.update(
        {
            "n_steps": n_steps,
            "n_epochs": config.n_epochs,
            "clip_range": config.clip_range,
            # PPO's minibatch must divide the rollout of n_steps * num_envs transitions.
            "batch_size": _divisor_at_most(n_steps * config.num_envs, config.batch_size),
        }
    )
    return on_policy


def _divisor_at_most(total: int, requested: int) -> int:
    for size in range(min(requested, total), 0, -1):
        if total % size == 0:
            return size
    return 1


class SB3Policy:
    """Greedy policy of a Stable-Baselines3 model, for evaluation, watching and opponents.

    Predictions are deterministic. MaskablePPO receives the legal-move mask; the other
    algorithms cannot use one, so their greedy move may be illegal.

    Args:
        model: A trained Stable-Baselines3 model.
        algo: Its ``--algo`` name.
        name: Label for reports.
    """

    def __init__(self, model: Any, algo: str, name: str) -> None:
        self.model = model
        self.algo = algo
        self.name = name

    def select_actions(
        self, observations: np.ndarray, action_masks: np.ndarray | None
    ) -> np.ndarray:
        observations = np.asarray(observations)
        if self.algo == "sb3-maskable-ppo":
            actions, _ = self.model.predict(
                observations, action_masks=action_masks, deterministic=True
            )
        else:
            actions, _ = self.model.predict(observations, deterministic=True)
        return np.asarray(actions).reshape(len(observations))

    @torch.no_grad()
    def action_scores(self, observations: np.ndarray) -> np.ndarray:
        """Return one score per action (Q-values, or policy logits), higher is better."""
        return policy_scores(self.model.policy, self.algo, observations)


@torch.no_grad()
def policy_scores(policy: Any, algo: str, observations: np.ndarray) -> np.ndarray:
    """Return action scores of an SB3 policy network: Q-values for DQN, logits otherwise."""
    policy.set_training_mode(False)
    tensor, _ = policy.obs_to_tensor(np.asarray(observations))
    if algo == "sb3-dqn":
        return policy.q_net(tensor).cpu().numpy()
    distribution = policy.get_distribution(tensor)
    return distribution.distribution.logits.cpu().numpy()


class FrozenPolicyPool:
    """Frozen copies of a learner's policy network, the self-play opponents of SB3 baselines.

    Args:
        algo: The baseline's ``--algo`` name.
        max_size: Copies kept; the oldest is dropped first.
    """

    def __init__(self, algo: str, max_size: int) -> None:
        self.algo = algo
        self.max_size = max_size
        self.snapshots: list[Any] = []

    def add(self, policy: Any) -> None:
        """Store a frozen copy of ``policy``."""
        snapshot = copy.deepcopy(policy)
        snapshot.set_training_mode(False)
        self.snapshots.append(snapshot)
        del self.snapshots[: -self.max_size]

    def choose(self, rng: np.random.Generator) -> Any:
        """Return the newest copy half of the time, otherwise a random older one."""
        if len(self.snapshots) == 1 or rng.random() < 0.5:
            return self.snapshots[-1]
        return self.snapshots[int(rng.integers(len(self.snapshots) - 1))]


class PoolOpponent:
    """Tic-tac-toe opponent that plays the best legal move of a frozen copy from a pool.

    Args:
        pool: Frozen copies to choose from, one per move.
        epsilon: Chance of a random legal move instead, so the learner meets variety.
    """

    def __init__(self, pool: FrozenPolicyPool, epsilon: float) -> None:
        self.pool = pool
        self.epsilon = epsilon
        self.name = "frozen copy"

    def select_action(self, game: Any, rng: np.random.Generator) -> int:
        """Return the opponent's move in ``game``."""
        legal = game.legal_actions()
        if not self.pool.snapshots or rng.random() < self.epsilon:
            return int(rng.choice(legal))
        snapshot = self.pool.choose(rng)
        scores = policy_scores(snapshot, self.pool.algo, game.observation()[None])[0]
        masked = np.full_like(scores, -np.inf)
        masked[legal] = scores[legal]
        return int(np.argmax(masked))


def make_baseline_env(env_name: str, config: TrainConfig, pool: FrozenPolicyPool | None) -> Any:
    """Build one training environment for a baseline, wrapped in SB3's Monitor."""
    from stable_baselines3.common.monitor import Monitor

    kwargs = env_kwargs(config, env_name)
    if env_name == "tictactoe":
        opponent = PoolOpponent(pool, config.selfplay_opponent_eps)
        env: Any = TicTacToeEnv(opponent=opponent, agent_player="random", **kwargs)
    else:
        env = SnakeEnv(**kwargs)
    return Monitor(env)


def write_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Add ``dqn_arena.json`` to a saved Stable-Baselines3 zip, replacing any older copy."""
    with zipfile.ZipFile(path, "a") as archive:
        if METADATA_NAME in archive.namelist():
            raise ValueError(f"{path} already contains {METADATA_NAME}")
        archive.writestr(METADATA_NAME, json.dumps(metadata, indent=2))


def save_sb3_model(model: Any, path: Path, metadata: dict[str, Any]) -> None:
    """Save an SB3 model atomically, with our metadata inside the zip."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.building")
    try:
        model.save(temporary)
        # SB3 appends ".zip" when the name has another suffix.
        built = temporary if temporary.exists() else temporary.with_name(temporary.name + ".zip")
        write_metadata(built, metadata)
        data = built.read_bytes()
    finally:
        for leftover in (temporary, temporary.with_name(temporary.name + ".zip")):
            leftover.unlink(missing_ok=True)
    atomic_write(path, lambda handle: handle.write(data))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read our metadata from an SB3 zip without unpickling anything.

    Raises:
        CheckpointError: If the file is not a zip or carries no dqn-arena metadata.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(METADATA_NAME))
    except FileNotFoundError:
        raise CheckpointError(f"model file not found: {path}") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as error:
        raise CheckpointError(
            f"{path} is not a dqn-arena Stable-Baselines3 model ({type(error).__name__})"
        ) from None


def is_sb3_model_file(path: str | os.PathLike) -> bool:
    """Return whether ``path`` is a zip that carries our SB3 metadata."""
    try:
        with zipfile.ZipFile(path) as archive:
            return METADATA_NAME in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def load_sb3_policy(
    path: str | os.PathLike, env_name: str, expected_kwargs: dict[str, Any]
) -> SB3Policy:
    """Load an SB3 model made by ``train.py --algo sb3-*`` as a greedy policy.

    The metadata is checked against the environment before Stable-Baselines3 unpickles
    anything; the caller should still warn that such files must come from trusted sources.

    Raises:
        CheckpointError: If the file is for another game, board or is not such a model.
    """
    path = Path(path)
    metadata = read_metadata(path)
    if metadata.get("env_id") != ENV_IDS[env_name]:
        raise CheckpointError(
            f"{path} was trained on {metadata.get('env_id')}, expected a model for "
            f"{ENV_IDS[env_name]}"
        )
    saved_kwargs = metadata.get("env_kwargs", {})
    for key, value in expected_kwargs.items():
        if key in ("grid_size", "board_size", "win_length") and saved_kwargs.get(key) != value:
            raise CheckpointError(
                f"{path} was trained with {key} {saved_kwargs.get(key)}, but {key} {value} "
                "was requested; use a model trained for that setting"
            )
    algo = str(metadata.get("algo"))
    try:
        model = load_sb3_model(algorithm_class(algo), path, device="cpu")
    except Exception as error:  # noqa: BLE001 - SB3 raises many kinds on a bad archive.
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"cannot load {path} with Stable-Baselines3: {first_line}") from None
    return SB3Policy(model, algo, path.name)


def load_sb3_model(algorithm: Any, path: Any, **kwargs: Any) -> Any:
    """Load a Stable-Baselines3 model, without SB3's false warning about ``n_steps``.

    A DQN saved with ``n_steps > 1`` stores both ``n_steps`` and its ``NStepReplayBuffer``
    class, and SB3 2.9 warns on load that ``n_steps`` is ignored because a custom replay
    buffer class is given. That class is the n-step buffer itself, with the same
    ``n_steps`` in its keyword arguments, so n-step returns stay in effect.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`n_steps=\d+` is ignored because a custom")
        return algorithm.load(path, **kwargs)


def baseline_metadata(env_name: str, config: TrainConfig, global_step: int) -> dict[str, Any]:
    """Return the metadata written into every baseline model file."""
    return {
        "format": "dqn-arena-sb3",
        "algo": config.algo,
        "env_name": env_name,
        "env_id": ENV_IDS[env_name],
        "env_kwargs": env_kwargs(config, env_name),
        "global_step": int(global_step),
        "baseline_hyperparameters": config.baseline_hyperparameters,
        "config": config_to_dict(config, env_name),
    }
