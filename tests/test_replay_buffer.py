"""Replay buffer storage, sampling and limits."""

import numpy as np
import pytest

from agents.replay_buffer import ReplayBuffer


def make_buffer(capacity=4, masks=True):
    return ReplayBuffer(capacity, (2,), np.int8, 3, store_action_masks=masks, seed=0)


def add_one(buffer, value, terminated=False):
    buffer.add(
        observations=np.full((1, 2), value),
        actions=np.array([value % 3]),
        rewards=np.array([float(value)]),
        next_observations=np.full((1, 2), value + 100),
        terminations=np.array([terminated]),
        next_action_masks=np.array([[True, False, True]]),
    )


def test_compact_dtypes():
    buffer = make_buffer()
    assert buffer.observations.dtype == np.int8
    assert buffer.actions.dtype == np.int16
    assert buffer.terminations.dtype == np.bool_


def test_stores_true_final_observation_and_flags():
    buffer = make_buffer()
    add_one(buffer, 5, terminated=True)
    assert buffer.next_observations[0].tolist() == [105, 105]
    assert buffer.terminations[0]
    assert buffer.next_action_masks[0].tolist() == [True, False, True]


def test_ring_overwrites_oldest():
    buffer = make_buffer(capacity=3)
    for value in range(5):
        add_one(buffer, value)
    assert len(buffer) == 3
    assert sorted(buffer.rewards.tolist()) == [2.0, 3.0, 4.0]


def test_sample_shapes():
    buffer = make_buffer()
    for value in range(4):
        add_one(buffer, value)
    batch = buffer.sample(16)
    assert batch.observations.shape == (16, 2)
    assert batch.next_action_masks.shape == (16, 3)


def test_state_round_trip():
    buffer = make_buffer()
    for value in range(3):
        add_one(buffer, value)
    copy = make_buffer()
    copy.load_state_dict(buffer.state_dict())
    np.testing.assert_array_equal(copy.observations, buffer.observations)
    assert copy.position == buffer.position
    np.testing.assert_array_equal(copy.sample(8).actions, buffer.sample(8).actions)


def test_empty_sample_and_bad_capacity():
    with pytest.raises(ValueError, match="empty"):
        make_buffer().sample(1)
    with pytest.raises(ValueError, match="buffer_size"):
        ReplayBuffer(0, (2,), np.int8, 3, store_action_masks=False)


def test_oversized_buffer_reports_size_needed():
    with pytest.raises(MemoryError, match="GiB"):
        ReplayBuffer(10**13, (400,), np.float32, 4, store_action_masks=True)
