"""AtomicCheckpointIO: checkpoints that a kill during writing can never leave half-written."""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

from lightning.fabric.utilities.cloud_io import _load as _fsspec_load
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override

from .data._files import atomic_save

__all__ = ["AtomicCheckpointIO", "CheckpointError", "check_checkpoint_file", "read_checkpoint"]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: empty, truncated, or not a checkpoint at all."""


def _local(path: str | os.PathLike[str]) -> bool:
    return get_filesystem(path).protocol in ("file", ("file", "local"), "local")


def _unreadable(path: str | os.PathLike[str], why: str) -> CheckpointError:
    return CheckpointError(
        f"{os.fspath(path)} is truncated or is not a checkpoint ({why}); nothing was loaded or "
        "written. Pass another checkpoint (a checkpoint written by AtomicCheckpointIO, as the "
        "recipes write them, is never partial: a run killed while saving keeps the previous "
        "one), or start without ckpt_path"
    )


def check_checkpoint_file(path: str | os.PathLike[str]) -> None:
    """Refuse a local file that cannot hold a checkpoint, before it is read.

    ``torch.save`` writes a zip archive (whose directory is at its end, so a
    truncated file has none) or, in the legacy format, a pickle stream. An
    empty file, a zip archive without its directory, or anything else is
    refused. Remote paths are not checked here.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is empty, truncated or not a checkpoint.
    """
    if not _local(path):
        return
    local = os.fspath(path)
    if not os.path.isfile(local):
        raise FileNotFoundError(f"Checkpoint file not found: {local}")
    size = os.path.getsize(local)
    if size == 0:
        raise _unreadable(path, "the file is empty")
    with open(local, "rb") as stream:
        head = stream.read(4)
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(local):
            raise _unreadable(path, f"a zip archive of {size} bytes without its directory")
    elif not head.startswith(b"\x80"):
        raise _unreadable(path, f"{size} bytes that are neither a zip archive nor a pickle")


def read_checkpoint(
    path: str | os.PathLike[str], map_location: Any = None, weights_only: bool | None = None
) -> dict[str, Any]:
    """Load a checkpoint as Lightning does, with a clear error for a file that cannot be one.

    Args:
        path: local path or fsspec URL.
        map_location: as for :func:`torch.load`.
        weights_only: as for :func:`torch.load`.

    Returns:
        the checkpoint dictionary.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is empty, truncated, or not a checkpoint
            (``torch.load`` would raise ``EOFError``, ``RuntimeError`` or an
            unpickling error).
    """
    check_checkpoint_file(path)
    try:
        return _fsspec_load(path, map_location=map_location, weights_only=weights_only)
    except (EOFError, RuntimeError, zipfile.BadZipFile, KeyError, pickle.UnpicklingError) as error:
        if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in str(error):
            raise  # readable, but holds objects weights_only refuses: torch's own message says what to do
        raise _unreadable(
            path, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        ) from error


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each local checkpoint to a temporary file, flushes it to disk, then renames it.

    Lightning's :class:`~lightning.pytorch.plugins.io.TorchCheckpointIO`
    serialises to memory and then writes the bytes into the destination, so
    a process killed while writing (SIGKILL, out of memory, a pre-empted
    node) leaves a truncated ``last.ckpt`` that cannot be resumed from. Here
    the file is written beside the destination, ``fsync``-ed, and moved over it
    with ``os.replace`` (atomic on POSIX and Windows): the destination is
    always either the previous complete checkpoint or the new complete one.
    Remote paths (``s3://``, ...) go through Lightning's writer unchanged.

    Example::

        Trainer(plugins=[AtomicCheckpointIO()], callbacks=[ModelCheckpoint(save_last=True)])

    In a recipe: ``trainer.plugins: [{class_path: inferno_lightning.checkpoint_io.AtomicCheckpointIO}]``.
    """

    @override
    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Load as Lightning does; an empty, truncated or foreign file raises :class:`CheckpointError`."""
        if map_location is None:
            map_location = _keep_location
        return read_checkpoint(path, map_location=map_location, weights_only=weights_only)

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                "storage_options is not supported by AtomicCheckpointIO.save_checkpoint, got "
                f"{storage_options!r}"
            )
        if not _local(path):
            super().save_checkpoint(checkpoint, path)
            return
        atomic_save(checkpoint, os.fspath(path))


def _keep_location(storage: Any, location: Any) -> Any:
    # Lightning's default map_location (a lambda there): keep every storage where it was saved.
    return storage
