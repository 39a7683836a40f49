"""Model files: atomic saves, safe loading, damaged and wrong files."""

import os
import pickle

import pytest
import torch

from agents.checkpoint import (
    CheckpointError,
    find_resumable_checkpoint,
    load_model_file,
    save_model_file,
)


def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    path = tmp_path / "model.pt"
    save_model_file(path, {"weights": torch.arange(4.0), "meta": {"env": "x", "sizes": [1, 2]}})
    data = load_model_file(path)
    assert torch.equal(data["weights"], torch.arange(4.0))
    assert data["meta"] == {"env": "x", "sizes": [1, 2]}
    assert data["format_version"] == 1


class RunsCode:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_file_rejected(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"kind": "dqn-arena-model", "format_version": 1, "x": RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_model_file(path)
    assert not marker.exists()


def test_plain_pickle_is_rejected(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(CheckpointError):
        load_model_file(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"not a model at all", "damaged"), (b"PK\x03\x04broken", "damaged")],
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_model_file(path)
    assert "bad.pt" in str(caught.value)


def test_truncated_file_is_rejected(tmp_path):
    path = tmp_path / "model.pt"
    save_model_file(path, {"weights": torch.randn(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.pt"):
        load_model_file(path)


def test_other_torch_file_is_not_a_model(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="not a dqn-arena model"):
        load_model_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model_file(tmp_path / "nope.pt")


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_model_file(path, {"weights": torch.zeros(3)})

    def fail_halfway(obj, handle, *args, **kwargs):
        handle.write(b"partial data")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", fail_halfway)
    with pytest.raises(OSError, match="No space"):
        save_model_file(path, {"weights": torch.ones(3)})
    monkeypatch.undo()
    assert torch.equal(load_model_file(path)["weights"], torch.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_resume_skips_damaged_newest(tmp_path, caplog):
    folder = tmp_path / "checkpoints"
    save_model_file(folder / "step_000000500.pt", {"global_step": 500})
    save_model_file(folder / "step_000001000.pt", {"global_step": 1000})
    newest = folder / "step_000001000.pt"
    newest.write_bytes(newest.read_bytes()[:100])
    path, data = find_resumable_checkpoint(tmp_path)
    assert path.name == "step_000000500.pt"
    assert data["global_step"] == 500
    assert "step_000001000.pt" in caplog.text


def test_resume_missing_path_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        find_resumable_checkpoint(tmp_path / "missing")
