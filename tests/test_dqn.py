"""DQN targets, masked action choice and updates."""

import numpy as np
import pytest
import torch

from agents.dqn import DQNAgent, UpdateSettings, compute_td_targets, masked_argmax
from agents.networks import NetworkSpec, build_q_network, model_summary
from agents.replay_buffer import ReplayBatch


def make_agent(**settings) -> DQNAgent:
    spec = NetworkSpec(kind="mlp", input_shape=(18,), num_actions=9, hidden_sizes=(32,))
    return DQNAgent(spec, UpdateSettings(**settings), seed=0)


@pytest.mark.parametrize(
    ("terminated", "expected"),
    [(True, 1.0), (False, 5.5)],
)
def test_td_target_terminated_or_not(terminated, expected):
    # r = 1, gamma = 0.9, max Q_target(s') = 5: only termination stops bootstrapping.
    target = compute_td_targets(
        rewards=torch.tensor([1.0]),
        terminations=torch.tensor([terminated]),
        next_q_target=torch.tensor([[5.0, 2.0]]),
        gamma=0.9,
    )
    assert target.item() == pytest.approx(expected)


def test_td_target_cases_with_truncation():
    # Truncation is not an input of the target: "truncated only" and "neither" both
    # bootstrap (5.5); "terminated" and "both" do not (1.0). The buffer stores only the
    # terminated flag, so a truncated step reaches the target as not terminated.
    cases = {
        "terminated": (True, 1.0),
        "truncated": (False, 5.5),
        "neither": (False, 5.5),
        "both": (True, 1.0),
    }
    for name, (terminated, expected) in cases.items():
        target = compute_td_targets(
            torch.tensor([1.0]), torch.tensor([terminated]), torch.tensor([[5.0]]), 0.9
        )
        assert target.item() == pytest.approx(expected), name


def test_masked_greedy_move_skips_occupied_cell():
    q_values = torch.tensor([[10.0, 0, 0, 0, 0, 0, 0, 0, 3.0]])
    mask = torch.ones(1, 9, dtype=torch.bool)
    mask[0, 0] = False
    assert masked_argmax(q_values, mask).item() == 8


def test_bootstrap_max_uses_legal_moves_only():
    next_q = torch.tensor([[9.0, 9, 9, 9, 9, 9, 9, 1, 2]])
    mask = torch.zeros(1, 9, dtype=torch.bool)
    mask[0, 7] = mask[0, 8] = True
    target = compute_td_targets(torch.tensor([0.0]), torch.tensor([False]), next_q, 0.9, mask)
    assert target.item() == pytest.approx(0.9 * 2.0)


def test_double_q_picks_online_argmax_among_legal():
    next_q_target = torch.tensor([[9.0, 4.0, 1.0]])
    next_q_online = torch.tensor([[100.0, 0.0, 5.0]])
    mask = torch.tensor([[False, True, True]])
    target = compute_td_targets(
        torch.tensor([0.0]), torch.tensor([False]), next_q_target, 1.0, mask, next_q_online
    )
    # Online choice among legal moves is action 2; its target value is 1.
    assert target.item() == pytest.approx(1.0)


def test_no_legal_next_action_contributes_zero():
    mask = torch.zeros(1, 3, dtype=torch.bool)
    target = compute_td_targets(
        torch.tensor([0.5]), torch.tensor([False]), torch.tensor([[7.0, 7.0, 7.0]]), 0.9, mask
    )
    assert target.item() == pytest.approx(0.5)


def test_full_exploration_never_picks_illegal_moves():
    agent = make_agent()
    rng = np.random.default_rng(1)
    observations = np.zeros((1000, 18), dtype=np.int8)
    masks = rng.random((1000, 9)) < 0.4
    masks[np.arange(1000), rng.integers(0, 9, 1000)] = True  # At least one legal move.
    actions = agent.act(observations, epsilon=1.0, action_masks=masks)
    assert masks[np.arange(1000), actions].all()
    # Exploration really explores: more than one distinct action per common mask.
    assert len(np.unique(actions)) == 9


def test_greedy_actions_never_explore():
    agent = make_agent()
    observations = np.random.default_rng(0).integers(0, 2, (50, 18)).astype(np.int8)
    first = agent.act(observations, epsilon=0.0)
    second = agent.act(observations, epsilon=0.0)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, agent.greedy_actions(observations))


def test_update_moves_q_toward_target():
    agent = make_agent(learning_rate=1e-2)
    observations = np.zeros((32, 18), dtype=np.int8)
    batch = ReplayBatch(
        observations=observations,
        actions=np.full(32, 3, dtype=np.int16),
        rewards=np.ones(32, dtype=np.float32),
        next_observations=observations,
        terminations=np.ones(32, dtype=bool),
        next_action_masks=np.ones((32, 9), dtype=bool),
    )
    before = agent.q_values(observations[:1])[0, 3]
    for _ in range(200):
        loss, _, _ = agent.train_on_batch(batch)
    after = agent.q_values(observations[:1])[0, 3]
    assert abs(after - 1.0) < abs(before - 1.0)
    assert after == pytest.approx(1.0, abs=0.05)
    assert np.isfinite(loss)


def test_hard_and_polyak_target_updates():
    agent = make_agent(tau=1.0)
    with torch.no_grad():
        for parameter in agent.q_network.parameters():
            parameter.add_(1.0)
    agent.update_target_network()
    for online, target in zip(agent.q_network.parameters(), agent.target_network.parameters()):
        assert torch.equal(online, target)

    soft = make_agent(tau=0.5)
    target_before = [p.clone() for p in soft.target_network.parameters()]
    with torch.no_grad():
        for parameter in soft.q_network.parameters():
            parameter.add_(2.0)
    soft.update_target_network()
    for before, target in zip(target_before, soft.target_network.parameters()):
        torch.testing.assert_close(target, before + 1.0)


def test_dropout_only_active_in_training():
    spec = NetworkSpec(kind="mlp", input_shape=(8,), num_actions=2, hidden_sizes=(64,), dropout=0.5)
    network = build_q_network(spec)
    inputs = torch.ones(4, 8)
    network.eval()
    assert torch.equal(network(inputs), network(inputs))
    network.train()
    outputs = [network(inputs) for _ in range(5)]
    assert any(not torch.equal(outputs[0], other) for other in outputs[1:])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu"])
def test_activations_and_rmsprop_build(activation):
    agent = DQNAgent(
        NetworkSpec(kind="mlp", input_shape=(4,), num_actions=2, activation=activation),
        UpdateSettings(optimizer="rmsprop", weight_decay=1e-4),
    )
    assert isinstance(agent.optimizer, torch.optim.RMSprop)
    assert agent.optimizer.param_groups[0]["weight_decay"] == 1e-4


def test_cnn_reshapes_flat_grid():
    spec = NetworkSpec(
        kind="cnn",
        input_shape=(4 * 10 * 10,),
        num_actions=3,
        grid_shape=(4, 10, 10),
        hidden_sizes=(64,),
    )
    network = build_q_network(spec)
    assert network(torch.zeros(5, 400)).shape == (5, 3)


def test_dueling_head_output_shape():
    spec = NetworkSpec(kind="mlp", input_shape=(6,), num_actions=4, dueling=True)
    assert build_q_network(spec)(torch.zeros(3, 6)).shape == (3, 4)


def test_model_summary_counts_dense_parameters():
    spec = NetworkSpec(kind="mlp", input_shape=(18,), num_actions=9, hidden_sizes=(128, 64))
    summary = model_summary(build_q_network(spec))
    # inputs x units + one bias per unit, for each dense layer.
    assert "2,432" in summary  # 18 * 128 + 128
    assert "8,256" in summary  # 128 * 64 + 64
    assert "585" in summary  # 64 * 9 + 9
    assert summary.splitlines()[-1].split()[-1] == "11,273"


def test_invalid_settings_rejected():
    with pytest.raises(ValueError, match="optimizer"):
        make_agent(optimizer="sgd")
    with pytest.raises(ValueError, match="tau"):
        make_agent(tau=0.0)
    with pytest.raises(ValueError, match="activation"):
        build_q_network(NetworkSpec(kind="mlp", input_shape=(2,), num_actions=2, activation="tanh"))


def _random_batch(rng: np.random.Generator, size: int = 16) -> ReplayBatch:
    masks = rng.random((size, 9)) < 0.6
    masks[0] = False  # a next state without any legal move
    return ReplayBatch(
        observations=rng.integers(-1, 2, (size, 18)).astype(np.int8),
        actions=rng.integers(0, 9, size).astype(np.int16),
        rewards=rng.standard_normal(size).astype(np.float32),
        next_observations=rng.integers(-1, 2, (size, 18)).astype(np.int8),
        terminations=rng.random(size) < 0.3,
        next_action_masks=masks,
        discounts=(0.9 ** rng.integers(1, 4, size)).astype(np.float32),
        weights=rng.uniform(0.2, 1.0, size).astype(np.float32),
    )


def test_compiled_update_matches_eager_update():
    # The same start, batches and settings: after 5 updates (with a target refresh between)
    # both agents hold the same weights, up to float rounding.
    torch.manual_seed(0)
    eager = make_agent(max_grad_norm=0.5)
    torch.manual_seed(0)
    compiled = make_agent(max_grad_norm=0.5, compile_update=True)
    assert compiled._compiled_update is not None
    rng = np.random.default_rng(1)
    for update in range(5):
        batch = _random_batch(rng)
        eager_loss, eager_q, eager_errors = eager.train_on_batch(batch)
        compiled_loss, compiled_q, compiled_errors = compiled.train_on_batch(batch)
        assert compiled_loss == pytest.approx(eager_loss, rel=1e-4, abs=1e-6)
        assert compiled_q == pytest.approx(eager_q, rel=1e-4, abs=1e-6)
        np.testing.assert_allclose(compiled_errors, eager_errors, rtol=1e-4, atol=1e-6)
        if update == 2:
            eager.update_target_network()
            compiled.update_target_network()
    assert compiled._compiled_update is not None, "the compiled update fell back to eager"
    for name, value in eager.q_network.state_dict().items():
        torch.testing.assert_close(compiled.q_network.state_dict()[name], value)
    assert compiled.num_updates == eager.num_updates == 5


def test_compiled_update_fallback_without_compiler(caplog):
    import torch._inductor.config as inductor_config

    agent = make_agent(compile_update=True)
    before = [parameter.detach().clone() for parameter in agent.q_network.parameters()]
    # config.patch restores the setting; monkeypatch.setattr would delete it on undo.
    with (
        inductor_config.patch({"cpp.cxx": ("/nonexistent/c++",)}),
        caplog.at_level("WARNING", logger="agents.dqn"),
    ):
        loss, _, _ = agent.train_on_batch(_random_batch(np.random.default_rng(0)))
    assert agent._compiled_update is None
    assert "using the eager update" in caplog.text
    assert np.isfinite(loss)
    assert agent.num_updates == 1
    changed = [
        not torch.equal(old, new) for old, new in zip(before, agent.q_network.parameters())
    ]
    assert any(changed), "the eager fallback did not update the network"
