"""play.py: human games driven by synthetic events, watching headless, text play and bad input."""

import argparse
from collections import deque

import numpy as np
import pygame
import pytest

from agents.play_snake import play_human, queue_turn
from agents.play_tictactoe import play_human_text, play_human_window
from envs.tictactoe_solver import PerfectPlayer, RandomPlayer
from tests.conftest import run_script

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3


def options(**values):
    defaults = {"seed": 0, "fps": 1000}
    return argparse.Namespace(**{**defaults, **values})


def click(env, cell):
    return pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=env.cell_center(cell), button=1)


class ScriptedClicks:
    """Feeds the window loop one frame of events at a time from a plan."""

    def __init__(self, plan):
        self.plan = plan

    def __call__(self, canvas):
        return self.plan(self)


def test_human_game_of_tictactoe_by_clicks(monkeypatch):
    """A whole game by mouse: occupied-cell clicks ignored, result shown, play again, quit."""
    from envs.tictactoe_env import TicTacToeEnv

    seen = {}
    state = {"phase": 0}

    class Recorder:
        env = None

    original_init = TicTacToeEnv.__init__

    def capture_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        Recorder.env = self

    monkeypatch.setattr(TicTacToeEnv, "__init__", capture_init)

    # The person plays X against a perfect O; X clicks 0, then tries the taken cell 0
    # again, then keeps clicking free cells in order until the game ends.
    def plan(feed):
        env = Recorder.env
        game = env.game
        seen.setdefault("statuses", []).append(env.status_text)
        if state["phase"] == 0 and game.num_moves == 0:
            state["phase"] = 1
            return [click(env, 0)]
        if state["phase"] == 1 and game.num_moves == 2 and game.current_player == 0:
            state["phase"] = 2
            seen["cells_before"] = game.cells.copy()
            return [click(env, 0), click(env, int(np.flatnonzero(game.cells == 2)[0]))]
        if state["phase"] == 2:
            seen["cells_after_bad_clicks"] = game.cells.copy()
            seen["turn_after_bad_clicks"] = game.current_player
            state["phase"] = 3
        if state["phase"] == 3:
            if game.is_over or (env.status_text or "").startswith(
                ("You win", "Agent wins", "Draw")
            ):
                state["phase"] = 4
                seen["final_status"] = env.status_text
                seen["winner"] = game.winner
                return [pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(5, 5), button=1)]
            if game.current_player == 0:
                free = np.flatnonzero(game.cells == 0)
                return [click(env, int(free[0]))]
            return []
        if state["phase"] == 4:
            seen["moves_after_restart"] = game.num_moves
            state["phase"] = 5
            return [pygame.event.Event(pygame.QUIT)]
        return []

    result = play_human_window(
        PerfectPlayer("first"), 0, {}, options(), next_events=ScriptedClicks(plan)
    )

    assert result == 0
    np.testing.assert_array_equal(seen["cells_after_bad_clicks"], seen["cells_before"])
    assert seen["turn_after_bad_clicks"] == 0
    assert any(status and status.startswith("Your turn (X)") for status in seen["statuses"])
    assert "Click to play again" in seen["final_status"]
    assert seen["winner"] != 0  # A perfect player never loses.
    assert seen["moves_after_restart"] == 0
    assert Recorder.env.canvas is None  # Closed on the way out.


def test_thousand_random_events_never_crash_tictactoe():
    rng = np.random.default_rng(0)
    count = {"n": 0}

    def random_events(canvas):
        count["n"] += 1
        if count["n"] > 1000:
            return [pygame.event.Event(pygame.QUIT)]
        if rng.random() < 0.7:
            pos = (int(rng.integers(-50, 700)), int(rng.integers(-50, 700)))
            return [
                pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=int(rng.integers(1, 4)))
            ]
        key = int(rng.choice([pygame.K_a, pygame.K_SPACE, pygame.K_RETURN, pygame.K_1]))
        return [pygame.event.Event(pygame.KEYDOWN, key=key)]

    assert play_human_window(RandomPlayer(), 1, {}, options(), next_events=random_events) == 0


def test_thousand_random_keys_never_crash_snake():
    rng = np.random.default_rng(1)
    count = {"n": 0}
    keys = [
        pygame.K_UP,
        pygame.K_DOWN,
        pygame.K_LEFT,
        pygame.K_RIGHT,
        pygame.K_SPACE,
        pygame.K_RETURN,
        pygame.K_x,
        pygame.K_w,
    ]

    def random_events(canvas):
        count["n"] += 1
        if count["n"] > 1000:
            return [pygame.event.Event(pygame.QUIT)]
        events = []
        for _ in range(int(rng.integers(0, 3))):
            if rng.random() < 0.8:
                events.append(pygame.event.Event(pygame.KEYDOWN, key=int(rng.choice(keys))))
            else:
                pos = (int(rng.integers(0, 500)), int(rng.integers(0, 500)))
                events.append(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
        return events

    assert play_human(dict(grid_size=10), options(), next_events=random_events) == 0
    assert count["n"] > 1000


def test_two_quick_keys_never_reverse_into_neck():
    turns = deque()
    # Moving right, the person presses up then left within one tick.
    queue_turn(turns, RIGHT, UP)
    queue_turn(turns, RIGHT, LEFT)
    assert list(turns) == [UP, LEFT]
    # Left straight after right is a reversal and is dropped.
    reversed_turns = deque()
    queue_turn(reversed_turns, RIGHT, LEFT)
    assert not reversed_turns


def test_quick_keys_in_a_real_game_never_kill(monkeypatch):
    from envs.snake_env import SnakeEnv

    frames = {"n": 0, "env": None}
    original_step = SnakeEnv.step
    infos = []

    def recording_step(self, action):
        frames["env"] = self
        result = original_step(self, action)
        infos.append(result[4])
        return result

    monkeypatch.setattr(SnakeEnv, "step", recording_step)

    def events(canvas):
        frames["n"] += 1
        if frames["n"] == 1:
            return [
                pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP),
                pygame.event.Event(pygame.KEYDOWN, key=pygame.K_LEFT),
            ]
        if frames["n"] > 3:
            return [pygame.event.Event(pygame.QUIT)]
        return []

    play_human(dict(grid_size=10), options(), next_events=events)
    assert len(infos) == 3
    assert all(info["end_reason"] is None for info in infos)
    assert frames["env"].game.direction == LEFT


def test_text_game_against_perfect_player(capsys):
    answers = iter(["hello", "9", "4", "4", "0", "2", "6", "7", "n"])
    result = play_human_text(
        PerfectPlayer("first"), 0, {}, seed=0, read_line=lambda _: next(answers)
    )
    output = capsys.readouterr().out
    assert result == 0
    assert "Invalid move 'hello'" in output
    assert "Invalid move 9" in output
    assert "that cell is taken" in output
    assert "Agent wins." in output or "Draw." in output


def test_text_game_ends_cleanly_on_end_of_input():
    def no_input(_):
        raise EOFError

    assert play_human_text(RandomPlayer(), 0, {}, seed=0, read_line=no_input) == 0


def test_watch_windows_headless(tictactoe_run, snake_run):
    ttt = run_script(
        "play.py",
        "tictactoe",
        "--model",
        tictactoe_run / "best_model.pt",
        "--episodes",
        "2",
        "--fps",
        "200",
        "--opponent",
        "random",
        check=True,
    )
    assert ttt.stdout.count("Game ") == 2
    snake = run_script(
        "play.py",
        "snake",
        "--model",
        snake_run / "best_model.pt",
        "--episodes",
        "1",
        "--fps",
        "500",
        check=True,
    )
    assert "Episode 1:" in snake.stdout


def test_text_watch_prints_boards(tictactoe_run):
    result = run_script(
        "play.py",
        "tictactoe",
        "--model",
        tictactoe_run / "best_model.pt",
        "--render",
        "text",
        "--episodes",
        "1",
        "--opponent",
        "perfect",
        check=True,
    )
    assert "Game 1:" in result.stdout
    assert result.stdout.count("\n\n") >= 5


def test_snake_evaluation_prints_statistics(snake_run):
    result = run_script(
        "play.py",
        "snake",
        "--model",
        snake_run / "best_model.pt",
        "--render",
        "none",
        "--episodes",
        "4",
        check=True,
    )
    assert "4 greedy episodes" in result.stdout
    for word in ("mean", "median", "10th percentile", "max", "wall", "body", "no_progress"):
        assert word in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["tictactoe"],
        ["snake", "--human", "x"],
        ["snake", "--render", "none"],
        ["tictactoe", "--human", "x", "--render", "none"],
        ["tictactoe", "--episodes", "0", "--human", "x"],
        ["tictactoe", "--human", "z"],
    ],
)
def test_bad_play_options_exit_2(args):
    result = run_script("play.py", *args)
    assert result.returncode == 2
    assert "error" in result.stderr
    assert "Traceback" not in result.stderr


def test_model_file_that_does_not_exist(tmp_path):
    result = run_script("play.py", "snake", "--model", tmp_path / "missing.pt")
    assert result.returncode == 1
    assert "missing.pt" in result.stderr
    assert "not found" in result.stderr


def test_human_text_game_without_model_plays_perfect_player():
    result = run_script(
        "play.py",
        "tictactoe",
        "--human",
        "x",
        "--render",
        "text",
        input_text="4\n0\n8\n2\n6\n1\n3\n5\n7\nn\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Agent plays" in result.stdout
    assert "You win!" not in result.stdout  # The perfect player never loses.


def test_long_status_text_shrinks_to_fit():
    from envs.rendering import PygameCanvas

    canvas = PygameCanvas(400, 60, title="t", human=False, fps=30)
    widths = []
    original_blit = canvas.surface.blit

    class Recorder:
        def blit(self, image, rect):
            widths.append(image.get_width())
            return original_blit(image, rect)

    canvas.surface = type("Surface", (), {"blit": Recorder().blit})()
    canvas.draw_text(
        "Agent wins! Click to play again. You 0, agent 12, draws 10", (200, 30), 28, (255, 255, 255)
    )
    assert widths and widths[0] <= 400 - 12


def test_large_snake_board_window_fits_screen():
    from envs.snake_env import SnakeEnv

    env = SnakeEnv(render_mode="rgb_array", grid_size=25)
    env.reset(seed=0)
    height, width, _ = env.render().shape
    assert height <= 720
    assert width <= 720
    env.close()
