"""DVSGestureDataModule: IBM's DVS128 Gesture data set as dense event frames.

DVS Gesture (Amir et al. 2017) recorded 29 people making 11 hand and arm
gestures in front of a DVS128 event camera (128x128 pixels) under several
lightings: 1077 training recordings (users 1 to 23) and 264 test recordings
(users 24 to 29), a few seconds each. They are read from tonic's
preprocessed layout (one file per gesture, timestamps in ms),
``<root>/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label>.npy`` and
``<root>/DVSGesture/ibmGestureTest/...`` (:func:`read_dvs_gesture_events`),
and turned into frames by
:class:`~inferno_lightning.data.events.EventDataModule`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from typing_extensions import override

from .events import EVENT_DTYPE, EventDataModule, Recording

__all__ = [
    "DVSGestureDataModule",
    "DVS_GESTURE_CLASSES",
    "DVS_GESTURE_SENSOR_SHAPE",
    "read_dvs_gesture_events",
]

#: The 11 gestures, by label (tonic's ``DVSGesture.classes``).
DVS_GESTURE_CLASSES = (
    "hand clapping",
    "right hand wave",
    "left hand wave",
    "right arm clockwise",
    "right arm counter-clockwise",
    "left arm clockwise",
    "left arm counter-clockwise",
    "arm roll",
    "air drums",
    "air guitar",
    "other gestures",
)
#: ``(height, width)`` of the DVS128 sensor.
DVS_GESTURE_SENSOR_SHAPE = (128, 128)
_USER_FOLDER = re.compile(r"^user(\d+)_(.+)$")
_MICROSECONDS_PER_MILLISECOND = 1000


def read_dvs_gesture_events(path: str | os.PathLike[str]) -> np.ndarray:
    """The events of one recording of tonic's preprocessed DVS Gesture (a ``.npy`` file).

    The file holds an ``(N, 4)`` array of columns ``x, y, p, t``, ``t`` in
    ms (any numeric dtype). Timestamps become integer µs (``round(t * 1000)``,
    as tonic scales them); a polarity is 1 when non-zero (tonic casts it to
    bool).

    Args:
        path: the ``.npy`` file.

    Returns:
        ``(N,)`` events of :data:`~inferno_lightning.data.events.EVENT_DTYPE`
        in file order.

    Raises:
        ValueError: the file does not hold an ``(N, 4)`` numeric array.
        OSError: the file cannot be read.
    """
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(
            f"DVS Gesture file {path} could not be read as a .npy array ({error}); the file "
            "may be truncated or corrupt"
        ) from error
    if (
        not isinstance(array, np.ndarray)
        or array.ndim != 2
        or array.shape[1] != 4
        or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_)
    ):
        raise ValueError(
            f"DVS Gesture file {path} must hold an (N, 4) numeric array of x, y, p, t (ms), "
            f"got {getattr(array, 'dtype', type(array).__name__)} of shape "
            f"{getattr(array, 'shape', '?')}"
        )
    events = np.empty(array.shape[0], dtype=EVENT_DTYPE)
    events["x"] = array[:, 0]
    events["y"] = array[:, 1]
    events["p"] = array[:, 2] != 0
    times = array[:, 3]
    if np.issubdtype(times.dtype, np.integer) or times.dtype == np.bool_:
        events["t"] = times.astype(np.int64) * _MICROSECONDS_PER_MILLISECOND
    else:
        events["t"] = np.round(times.astype(np.float64) * _MICROSECONDS_PER_MILLISECOND)
    return events


class DVSGestureDataModule(EventDataModule):
    """DVS Gesture as dense event frames ``(T, 2, H, W)``, validation held out by recording or user.

    Every sample is a recording's event counts per time bin, polarity and
    pixel, float32 ``(n_time_bins, 2, H, W)`` (batches
    ``(batch, T, 2, H, W)``, for ``SpikingModule(time_dim=1)``), with its
    gesture (0..10, int64, named by :data:`DVS_GESTURE_CLASSES`).
    ``H = W = ceil(128 / downsample)``: 32 with the default ``downsample=4``.
    Channel 0 counts OFF events, channel 1 ON events.

    The validation part comes out of the training split: ``val_size``
    recordings, stratified by gesture and seeded, or, with ``val_users``,
    every recording of those users (unseen people, as the test split has).
    With the defaults:

    ==========  =======  ==========================================
    part        samples  from
    ==========  =======  ==========================================
    train       977      ``ibmGestureTrain/`` (users 1 to 23)
    validation  100      ``ibmGestureTrain/``, per gesture pro rata
    test        264      ``ibmGestureTest/`` (users 24 to 29)
    ==========  =======  ==========================================

    The files are those of tonic (``tonic.datasets.DVSGesture(save_to=root)``,
    its preprocessed version, one file per gesture), under the data root
    (``root``, else ``$INFERNO_LIGHTNING_DATA``, else a per-user cache
    folder): ``<root>/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label>.npy``
    and ``<root>/DVSGesture/ibmGestureTest/...``, read by
    :func:`read_dvs_gesture_events`; the label is the file's name (0 to 10),
    the user the folder's number. A split is there when it has at least one
    ``.npy`` file. The frames are computed once per parameter set and cached
    under ``<root>/cache/DVSGesture/<key>/{train,test}.pt``; see
    :class:`~inferno_lightning.data.events.EventDataModule` for the cache, the
    binning (:func:`~inferno_lightning.data.events.to_frames`) and the
    denoising (:func:`~inferno_lightning.data.events.denoise_events`).

    Args:
        root: the data root, the folder holding ``DVSGesture/``.
        n_time_bins: frames per recording, ``T``.
        time_window: duration of one frame in ms, or ``None`` for ``T`` equal
            frames spanning each recording (recordings last 2 to 18 s).
        downsample: pixels pooled along each axis (4: 32x32; 1: the full 128x128).
        denoise_time: drop events that no neighbouring pixel supports within
            this many ms, or ``None`` to keep all (the recordings' timestamps
            are whole ms, so a whole number of ms; the event arrays hold them
            in µs, the sensor clock of :data:`~inferno_lightning.data.events.EVENT_DTYPE`).
        binary: clip the counts to 1 (spike or no spike per bin and pixel).
        batch_size: recordings per batch, for every loader.
        num_workers: DataLoader worker processes.
        seed: seed of the validation split and of the training shuffle.
        val_size: training recordings held out for validation (0 for none),
            stratified by gesture; ignored when ``val_users`` is given.
        val_users: hold out every training recording of these users (numbers
            of the ``user<NN>_...`` folders, 1 to 23 in the full data set)
            instead of ``val_size`` recordings.
        download: let :meth:`prepare_data` download missing splits with tonic
            (``pip install 'inferno-lightning[events]'``, network access).
        cache_dir: the cache root; ``None`` for ``<root>/cache``.
        cache: keep the frames on disk (``False``: recompute at every setup).
        pin_memory: the DataLoaders' ``pin_memory``.

    Raises:
        ValueError: a non-positive ``n_time_bins``, ``downsample``,
            ``time_window``, ``denoise_time`` or ``batch_size``, a negative
            ``num_workers``, ``seed`` or ``val_size``, ``val_users`` that are
            not distinct positive ints; at :meth:`setup`, a ``val_size`` not
            smaller than the training split, ``val_users`` with no or all
            training recordings, a file not named ``<label 0-10>.npy`` or an
            unreadable recording (naming the file).
        TypeError: ``root`` or ``cache_dir`` is not a path.
        MissingDataError: at :meth:`setup`, a needed split has no recording
            (naming the split, the folders expected, the root and how to get
            them); at :meth:`prepare_data`, the download failed.
        ImportError: at :meth:`prepare_data`, ``download=True`` without tonic.

    Example::

        data = DVSGestureDataModule(root="~/data", n_time_bins=20, val_users=[21, 22, 23])
        data.setup("fit")
        frames, gestures = next(iter(data.train_dataloader()))  # (32, 20, 2, 32, 32), (32,)
    """

    name: ClassVar[str] = "DVS Gesture"
    dataset_name: ClassVar[str] = "DVSGesture"
    split_folders: ClassVar[dict[str, str]] = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}
    sensor_shape: ClassVar[tuple[int, int]] = DVS_GESTURE_SENSOR_SHAPE
    classes: ClassVar[tuple[str, ...]] = DVS_GESTURE_CLASSES
    suffix: ClassVar[str] = ".npy"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        n_time_bins: int = 20,
        time_window: float | None = None,
        downsample: int = 4,
        denoise_time: float | None = None,
        binary: bool = False,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        val_size: int = 100,
        val_users: Sequence[int] | None = None,
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        cache: bool = True,
        pin_memory: bool = False,
    ) -> None:
        users = _check_users(val_users)
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
            val_size=0 if users is not None else val_size,
            download=download,
            cache_dir=cache_dir,
            cache=cache,
            pin_memory=pin_memory,
        )
        self.val_users = users

    @override
    def list_recordings(self, split: str) -> list[Recording]:
        """Every ``user<NN>_<lighting>/<label>.npy`` of the split, folders and files sorted.

        Raises:
            ValueError: a ``.npy`` file not named after a label 0 to 10.
        """
        folder = self.split_folder(split)
        try:
            users = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        recordings = []
        for user_folder in users:
            match = _USER_FOLDER.match(user_folder)
            if match is None:
                continue
            names = sorted(
                (entry.name for entry in os.scandir(folder / user_folder)),
                key=_label_order,
            )
            for name in names:
                if not name.endswith(self.suffix):
                    continue
                stem = name[: -len(self.suffix)]
                if not stem.isdigit() or int(stem) >= len(DVS_GESTURE_CLASSES):
                    raise ValueError(
                        f"DVS Gesture files must be named <label>.npy with a label from 0 to "
                        f"{len(DVS_GESTURE_CLASSES) - 1}, got {folder / user_folder / name}"
                    )
                recordings.append(Recording(f"{user_folder}/{name}", int(stem), int(match[1])))
        return recordings

    @override
    def read_events(self, path: Path) -> np.ndarray:
        """The events of one ``.npy`` file (:func:`read_dvs_gesture_events`)."""
        return read_dvs_gesture_events(path)

    @override
    def expected_layout(self, split: str) -> list[Path]:
        """The split's folder and the pattern of its files."""
        folder = self.split_folder(split)
        return [folder, folder / "user<NN>_<lighting>" / "<label 0-10>.npy"]

    @override
    def split_indices(self, recordings: Sequence[Recording]) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the training and validation recordings of the training split.

        With ``val_users``, validation is every recording of those users;
        otherwise ``val_size`` recordings, stratified by gesture and seeded
        (:meth:`EventDataModule.split_indices`).

        Raises:
            ValueError: ``val_users`` that hold no training recording, or all of them.
        """
        if self.val_users is None:
            return super().split_indices(recordings)
        users = np.array([recording.group for recording in recordings], dtype=np.int64)
        in_val = np.isin(users, np.array(self.val_users, dtype=np.int64))
        present = sorted(set(users.tolist()))
        absent = [user for user in self.val_users if user not in present]
        if absent or in_val.all():
            raise ValueError(
                f"val_users must be users of the training split with recordings, leaving some "
                f"for training; the training split under {self.split_folder('train')} has "
                f"users {present}, got val_users={list(self.val_users)}"
            )
        return np.flatnonzero(~in_val), np.flatnonzero(in_val)

    @override
    def _download_with_tonic(self, tonic: Any, split: str) -> None:
        tonic.datasets.DVSGesture(save_to=str(self.root), train=split == "train")


def _label_order(name: str) -> tuple[int, str]:
    # 2.npy before 10.npy.
    stem = name.split(".", 1)[0]
    return (int(stem) if stem.isdigit() else -1, name)


def _check_users(val_users: Sequence[int] | None) -> tuple[int, ...] | None:
    if val_users is None:
        return None
    users = (
        tuple(val_users)
        if isinstance(val_users, Sequence) and not isinstance(val_users, str)
        else None
    )
    if (
        not users
        or any(isinstance(user, bool) or not isinstance(user, int) or user < 1 for user in users)
        or len(set(users)) != len(users)
    ):
        raise ValueError(
            f"val_users must be None or a non-empty sequence of distinct positive ints "
            f"(user numbers), got {val_users!r}"
        )
    return users
