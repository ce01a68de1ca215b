"""Where data sets live on disk, the error for data that is not there, and atomic writes.

Shared by the data modules: the data root is the ``root`` argument, else the
``INFERNO_LIGHTNING_DATA`` environment variable, else a per-user cache
directory; a data set that is missing (and cannot or may not be downloaded)
raises :class:`MissingDataError`, which names the data set, the split, the
exact files or folders expected, the root searched and how to get them.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "DATA_ROOT_ENV",
    "MissingDataError",
    "atomic_save",
    "atomic_write_text",
    "default_data_root",
    "remove_stale_temporaries",
    "resolve_data_root",
]

#: Environment variable naming the data root when no ``root`` argument is given.
DATA_ROOT_ENV = "INFERNO_LIGHTNING_DATA"


def default_data_root() -> Path:
    """The per-user cache directory for data sets.

    ``$XDG_CACHE_HOME/inferno-lightning/data``, or
    ``~/.cache/inferno-lightning/data`` when ``XDG_CACHE_HOME`` is unset.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "inferno-lightning" / "data"


def resolve_data_root(root: str | os.PathLike[str] | None) -> Path:
    """The data root: ``root`` if given, else ``$INFERNO_LIGHTNING_DATA``, else :func:`default_data_root`.

    Args:
        root: a folder, or ``None``.

    Returns:
        the root as an absolute path (``~`` expanded); it need not exist.

    Raises:
        TypeError: ``root`` is neither ``None``, a ``str`` nor a path.
        ValueError: ``root`` is an empty string.
    """
    if root is None:
        root = os.environ.get(DATA_ROOT_ENV) or default_data_root()
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path or None, got {type(root).__name__}")
    if isinstance(root, str) and not root.strip():
        raise ValueError("root must be a folder path or None, got an empty string")
    return Path(root).expanduser().absolute()


class MissingDataError(FileNotFoundError):
    """A data set (or one split of it) is not on disk and was not downloaded.

    The message names the data set and split, every expected file or folder
    that is missing, the root that was searched, and how to get the data.

    Args:
        dataset: the data set's name, e.g. ``"MNIST"``.
        split: the split, e.g. ``"train"``.
        missing: the expected files or folders that are not there.
        root: the data root that was searched.
        how_to_get: what to do to get the data (a sentence or two).
    """

    def __init__(
        self,
        dataset: str,
        split: str,
        missing: Sequence[Path],
        root: Path,
        how_to_get: str,
    ) -> None:
        self.dataset = dataset
        self.split = split
        self.missing = [Path(path) for path in missing]
        self.root = Path(root)
        self.how_to_get = how_to_get
        lines = "\n".join(f"  {path}" for path in self.missing)
        super().__init__(
            f"{dataset} ({split} split) was not found under the data root {self.root}.\n"
            f"Missing:\n{lines}\n"
            f"The root is the `root` argument, else ${DATA_ROOT_ENV}, else {default_data_root()}.\n"
            f"{how_to_get}"
        )

    def __reduce__(self) -> tuple[Callable[..., MissingDataError], tuple[Any, ...]]:
        # Picklable (DataLoader workers and DDP spawn send exceptions between processes).
        return (
            type(self),
            (self.dataset, self.split, self.missing, self.root, self.how_to_get),
        )


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` so that ``path`` is either absent, the old file, or complete.

    The object is written to a temporary file in the same folder, flushed to
    disk, then renamed over ``path`` (``os.replace``, atomic on POSIX and
    Windows), so a reader never sees a half-written file, even when the writer
    is killed mid-write; concurrent writers of the same content are harmless.
    Temporaries that killed writers left beside ``path`` are removed first
    (:func:`remove_stale_temporaries`).

    Args:
        obj: anything ``torch.save`` accepts.
        path: the destination; its folder is created if needed.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    _replace_atomically(Path(path), lambda stream: torch.save(obj, stream), binary=True)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` as :func:`atomic_save` writes: complete or not at all."""
    _replace_atomically(Path(path), lambda stream: stream.write(text), binary=False)
    return Path(path)


#: Temporaries of other hosts (a shared file system) and of older versions (no writer recorded)
#: count as abandoned after this many seconds.
STALE_AFTER_S = 24 * 3600.0


def _writer_tag() -> str:
    """``<host>-<pid>``: who writes a temporary file, so that a later writer can tell it is dead."""
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries that killed writers of ``path`` left beside it.

    A writer killed between creating its temporary ``.<name>.<host>-<pid>.*.tmp``
    and renaming it leaves the file behind. One is stale when its writer ran on
    this host and is no longer alive; those of other hosts, and those with no
    writer in their name, when older than :data:`STALE_AFTER_S`. The live
    writers' temporaries are never touched.

    Args:
        path: the destination whose folder is cleaned.

    Returns:
        the files removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    host = _writer_tag().rsplit("-", 1)[0]
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:(?P<host>\w+)-(?P<pid>\d+)\.)?.*\.tmp$")
    removed = []
    now = time.time()
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = pattern.match(candidate.name)
        if match is None:
            continue
        if match["pid"] is not None and match["host"] == host:
            stale = not _alive(int(match["pid"]))
        else:
            try:
                stale = now - candidate.stat().st_mtime > STALE_AFTER_S
            except OSError:
                continue
        if stale:
            try:
                candidate.unlink()
            except OSError:
                continue
            removed.append(candidate)
    return removed


def _replace_atomically(path: Path, write: Callable[[Any], Any], binary: bool) -> None:
    # Write beside the destination, flush to disk, then rename over it (atomic on POSIX and Windows).
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.{_writer_tag()}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(
            handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
        ) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
