"""The compiled greedy forward pass chooses the same actions as the eager one."""

import numpy as np
import pytest
import torch

from agents.compiled_acting import CompiledGreedyActions
from agents.dqn import DQNAgent, UpdateSettings
from tests.test_compiled_update import DUELING_CNN, MLP


@pytest.mark.parametrize("spec", [MLP, DUELING_CNN], ids=["mlp", "dueling-cnn"])
def test_compiled_greedy_matches_eager(spec):
    torch.manual_seed(0)
    agent = DQNAgent(spec, UpdateSettings(), seed=0)
    greedy = CompiledGreedyActions(agent.q_network, compile_after=3)
    rng = np.random.default_rng(6)
    observations = rng.integers(-1, 2, (8, 18)).astype(np.int8)
    masks = rng.random((8, 9)) < 0.5
    masks[0] = True
    masks[1] = False  # no legal action: both paths return action 0
    masks[1, 4] = True
    assert greedy(observations, masks) is None
    assert greedy(observations, masks) is None
    assert not greedy._functions
    for _ in range(3):
        # The third request compiles; later ones reuse it, also after the weights change.
        np.testing.assert_array_equal(
            greedy(observations, masks), agent.greedy_actions(observations, masks)
        )
        with torch.no_grad():
            for parameter in agent.q_network.parameters():
                parameter.add_(torch.randn_like(parameter))
        observations = rng.integers(-1, 2, (8, 18)).astype(np.int8)
    assert len(greedy._functions) == 1
    assert greedy(observations[:5], masks[:5]) is None, "a new shape waits for its own count"


def test_act_uses_compiled_greedy():
    torch.manual_seed(0)
    agent = DQNAgent(MLP, UpdateSettings(compile_update=True), seed=0)
    assert agent._compiled_greedy is not None
    agent._compiled_greedy.compile_after = 1
    rng = np.random.default_rng(7)
    observations = rng.integers(-1, 2, (4, 18)).astype(np.int8)
    masks = rng.random((4, 9)) < 0.5
    masks[:, 2] = True
    actions = agent.act(observations, 0.0, masks)
    assert len(agent._compiled_greedy._functions) == 1
    np.testing.assert_array_equal(actions, agent.greedy_actions(observations, masks))
    # With epsilon 1 every action is a random legal one.
    explored = agent.act(observations, 1.0, masks)
    assert masks[np.arange(4), explored].all()
