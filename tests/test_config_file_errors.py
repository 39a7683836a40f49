"""Config-file errors name the file, the line and column of bad syntax, and the bad key."""

import re

import pytest

from agents.config import ConfigError, load_config_file
from agents.tune_space import SpaceError, load_space
from tests.conftest import run_script


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "seed: 1\nlearning_rate: 0.1\n  gamma: 0.9\n",
            "line 3, column 8: mapping values are not allowed here",
        ),
        (
            "seed: 1\nhidden_sizes: [64, 64\n",
            (
                "line 3, column 1: expected ',' or ']', but got '<stream end>' "
                "(while parsing a flow sequence from line 2)"
            ),
        ),
        ("seed: 1\ngamma:\t0.9\n", "line 2, column 7: found character '\\t'"),
        ("seed: 1\nbatch_size: 32\nseed: 2\n", "line 3, column 1: duplicate key 'seed'"),
        ('{"seed": 1,, "gamma": 0.9}', "line 1, column 12: expected the node content"),
        ("? [seed, gamma]\n: 1\n", "line 1, column 3: expected an option name as key, got a list"),
    ],
)
def test_syntax_error_names_line_and_column(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    result = run_script("train.py", "snake", "--config", path)
    assert result.returncode == 2, result.stderr
    assert f"malformed config file {path}, {message}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "seed: 1\nbatch_size: 32\nlearning_rate: [0.1, 0.2]\n",
            "invalid value for learning_rate: expected a number, got [0.1, 0.2] (in {path}, line 3)",
        ),
        ("gamma:\n", "invalid value for gamma: expected a number, got None (in {path}, line 1)"),
        (
            "seed: 1\nhidden_sizes: {first: 64}\n",
            (
                "invalid value for hidden_sizes: expected a list of integers, got {{'first': 64}} "
                "(in {path}, line 2)"
            ),
        ),
        (
            "seed: 1\nseed_value: 3\n",
            "unknown key 'seed_value' (in {path}, line 2)",
        ),
        (
            "seed: 1\n\nboard_size: 4\n",
            "key 'board_size' (in {path}, line 3) is a tictactoe option, not a snake one",
        ),
    ],
)
def test_wrong_key_or_type_names_key(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_config_file(path, "snake")
    assert str(error.value) == message.format(path=path)


def test_search_space_syntax_error_names_line(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("gamma: {type: float, low: 0.9, high: 0.99}\ntau: [0.5, 1.0\n")
    expected = f"malformed search space file {space}, line 3, column 1: expected ','"
    with pytest.raises(SpaceError, match=re.escape(expected)):
        load_space("tictactoe", space, {})
