"""AtomicCheckpointIO: checkpoints that a kill during writing can never leave half-written."""

from __future__ import annotations

import os
from typing import Any

from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override

from .data._files import atomic_save

__all__ = ["AtomicCheckpointIO"]


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
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                "storage_options is not supported by AtomicCheckpointIO.save_checkpoint, got "
                f"{storage_options!r}"
            )
        if get_filesystem(path).protocol not in ("file", ("file", "local"), "local"):
            super().save_checkpoint(checkpoint, path)
            return
        atomic_save(checkpoint, os.fspath(path))
