"""Tic-tac-toe front end of play.py: watch, play by clicking or typing, or evaluate."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation import evaluate_tictactoe, play_games
from agents.frontend import (
    UsageError,
    apply_env_options,
    load_model,
    model_env_kwargs,
    wait_frames,
    window_closed,
)
from agents.policies import PolicyPlayer
from envs.tictactoe_env import TicTacToeEnv
from envs.tictactoe_rules import O, X, TicTacToeGame, player_name
from envs.tictactoe_solver import make_player

# Frames the window waits before the agent replies to a person's move, so the move is seen.
_AGENT_DELAY_FRAMES = 12
_HUMAN_FPS = 30


def run_tictactoe(args: argparse.Namespace) -> int:
    """Dispatch to evaluation, watching, or human play; return the exit code."""
    if args.model is not None:
        kwargs = model_env_kwargs(args.model, "tictactoe", args)
        agent: Any = PolicyPlayer(load_model(args.model, "tictactoe", kwargs))
        agent.name = Path(args.model).name
    else:
        kwargs = apply_env_options({}, "tictactoe", args)
        agent = None
    board_size = kwargs.get("board_size", 3)
    win_length = kwargs.get("win_length", 3)
    TicTacToeGame(board_size, win_length)  # Validates the board options before any window.

    if args.human is not None:
        if args.opponent is not None:
            opponent = resolve_opponent(args.opponent, None, kwargs)
        elif agent is not None:
            opponent = agent
        else:
            opponent = make_player("perfect", board_size, win_length)
        side = X if args.human == "x" else O
        if args.render == "text":
            return play_human_text(opponent, side, kwargs, args.seed)
        return play_human_window(opponent, side, kwargs, args)

    opponent = resolve_opponent(args.opponent or "self", agent, kwargs)
    if args.render == "none":
        return evaluate(agent, opponent, kwargs, args)
    return watch(agent, opponent, kwargs, args)


def resolve_opponent(name: str, agent: Any, kwargs: dict[str, Any]) -> Any:
    """Turn ``--opponent`` into a player: the agent itself, random, perfect, or a model file."""
    board_size = kwargs.get("board_size", 3)
    win_length = kwargs.get("win_length", 3)
    if name == "self":
        return agent
    if name in ("random", "perfect"):
        return make_player(name, board_size, win_length)
    if not Path(name).exists():
        raise UsageError(f"--opponent must be self, random, perfect or a model file, got {name!r}")
    player = PolicyPlayer(load_model(name, "tictactoe", kwargs))
    player.name = Path(name).name
    return player


def evaluate(agent: Any, opponent: Any, kwargs: dict[str, Any], args: argparse.Namespace) -> int:
    """Print the evaluation protocol's figures, and games against the chosen opponent."""
    board_size = kwargs.get("board_size", 3)
    win_length = kwargs.get("win_length", 3)
    num_games = args.episodes or 100
    metrics = evaluate_tictactoe(
        agent.policy,
        board_size=board_size,
        win_length=win_length,
        num_games=num_games,
        seed=args.seed,
    )
    print(f"{agent.name} on {board_size}x{board_size}, {win_length} in a row, greedy play:")
    if "losing_lines" in metrics:
        print(
            f"  exhaustive check: lost lines as X {metrics['losing_lines_as_x']:.0f} of "
            f"{metrics['lines_as_x']:.0f}, as O {metrics['losing_lines_as_o']:.0f} of "
            f"{metrics['lines_as_o']:.0f}"
        )
        print(f"  minimax-optimal moves: {metrics['optimal_move_rate']:.2%} of 4,520 positions")
    for opponent_name in ("random", "perfect"):
        for label in ("x", "o"):
            prefix = f"vs_{opponent_name}_as_{label}"
            print(
                f"  vs {opponent_name:<8} as {label.upper()}: win {metrics[prefix + '_win']:.1%}  "
                f"draw {metrics[prefix + '_draw']:.1%}  loss {metrics[prefix + '_loss']:.1%}  "
                f"({num_games} games)"
            )
    if opponent is not agent and getattr(opponent, "name", "") not in ("random", "perfect"):
        rng = np.random.default_rng(args.seed)
        for side, label in ((X, "X"), (O, "O")):
            counts = play_games(agent, opponent, side, num_games, rng, board_size, win_length)
            print(
                f"  vs {opponent.name} as {label}: win {counts['win']}  draw {counts['draw']}  "
                f"loss {counts['loss']}"
            )
    return 0


def watch(agent: Any, opponent: Any, kwargs: dict[str, Any], args: argparse.Namespace) -> int:
    """Show games of the agent against ``opponent``, the agent's side alternating per game."""
    render_mode = "human" if args.render == "window" else "ansi"
    env = TicTacToeEnv(render_mode=render_mode, **kwargs)
    env.metadata = {**env.metadata, "render_fps": args.fps or 2}
    rng = np.random.default_rng(args.seed)
    game_index = 0
    try:
        while args.episodes is None or game_index < args.episodes:
            agent_side = X if game_index % 2 == 0 else O
            names = {agent_side: f"agent {agent.name}", 1 - agent_side: f"{opponent.name}"}
            if opponent is agent:
                names = {X: "agent", O: "agent"}
            env.status_text = to_move_status(X, names)
            env.reset(seed=args.seed + game_index)
            terminated = False
            while not terminated:
                game = env.game
                mover = agent if game.current_player == agent_side else opponent
                # step() draws the position after the move, when the other side is to move.
                env.status_text = to_move_status(1 - game.current_player, names)
                _, _, terminated, _, info = env.step(mover.select_action(game.copy(), rng))
                if render_mode == "ansi":
                    print(env.render(), end="\n\n")
                elif window_closed(env.canvas):
                    return 0
            result = describe_result(info, names)
            print(f"Game {game_index + 1}: {result}")
            if render_mode == "human":
                env.status_text = result
                env.render()
                if not wait_frames(env.canvas, 1.5) or window_closed(env.canvas):
                    return 0
            game_index += 1
    finally:
        env.close()
    return 0


def to_move_status(player: int, names: dict[int, str]) -> str:
    """Return the status line naming the side to move and who plays it."""
    return f"{player_name(player)} to move: {names[player]}"


def result_winner(info: dict[str, Any]) -> int | None:
    """Return the winner of a finished game: an illegal move loses it for the mover."""
    if info.get("illegal_move"):
        return 1 - int(info["current_player"])
    return None if info["winner"] < 0 else int(info["winner"])


def describe_result(info: dict[str, Any], names: dict[int, str]) -> str:
    """Say who won a finished game."""
    winner = result_winner(info)
    if winner is None:
        return "Draw"
    if info.get("illegal_move"):
        return f"{player_name(winner)} wins: {names[1 - winner]} made an illegal move"
    return f"{player_name(winner)} wins ({names[winner]})"


def play_human_window(
    opponent: Any,
    human_side: int,
    kwargs: dict[str, Any],
    args: argparse.Namespace,
    next_events: Callable[[Any], list[Any]] | None = None,
) -> int:
    """Let a person play against ``opponent`` by clicking cells in a window.

    A click on an occupied cell or outside the board is ignored, and it stays the
    person's turn. After a game, a click starts the next one. Closing the window (or
    Escape) ends the program.

    Args:
        opponent: Player with ``select_action(game, rng)``.
        human_side: 0 for X, 1 for O.
        kwargs: Board settings.
        args: Parsed play.py options (``seed``, ``fps``).
        next_events: Returns the events of one frame given the canvas; tests pass synthetic
            events here. Defaults to the window's event queue.
    """
    import pygame

    env = TicTacToeEnv(render_mode="human", **kwargs)
    env.metadata = {**env.metadata, "render_fps": args.fps or _HUMAN_FPS}
    rng = np.random.default_rng(args.seed)
    tally = {"you": 0, "agent": 0, "draw": 0}
    games = 0
    over = recorded = False
    info: dict[str, Any] = {}
    delay = _AGENT_DELAY_FRAMES
    try:
        env.reset(seed=args.seed)
        while True:
            game = env.game
            human_turn = not over and game.current_player == human_side
            events = next_events(env.canvas) if next_events else env.canvas.pump_events()
            for event in events:
                if event.type == pygame.QUIT or (
                    event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                ):
                    return 0
                if event.type != pygame.MOUSEBUTTONDOWN or getattr(event, "button", 1) != 1:
                    continue
                if over:
                    games += 1
                    env.reset(seed=args.seed + games)
                    over = recorded = False
                    delay = _AGENT_DELAY_FRAMES
                    break
                if human_turn:
                    cell = env.cell_at_pixel(*event.pos)
                    if cell is None or not game.action_mask()[cell]:
                        continue
                    _, _, over, _, info = env.step(cell)
                    delay = _AGENT_DELAY_FRAMES
                    break
            if env.canvas.closed:
                return 0

            game = env.game
            if not over and game.current_player != human_side:
                if delay > 0:
                    delay -= 1
                else:
                    _, _, over, _, info = env.step(opponent.select_action(game.copy(), rng))
            if over and not recorded:
                record_result(tally, info, human_side)
                recorded = True
            env.status_text = human_status(env.game, human_side, info if over else None, tally)
            env.render()
    finally:
        env.close()


def record_result(tally: dict[str, int], info: dict[str, Any], human_side: int) -> None:
    """Count a finished game for the person, the agent, or as a draw."""
    winner = result_winner(info)
    if winner is None:
        tally["draw"] += 1
    elif winner == human_side:
        tally["you"] += 1
    else:
        tally["agent"] += 1


def human_status(
    game: TicTacToeGame, human_side: int, info: dict[str, Any] | None, tally: dict[str, int]
) -> str:
    """Return the status bar text of a person's game; ``info`` is given once it is over."""
    score = f"You {tally['you']}, agent {tally['agent']}, draws {tally['draw']}"
    if info is not None:
        winner = result_winner(info)
        if winner is None:
            result = "Draw"
        elif info.get("illegal_move"):
            result = "Agent made an illegal move. You win"
        elif winner == human_side:
            result = "You win"
        else:
            result = "Agent wins"
        return f"{result}! Click to play again. {score}"
    if game.current_player == human_side:
        return f"Your turn ({player_name(human_side)}). {score}"
    return f"Agent's turn ({player_name(1 - human_side)}). {score}"


def play_human_text(
    opponent: Any,
    human_side: int,
    kwargs: dict[str, Any],
    seed: int,
    read_line: Callable[[str], str] = input,
) -> int:
    """Play against ``opponent`` in the terminal, typing cell numbers; no display needed."""
    rng = np.random.default_rng(seed)
    board_size = kwargs.get("board_size", 3)
    win_length = kwargs.get("win_length", 3)
    lines = _read_lines(read_line)
    while True:
        game = TicTacToeGame(board_size, win_length)
        print(f"You play {player_name(human_side)}. Cells are numbered row by row:")
        print(numbered_board(board_size))
        while not game.is_over:
            if game.current_player == human_side:
                cell = ask_cell(game, lines)
                if cell is None:
                    return 0
            else:
                cell = int(opponent.select_action(game.copy(), rng))
                if not 0 <= cell < game.num_cells or not game.action_mask()[cell]:
                    print(f"Agent chose the illegal move {cell}, so it loses: you win!")
                    break
                print(f"Agent plays {cell}")
            game.play(cell)
            print(game.to_text(), end="\n\n")
        if game.is_over and game.winner is None:
            print("Draw.")
        elif game.is_over:
            print("You win!" if game.winner == human_side else "Agent wins.")
        print("Play again? [y/N] ", end="", flush=True)
        answer = next(lines, None)
        if answer is None or answer.strip().lower() not in ("y", "yes"):
            return 0


def _read_lines(read_line: Callable[[str], str]) -> Iterator[str]:
    prompt = ""
    while True:
        try:
            yield read_line(prompt)
        except EOFError:
            return


def numbered_board(board_size: int) -> str:
    """Return the board with each cell's number, for choosing moves by typing."""
    width = len(str(board_size * board_size - 1))
    rows = []
    for row in range(board_size):
        cells = range(row * board_size, (row + 1) * board_size)
        rows.append(" ".join(f"{cell:>{width}}" for cell in cells))
    return "\n".join(rows)


def ask_cell(game: TicTacToeGame, lines: Iterator[str]) -> int | None:
    """Ask for a legal cell until one is typed; None when input ends."""
    last = game.num_cells - 1
    while True:
        print(f"Your move (0-{last}): ", end="", flush=True)
        text = next(lines, None)
        if text is None:
            print()
            return None
        try:
            cell = int(text.strip())
        except ValueError:
            print(f"Invalid move {text.strip()!r}: type a cell number from 0 to {last}.")
            continue
        if not 0 <= cell <= last:
            print(f"Invalid move {cell}: cells are numbered 0 to {last}.")
        elif not game.action_mask()[cell]:
            print(f"Invalid move {cell}: that cell is taken.")
        else:
            return cell
