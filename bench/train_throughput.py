"""Training throughput: our DQN against Stable-Baselines3's DQN at identical settings.

Both learners get the same environment, network, batch size, updates per transition,
replay buffer and number of environments, and run alternately ``--repeats`` times, so
load from other processes affects both alike. Each run trains for ``--steps`` environment
steps after ``learning_starts``, with no evaluation, logging or saving in the timed part.
The script prints environment steps per second of each run and the ratio of the medians,
and writes them as JSON.

Settings: ``--preset game`` keeps each game's defaults (network, batch size, replay ratio);
``--preset sb3`` uses Stable-Baselines3 DQN's defaults for the network (64, 64), batch size
(32) and replay ratio (one update per 4 transitions); ``--set KEY=VALUE`` overrides any
option. Our DQN compiles its update (``compile_update``) before the clock starts; the
seconds that took are printed and stored separately.

Usage:
    python bench/train_throughput.py --env snake --steps 50000 --repeats 3
    python bench/train_throughput.py --env tictactoe --preset sb3 --num-envs 16
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from agents.baselines import algorithm_kwargs, make_baseline_env  # noqa: E402
from agents.config import ConfigError, parse_assignments, resolve_config  # noqa: E402

PRESETS = {
    "game": {},
    "sb3": {"hidden_sizes": (64, 64), "batch_size": 32, "train_freq": 4, "gradient_steps": 1},
}
OVERRIDES: dict = {}


def shared_config(env_name: str, steps: int, num_envs: int) -> dict:
    """Return the settings both learners use."""
    return {
        "total_timesteps": steps,
        "learning_starts": 1_000,
        "num_envs": num_envs,
        "progress": False,
        "save_replay_buffer": False,
        "eval_every": 10**9,
        # Runs of the default length compile their update. By the auto rule these short timed
        # runs would not, so compiling is switched on to measure the steady state.
        "compile_update": "on",
        **OVERRIDES,
    }


COMPILE_SECONDS: list[float] = []


def time_ours(env_name: str, steps: int, num_envs: int) -> float:
    """Return environment steps per second of our training loop, evaluation excluded."""
    import tempfile

    from agents.trainer import Trainer

    config = resolve_config(env_name, shared_config(env_name, steps, num_envs))
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(env_name, config, Path(folder))
        # Fill the buffer to learning_starts first, untimed, as SB3's run below does too.
        while trainer.global_step < config.learning_starts:
            trainer._collect(None)
        # The first update compiles it (when compile_update is on); that happens once per
        # run and is timed apart from the steady state.
        compile_started = time.perf_counter()
        trainer.agent.train_on_batch(trainer.replay_buffer.sample(config.batch_size))
        trainer.agent.num_updates -= 1
        COMPILE_SECONDS.append(time.perf_counter() - compile_started)
        started_step = trainer.global_step
        started = time.perf_counter()
        while trainer.global_step < config.total_timesteps:
            trainer._collect(None)
            trainer._learn()
        elapsed = time.perf_counter() - started
        trainer.collector.close()
    return (trainer.global_step - started_step) / elapsed


def time_sb3(env_name: str, steps: int, num_envs: int) -> float:
    """Return environment steps per second of Stable-Baselines3's DQN.learn.

    With one environment, SB3's train_freq and gradient_steps take the same values as ours.
    With several, they are converted so that the updates per transition stay the same.
    """
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.baselines import FrozenPolicyPool

    config = resolve_config(
        env_name, {**shared_config(env_name, steps, num_envs), "algo": "sb3-dqn"}
    )
    pool = FrozenPolicyPool("sb3-dqn", 1) if env_name == "tictactoe" else None
    vec_env = DummyVecEnv(
        [lambda: make_baseline_env(env_name, config, pool) for _ in range(num_envs)]
    )
    model = DQN("MlpPolicy", vec_env, seed=0, device="cpu", **algorithm_kwargs("sb3-dqn", config))
    if pool is not None:
        pool.add(model.policy)

    class Clock(BaseCallback):
        """Starts the clock once learning starts, as for our loop."""

        def __init__(self) -> None:
            super().__init__()
            self.started: tuple[int, float] | None = None

        def _on_step(self) -> bool:
            if self.started is None and self.model.num_timesteps >= config.learning_starts:
                self.started = (self.model.num_timesteps, time.perf_counter())
            return True

    clock = Clock()
    model.learn(total_timesteps=steps, callback=clock)
    elapsed = time.perf_counter() - clock.started[1]
    vec_env.close()
    return (model.num_timesteps - clock.started[0]) / elapsed


def main() -> None:
    """Run both learners alternately and print the ratio of their median throughputs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", choices=("snake", "tictactoe"), default="snake")
    parser.add_argument("--steps", type=int, default=50_000, help="environment steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each learner")
    parser.add_argument("--num-envs", type=int, default=8, help="environments for both")
    parser.add_argument(
        "--sb3-num-envs",
        type=int,
        default=0,
        help="environments for SB3 (default: --num-envs; 1 is SB3's default)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="game", help="settings")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an option"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "train_throughput.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sb3_num_envs = args.sb3_num_envs or args.num_envs
    OVERRIDES.update(PRESETS[args.preset])
    OVERRIDES["torch_threads"] = args.threads
    try:
        requested = parse_assignments(args.env, args.set)
        OVERRIDES.update(requested)
        resolve_config(args.env, shared_config(args.env, args.steps, args.num_envs), requested)
    except ConfigError as error:
        # One line, as train.py prints, without argparse's usage block.
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    settings = resolve_config(args.env, shared_config(args.env, args.steps, args.num_envs))
    print(
        f"{args.env}: hidden_sizes {settings.hidden_sizes}, batch_size {settings.batch_size}, "
        f"train_freq {settings.train_freq}, gradient_steps {settings.gradient_steps}, "
        f"buffer_size {settings.buffer_size}, n_step {settings.n_step}, "
        f"num_envs {settings.num_envs}, "
        f"compile_update {settings.compile_update}; SB3 num_envs {sb3_num_envs}"
    )

    ours, theirs = [], []
    for repeat in range(args.repeats):
        ours.append(time_ours(args.env, args.steps, args.num_envs))
        theirs.append(time_sb3(args.env, args.steps, sb3_num_envs))
        print(
            f"repeat {repeat + 1}: ours {ours[-1]:,.0f} steps/s, "
            f"SB3 DQN {theirs[-1]:,.0f} steps/s",
            flush=True,
        )
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median: ours {statistics.median(ours):,.0f}, SB3 DQN "
          f"{statistics.median(theirs):,.0f} steps/s; ratio {ratio:.2f}")
    result = {
        "env": args.env,
        "steps": args.steps,
        "repeats": args.repeats,
        "num_envs": args.num_envs,
        "sb3_num_envs": sb3_num_envs,
        "threads": args.threads,
        "preset": args.preset,
        "overrides": {key: str(value) for key, value in OVERRIDES.items()},
        "our_compile_seconds": COMPILE_SECONDS,
        "ours_steps_per_second": ours,
        "sb3_dqn_steps_per_second": theirs,
        "ratio_of_medians": ratio,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "command": " ".join(["python", *sys.argv]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
