"""Killed runs: SIGKILL at random moments, resumed each time, must end exactly and intact."""

import csv
import random
import subprocess
import sys
import time

from agents.checkpoint import load_model_file
from tests.conftest import ROOT, run_script

# The killed runs request more steps than they can reach in 20 short lives. The last resume
# then requests a total just past the newest checkpoint and must stop exactly there.
KILLED_TOTAL = 1_000_000
ARGS = [
    "snake",
    "--save-every-steps",
    "500",
    "--eval-every",
    "4000",
    "--eval-episodes",
    "2",
    "--final-eval-episodes",
    "2",
    "--learning-starts",
    "200",
    "--buffer-size",
    "5000",
    "--num-envs",
    "4",
    "--no-progress",
    "--no-progress-factor",
    "5",
    "--log-interval",
    "500",
    # A 1,000,000-step run would compile its update for several seconds before the first
    # checkpoint at step 500, and the random kills would all land in that compile.
    "--compile-update",
    "off",
]


def has_checkpoint(run_dir):
    return any((run_dir / "checkpoints").glob("step_*.pt"))


def test_twenty_sigkills_then_resume_to_exact_end(tmp_path):
    run_dir = tmp_path / "killed"
    rng = random.Random(0)
    kills = 0
    while kills < 20:
        command = [sys.executable, str(ROOT / "train.py"), *ARGS]
        command += ["--total-timesteps", str(KILLED_TOTAL)]
        if has_checkpoint(run_dir):
            command += ["--resume", str(run_dir)]
        else:
            command += ["--run-dir", str(run_dir)]
            if run_dir.exists():
                # Killed before its first checkpoint: nothing to resume, so start over.
                subprocess.run(["rm", "-rf", str(run_dir)], check=True)
        launched = time.time()
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        # Start the random delay once training has begun (the summary is written at start),
        # so kills land in training and saving however slow the imports are.
        summary = run_dir / "model_summary.txt"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if summary.exists() and summary.stat().st_mtime >= launched - 1:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.5))
        if process.poll() is not None:
            stderr = process.stderr.read()
            assert process.returncode == 0, stderr
            break
        process.kill()
        process.wait()
        kills += 1
    assert kills == 20

    newest = max(int(p.stem.split("_")[1]) for p in (run_dir / "checkpoints").glob("step_*.pt"))
    total = (newest // 4000 + 1) * 4000
    result = run_script(
        "train.py", *ARGS, "--total-timesteps", str(total), "--resume", run_dir, check=True
    )
    assert f"Done: {total:,} steps" in result.stdout

    checkpoints = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    assert checkpoints[-1].name == f"step_{total:09d}.pt"
    for path in checkpoints:
        assert load_model_file(path)["global_step"] == int(path.stem.split("_")[1])
    assert load_model_file(run_dir / "final_model.pt")["global_step"] == total
    assert not list(run_dir.rglob("*.tmp"))
    assert [p.name for p in (run_dir / "checkpoints").glob("replay_buffer_*")] == [
        f"replay_buffer_{total:09d}.pt"
    ]
    with (run_dir / "evaluations.csv").open() as handle:
        steps = [int(row["global_step"]) for row in csv.DictReader(handle)]
    assert steps == list(range(4000, total + 1, 4000))


def test_fresh_run_into_used_folder_is_refused(tmp_path):
    run_dir = tmp_path / "used"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "step_000000500.pt").write_bytes(b"x")
    result = run_script("train.py", "snake", "--run-dir", run_dir, "--total-timesteps", "100")
    assert result.returncode == 2
    assert "--resume" in result.stderr
    assert (run_dir / "checkpoints" / "step_000000500.pt").read_bytes() == b"x"
