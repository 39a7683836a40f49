"""Game environments of dqn-arena: tic-tac-toe and snake.

Importing this package registers the Gymnasium ids below, so that
``gymnasium.make("dqn_arena/TicTacToe-v0")`` and ``gymnasium.make("dqn_arena/Snake-v0")``
work after ``import envs``.
"""

from gymnasium.envs.registration import register, registry

TICTACTOE_ID = "dqn_arena/TicTacToe-v0"
SNAKE_ID = "dqn_arena/Snake-v0"

# The snake's no-progress limit depends on its length, so the environment truncates
# episodes itself and neither id adds a TimeLimit wrapper.
if TICTACTOE_ID not in registry:
    register(id=TICTACTOE_ID, entry_point="envs.tictactoe_env:TicTacToeEnv")
if SNAKE_ID not in registry:
    register(id=SNAKE_ID, entry_point="envs.snake_env:SnakeEnv")

__all__ = ["SNAKE_ID", "TICTACTOE_ID"]
