"""n-step returns and prioritized replay: sums, sum tree, weights, resume and real runs."""

import json
import re

import numpy as np
import pytest
import torch
from torch.nn import functional

from agents.checkpoint import (
    find_resumable_checkpoint,
    load_model_file,
    save_model_file,
    tensors_to_numpy,
)
from agents.collectors import EnvCollector, SelfPlayCollector
from agents.config import ConfigError, resolve_config
from agents.dqn import DQNAgent, UpdateSettings
from agents.networks import NetworkSpec
from agents.nstep import NStepAccumulator
from agents.prioritized_replay import PrioritizedReplayBuffer, SumTree
from agents.replay_buffer import ReplayBatch, ReplayBuffer
from agents.trainer import Trainer
from envs.tictactoe_env import TicTacToeEnv
from envs.tictactoe_rules import TicTacToeGame
from tests.conftest import run_script

# ----------------------------------------------------------------- n-step returns


class ScriptedEpisodesEnv:
    """Plays fixed episodes: ``episodes[e]`` is (rewards, "terminated" or "truncated").

    The observation is ``[env_id, episode, t]``, so every stored observation names the
    step it came from, and the final observation of an episode differs from the next
    episode's first one.
    """

    def __init__(self, env_id, episodes):
        self.env_id = env_id
        self.episodes = episodes
        self.episode = -1
        self.t = 0

    def _observation(self):
        return np.array([self.env_id, self.episode, self.t], dtype=np.int64)

    def reset(self, seed=None):
        self.episode += 1
        self.t = 0
        return self._observation(), {"action_mask": np.ones(2, bool)}

    def step(self, action):
        rewards, ending = self.episodes[self.episode]
        reward = rewards[self.t]
        self.t += 1
        last = self.t == len(rewards)
        terminated = last and ending == "terminated"
        truncated = last and ending == "truncated"
        return self._observation(), reward, terminated, truncated, {"action_mask": np.ones(2, bool)}

    def close(self):
        pass


class FirstActionAgent:
    def act(self, observations, epsilon, action_masks):
        return np.zeros(len(observations), dtype=np.int64)


def collect_all(collector, agent, num_steps, calls):
    stored = []
    for _ in range(calls):
        transitions, _ = collector.step(agent, 0.0, num_steps)
        if len(transitions):
            arrays = transitions.as_arrays()
            for index in range(len(transitions)):
                stored.append({key: value[index] for key, value in arrays.items()})
    return stored


def by_observation(stored):
    return {tuple(int(v) for v in t["observations"]): t for t in stored}


def test_nstep_env_collector_hand_sums():
    # gamma 0.5, n 3. Env 0: two terminated episodes of 2 steps. Env 1: one episode of 4
    # steps cut by a time limit.
    envs = [
        ScriptedEpisodesEnv(0, [([1.0, 2.0], "terminated"), ([4.0, 8.0], "terminated")] * 2),
        ScriptedEpisodesEnv(1, [([1.0, 2.0, 4.0, 8.0], "truncated")] * 2),
    ]
    collector = EnvCollector(envs, seed=0, n_step=3, gamma=0.5)
    stored = collect_all(collector, FirstActionAgent(), 2, 4)
    table = by_observation(stored)
    # (env, episode, t): (summed reward, next observation, terminated, steps)
    expected = {
        (0, 0, 0): (1 + 0.5 * 2, (0, 0, 2), True, 2),
        (0, 0, 1): (2.0, (0, 0, 2), True, 1),
        (0, 1, 0): (4 + 0.5 * 8, (0, 1, 2), True, 2),
        (0, 1, 1): (8.0, (0, 1, 2), True, 1),
        (1, 0, 0): (1 + 0.5 * 2 + 0.25 * 4, (1, 0, 3), False, 3),
        (1, 0, 1): (2 + 0.5 * 4 + 0.25 * 8, (1, 0, 4), False, 3),
        (1, 0, 2): (4 + 0.5 * 8, (1, 0, 4), False, 2),
        (1, 0, 3): (8.0, (1, 0, 4), False, 1),
    }
    assert sorted(table) == sorted(expected)
    assert len(stored) == len(expected)
    for key, (reward, next_observation, terminated, steps) in expected.items():
        transition = table[key]
        assert transition["rewards"] == pytest.approx(reward), key
        assert tuple(transition["next_observations"].tolist()) == next_observation, key
        assert bool(transition["terminations"]) == terminated, key
        assert transition["num_steps"] == steps, key


def test_nstep_window_stays_open_inside_episode():
    envs = [ScriptedEpisodesEnv(0, [([1.0] * 10, "terminated")])]
    collector = EnvCollector(envs, seed=0, n_step=4, gamma=0.9)
    stored = collect_all(collector, FirstActionAgent(), 1, 3)
    assert stored == []
    stored = collect_all(collector, FirstActionAgent(), 1, 1)
    assert len(stored) == 1
    assert stored[0]["rewards"] == pytest.approx(1 + 0.9 + 0.81 + 0.729)
    assert tuple(stored[0]["next_observations"].tolist()) == (0, 0, 4)
    assert not stored[0]["terminations"]


class AlternatingActionAgent:
    def act(self, observations, epsilon, action_masks):
        return (observations[:, 2] % 2).astype(np.int64)


@pytest.mark.parametrize("num_steps", [3, 2])
def test_one_step_collector_matches_accumulator(num_steps):
    # The one-step path skips the n-step windows; it must store what the windows produce.
    def make_collector(one_step):
        episodes = [([1.0, -2.0, 3.0], "terminated"), ([0.5, 4.0], "truncated")] * 3
        envs = [ScriptedEpisodesEnv(env_id, episodes) for env_id in range(3)]
        collector = EnvCollector(envs, seed=0, n_step=1, gamma=0.9)
        collector.one_step = one_step
        return collector

    fast, windowed = make_collector(True), make_collector(False)
    for _ in range(6):
        fast_transitions, fast_records = fast.step(AlternatingActionAgent(), 0.0, num_steps)
        windowed_transitions, windowed_records = windowed.step(
            AlternatingActionAgent(), 0.0, num_steps
        )
        fast_arrays = fast_transitions.as_arrays()
        windowed_arrays = windowed_transitions.as_arrays()
        assert len(fast_transitions) == len(windowed_transitions) == num_steps
        assert sorted(fast_arrays) == sorted(windowed_arrays)
        for key, expected in windowed_arrays.items():
            assert fast_arrays[key].dtype == expected.dtype, key
            np.testing.assert_array_equal(fast_arrays[key], expected, err_msg=key)
        assert [(r.episode_return, r.length) for r in fast_records] == [
            (r.episode_return, r.length) for r in windowed_records
        ]
    assert fast.returns == windowed.returns
    assert [o.tolist() for o in fast.observations] == [o.tolist() for o in windowed.observations]


def test_one_step_accumulator_passes_through():
    accumulator = NStepAccumulator(1, 0.99)
    observation = np.zeros(2)
    completed = accumulator.push(
        "a", observation, 1, 5.0, observation + 1, False, np.ones(2, bool), episode_over=False
    )
    assert len(completed) == 1
    assert completed[0].reward == 5.0
    assert completed[0].num_steps == 1
    assert len(accumulator.windows["a"]) == 0
    with pytest.raises(ValueError, match="n_step"):
        NStepAccumulator(0, 0.99)


class BoardScripts:
    """Plays a fixed move list per board, continuing the list in the board's next game."""

    def __init__(self, scripts):
        self.scripts = [list(moves) for moves in scripts]

    def act(self, observations, epsilon, action_masks):
        actions = []
        for board, mask in enumerate(action_masks):
            move = self.scripts[board].pop(0)
            assert mask[move], f"scripted move {move} is illegal on board {board}"
            actions.append(move)
        return np.array(actions)


def observation_after(moves):
    return TicTacToeGame.from_moves(moves).observation()


def test_nstep_selfplay_two_boards():
    game_a = [0, 3, 1, 4, 2]  # X wins on the top row at ply 5.
    game_b = [4, 0, 8, 2, 6, 1]  # O wins on the top row at ply 6.
    next_games = [[5, 3], [8]]  # openings of the next games, still open at the end
    collector = SelfPlayCollector(
        [TicTacToeEnv(), TicTacToeEnv()], 0, augment_symmetries=False, n_step=3, gamma=0.5
    )
    agent = BoardScripts([game_a + next_games[0], game_b + next_games[1]])
    stored = []
    for step in range(7):
        count = 2 if step < 6 else 1
        stored.extend(collect_all(collector, agent, count, 1))
    # (game, plies before the move, summed reward, steps). All of them are terminal.
    expected = [
        (game_a, 0, 0.25, 3),  # X: 0, 0, +1 over its own three moves
        (game_a, 2, 0.5, 2),
        (game_a, 4, 1.0, 1),
        (game_a, 1, -0.5, 2),  # O: 0, -1
        (game_a, 3, -1.0, 1),
        (game_b, 0, -0.25, 3),  # X: 0, 0, -1
        (game_b, 2, -0.5, 2),
        (game_b, 4, -1.0, 1),
        (game_b, 1, 0.25, 3),  # O: 0, 0, +1
        (game_b, 3, 0.5, 2),
        (game_b, 5, 1.0, 1),
    ]
    assert len(stored) == len(expected)
    for game, plies, reward, steps in expected:
        observation = observation_after(game[:plies])
        action = game[plies]
        matches = [
            t
            for t in stored
            if t["actions"] == action and np.array_equal(t["observations"], observation)
        ]
        assert len(matches) == 1, (game, plies)
        transition = matches[0]
        assert transition["rewards"] == pytest.approx(reward), (game, plies)
        assert transition["num_steps"] == steps, (game, plies)
        assert transition["terminations"], (game, plies)
        np.testing.assert_array_equal(transition["next_observations"], observation_after(game))
        assert not transition["next_action_masks"].any()


def test_nstep_selfplay_symmetry_copies():
    collector = SelfPlayCollector([TicTacToeEnv()], 0, augment_symmetries=True, n_step=3, gamma=0.5)
    agent = BoardScripts([[0, 3, 1, 4, 2]])
    stored = collect_all(collector, agent, 1, 5)
    assert len(stored) == 5 * 8
    rewards = sorted(float(t["rewards"]) for t in stored)
    assert rewards == sorted([0.25, 0.5, 1.0, -0.5, -1.0] * 8)
    steps = sorted(int(t["num_steps"]) for t in stored)
    assert steps == sorted([3, 2, 1, 2, 1] * 8)


@pytest.mark.parametrize("augment", [False, True])
def test_one_step_selfplay_matches_accumulator(augment):
    game_a = [0, 3, 1, 4, 2, 4, 0]  # X wins at ply 5, then a second game opens
    game_b = [4, 0, 8, 2, 6, 1, 8]  # O wins at ply 6, then a second game opens

    def collect(one_step):
        collector = SelfPlayCollector(
            [TicTacToeEnv(), TicTacToeEnv()], 0, augment_symmetries=augment, n_step=1
        )
        collector.one_step = one_step
        return collect_all(collector, BoardScripts([game_a, game_b]), 2, 7)

    fast, windowed = collect(True), collect(False)
    assert len(fast) == len(windowed) > 0
    for index, (row, expected) in enumerate(zip(fast, windowed, strict=True)):
        assert sorted(row) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(row[key], value, err_msg=f"{key} of row {index}")


def test_buffer_discounts_from_steps():
    buffer = ReplayBuffer(8, (2,), np.int8, 3, store_action_masks=False, seed=0, gamma=0.9)
    buffer.add(
        observations=np.arange(6).reshape(3, 2),
        actions=np.array([0, 1, 2]),
        rewards=np.zeros(3),
        next_observations=np.zeros((3, 2)),
        terminations=np.zeros(3, bool),
        num_steps=np.array([1, 2, 3], np.uint8),
    )
    batch = buffer.sample(64)
    expected = 0.9 ** batch.actions.astype(np.float64) * 0.9
    np.testing.assert_allclose(batch.discounts, expected, rtol=1e-6)
    plain = ReplayBuffer(8, (2,), np.int8, 3, store_action_masks=False, seed=0)
    with pytest.raises(ValueError, match="gamma"):
        plain.add(
            observations=np.zeros((1, 2)),
            actions=np.array([0]),
            rewards=np.zeros(1),
            next_observations=np.zeros((1, 2)),
            terminations=np.zeros(1, bool),
            num_steps=np.array([2], np.uint8),
        )


def test_buffer_loads_state_without_steps():
    buffer = ReplayBuffer(8, (2,), np.int8, 3, store_action_masks=False, seed=0, gamma=0.9)
    buffer.add(
        observations=np.zeros((2, 2)),
        actions=np.array([0, 1]),
        rewards=np.zeros(2),
        next_observations=np.zeros((2, 2)),
        terminations=np.zeros(2, bool),
        num_steps=np.array([3, 3], np.uint8),
    )
    state = buffer.state_dict()
    del state["arrays"]["num_steps"]
    copy = ReplayBuffer(8, (2,), np.int8, 3, store_action_masks=False, seed=0, gamma=0.9)
    copy.num_steps[:] = 7
    copy.load_state_dict(state)
    assert copy.num_steps[:2].tolist() == [1, 1]


# ----------------------------------------------------------------- the update


def make_agent():
    spec = NetworkSpec(kind="mlp", input_shape=(4,), num_actions=3, hidden_sizes=(16,))
    return DQNAgent(spec, UpdateSettings(gamma=0.9, loss="huber"), seed=0)


def test_update_uses_discounts_and_weights():
    agent = make_agent()
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(6, 4)).astype(np.float32)
    next_observations = rng.normal(size=(6, 4)).astype(np.float32)
    batch = ReplayBatch(
        observations=observations,
        actions=np.array([0, 1, 2, 0, 1, 2]),
        rewards=np.array([1.0, 0.0, -1.0, 0.5, 0.0, 2.0], np.float32),
        next_observations=next_observations,
        terminations=np.array([False, False, True, False, False, True]),
        next_action_masks=np.ones((6, 3), bool),
        discounts=np.array([0.9, 0.81, 0.9, 0.729, 0.5, 0.1], np.float32),
        weights=np.array([1.0, 0.5, 0.25, 1.0, 0.1, 0.7], np.float32),
    )
    # The expected target, loss and TD errors from the networks before the step.
    with torch.no_grad():
        next_online = agent.q_network(torch.from_numpy(next_observations))
        next_target = agent.target_network(torch.from_numpy(next_observations))
        q_taken = agent.q_network(torch.from_numpy(observations))[np.arange(6), batch.actions]
    next_values = next_target[np.arange(6), next_online.argmax(dim=1)].numpy()
    target = batch.rewards + batch.discounts * ~batch.terminations * next_values
    losses = functional.smooth_l1_loss(q_taken, torch.from_numpy(target), reduction="none")
    expected_loss = float((torch.from_numpy(batch.weights) * losses).mean())

    loss, _, td_errors = agent.train_on_batch(batch)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(td_errors, np.abs(target - q_taken.numpy()), rtol=1e-5)
    assert td_errors.shape == (6,)


def test_update_without_weights_is_plain_mean():
    agent = make_agent()
    observations = np.ones((4, 4), np.float32)
    batch = ReplayBatch(
        observations=observations,
        actions=np.array([0, 1, 2, 0]),
        rewards=np.array([3.0, -3.0, 0.2, 0.0], np.float32),
        next_observations=observations,
        terminations=np.ones(4, bool),
        next_action_masks=None,
    )
    with torch.no_grad():
        q_taken = agent.q_network(torch.from_numpy(observations))[np.arange(4), batch.actions]
    expected = functional.smooth_l1_loss(q_taken, torch.from_numpy(batch.rewards))
    loss, _, td_errors = agent.train_on_batch(batch)
    assert loss == pytest.approx(float(expected), rel=1e-5)
    np.testing.assert_allclose(td_errors, np.abs(batch.rewards - q_taken.numpy()), rtol=1e-5)


# ----------------------------------------------------------------- sum tree


def assert_tree_consistent(tree, leaves):
    np.testing.assert_allclose(tree.get(np.arange(len(leaves))), leaves)
    assert tree.total == pytest.approx(leaves.sum(), rel=1e-12)
    internal = np.arange(1, tree.num_leaves)
    np.testing.assert_allclose(
        tree.nodes[internal], tree.nodes[2 * internal] + tree.nodes[2 * internal + 1], rtol=1e-12
    )


def test_sum_tree_random_updates():
    rng = np.random.default_rng(0)
    tree = SumTree(37)
    leaves = np.zeros(37)
    for _ in range(200):
        indices = rng.integers(0, 37, size=rng.integers(1, 20))
        priorities = rng.exponential(size=len(indices))
        tree.update(indices, priorities)
        for index, priority in zip(indices, priorities):
            leaves[index] = priority  # the last write of a repeated index wins
        assert_tree_consistent(tree, leaves)
    rebuilt = SumTree(37)
    rebuilt.set_all(leaves)
    assert_tree_consistent(rebuilt, leaves)


def test_sum_tree_rejects_bad_updates():
    tree = SumTree(5)
    with pytest.raises(ValueError, match="leaf indices"):
        tree.update(np.array([5]), np.array([1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        tree.update(np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        tree.update(np.array([0]), np.array([np.nan]))


def test_sum_tree_find_matches_prefix_sums():
    rng = np.random.default_rng(1)
    priorities = rng.exponential(size=50)
    priorities[[3, 17, 18, 49]] = 0.0  # leaves of priority 0 are never found
    tree = SumTree(50)
    tree.set_all(priorities)
    values = rng.random(10_000) * tree.total
    found = tree.find(values)
    expected = np.searchsorted(np.cumsum(priorities), values, side="right")
    np.testing.assert_array_equal(found, expected)
    assert not np.isin(found, [3, 17, 18, 49]).any()


def test_sum_tree_find_at_boundaries():
    # Integer priorities keep every prefix sum exact, so a value equal to a boundary
    # belongs to the first leaf after it, and zero-priority leaves are skipped.
    priorities = np.array([0, 2, 0, 0, 1, 3, 0, 1, 0], dtype=np.float64)
    tree = SumTree(len(priorities))
    tree.set_all(priorities)
    values = np.arange(int(tree.total), dtype=np.float64)
    expected = [1, 1, 4, 5, 5, 5, 7]
    assert tree.find(values).tolist() == expected


# ----------------------------------------------------------------- prioritized buffer


def make_prioritized(capacity=16, alpha=1.0, seed=0):
    return PrioritizedReplayBuffer(
        capacity, (1,), np.int8, 2, store_action_masks=False, seed=seed, gamma=0.9, alpha=alpha
    )


def fill(buffer, count):
    return buffer.add(
        observations=np.arange(count).reshape(count, 1),
        actions=np.zeros(count, np.int64),
        rewards=np.zeros(count),
        next_observations=np.zeros((count, 1)),
        terminations=np.zeros(count, bool),
    )


def test_sampling_frequency_follows_priority():
    buffer = make_prioritized(capacity=8, alpha=1.0)
    fill(buffer, 8)
    td_errors = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 8.0, 1.0, 6.0])
    buffer.update_priorities(np.arange(8), td_errors)
    priorities = td_errors + buffer.eps
    counts = np.zeros(8)
    for _ in range(1000):
        counts += np.bincount(buffer.sample(64).indices, minlength=8)
    # Chi-square against the proportional frequencies; 26.1 is the 99.95% quantile for 7
    # degrees of freedom, and uniform sampling scores in the thousands.
    expected = counts.sum() * priorities / priorities.sum()
    statistic = ((counts - expected) ** 2 / expected).sum()
    assert statistic < 26.1
    uniform = np.full(8, counts.sum() / 8)
    assert ((counts - uniform) ** 2 / uniform).sum() > 26.1


def test_priorities_from_td_errors_with_alpha():
    buffer = make_prioritized(capacity=8, alpha=0.5)
    fill(buffer, 4)
    buffer.update_priorities(np.arange(4), np.array([0.0, -1.0, 4.0, 9.0]))
    expected = (np.array([0.0, 1.0, 4.0, 9.0]) + buffer.eps) ** 0.5
    np.testing.assert_allclose(buffer.tree.get(np.arange(4)), expected)
    assert buffer.max_priority == pytest.approx(3.0)


def test_new_transitions_get_max_priority():
    buffer = make_prioritized(capacity=8)
    fill(buffer, 3)
    np.testing.assert_allclose(buffer.tree.get(np.arange(3)), 1.0)
    buffer.update_priorities(np.arange(3), np.array([0.1, 5.0, 0.2]))
    new = fill(buffer, 2)
    np.testing.assert_allclose(buffer.tree.get(new), 5.0 + buffer.eps)
    # Overwritten slots take the new transition's priority, not the old one.
    buffer.update_priorities(new, np.array([0.0, 0.0]))
    wrapped = fill(buffer, 4)
    assert wrapped.tolist() == [5, 6, 7, 0]
    np.testing.assert_allclose(buffer.tree.get(wrapped), buffer.max_priority)


def test_importance_weights_formula():
    buffer = make_prioritized(capacity=16, alpha=1.0)
    fill(buffer, 10)
    td_errors = np.arange(1, 11, dtype=np.float64)
    buffer.update_priorities(np.arange(10), td_errors)
    priorities = td_errors + buffer.eps
    batch = buffer.sample(32, beta=0.4)
    probabilities = priorities[batch.indices] / priorities.sum()
    raw = (10 * probabilities) ** -0.4
    np.testing.assert_allclose(batch.weights, raw / raw.max(), rtol=1e-6)
    assert batch.weights.max() == pytest.approx(1.0)
    assert buffer.sample(32, beta=0.0).weights.tolist() == [1.0] * 32
    np.testing.assert_allclose(batch.discounts, 0.9, rtol=1e-6)


def test_priorities_survive_checkpoint_file(tmp_path):
    buffer = make_prioritized(capacity=16, alpha=0.6)
    fill(buffer, 12)
    buffer.update_priorities(np.arange(12), np.linspace(0.0, 3.0, 12))
    path = tmp_path / "buffer.pt"
    save_model_file(path, {"replay_buffer": buffer.state_dict()})
    restored = make_prioritized(capacity=16, alpha=0.6, seed=5)
    restored.load_state_dict(tensors_to_numpy(load_model_file(path)["replay_buffer"]))
    np.testing.assert_array_equal(restored.tree.get(np.arange(16)), buffer.tree.get(np.arange(16)))
    assert restored.tree.total == buffer.tree.total
    assert restored.max_priority == buffer.max_priority
    np.testing.assert_array_equal(restored.sample(32).indices, buffer.sample(32).indices)


def test_uniform_state_loads_at_max_priority():
    uniform = ReplayBuffer(8, (1,), np.int8, 2, store_action_masks=False, seed=0)
    uniform.add(
        observations=np.zeros((3, 1)),
        actions=np.zeros(3, np.int64),
        rewards=np.zeros(3),
        next_observations=np.zeros((3, 1)),
        terminations=np.zeros(3, bool),
    )
    buffer = make_prioritized(capacity=8)
    buffer.load_state_dict(uniform.state_dict())
    assert len(buffer) == 3
    assert buffer.tree.total == pytest.approx(3.0)


# ----------------------------------------------------------------- real runs


TINY = {
    "tictactoe": {
        "total_timesteps": 2000,
        "learning_starts": 300,
        "eval_every": 1000,
        "eval_episodes": 5,
        "final_eval_episodes": 5,
        "buffer_size": 5000,
        "num_envs": 4,
        "progress": False,
    },
    "snake": {
        "total_timesteps": 1500,
        "learning_starts": 200,
        "eval_every": 750,
        "eval_episodes": 3,
        "final_eval_episodes": 3,
        "buffer_size": 5000,
        "num_envs": 4,
        "progress": False,
        "no_progress_factor": 5,
    },
}
SWITCHES = {"n_step": {"n_step": 3}, "prioritized": {"prioritized_replay": True}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folders = {}
    for env_name, options in TINY.items():
        for switch, values in SWITCHES.items():
            run_dir = tmp_path_factory.mktemp("runs") / f"{env_name}-{switch}"
            config = resolve_config(env_name, {**options, **values})
            result = Trainer(env_name, config, run_dir).run()
            assert not result.interrupted
            folders[env_name, switch] = (run_dir, config)
    return folders


@pytest.mark.parametrize("env_name", ["tictactoe", "snake"])
@pytest.mark.parametrize("switch", ["n_step", "prioritized"])
def test_short_run_writes_results(runs, env_name, switch):
    run_dir, config = runs[env_name, switch]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["total_timesteps"] == config.total_timesteps
    assert results["stop_reason"] == "reached total_timesteps"
    assert np.isfinite(results["metrics"]["score"])


@pytest.mark.parametrize("env_name", ["tictactoe", "snake"])
def test_run_stores_multi_step_transitions(runs, env_name):
    run_dir, _ = runs[env_name, "n_step"]
    path = next((run_dir / "checkpoints").glob("replay_buffer_*.pt"))
    arrays = tensors_to_numpy(load_model_file(path)["replay_buffer"])["arrays"]
    assert arrays["num_steps"].max() == 3
    assert arrays["num_steps"].min() == 1


@pytest.mark.parametrize("env_name", ["tictactoe", "snake"])
def test_resume_restores_priorities(runs, env_name):
    run_dir, config = runs[env_name, "prioritized"]
    path = next((run_dir / "checkpoints").glob("replay_buffer_*.pt"))
    saved = tensors_to_numpy(load_model_file(path)["replay_buffer"])
    # Updated priorities differ from the initial one, so a fresh buffer could not match.
    assert len(np.unique(saved["priorities"])) > 10
    _, payload = find_resumable_checkpoint(run_dir)
    trainer = Trainer(env_name, config, run_dir, resume=payload)
    restored = trainer.replay_buffer
    assert isinstance(restored, PrioritizedReplayBuffer)
    np.testing.assert_array_equal(restored.tree.get(np.arange(len(restored))), saved["priorities"])
    assert restored.max_priority == saved["max_priority"]
    trainer.collector.close()


def test_beta_rises_to_final(tmp_path):
    config = resolve_config("snake", {**TINY["snake"], "prioritized_replay": True})
    trainer = Trainer("snake", config, tmp_path)
    assert trainer.per_beta() == pytest.approx(0.4)
    trainer.global_step = config.total_timesteps // 2
    assert trainer.per_beta() == pytest.approx(0.7)
    trainer.global_step = config.total_timesteps
    assert trainer.per_beta() == pytest.approx(1.0)
    trainer.collector.close()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_step": 0}, "n_step must be between 1 and 100"),
        ({"n_step": 101}, "n_step must be between 1 and 100"),
        ({"per_alpha": 1.5}, "per_alpha must be between 0 and 1"),
        ({"per_beta": -0.1}, "per_beta must be between 0 and 1"),
        ({"per_beta_final": 2.0}, "per_beta_final must be between 0 and 1"),
        ({"per_eps": 0.0}, "per_eps must be positive"),
        ({"n_step": 5, "num_envs": 16, "buffer_size": 1000}, "16 x num_envs x n_step (1280)"),
    ],
)
def test_bad_switch_values_rejected(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_config("tictactoe", overrides)


def test_bad_n_step_exits_2():
    result = run_script("train.py", "snake", "--n-step", "0")
    assert result.returncode == 2
    assert "n_step must be between 1 and 100, got 0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_snake_buffer_bound_has_no_symmetry_factor():
    # Snake stores no symmetric copies, so 8 environments with 10-step returns can close at
    # most 80 transitions in one step.
    config = resolve_config("snake", {"num_envs": 8, "n_step": 10, "buffer_size": 1000})
    assert config.buffer_size == 1000
    with pytest.raises(ConfigError, match=re.escape("num_envs x n_step (800), got 500")):
        resolve_config(
            "snake", {"num_envs": 8, "n_step": 100, "buffer_size": 500, "batch_size": 32}
        )
