"""train.py tune with a PostgreSQL storage whose driver cannot be imported."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Runs train.py with the named modules blocked. A None entry in sys.modules makes every
# import of that module raise ImportError, as if it were not installed.
BLOCKED_RUN = """
import runpy, sys
for module in sys.argv[1].split(","):
    sys.modules[module] = None
sys.argv = ["train.py", *sys.argv[2:]]
runpy.run_path("train.py", run_name="__main__")
"""


def tune_without(blocked, storage, run_dir):
    command = [sys.executable, "-c", BLOCKED_RUN, blocked, "tune", "snake"]
    command += ["--storage", storage, "--n-trials", "1", "--run-dir", str(run_dir)]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("blocked", "storage", "hint"),
    [
        (
            "psycopg2,psycopg",
            "postgresql://tuner:secret@127.0.0.1:9/tune",
            (
                "needs the PostgreSQL driver psycopg2, which is not installed; "
                "install it with: pip install psycopg2-binary"
            ),
        ),
        (
            "psycopg2",
            "postgresql+psycopg2://tuner:secret@127.0.0.1:9/tune",
            "install it with: pip install psycopg2-binary",
        ),
        (
            "psycopg",
            "postgresql+psycopg://tuner:secret@127.0.0.1:9/tune",
            "install it with: pip install psycopg[binary]",
        ),
    ],
)
def test_missing_driver_hints_pip_install(tmp_path, blocked, storage, hint):
    run_dir = tmp_path / "tune"
    result = tune_without(blocked, storage, run_dir)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert hint in lines[0]
    assert "tuner:***@127.0.0.1:9/tune" in lines[0]
    assert "secret" not in lines[0]
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()
