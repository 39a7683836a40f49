"""Watch a trained agent, play against it, or evaluate it without a window.

Examples:
    python play.py snake --model runs/snake/best_model.pt          # watch the agent
    python play.py snake                                            # play with the arrow keys
    python play.py tictactoe --model runs/ttt/best_model.pt         # watch it play itself
    python play.py tictactoe --model runs/ttt/best_model.pt --human x
    python play.py tictactoe --model M --opponent perfect --render none --episodes 200
    python play.py tictactoe --model M --human o --render text      # no display needed

Watching and playing always use the greedy action: no exploration, whatever epsilon the
model was trained with.
"""

from __future__ import annotations

import argparse
import os
import sys
from agents.config import ConciseArgumentParser, positive_int
from agents.frontend import UsageError

ENV_NAMES = ("tictactoe", "snake")
RENDER_CHOICES = ("window", "text", "none")


def seed_value(text: str) -> int:
    """Parse a seed for argparse: an integer from 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to 2**32 - 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = ConciseArgumentParser(
        prog="play.py", description="Watch, play against or evaluate a dqn-arena agent."
    )
    parser.add_argument("env", choices=ENV_NAMES, help="game to play")
    parser.add_argument("--model", metavar="PATH", help="model file written by train.py")
    parser.add_argument(
        "--opponent",
        default=None,
        metavar="self|random|perfect|PATH",
        help="tic-tac-toe opponent of the agent: itself (default when watching), random, "
        "perfect (minimax on 3x3, depth-limited alpha-beta above), or another model file",
    )
    parser.add_argument(
        "--human",
        choices=("x", "o"),
        help="tic-tac-toe: you play this side by clicking (or typing with --render text)",
    )
    parser.add_argument(
        "--render",
        choices=RENDER_CHOICES,
        default="window",
        help="window: a pygame window; text: the terminal; none: no output but statistics",
    )
    parser.add_argument(
        "--episodes",
        type=positive_int,
        help="episodes to watch (default: until the window closes), or to evaluate with "
        "--render none (default: 100; games per side for tic-tac-toe)",
    )
    parser.add_argument("--fps", type=positive_int, help="frames per second of the window")
    parser.add_argument(
        "--seed", type=seed_value, default=0, help="seed of the games (0 to 2**32 - 1)"
    )
    parser.add_argument(
        "--grid-size",
        type=positive_int,
        help="snake board side in cells (default: the model's, or 10)",
    )
    parser.add_argument(
        "--board-size",
        type=positive_int,
        help="tic-tac-toe board side (default: the model's, or 3)",
    )
    parser.add_argument(
        "--win-length",
        type=positive_int,
        help="tic-tac-toe marks in a row (default: the model's, or 3)",
    )
    return parser


def check_options(args: argparse.Namespace) -> None:
    """Reject option combinations that do not make sense, before anything loads."""
    if args.board_size is not None and not 3 <= args.board_size <= 10:
        raise UsageError(f"--board-size must be between 3 and 10, got {args.board_size}")
    if args.grid_size is not None and not 4 <= args.grid_size <= 100:
        raise UsageError(f"--grid-size must be between 4 and 100, got {args.grid_size}")
    if args.env == "snake":
        if args.human or args.opponent:
            raise UsageError("--human and --opponent are tic-tac-toe options")
        if args.model is None and args.render == "none":
            raise UsageError("--render none evaluates a model; pass --model PATH")
        if args.model is None and args.render == "text":
            raise UsageError("playing snake needs a window; drop --render text")
        return
    if args.model is None and args.human is None:
        raise UsageError("tic-tac-toe needs --model PATH to watch, or --human x|o to play")
    if args.human and args.render == "none":
        raise UsageError("--human needs --render window or text")
    if args.human and args.opponent == "self":
        raise UsageError("--opponent self means the model plays both sides; drop --human")
    if args.opponent == "self" and args.model is None:
        raise UsageError("--opponent self needs --model PATH")


def main(argv: list[str] | None = None) -> int:
    """Run ``play.py``; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_options(args)
    except UsageError as error:
        parser.exit(2, f"play.py: error: {error}\n")
    if (
        args.render == "window"
        and "DISPLAY" not in os.environ
        and "WAYLAND_DISPLAY" not in os.environ
    ):
        if os.environ.get("SDL_VIDEODRIVER") != "dummy":
            print(
                "play.py: note: no display found; the window may fail to open. Use --render text "
                "or --render none without a display.",
                file=sys.stderr,
            )

    from agents.checkpoint import CheckpointError

    try:
        if args.env == "snake":
            from agents.play_snake import run_snake

            return run_snake(args)
        from agents.play_tictactoe import run_tictactoe

        return run_tictactoe(args)
    except CheckpointError as error:
        print(f"play.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except (UsageError, ValueError) as error:
        parser.exit(2, f"play.py: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
