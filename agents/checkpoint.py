"""Model and checkpoint files: atomic saves and loads that never unpickle arbitrary objects.

A file is a ``torch.save`` dictionary of tensors and plain Python values (numbers,
strings, lists, dictionaries). It is read with ``torch.load(..., weights_only=True)``,
which rejects any other pickled object, so a model file cannot run code when loaded.
Numpy arrays are stored as tensors for the same reason.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_KIND = "dqn-arena-model"


class SaveError(OSError):
    """A save that failed (a full disk, for example); the previous file is left intact."""


class CheckpointError(Exception):
    """A model or checkpoint file that is missing, damaged or does not fit; names the file."""


def _to_storable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {key: _to_storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_storable(item) for item in value)
    return value


def atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Write a file through a temporary file in the same folder, then rename it into place.

    ``write`` receives an open binary file. The data is flushed and synced before the
    rename, so a crash leaves either the old file or the complete new one, never a
    partial file under ``path``.

    Raises:
        SaveError: If writing fails (disk full, for example); ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        # mkstemp creates the file readable by its owner only; give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:
        # torch.save reports a full disk as a RuntimeError from its zip writer.
        Path(temporary).unlink(missing_ok=True)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error.__context__, OSError) and error.__context__.strerror:
            reason = error.__context__.strerror
        raise SaveError(
            f"failed to save {path}: {reason[:200]}; the previous file is kept"
        ) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def save_model_file(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Save a checkpoint dictionary atomically, adding the format version and kind."""
    data = {"kind": FILE_KIND, "format_version": FORMAT_VERSION, **_to_storable(payload)}
    atomic_write(path, lambda handle: torch.save(data, handle))


def load_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """Load a file written by :func:`save_model_file`, with ``weights_only=True``.

    Raises:
        CheckpointError: If the file is missing, empty, truncated, not a dqn-arena model, of
            an unknown format version, or contains objects other than tensors and plain values.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model file not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"expected a model file, got the folder {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"model file {path} is empty")
    # torch.save writes a zip archive; anything else is damaged or some other format, and
    # is rejected before any unpickling is attempted.
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"cannot read model file {path}: it is damaged (truncated, for example) or not a "
            "dqn-arena model"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged_member = archive.testzip()
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError):
        damaged_member = "the archive index"
    if damaged_member is not None:
        raise CheckpointError(
            f"cannot read model file {path}: it is damaged ({damaged_member} fails its "
            "CRC-32 check)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"rejected {path}: it contains objects other than tensors and plain values, which "
            "dqn-arena never unpickles"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"cannot read model file {path}: it is damaged or not a dqn-arena model "
            f"({reason[:200]})"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != FILE_KIND:
        raise CheckpointError(f"{path} is not a dqn-arena model file")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has model format version {version}, expected {FORMAT_VERSION}"
        )
    return data


def tensors_to_numpy(value: Any) -> Any:
    """Turn the tensors of a loaded payload back into numpy arrays, recursively."""
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: tensors_to_numpy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [tensors_to_numpy(item) for item in value]
    return value


def checkpoint_step(path: Path) -> int:
    """Return the step encoded in a ``step_<N>.pt`` checkpoint name, or -1."""
    stem = path.stem
    if not stem.startswith("step_"):
        return -1
    try:
        return int(stem[len("step_") :])
    except ValueError:
        return -1


def find_resumable_checkpoint(run_dir_or_file: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """Find and load the newest valid checkpoint of a run folder, or load the given file.

    Damaged newer checkpoints are skipped with a warning that names them.

    Raises:
        CheckpointError: If the path does not exist, or no checkpoint in it loads.
    """
    path = Path(run_dir_or_file)
    if not path.exists():
        raise CheckpointError(f"resume path not found: {path}")
    if path.is_file():
        return path, load_model_file(path)
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    candidates = sorted(folder.glob("step_*.pt"), key=checkpoint_step, reverse=True)
    if not candidates:
        raise CheckpointError(f"no checkpoints (step_*.pt) found in {folder}")
    for candidate in candidates:
        try:
            return candidate, load_model_file(candidate)
        except CheckpointError as error:
            logger.warning("skipping damaged checkpoint %s: %s", candidate, error)
    raise CheckpointError(f"every checkpoint in {folder} is damaged; cannot resume")
