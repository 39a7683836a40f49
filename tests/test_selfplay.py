"""Self-play transitions: whose reward, terminal flags and symmetry copies."""

import numpy as np
import pytest

from agents.collectors import SelfPlayCollector
from envs.tictactoe_env import TicTacToeEnv
from envs.tictactoe_rules import TicTacToeGame, transform_observation


class ScriptedAgent:
    """Plays a fixed move list on a single board."""

    def __init__(self, moves):
        self.moves = list(moves)

    def act(self, observations, epsilon, action_masks):
        move = self.moves.pop(0)
        assert action_masks[0, move], f"scripted move {move} is illegal"
        return np.array([move])


def play_script(moves, augment=False):
    collector = SelfPlayCollector([TicTacToeEnv()], seed=0, augment_symmetries=augment)
    agent = ScriptedAgent(moves)
    stored = []
    finished = []
    for _ in moves:
        transitions, records = collector.step(agent, 0.0, 1)
        if len(transitions):
            arrays = transitions.as_arrays()
            for index in range(len(transitions)):
                stored.append({key: value[index] for key, value in arrays.items()})
        finished.extend(records)
    return stored, finished


def observation_after(moves):
    return TicTacToeGame.from_moves(moves).observation()


def test_x_win_rewards_both_sides():
    moves = [0, 3, 1, 4, 2]  # X0 O3 X1 O4 X2: X completes the top row.
    stored, finished = play_script(moves)
    terminal = [t for t in stored if t["terminations"]]
    assert len(terminal) == 2
    x_last = next(t for t in terminal if t["actions"] == 2)
    o_last = next(t for t in terminal if t["actions"] == 4)
    assert x_last["rewards"] == 1.0
    assert o_last["rewards"] == -1.0
    np.testing.assert_array_equal(x_last["observations"], observation_after([0, 3, 1, 4]))
    np.testing.assert_array_equal(o_last["observations"], observation_after([0, 3, 1]))
    assert len(finished) == 1
    assert finished[0].info["winner"] == 0


def test_non_terminal_transition_spans_to_own_next_turn():
    stored, _ = play_script([0, 3, 1, 4, 2])
    x_first = next(t for t in stored if t["actions"] == 0)
    assert not x_first["terminations"]
    assert x_first["rewards"] == 0.0
    # After X0 and O3, X faces the board with X0 and O3, seen from X.
    np.testing.assert_array_equal(x_first["next_observations"], observation_after([0, 3]))
    expected_mask = np.ones(9, bool)
    expected_mask[[0, 3]] = False
    np.testing.assert_array_equal(x_first["next_action_masks"], expected_mask)


def test_draw_gives_both_sides_draw_value():
    moves = [0, 4, 8, 1, 7, 6, 2, 5, 3]
    stored, finished = play_script(moves)
    terminal = [t for t in stored if t["terminations"]]
    assert len(terminal) == 2
    assert {float(t["rewards"]) for t in terminal} == {0.0}
    assert {int(t["actions"]) for t in terminal} == {3, 5}
    assert finished[0].info["draw"]


def test_every_move_stored_once_per_side():
    moves = [0, 4, 8, 1, 7, 6, 2, 5, 3]
    stored, _ = play_script(moves)
    assert sorted(int(t["actions"]) for t in stored) == sorted(moves)


def test_symmetry_copies_are_consistent():
    stored, _ = play_script([0, 3, 1, 4, 2], augment=True)
    assert len(stored) == 5 * 8
    for transition in stored:
        observation = transition["observations"]
        action = int(transition["actions"])
        # The chosen cell is empty in every copy, and the copy is a real board view.
        assert observation[action] == 0
        assert observation[9 + action] == 0
    copies = [t for t in stored if t["rewards"] == 1.0]
    assert len(copies) == 8
    images = {transform_observation(copies[0]["observations"], s, 3).tobytes() for s in range(8)}
    assert {c["observations"].tobytes() for c in copies} == images


@pytest.mark.parametrize("seed", [0, 1])
def test_random_selfplay_rewards_are_zero_sum(seed):
    class RandomAgent:
        rng = np.random.default_rng(seed)

        def act(self, observations, epsilon, action_masks):
            return np.array([self.rng.choice(np.flatnonzero(mask)) for mask in action_masks])

    collector = SelfPlayCollector(
        [TicTacToeEnv() for _ in range(4)], seed, augment_symmetries=False
    )
    agent = RandomAgent()
    for _ in range(200):
        transitions, records = collector.step(agent, 1.0, 4)
        if not len(transitions):
            continue
        arrays = transitions.as_arrays()
        terminal_rewards = arrays["rewards"][arrays["terminations"]]
        assert set(terminal_rewards.tolist()) <= {-1.0, 0.0, 1.0}
        assert np.all(arrays["rewards"][~arrays["terminations"]] == 0.0)
        assert terminal_rewards.sum() == 0.0


def test_one_lost_line_outranks_any_optimal_move_rate():
    from agents.evaluation import tictactoe_score

    never_loses = {
        "losing_lines_as_x": 0, "lines_as_x": 80, "losing_lines_as_o": 0, "lines_as_o": 440,
        "optimal_move_rate": 0.90,
    }
    # The maximum number of lines a deterministic player meets as O on 3 x 3 is
    # 9 * 7 * 5 * 3 = 945.
    loses_one_line = {
        "losing_lines_as_x": 0, "lines_as_x": 384, "losing_lines_as_o": 1, "lines_as_o": 945,
        "optimal_move_rate": 1.0,
    }
    assert tictactoe_score(never_loses) > tictactoe_score(loses_one_line)
    assert tictactoe_score(never_loses) == pytest.approx(0.90)
    fewer_losses = {**loses_one_line, "optimal_move_rate": 0.5}
    more_losses = {**loses_one_line, "losing_lines_as_o": 2}
    assert tictactoe_score(fewer_losses) > tictactoe_score(more_losses)
