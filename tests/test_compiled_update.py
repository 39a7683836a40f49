"""The traced and compiled update gives the same updates as the eager one."""

import numpy as np
import pytest
import torch

from agents.compiled_update import CompiledUpdate, uses_traced_adam
from agents.dqn import DQNAgent, UpdateSettings
from agents.networks import NetworkSpec
from agents.replay_buffer import ReplayBatch

MLP = NetworkSpec(kind="mlp", input_shape=(18,), num_actions=9, hidden_sizes=(32, 16))
DUELING_CNN = NetworkSpec(
    kind="cnn",
    input_shape=(2 * 3 * 3,),
    num_actions=9,
    hidden_sizes=(16,),
    grid_shape=(2, 3, 3),
    conv_channels=(4,),
    dueling=True,
)


def make_pair(spec: NetworkSpec, **settings) -> tuple[DQNAgent, DQNAgent]:
    """Return an eager and a compiled agent with the same initial weights."""
    torch.manual_seed(0)
    eager = DQNAgent(spec, UpdateSettings(**settings), seed=0)
    torch.manual_seed(0)
    compiled = DQNAgent(spec, UpdateSettings(compile_update=True, **settings), seed=0)
    return eager, compiled


def random_batch(rng: np.random.Generator, size: int, *, optional: bool = True) -> ReplayBatch:
    masks = rng.random((size, 9)) < 0.6
    masks[0] = False  # a next state without any legal move
    return ReplayBatch(
        observations=rng.integers(-1, 2, (size, 18)).astype(np.int8),
        actions=rng.integers(0, 9, size).astype(np.int16),
        rewards=rng.standard_normal(size).astype(np.float32),
        next_observations=rng.integers(-1, 2, (size, 18)).astype(np.int8),
        terminations=rng.random(size) < 0.3,
        next_action_masks=masks if optional else None,
        discounts=(0.9 ** rng.integers(1, 4, size)).astype(np.float32) if optional else None,
        weights=rng.uniform(0.2, 1.0, size).astype(np.float32) if optional else None,
    )


def assert_same_update(eager: DQNAgent, compiled: DQNAgent, batch: ReplayBatch) -> None:
    eager_loss, eager_q, eager_errors = eager.train_on_batch(batch)
    compiled_loss, compiled_q, compiled_errors = compiled.train_on_batch(batch)
    assert compiled._compiled_update is not None, "the compiled update fell back to eager"
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-4, abs=1e-6)
    assert compiled_q == pytest.approx(eager_q, rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(compiled_errors, eager_errors, rtol=1e-4, atol=1e-6)


def assert_same_weights(eager: DQNAgent, compiled: DQNAgent) -> None:
    for name, value in eager.q_network.state_dict().items():
        torch.testing.assert_close(compiled.q_network.state_dict()[name], value, msg=name)


@pytest.mark.parametrize(
    ("spec", "settings", "optional"),
    [
        (MLP, {"max_grad_norm": 0.5, "weight_decay": 1e-3}, True),
        (
            MLP,
            {"optimizer": "rmsprop", "loss": "mse", "double_q": False, "max_grad_norm": 0},
            False,
        ),
        (DUELING_CNN, {"learning_rate": 5e-3}, True),
    ],
    ids=["adam-mlp", "rmsprop-no-options", "adam-dueling-cnn"],
)
def test_compiled_matches_eager(spec, settings, optional):
    eager, compiled = make_pair(spec, **settings)
    rng = np.random.default_rng(1)
    for update in range(6):
        assert_same_update(eager, compiled, random_batch(rng, 16, optional=optional))
        if update == 2:
            eager.update_target_network()
            compiled.update_target_network()
            # A learning-rate schedule changes the rate between updates.
            eager.set_learning_rate(2e-3)
            compiled.set_learning_rate(2e-3)
    assert_same_weights(eager, compiled)
    assert compiled.num_updates == eager.num_updates == 6


def test_adam_state_load_and_new_shape():
    eager, compiled = make_pair(MLP)
    assert uses_traced_adam(compiled.optimizer)
    rng = np.random.default_rng(2)
    for _ in range(2):
        assert_same_update(eager, compiled, random_batch(rng, 16))
    eager_state = eager.optimizer.state_dict()["state"]
    compiled_state = compiled.optimizer.state_dict()["state"]
    assert sorted(compiled_state) == sorted(eager_state)
    for index, state in eager_state.items():
        for name in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(compiled_state[index][name], state[name], msg=name)

    # Loading replaces the optimizer's state tensors; later updates must use the new ones.
    saved = compiled.state_dict()
    torch.manual_seed(5)
    restored = DQNAgent(MLP, UpdateSettings(compile_update=True), seed=0)
    restored.load_state_dict(saved)
    assert_same_update(eager, restored, random_batch(rng, 16))
    # Another batch size and no optional fields: a second compiled function.
    assert_same_update(eager, restored, random_batch(rng, 8, optional=False))
    update = restored._compiled_update
    assert isinstance(update, CompiledUpdate)
    assert len(update._functions) == 2
    assert_same_weights(eager, restored)


def test_traced_adam_needs_plain_adam():
    parameter = torch.nn.Parameter(torch.zeros(2))
    assert uses_traced_adam(torch.optim.Adam([parameter]))
    assert not uses_traced_adam(torch.optim.Adam([parameter], amsgrad=True))
    assert not uses_traced_adam(torch.optim.AdamW([parameter]))
    assert not uses_traced_adam(torch.optim.RMSprop([parameter]))
