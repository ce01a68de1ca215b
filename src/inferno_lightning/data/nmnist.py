"""NMNISTDataModule: N-MNIST (MNIST digits seen by an event camera) as dense event frames.

N-MNIST (Orchard et al. 2015) recorded the MNIST digits with an ATIS event
camera of 34x34 pixels making three saccades (about 100 ms each) in front
of a screen: 60000 training and 10000 test recordings of about 300 ms and a
few thousand events each. The recordings are read from tonic's layout,
``<root>/NMNIST/Train/<digit>/<id>.bin`` and ``<root>/NMNIST/Test/...``
(the unpacked archives of the data set's site), in Orchard's binary format
(:func:`read_nmnist_events`), and turned into frames by
:class:`~inferno_lightning.data.events.EventDataModule`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from typing_extensions import override

from .events import EVENT_DTYPE, EventDataModule, Recording

__all__ = ["NMNISTDataModule", "NMNIST_CLASSES", "NMNIST_SENSOR_SHAPE", "read_nmnist_events"]

#: Number of classes (the digits 0..9).
NMNIST_CLASSES = 10
#: ``(height, width)`` of the ATIS sensor's crop used by N-MNIST.
NMNIST_SENSOR_SHAPE = (34, 34)
# Bytes per event in Orchard's format.
_RECORD = 5
# An event with y == 240 marks a timestamp overflow: later timestamps grow by 2**13 µs
# (Orchard's own reader and tonic's read_mnist_file do the same).
_OVERFLOW_Y = 240
_OVERFLOW_INCREMENT = 2**13


def read_nmnist_events(path: str | os.PathLike[str]) -> np.ndarray:
    """The events of one N-MNIST ``.bin`` file (Orchard's format, as tonic reads it).

    The file is a sequence of 5-byte records, 40 bits big-endian: bits 39-32
    ``x``, bits 31-24 ``y``, bit 23 the polarity ``p``, bits 22-0 the
    timestamp ``t`` in µs. A record with ``y == 240`` is no event but a
    timestamp overflow: it adds :math:`2^{13}` µs to the timestamps of the
    records after it (Orchard's reader and tonic's ``read_mnist_file`` do the
    same; the 23-bit clock of N-MNIST's 300 ms recordings never overflows).

    Args:
        path: the ``.bin`` file.

    Returns:
        ``(N,)`` events of :data:`~inferno_lightning.data.events.EVENT_DTYPE`
        in file order: ``x`` in 0..255 (0..33 in N-MNIST), ``y``, ``t`` in µs,
        ``p`` 0 or 1.

    Raises:
        ValueError: the file's length is not a multiple of 5 bytes.
        OSError: the file cannot be read.
    """
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.shape[0] % _RECORD:
        raise ValueError(
            f"N-MNIST file {path} must hold 5-byte event records, got {raw.shape[0]} bytes "
            f"({raw.shape[0] % _RECORD} left over); the file may be truncated"
        )
    records = raw.reshape(-1, _RECORD).astype(np.int64)
    y = records[:, 1]
    overflow = y == _OVERFLOW_Y
    times = (records[:, 2] & 0x7F) << 16 | records[:, 3] << 8 | records[:, 4]
    times = times + np.cumsum(overflow) * _OVERFLOW_INCREMENT
    keep = ~overflow
    events = np.empty(int(keep.sum()), dtype=EVENT_DTYPE)
    events["x"] = records[keep, 0]
    events["y"] = y[keep]
    events["t"] = times[keep]
    events["p"] = records[keep, 2] >> 7
    return events


class NMNISTDataModule(EventDataModule):
    """N-MNIST as dense event frames ``(T, 2, H, W)``, with a seeded stratified validation part.

    Every sample is a recording's event counts per time bin, polarity and
    pixel, float32 ``(n_time_bins, 2, H, W)`` (batches
    ``(batch, T, 2, H, W)``, for ``SpikingModule(time_dim=1)``), with its
    digit (0..9, int64). ``H = W = ceil(34 / downsample)``: 34, 17
    (``downsample=2``), 12 (3), 9 (4). Channel 0 counts OFF events, channel
    1 ON events. With the defaults:

    ==========  =======  ==========================================
    part        samples  from
    ==========  =======  ==========================================
    train       55000    ``Train/``
    validation  5000     ``Train/``, per digit pro rata, seeded
    test        10000    ``Test/``
    ==========  =======  ==========================================

    The files are those of tonic (``tonic.datasets.NMNIST(save_to=root)``),
    under the data root (``root``, else ``$INFERNO_LIGHTNING_DATA``, else a
    per-user cache folder): ``<root>/NMNIST/Train/<digit 0-9>/<id>.bin`` and
    ``<root>/NMNIST/Test/<digit 0-9>/<id>.bin``, read by
    :func:`read_nmnist_events`; the digit is the folder's name. A split is
    there when it has at least one ``.bin`` file (a partial copy is served as
    it is). The frames are computed once per parameter set and cached under
    ``<root>/cache/NMNIST/<key>/{train,test}.pt``; see
    :class:`~inferno_lightning.data.events.EventDataModule` for the cache,
    the binning (:func:`~inferno_lightning.data.events.to_frames`) and the
    denoising (:func:`~inferno_lightning.data.events.denoise_events`).

    Args:
        root: the data root, the folder holding ``NMNIST/``.
        n_time_bins: frames per recording, ``T``.
        time_window: duration of one frame in ms (e.g. ``30.0`` with
            ``n_time_bins=10`` for the first 300 ms), or ``None`` for ``T``
            equal frames spanning each recording.
        downsample: pixels pooled along each axis (1: the full 34x34).
        denoise_time: drop events that no neighbouring pixel supports within
            this many ms (tonic's examples use ``filter_time=10_000`` µs, i.e.
            ``10.0``), or ``None`` to keep all. The event timestamps themselves
            stay in the sensor's µs.
        binary: clip the counts to 1 (spike or no spike per bin and pixel).
        batch_size: recordings per batch, for every loader.
        num_workers: DataLoader worker processes.
        seed: seed of the validation split and of the training shuffle.
        val_size: training recordings held out for validation (0 for none);
            it must be smaller than the training split (checked at setup).
        download: let :meth:`prepare_data` download missing splits with tonic
            (``pip install 'inferno-lightning[events]'``, network access).
        cache_dir: the cache root; ``None`` for ``<root>/cache``.
        cache: keep the frames on disk (``False``: recompute at every setup).
        pin_memory: the DataLoaders' ``pin_memory``.

    Raises:
        ValueError: a non-positive ``n_time_bins``, ``downsample``,
            ``time_window``, ``denoise_time`` or ``batch_size``, a negative
            ``num_workers``, ``seed`` or ``val_size``; at :meth:`setup`, a
            ``val_size`` not smaller than the training split or an unreadable
            recording (naming its file).
        TypeError: ``root`` or ``cache_dir`` is not a path.
        MissingDataError: at :meth:`setup`, a needed split has no recording
            (naming the split, the folders expected, the root and how to get
            them); at :meth:`prepare_data`, the download failed.
        ImportError: at :meth:`prepare_data`, ``download=True`` without tonic.

    Example::

        data = NMNISTDataModule(root="~/data", n_time_bins=10, downsample=2, denoise_time=10.0)
        data.setup("fit")
        frames, digits = next(iter(data.train_dataloader()))  # (32, 10, 2, 17, 17), (32,)
    """

    name: ClassVar[str] = "N-MNIST"
    dataset_name: ClassVar[str] = "NMNIST"
    split_folders: ClassVar[dict[str, str]] = {"train": "Train", "test": "Test"}
    sensor_shape: ClassVar[tuple[int, int]] = NMNIST_SENSOR_SHAPE
    classes: ClassVar[tuple[str, ...]] = tuple(str(digit) for digit in range(NMNIST_CLASSES))
    suffix: ClassVar[str] = ".bin"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        n_time_bins: int = 10,
        time_window: float | None = None,
        downsample: int = 1,
        denoise_time: float | None = None,
        binary: bool = False,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        val_size: int = 5000,
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        cache: bool = True,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(
            root=root,
            n_time_bins=n_time_bins,
            time_window=time_window,
            downsample=downsample,
            denoise_time=denoise_time,
            binary=binary,
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
            val_size=val_size,
            download=download,
            cache_dir=cache_dir,
            cache=cache,
            pin_memory=pin_memory,
        )

    @override
    def list_recordings(self, split: str) -> list[Recording]:
        """Every ``<digit>/<id>.bin`` of the split, digits in order, files sorted by name."""
        folder = self.split_folder(split)
        recordings = []
        for digit in range(NMNIST_CLASSES):
            try:
                names = sorted(
                    entry.name
                    for entry in os.scandir(folder / str(digit))
                    if entry.name.endswith(self.suffix) and entry.is_file()
                )
            except (FileNotFoundError, NotADirectoryError):
                continue
            recordings.extend(Recording(f"{digit}/{name}", digit) for name in names)
        return recordings

    @override
    def read_events(self, path: Path) -> np.ndarray:
        """The events of one ``.bin`` file (:func:`read_nmnist_events`)."""
        return read_nmnist_events(path)

    @override
    def expected_layout(self, split: str) -> list[Path]:
        """The split's folder and its ten digit folders of ``.bin`` files."""
        folder = self.split_folder(split)
        return [folder] + [folder / str(digit) / "*.bin" for digit in range(NMNIST_CLASSES)]

    @override
    def _download_with_tonic(self, tonic: Any, split: str) -> None:
        tonic.datasets.NMNIST(save_to=str(self.root), train=split == "train")
