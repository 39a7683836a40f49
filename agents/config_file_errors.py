"""Locations in YAML file errors: the line and column of a syntax error, the line of a key."""

from __future__ import annotations

import os

import yaml


def describe_yaml_error(
    error: yaml.YAMLError, path: str | os.PathLike, kind: str = "config file"
) -> str:
    """Return a one-line message for a ``kind`` of file that YAML cannot parse.

    PyYAML's marks count lines and columns from 0; the message counts them from 1, as
    editors do.
    """
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        first_line = str(error).splitlines()[0] if str(error) else "syntax error"
        return f"malformed {kind} {path}: {first_line}"
    mark = error.problem_mark
    message = (
        f"malformed {kind} {path}, line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    )
    if error.context:
        message += f" ({error.context}"
        if error.context_mark is not None and error.context_mark.line != mark.line:
            message += f" from line {error.context_mark.line + 1}"
        message += ")"
    return message


def key_line(text: str, key: object) -> int | None:
    """Return the 1-based line of top-level ``key`` in the YAML ``text``, or None if not found."""
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(document, yaml.MappingNode):
        return None
    for key_node, _ in document.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
            return key_node.start_mark.line + 1
    return None


def in_file(path: str | os.PathLike, text: str, key: object) -> str:
    """Return ``"in FILE, line N"`` for ``key``, without the line when it cannot be found."""
    line = key_line(text, key)
    return f"in {path}" if line is None else f"in {path}, line {line}"
