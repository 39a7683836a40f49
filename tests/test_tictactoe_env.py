"""Tests of the tic-tac-toe Gymnasium environment: rewards, illegal moves, checkers, rendering."""

import random
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.tictactoe_env import TicTacToeEnv
from envs.tictactoe_rules import O, TicTacToeGame, X
from envs.tictactoe_solver import RandomPlayer

BOARD_SHAPES = [(3, 3), (4, 4), (5, 4)]
OPPONENTS = [None, "random", "perfect", "mix"]


@pytest.fixture(autouse=True)
def headless_pygame(monkeypatch):
    """Run pygame without a display or sound card."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    monkeypatch.setenv("PYGAME_HIDE_SUPPORT_PROMPT", "1")


class ScriptedOpponent:
    """An opponent that plays a fixed list of cells."""

    name = "scripted"

    def __init__(self, moves):
        self.moves = list(moves)

    def select_action(self, game, rng):
        return self.moves.pop(0)


def _play(env, actions):
    """Step ``actions`` in order and return the list of step results."""
    return [env.step(action) for action in actions]


def test_two_player_x_wins_top_row():
    env = TicTacToeEnv()
    env.reset(seed=0)
    results = _play(env, [0, 3, 1, 4, 2])
    for _, reward, terminated, truncated, _ in results[:-1]:
        assert reward == 0.0
        assert not terminated
        assert not truncated
    obs, reward, terminated, truncated, info = results[-1]
    assert reward == 1.0
    assert terminated
    assert not truncated
    assert info["winner"] == X
    assert not info["draw"]
    assert not info["illegal_move"]
    assert not info["action_mask"].any()


def test_two_player_draw():
    env = TicTacToeEnv()
    env.reset(seed=0)
    results = _play(env, [0, 4, 8, 1, 7, 6, 2, 5, 3])
    assert all(not terminated for _, _, terminated, _, _ in results[:-1])
    obs, reward, terminated, truncated, info = results[-1]
    assert reward == 0.0
    assert terminated
    assert info["draw"]
    assert info["winner"] == -1


def test_two_player_full_board_diagonal_win():
    env = TicTacToeEnv()
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = _play(env, [0, 1, 2, 3, 4, 7, 5, 8, 6])[-1]
    assert reward == 1.0
    assert terminated
    assert info["winner"] == X
    assert not info["draw"]


def test_two_player_obs_from_next_mover():
    env = TicTacToeEnv()
    obs, info = env.reset(seed=0)
    assert info["current_player"] == X
    obs, reward, terminated, truncated, info = env.step(0)
    assert info["current_player"] == O
    # O moves next: its own plane is empty and X's mark at 0 is in the second plane.
    assert not obs[:9].any()
    assert list(np.flatnonzero(obs[9:])) == [0]
    obs, *_ = env.step(4)
    assert list(np.flatnonzero(obs[:9])) == [0]
    assert list(np.flatnonzero(obs[9:])) == [4]


@pytest.mark.parametrize("opponent", [None, "random"])
def test_occupied_cell_ends_episode(opponent):
    env = TicTacToeEnv(opponent=opponent, agent_player="x")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(4)
    if opponent is None:
        occupied = 4
    else:
        occupied = info["opponent_action"]
    before = env.game.cells.copy()
    mover = env.game.current_player
    obs, reward, terminated, truncated, info = env.step(occupied)
    assert reward == -1.0
    assert terminated
    assert not truncated
    assert info["illegal_move"]
    assert info["winner"] == -1
    assert not info["draw"]
    assert not info["action_mask"].any()
    assert not env.action_masks().any()
    assert np.array_equal(env.game.cells, before)
    assert env.game.current_player == mover
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("action", [-1, 9, 42])
def test_out_of_range_action_ends_episode(action):
    env = TicTacToeEnv()
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert reward == -1.0
    assert terminated
    assert info["illegal_move"]
    assert env.game.num_moves == 0


def test_illegal_move_reward_is_configurable():
    env = TicTacToeEnv(illegal_move_reward=-0.5)
    env.reset(seed=0)
    env.step(4)
    _, reward, terminated, _, _ = env.step(4)
    assert reward == -0.5
    assert terminated


def test_step_after_end_raises():
    env = TicTacToeEnv()
    env.reset(seed=0)
    env.step(4)
    env.step(4)
    with pytest.raises(ResetNeeded, match="reset"):
        env.step(0)
    env.reset()
    _, reward, terminated, _, _ = env.step(0)
    assert reward == 0.0
    assert not terminated


def test_step_before_reset_raises():
    env = TicTacToeEnv()
    with pytest.raises(ResetNeeded):
        env.step(0)


def test_non_integer_action_raises():
    env = TicTacToeEnv()
    env.reset(seed=0)
    with pytest.raises(TypeError):
        env.step(1.5)
    assert env.game.num_moves == 0


def test_repeated_illegal_moves_cannot_run_forever():
    env = TicTacToeEnv(opponent="random")
    for seed in range(20):
        env.reset(seed=seed)
        steps = 0
        terminated = False
        while not terminated:
            _, _, terminated, _, _ = env.step(0)
            steps += 1
            assert steps <= 9
        assert terminated


@pytest.mark.parametrize("agent_player", ["x", "o"])
def test_single_agent_sides(agent_player):
    env = TicTacToeEnv(opponent="random", agent_player=agent_player)
    obs, info = env.reset(seed=3)
    side = X if agent_player == "x" else O
    assert info["agent_player"] == side
    assert env.agent_player == side
    assert info["current_player"] == side
    assert env.game.num_moves == (0 if side == X else 1)
    assert (info["opponent_action"] == -1) == (side == X)
    assert np.array_equal(obs, env.game.observation(side))


def test_random_agent_side_uses_both_sides():
    env = TicTacToeEnv(opponent="random", agent_player="random")
    sides = {env.reset(seed=seed)[1]["agent_player"] for seed in range(30)}
    assert sides == {X, O}


def test_single_agent_loss_gives_minus_one():
    # Agent X plays 0, 1, 8. The opponent ignores the threat at 2 and completes 3-4-5.
    env = TicTacToeEnv(opponent=ScriptedOpponent([4, 3, 5]), agent_player="x")
    env.reset(seed=0)
    env.step(0)
    env.step(1)
    obs, reward, terminated, truncated, info = env.step(8)
    assert reward == -1.0
    assert terminated
    assert info["winner"] == O
    assert info["opponent_action"] == 5
    # The observation stays on the agent's side even though X would move next.
    assert list(np.flatnonzero(obs[:9])) == [0, 1, 8]


def test_single_agent_win_gives_plus_one():
    env = TicTacToeEnv(opponent=ScriptedOpponent([3, 4]), agent_player="x")
    env.reset(seed=0)
    env.step(0)
    env.step(1)
    obs, reward, terminated, truncated, info = env.step(2)
    assert reward == 1.0
    assert terminated
    assert info["winner"] == X
    assert info["opponent_action"] == -1


def test_opponent_illegal_move_raises():
    env = TicTacToeEnv(opponent=ScriptedOpponent([0]), agent_player="x")
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="scripted"):
        env.step(0)


def test_perfect_opponent_never_loses():
    env = TicTacToeEnv(opponent="perfect")
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        terminated = False
        while not terminated:
            action = int(env.np_random.choice(np.flatnonzero(info["action_mask"])))
            obs, reward, terminated, truncated, info = env.step(action)
        assert reward <= 0.0
        assert info["winner"] != info["agent_player"]
        assert not info["illegal_move"]


@pytest.mark.parametrize("opponent", ["random", "mix"])
def test_seed_reproduces_opponent_moves(opponent):
    def play_episode(global_seed):
        random.seed(global_seed)
        np.random.seed(global_seed)
        env = TicTacToeEnv(opponent=opponent, agent_player="random")
        obs, info = env.reset(seed=123)
        history = [info["agent_player"], info["opponent_action"]]
        for _ in range(9):
            legal = np.flatnonzero(info["action_mask"])
            if legal.size == 0:
                break
            obs, reward, terminated, truncated, info = env.step(int(legal[0]))
            history.append(info["opponent_action"])
            if terminated:
                break
        return history

    assert play_episode(1) == play_episode(99)


def test_set_opponent_applies_at_next_reset():
    env = TicTacToeEnv()
    _, info = env.reset(seed=0)
    assert "agent_player" not in info
    env.set_opponent("random")
    assert env.opponent is None
    _, info = env.reset(seed=0)
    assert "agent_player" in info
    assert isinstance(env.opponent, RandomPlayer)
    env.set_opponent(None)
    _, info = env.reset(seed=0)
    assert "agent_player" not in info
    assert env.agent_player is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"render_mode": "window"}, ValueError, "render_mode"),
        ({"agent_player": "X"}, ValueError, "agent_player"),
        ({"opponent": "minimax"}, ValueError, "opponent"),
        ({"opponent": object()}, TypeError, "select_action"),
        ({"board_size": 2}, ValueError, "board_size"),
        ({"board_size": 4, "win_length": 5}, ValueError, "win_length"),
        ({"illegal_move_reward": float("nan")}, ValueError, "illegal_move_reward"),
    ],
)
def test_invalid_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        TicTacToeEnv(**kwargs)


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        TicTacToeEnv("ansi")


def test_masked_random_steps_are_legal():
    for board_size, win_length, opponent in [(3, 3, None), (3, 3, "random"), (5, 4, None)]:
        env = TicTacToeEnv(board_size=board_size, win_length=win_length, opponent=opponent)
        rng = np.random.default_rng(0)
        obs, info = env.reset(seed=0)
        num_illegal = 0
        for _ in range(1000):
            action = int(rng.choice(np.flatnonzero(info["action_mask"])))
            obs, reward, terminated, truncated, info = env.step(action)
            num_illegal += int(info["illegal_move"])
            if terminated:
                obs, info = env.reset()
        assert num_illegal == 0


@pytest.mark.parametrize(("board_size", "win_length"), BOARD_SHAPES)
@pytest.mark.parametrize("opponent", [None, "random"])
def test_observations_always_in_space(board_size, win_length, opponent):
    env = TicTacToeEnv(board_size=board_size, win_length=win_length, opponent=opponent)
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    num_terminal = 0
    shape = (2 * board_size * board_size,)
    for _ in range(1000):
        assert obs.dtype == np.int8
        assert obs.shape == shape
        assert env.observation_space.contains(obs)
        # Unmasked actions, so illegal moves and their terminal steps are covered too.
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert isinstance(reward, float)
        if terminated:
            assert obs.dtype == np.int8
            assert env.observation_space.contains(obs)
            num_terminal += 1
            obs, info = env.reset()
    assert num_terminal > 10


@pytest.mark.parametrize(("board_size", "win_length"), BOARD_SHAPES)
@pytest.mark.parametrize("opponent", OPPONENTS)
def test_env_checkers_pass(board_size, win_length, opponent):
    # Render modes are checked once per board shape, in self-play, to keep the test fast.
    skip_render_check = opponent is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gymnasium.make(
            envs.TICTACTOE_ID, board_size=board_size, win_length=win_length, opponent=opponent
        )
        gymnasium_check_env(env.unwrapped, skip_render_check=skip_render_check)
        sb3_check_env(env.unwrapped)
        env.close()


def test_make_registered_id():
    env = gymnasium.make("dqn_arena/TicTacToe-v0", board_size=4, win_length=4)
    obs, info = env.reset(seed=0)
    assert obs.shape == (32,)
    assert env.action_space.n == 16
    assert isinstance(env.unwrapped, TicTacToeEnv)
    env.close()


def test_maskable_ppo_reads_masks():
    env = TicTacToeEnv(opponent="random")
    env.reset(seed=0)
    assert is_masking_supported(env)
    assert np.array_equal(get_action_masks(env), env.game.action_mask())


def test_game_property_is_read_only():
    env = TicTacToeEnv()
    env.reset(seed=0)
    assert isinstance(env.game, TicTacToeGame)
    with pytest.raises(AttributeError):
        env.game = TicTacToeGame()


def test_rgb_array_changes_after_move():
    env = TicTacToeEnv(render_mode="rgb_array")
    env.reset(seed=0)
    empty = env.render()
    width, height = env.window_size
    assert empty.dtype == np.uint8
    assert empty.shape == (height, width, 3)
    env.step(4)
    after_move = env.render()
    assert after_move.shape == empty.shape
    assert not np.array_equal(empty, after_move)
    # The centre of cell 4 now shows X's colour instead of the background.
    x, y = env.cell_center(4)
    assert not np.array_equal(after_move[y, x], empty[y, x])
    env.close()


def test_rgb_array_shows_winning_line():
    env = TicTacToeEnv(render_mode="rgb_array")
    env.reset(seed=0)
    _play(env, [0, 3, 1, 4])
    before_win = env.render()
    env.step(2)
    after_win = env.render()
    # Cell 1's centre is crossed by the winning line only after the win.
    x, y = env.cell_center(1)
    assert not np.array_equal(before_win[y, x], after_win[y, x])
    env.close()


@pytest.mark.parametrize(("board_size", "win_length"), BOARD_SHAPES)
def test_rgb_array_larger_boards(board_size, win_length):
    env = TicTacToeEnv(render_mode="rgb_array", board_size=board_size, win_length=win_length)
    env.reset(seed=0)
    frame = env.render()
    width, height = env.window_size
    assert frame.shape == (height, width, 3)
    env.close()


def test_ansi_matches_board():
    env = TicTacToeEnv(render_mode="ansi")
    env.reset(seed=0)
    _play(env, [0, 4, 8])
    text = env.render()
    assert text.splitlines() == ["X . .", ". O .", ". . X", "O to move"]
    _play(env, [2, 1, 6])
    assert env.render().splitlines()[-1] == "O wins"


def test_status_text_overrides_status():
    env = TicTacToeEnv(render_mode="ansi")
    env.reset(seed=0)
    assert env.status() == "X to move"
    env.status_text = "Your turn (X)"
    assert env.render().splitlines()[-1] == "Your turn (X)"
    env.status_text = None
    _play(env, [0, 4, 8, 1, 7, 6, 2, 5, 3])
    assert env.status() == "Draw"
    env.reset(seed=0)
    env.step(0)
    env.step(0)
    assert env.status() == "Illegal move by O"


def test_render_without_mode_warns():
    env = TicTacToeEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


def test_human_mode_headless_and_close():
    env = TicTacToeEnv(render_mode="human")
    env.reset(seed=0)
    assert env.canvas is not None
    assert env.canvas.human
    env.canvas.pump_events()
    assert env.render() is None
    env.step(4)
    env.close()
    assert env.canvas is None
    env.close()


def test_cell_at_pixel_maps_centres():
    for board_size, win_length in BOARD_SHAPES:
        env = TicTacToeEnv(board_size=board_size, win_length=win_length)
        for cell in range(board_size * board_size):
            x, y = env.cell_center(cell)
            assert env.cell_at_pixel(x, y) == cell
        width, height = env.window_size
        assert env.cell_at_pixel(-5, 10) is None
        assert env.cell_at_pixel(5, 5) is None
        assert env.cell_at_pixel(width - 1, height // 2) is None
        assert env.cell_at_pixel(width // 2, height - 1) is None


def test_random_playout_whole_api():
    rng = np.random.default_rng(2024)
    for board_size, win_length, opponent in [(3, 3, None), (3, 3, "mix"), (4, 4, "random")]:
        env = TicTacToeEnv(
            render_mode="ansi", board_size=board_size, win_length=win_length, opponent=opponent
        )
        for episode in range(30):
            obs, info = env.reset(seed=episode)
            terminated = False
            while not terminated:
                assert np.array_equal(info["action_mask"], env.action_masks())
                legal = np.flatnonzero(info["action_mask"])
                # Now and then try an illegal move to cover that path too.
                if rng.random() < 0.05 and legal.size < env.action_space.n:
                    action = int(rng.choice(np.flatnonzero(~info["action_mask"])))
                else:
                    action = int(rng.choice(legal))
                mover = env.game.current_player
                obs, reward, terminated, truncated, info = env.step(action)
                assert not truncated
                assert env.render().startswith(env.game.to_text())
                viewer = info["current_player"] if opponent is None else info["agent_player"]
                assert np.array_equal(obs, env.game.observation(viewer))
                assert info["current_player"] == env.game.current_player
                if info["illegal_move"]:
                    assert reward == -1.0
                elif info["winner"] != -1:
                    assert terminated
                    assert reward == (1.0 if info["winner"] == mover else -1.0)
                elif info["draw"]:
                    assert reward == 0.0
                    assert terminated
                else:
                    assert reward == 0.0
                    assert not terminated
        env.close()
