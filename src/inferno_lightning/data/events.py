"""Event-camera data: event arrays, frame binning, downsampling, denoising, a frame cache, a base data module.

An event camera (a dynamic vision sensor) reports, per pixel and
asynchronously, each change of log brightness beyond a threshold as an event
``(x, y, t, p)``: the pixel's column ``x`` and row ``y``, the time ``t`` in
µs (the sensors' clock; the timestamps are kept as integers) and the polarity
``p`` (1: brighter, 0: darker). Here a recording is a structured NumPy array
of :data:`EVENT_DTYPE`, and the pure functions turn it into dense frames:

- :func:`denoise_events` drops events that no neighbouring pixel supports,
- :func:`downsample_events` pools pixels into coarser ones,
- :func:`to_frames` counts events per time bin, polarity and pixel,
  ``(T, 2, H, W)``,

and :class:`FrameTransform` chains them with its parameters fixed (and hashes
them into the key of the frame cache). :class:`EventDataModule` is the base
of the event data modules (:class:`~inferno_lightning.data.NMNISTDataModule`,
:class:`~inferno_lightning.data.DVSGestureDataModule`): it lists the
recordings of a split in tonic's on-disk layout, turns each into frames once,
keeps them in a cache on disk, and serves them as float32 tensors
``(T, 2, H, W)`` (batches ``(batch, T, 2, H, W)``, for
``SpikingModule(time_dim=1)``).

Units: the time parameters (``time_window``, ``denoise_time``) are in ms, the
project's unit of time (DESIGN.md), as floats; the event timestamps stay in
the sensor's clock, integer µs (the ``t`` field of :data:`EVENT_DTYPE`). Each
parameter is converted to µs once, where it meets the timestamps (times
1000, snapped to the whole µs it is within float rounding of, so ``2.007``
ms is exactly 2007 µs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from typing_extensions import override

from .._validation import check_choice, nonnegative_int, positive_int
from ._files import (
    DATA_ROOT_ENV,
    MissingDataError,
    atomic_save,
    atomic_write_text,
    resolve_data_root,
)
from ._sampling import SplitDataModule

__all__ = [
    "EVENT_DTYPE",
    "FRAME_CACHE_FORMAT",
    "EventDataModule",
    "EventFrameDataset",
    "FrameTransform",
    "Recording",
    "denoise_events",
    "downsample_events",
    "make_events",
    "to_frames",
]

_log = logging.getLogger(__name__)

#: One event: pixel column ``x`` and row ``y``, time ``t`` (µs, the sensor's clock; unlike the
#: time parameters, which are in ms), polarity ``p`` (0 or 1).
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
#: Version of the frame computation and of the cache file's content; part of every cache key,
#: so a change of either invalidates old caches instead of serving them.
FRAME_CACHE_FORMAT = 2  # 2: time parameters in ms (1: in µs)

_STAGES = ("fit", "validate", "test", "predict", None)
# The split each stage reads ("validate" holds its part out of the training split).
_SPLITS_OF_STAGE = {
    "fit": ("train",),
    "validate": ("train",),
    "test": ("test",),
    "predict": ("test",),
    None: ("train", "test"),
}
# Time parameters are in ms, event timestamps in µs.
_MICROSECONDS_PER_MILLISECOND = 1000.0
# What every cache file holds; anything else is rebuilt.
_CACHE_ENTRIES = ("format", "key", "split", "recordings", "labels", "offsets", "indices", "counts")


# ------------------------------------------------------------------------------------------------
# Pure functions on event arrays
# ------------------------------------------------------------------------------------------------


def make_events(
    x: np.ndarray | Sequence[int],
    y: np.ndarray | Sequence[int],
    t: np.ndarray | Sequence[int],
    p: np.ndarray | Sequence[int],
) -> np.ndarray:
    """A structured event array of :data:`EVENT_DTYPE` from its four columns.

    Args:
        x: pixel columns, ``(N,)`` integers.
        y: pixel rows, ``(N,)`` integers.
        t: timestamps in µs, ``(N,)`` integers.
        p: polarities, ``(N,)``: 1 (ON, brighter) or 0 (OFF, darker).

    Returns:
        ``(N,)`` array with fields ``x``, ``y``, ``t``, ``p``.

    Raises:
        ValueError: the columns are not one-dimensional of one length.
    """
    columns = {name: np.asarray(value) for name, value in zip("xytp", (x, y, t, p), strict=True)}
    lengths = {name: column.shape for name, column in columns.items()}
    if any(column.ndim != 1 for column in columns.values()) or len(set(lengths.values())) != 1:
        raise ValueError(
            f"x, y, t and p must be one-dimensional and of one length, got shapes {lengths}"
        )
    events = np.empty(columns["x"].shape[0], dtype=EVENT_DTYPE)
    for name, column in columns.items():
        events[name] = column
    return events


def _check_events(events: np.ndarray) -> None:
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    if not isinstance(events, np.ndarray) or events.ndim != 1 or not set("xytp") <= set(names):
        raise TypeError(
            "events must be a one-dimensional structured array with fields x, y, t and p "
            f"(see make_events), got {type(events).__name__} with fields {names}"
        )


def _check_sensor_shape(sensor_shape: Sequence[int]) -> tuple[int, int]:
    shape = tuple(sensor_shape) if isinstance(sensor_shape, Sequence) else ()
    if len(shape) != 2 or any(
        isinstance(size, bool) or not isinstance(size, int) or size < 1 for size in shape
    ):
        raise ValueError(
            f"sensor_shape must be (height, width), two positive ints, got {sensor_shape!r}"
        )
    return shape  # type: ignore[return-value]


def _check_coordinates(events: np.ndarray, sensor_shape: tuple[int, int]) -> None:
    height, width = sensor_shape
    if events.shape[0] == 0:
        return
    for name, size in (("x", width), ("y", height)):
        low, high = int(events[name].min()), int(events[name].max())
        if low < 0 or high >= size:
            raise ValueError(
                f"event {name} coordinates must lie in [0, {size}) for a sensor of "
                f"(height, width) {sensor_shape}, got values from {low} to {high}"
            )


def _microseconds(milliseconds: float) -> float:
    """A time parameter in ms as µs, the timestamps' unit: the one conversion of each parameter.

    ``milliseconds * 1000.0`` can land an ulp off the whole µs meant (``2.007 * 1000.0`` is
    ``2007.0000000000002``), which would move an event at exactly that distance across a strict
    bound; a result within a few ulps of a whole number is therefore snapped to it.
    """
    microseconds = float(milliseconds) * _MICROSECONDS_PER_MILLISECOND
    nearest = round(microseconds)
    if nearest >= 1 and abs(microseconds - nearest) <= 4 * math.ulp(microseconds):
        return float(nearest)
    return microseconds


def _time_sorted(events: np.ndarray) -> np.ndarray:
    times = events["t"]
    if times.shape[0] > 1 and bool(np.any(times[1:] < times[:-1])):
        return events[np.argsort(times, kind="stable")]
    return events


def denoise_events(
    events: np.ndarray, sensor_shape: Sequence[int], denoise_time: float
) -> np.ndarray:
    """Drop the events that no neighbouring pixel supports (a background-activity filter).

    An event at pixel ``(x, y)`` and time ``t`` is kept when an event at one
    of its 8 neighbouring pixels ``(x + dx, y + dy)``, ``dx, dy`` in
    ``{-1, 0, 1}`` not both 0, came before it in the stream less than
    ``denoise_time`` ms earlier: ``t - t' < denoise_time * 1000`` with the
    timestamps in µs (the sensor's clock). Events of the
    pixel itself do not count (a hot pixel does not support itself). The
    stream is the events in time order, ties kept in array order, so of two
    events at one time the later one in the array may be supported by the
    earlier. This is tonic's ``Denoise(filter_time)`` with the 8-neighbourhood
    (tonic checks 4 neighbours; its ``filter_time`` is in µs, so tonic's
    ``10_000`` is ``denoise_time=10.0`` here) and without its start-up quirk
    (tonic keeps any event in the first ``filter_time`` that has an in-sensor
    neighbour).

    Vectorised: every event is looked up, for each of its 8 neighbours, in
    the events sorted by ``(pixel, stream position)``; the predecessor found
    is the neighbour's latest earlier event. Cost ``O(N log N)``.

    Args:
        events: ``(N,)`` events of :data:`EVENT_DTYPE` (any time order),
            timestamps in µs.
        sensor_shape: ``(height, width)`` of the sensor.
        denoise_time: the support window in ms, positive (e.g. ``10.0``).

    Returns:
        The kept events, ``(M,)`` with ``M <= N``, in time order.

    Raises:
        ValueError: a non-positive ``denoise_time``, or events outside the sensor.
        TypeError: ``events`` is not an event array.
    """
    _check_events(events)
    height, width = _check_sensor_shape(sensor_shape)
    if isinstance(denoise_time, bool) or not isinstance(denoise_time, (int, float)):
        raise ValueError(f"denoise_time must be a positive number (in ms), got {denoise_time!r}")
    if not math.isfinite(denoise_time) or denoise_time <= 0:
        raise ValueError(f"denoise_time must be positive and finite (in ms), got {denoise_time!r}")
    window = _microseconds(denoise_time)
    _check_coordinates(events, (height, width))
    events = _time_sorted(events)
    count = events.shape[0]
    if count == 0:
        return events
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    times = events["t"]
    position = np.arange(count, dtype=np.int64)
    # One sorted key per event: pixel major, stream position minor.
    keys = np.sort((y * width + x) * count + position)
    supported = np.zeros(count, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx == 0 and dy == 0:
                continue
            column, row = x + dx, y + dy
            inside = np.flatnonzero((column >= 0) & (column < width) & (row >= 0) & (row < height))
            neighbour = row[inside] * width + column[inside]
            query = neighbour * count + position[inside]
            # The largest key below the query: the neighbour pixel's latest event before this one,
            # if the key found belongs to that pixel at all.
            found = np.searchsorted(keys, query) - 1
            previous = keys[np.maximum(found, 0)]
            same_pixel = (found >= 0) & (previous // count == neighbour)
            earlier = previous % count
            close = same_pixel & (times[inside] - times[earlier] < window)
            supported[inside[close]] = True
    return events[supported]


def downsample_events(events: np.ndarray, factor: int) -> np.ndarray:
    """Pool pixels into coarser ones: ``(x, y) -> (x // factor, y // factor)``.

    A sensor of ``(H, W)`` becomes ``(ceil(H / factor), ceil(W / factor))``:
    every event is kept, and the last row or column of coarse pixels pools
    fewer sensor pixels when ``factor`` does not divide the size. Counting the
    result into frames sums the counts of the pooled pixels.

    Args:
        events: ``(N,)`` events of :data:`EVENT_DTYPE`.
        factor: pixels pooled along each axis, a positive int (1: unchanged).

    Returns:
        A new ``(N,)`` event array with the coarse coordinates.

    Raises:
        ValueError: ``factor`` is not a positive int.
        TypeError: ``events`` is not an event array.
    """
    _check_events(events)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    pooled = events.copy()
    if factor > 1:
        pooled["x"] //= factor
        pooled["y"] //= factor
    return pooled


def _frame_bins(
    events: np.ndarray,
    sensor_shape: tuple[int, int],
    n_time_bins: int,
    window: float | None,
) -> np.ndarray:
    """Flat index into ``(T, 2, H, W)`` of every event that falls into a frame.

    ``window`` is the bin's duration in µs (already converted from ms), or ``None``.
    """
    height, width = sensor_shape
    _check_coordinates(events, sensor_shape)
    polarity = events["p"]
    if polarity.shape[0] and (int(polarity.min()) < 0 or int(polarity.max()) > 1):
        raise ValueError(
            f"event polarities p must be 0 or 1, got values from {int(polarity.min())} "
            f"to {int(polarity.max())}"
        )
    if events.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    times = events["t"].astype(np.int64)
    elapsed = times - times.min()
    if window is None:
        # Integer arithmetic, exact: T equal bins over [t0, t_last + 1 µs).
        time_bin = elapsed * n_time_bins // (int(elapsed.max()) + 1)
    elif window.is_integer() and window <= 2**53:
        time_bin = elapsed // int(window)  # a whole number of µs: exact
    else:
        time_bin = np.floor(elapsed / window).astype(np.int64)
    inside = time_bin < n_time_bins
    flat = (
        (time_bin[inside] * 2 + polarity[inside].astype(np.int64)) * height
        + events["y"][inside].astype(np.int64)
    ) * width + events["x"][inside].astype(np.int64)
    return flat


def to_frames(
    events: np.ndarray,
    sensor_shape: Sequence[int],
    n_time_bins: int,
    time_window: float | None = None,
) -> np.ndarray:
    r"""Count events per time bin, polarity and pixel: frames ``(T, 2, H, W)``.

    Time runs from the first event's timestamp :math:`t_0`. Without
    ``time_window``, the recording's span is cut into ``T`` equal bins, the
    last event included: event ``t`` falls into bin
    :math:`\lfloor (t - t_0)\,T / (t_\mathrm{last} - t_0 + 1) \rfloor`
    (integer arithmetic, exact), so every recording gives ``T`` frames
    whatever its length. With ``time_window`` every bin lasts ``time_window``
    ms, i.e. :math:`w = 1000 \cdot \mathrm{time\_window}` µs (the
    timestamps' unit), bin :math:`\lfloor (t - t_0) / w \rfloor`, and events
    after the ``T``-th bin (:math:`t - t_0 \ge T w`) are dropped (a short
    recording ends in empty frames).

    Args:
        events: ``(N,)`` events of :data:`EVENT_DTYPE` (any time order), with
            ``0 <= x < W``, ``0 <= y < H``, ``p`` 0 or 1 and ``t`` in µs.
        sensor_shape: ``(height, width)``, ``(H, W)``.
        n_time_bins: the number of frames ``T``, a positive int.
        time_window: the duration of one bin in ms (e.g. ``30.0``), or
            ``None`` for ``T`` equal bins spanning the recording.

    Returns:
        int64 counts, ``(T, 2, H, W)``: channel 0 counts OFF events (``p = 0``),
        channel 1 ON events. All zero for an empty recording.

    Raises:
        ValueError: a bad ``sensor_shape``, ``n_time_bins`` or ``time_window``,
            or events outside the sensor or with another polarity.
        TypeError: ``events`` is not an event array.
    """
    transform = FrameTransform(
        sensor_shape=_check_sensor_shape(sensor_shape),
        n_time_bins=n_time_bins,
        time_window=time_window,
    )
    return transform(events)


# ------------------------------------------------------------------------------------------------
# The frame transform and its cache key
# ------------------------------------------------------------------------------------------------


def _optional_time(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a positive number (in ms) or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive and finite (in ms) or None, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FrameTransform:
    """Recording to frames: denoise, then downsample, then count into ``(T, 2, H', W')``.

    Denoising looks at sensor pixels, so it runs before the pixels are pooled;
    binning then follows :func:`to_frames` on the pooled events. Frozen and
    made of plain values, so it pickles (DataLoader workers, DDP spawn) and
    hashes into the frame cache's key.

    Args:
        sensor_shape: ``(height, width)`` of the sensor, ``(H, W)``.
        n_time_bins: frames per recording, ``T``.
        time_window: duration of one frame in ms, or ``None`` for ``T`` equal
            frames spanning each recording (see :func:`to_frames`).
        downsample: pixels pooled along each axis (1: none); frames are
            ``(ceil(H / downsample), ceil(W / downsample))``.
        denoise_time: support window of :func:`denoise_events` in ms, or
            ``None`` to keep every event.

    Both times are kept as floats in ms (``10`` and ``10.0`` are one
    transform, with one cache key); the event timestamps are µs.

    Raises:
        ValueError: an argument out of range, naming it.

    Example::

        transform = FrameTransform((34, 34), n_time_bins=10, downsample=2, denoise_time=10.0)
        frames = transform(events)  # (10, 2, 17, 17) int64 counts
    """

    sensor_shape: tuple[int, int]
    n_time_bins: int
    time_window: float | None = None
    downsample: int = 1
    denoise_time: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sensor_shape", _check_sensor_shape(self.sensor_shape))
        positive_int("n_time_bins", self.n_time_bins)
        positive_int("downsample", self.downsample)
        object.__setattr__(self, "time_window", _optional_time("time_window", self.time_window))
        object.__setattr__(self, "denoise_time", _optional_time("denoise_time", self.denoise_time))

    @property
    def pooled_shape(self) -> tuple[int, int]:
        """``(H', W')``: the sensor's shape after downsampling."""
        height, width = self.sensor_shape
        return (-(-height // self.downsample), -(-width // self.downsample))

    @property
    def frame_shape(self) -> tuple[int, int, int, int]:
        """Shape of one recording's frames, ``(T, 2, H', W')``."""
        return (self.n_time_bins, 2, *self.pooled_shape)

    def sparse(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The frames of a recording as its non-zero entries.

        Args:
            events: ``(N,)`` events of :data:`EVENT_DTYPE` on the sensor.

        Returns:
            ``(indices, counts)``: increasing int64 flat indices into
            :attr:`frame_shape` and the int64 count (> 0) at each.
        """
        _check_events(events)
        _check_coordinates(events, self.sensor_shape)
        events = _time_sorted(events)
        if self.denoise_time is not None:
            events = denoise_events(events, self.sensor_shape, self.denoise_time)
        events = downsample_events(events, self.downsample)
        window = None if self.time_window is None else _microseconds(self.time_window)
        flat = _frame_bins(events, self.pooled_shape, self.n_time_bins, window)
        indices, counts = np.unique(flat, return_counts=True)
        return indices.astype(np.int64), counts.astype(np.int64)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        """The frames of a recording: int64 counts ``(T, 2, H', W')``."""
        indices, counts = self.sparse(events)
        frames = np.zeros(math.prod(self.frame_shape), dtype=np.int64)
        frames[indices] = counts
        return frames.reshape(self.frame_shape)

    def cache_params(self, dataset: str) -> dict[str, Any]:
        """Everything that decides the frames of ``dataset``'s recordings: the cache key's input.

        The times are the values as stored, floats in ms; :data:`FRAME_CACHE_FORMAT` 2 marks
        that unit (format 1 had them in µs), so no older cache is mistaken for a current one.
        """
        return {
            "format": FRAME_CACHE_FORMAT,
            "dataset": dataset,
            "sensor_shape": list(self.sensor_shape),
            "n_time_bins": self.n_time_bins,
            "time_window": self.time_window,
            "downsample": self.downsample,
            "denoise_time": self.denoise_time,
        }

    def cache_key(self, dataset: str) -> str:
        """16 hex digits of the SHA-256 of :meth:`cache_params` (as sorted JSON)."""
        text = json.dumps(self.cache_params(dataset), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------
# Frames of one split
# ------------------------------------------------------------------------------------------------


class Recording(NamedTuple):
    """One recording of a split: its file, relative to the split's folder, and its class.

    Attributes:
        path: the file, relative to the split's folder, with ``/`` separators.
        label: the class, ``0 <= label < num_classes``.
        group: who recorded it where the data set says (DVS Gesture's user), else -1.
    """

    path: str
    label: int
    group: int = -1


class EventFrameDataset(Dataset):
    """Dense frames of the recordings of one split, expanded on access from sparse counts.

    The non-zero counts of all recordings are held in three flat tensors
    (recording ``i``'s entries are ``offsets[i]:offsets[i + 1]`` of
    ``indices`` and ``counts``), so a split of N-MNIST's 60000 recordings
    takes a few hundred MB where the dense float32 frames would take several
    GB; an item is scattered into a zero tensor on access (microseconds).
    Items are ``(frames, label)``: float32 ``(T, 2, H, W)`` and an int64
    scalar.

    Args:
        indices: ``(nnz,)`` flat indices into ``frame_shape``, any integer dtype.
        counts: ``(nnz,)`` event counts, any integer dtype.
        offsets: ``(N + 1,)`` int64, increasing from 0 to ``nnz``.
        labels: ``(N,)`` int64 classes.
        frame_shape: ``(T, 2, H, W)``.
        binary: clip counts to 1 (a pixel spiked in the bin or not).

    Raises:
        ValueError: the arrays' lengths do not fit together.
    """

    def __init__(
        self,
        indices: torch.Tensor,
        counts: torch.Tensor,
        offsets: torch.Tensor,
        labels: torch.Tensor,
        frame_shape: Sequence[int],
        binary: bool = False,
    ) -> None:
        if offsets.ndim != 1 or labels.shape != (offsets.shape[0] - 1,):
            raise ValueError(
                f"offsets must be (N + 1,) and labels (N,), got {tuple(offsets.shape)} "
                f"and {tuple(labels.shape)}"
            )
        if indices.shape != counts.shape or indices.shape != (int(offsets[-1]),):
            raise ValueError(
                f"indices and counts must both be (offsets[-1],) = ({int(offsets[-1])},), "
                f"got {tuple(indices.shape)} and {tuple(counts.shape)}"
            )
        self.indices = indices
        self.counts = counts
        self.offsets = offsets
        self.labels = labels
        self.frame_shape = tuple(int(size) for size in frame_shape)
        self.binary = bool(binary)
        self._numel = math.prod(self.frame_shape)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} recordings")
        index = index % len(self)
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        frames = torch.zeros(self._numel, dtype=torch.float32)
        frames[self.indices[start:end].long()] = self.counts[start:end].to(torch.float32)
        if self.binary:
            frames.clamp_(max=1.0)
        return frames.view(self.frame_shape), self.labels[index]


def _smallest_integer_dtype(maximum: int, dtypes: Sequence[torch.dtype]) -> torch.dtype:
    """The first of ``dtypes`` that holds ``maximum`` (the cache's arrays are kept small)."""
    for dtype in dtypes:
        if maximum <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


def _stratified_split(
    labels: np.ndarray, val_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified: class ``c`` with ``n_c`` of ``N`` gives about ``val_size * n_c / N``."""
    total = labels.shape[0]
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * val_size / total
    quota = np.floor(exact).astype(np.int64)
    left_over = val_size - int(quota.sum())
    # Largest remainders first; stable, so ties go to the smaller class.
    quota[np.argsort(-(exact - quota), kind="stable")[:left_over]] += 1
    generator = np.random.default_rng(seed)
    in_val = np.zeros(total, dtype=bool)
    for label, take in zip(classes.tolist(), quota.tolist(), strict=True):
        members = np.flatnonzero(labels == label)
        in_val[members[generator.permutation(members.shape[0])[:take]]] = True
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


def _summary(error: BaseException, limit: int = 400) -> str:
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text or 'no message'}"


# ------------------------------------------------------------------------------------------------
# The base data module
# ------------------------------------------------------------------------------------------------


class EventDataModule(SplitDataModule):
    """Base of the event-camera data modules: recordings to cached dense frames ``(T, 2, H, W)``.

    A subclass names the data set (:attr:`name`, :attr:`dataset_name`,
    :attr:`split_folders`, :attr:`sensor_shape`, :attr:`classes`), lists a
    split's recordings (:meth:`list_recordings`), reads one
    (:meth:`read_events`), describes the layout for error messages
    (:meth:`expected_layout`) and has tonic download it
    (:meth:`_download_with_tonic`). This class does the rest:

    - **Presence.** A split is present when :meth:`list_recordings` finds at
      least one recording; tonic itself is never asked (it requires the full
      data set and otherwise downloads). A missing split raises
      :class:`~inferno_lightning.data._files.MissingDataError`, unless
      ``download=True``, in which case :meth:`prepare_data` has tonic download
      it (tonic is imported only then: ``pip install 'inferno-lightning[events]'``).
    - **Frames.** Each recording goes through :class:`FrameTransform`
      (denoise, downsample, count into ``n_time_bins`` frames).
    - **Cache.** The frames of a split are computed once and kept in one file,
      ``<cache_dir>/<dataset_name>/<key>/<split>.pt`` (``cache_dir`` defaults to
      ``<root>/cache``), where ``<key>`` hashes every parameter that changes
      the frames (:meth:`FrameTransform.cache_params`: data set, sensor
      shape, ``n_time_bins``, ``time_window`` and ``denoise_time`` in ms,
      ``downsample``, format version); ``params.json`` beside it lists them.
      ``binary`` is not in the key: the cache holds counts and ``binary``
      clips them when an item is read, so both settings share one cache. One
      file per split rather than per recording: one read at setup instead of
      tens of thousands of small-file opens per epoch, memory-mapped so that
      ranks and workers on a node share the pages; the frames are stored
      sparse (non-zero counts and their flat indices), which keeps the file
      near the size of the events. It is written to a temporary file then
      renamed (:func:`~inferno_lightning.data._files.atomic_save`), so a
      killed writer leaves no partial file and ranks writing the same file at
      once are harmless. A file that cannot be read or does not hold what it
      should (truncated, another format, or recordings that changed since it
      was built) is rebuilt, with a warning. Where the cache folder cannot be
      written the frames are kept in memory only, with a warning.
    - **Split.** ``val_size`` recordings of the training split are held out
      for validation, stratified by class and seeded
      (:meth:`split_indices`); the test part is the data set's test split.
    - **Loaders.** Items are ``(frames, label)``: float32 ``(T, 2, H, W)``
      (event counts, or 0/1 with ``binary``) and int64. The training loader
      shuffles with an :class:`EpochShuffleSampler` (an order per
      ``(seed, epoch)``, so resumed fits see the same batches); the others keep the split's
      order; the predict loader serves the test part.

    :meth:`prepare_data` (one process per node, run by the Trainer) downloads
    missing splits when asked and builds the caches of the splits the
    Trainer's stage needs; :meth:`setup` loads them (building any that are
    still missing, so it also works without a Trainer).

    Args:
        root: the data root, the folder holding :attr:`dataset_name`; ``None`` for
            ``$INFERNO_LIGHTNING_DATA``, else the per-user cache folder.
        n_time_bins: frames per recording, ``T``.
        time_window: duration of one frame in ms, or ``None`` for ``T`` equal
            frames spanning each recording.
        downsample: pixels pooled along each axis (1: full resolution).
        denoise_time: support window of :func:`denoise_events` in ms, or
            ``None`` for no denoising.
        binary: clip the counts to 1.
        batch_size: recordings per batch, for every loader.
        num_workers: DataLoader worker processes.
        seed: seed of the validation split and of the training shuffle.
        val_size: training recordings held out for validation (0 for none);
            it must be smaller than the training split (checked at setup).
        download: let :meth:`prepare_data` download missing splits with tonic.
        cache_dir: the cache root; ``None`` for ``<root>/cache``.
        cache: keep frames on disk; ``False`` recomputes them at every setup.
        pin_memory: the DataLoaders' ``pin_memory``.

    Raises:
        ValueError: an argument out of range, naming it and the expected value.
        TypeError: ``root`` or ``cache_dir`` is not a path.
    """

    #: Human name of the data set, used in messages, e.g. ``"N-MNIST"``.
    name: ClassVar[str] = ""
    #: tonic's name of the data set (its class), also its folder under the root: ``"NMNIST"``.
    dataset_name: ClassVar[str] = ""
    #: Folder of each split under :attr:`dataset_name`.
    split_folders: ClassVar[dict[str, str]] = {}
    #: ``(height, width)`` of the sensor.
    sensor_shape: ClassVar[tuple[int, int]] = (1, 1)
    #: Class names, by label.
    classes: ClassVar[tuple[str, ...]] = ()
    #: Suffix of the recording files.
    suffix: ClassVar[str] = ""

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
        val_size: int = 0,
        download: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        cache: bool = True,
        pin_memory: bool = False,
    ) -> None:
        # Every check before any state (DESIGN.md invariant 6).
        resolved_root = resolve_data_root(root)
        transform = FrameTransform(
            sensor_shape=self.sensor_shape,
            n_time_bins=n_time_bins,
            time_window=time_window,
            downsample=downsample,
            denoise_time=denoise_time,
        )
        positive_int("batch_size", batch_size)
        nonnegative_int("num_workers", num_workers)
        nonnegative_int("seed", seed)
        nonnegative_int("val_size", val_size)
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise TypeError(
                f"cache_dir must be a folder path or None, got {type(cache_dir).__name__}"
            )
        if isinstance(cache_dir, str) and not cache_dir.strip():
            raise ValueError("cache_dir must be a folder path or None, got an empty string")
        super().__init__()
        self.root = resolved_root
        self.transform = transform
        self.binary = bool(binary)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.val_size = val_size
        self.download = bool(download)
        self.cache_dir = (
            resolved_root / "cache"
            if cache_dir is None
            else Path(cache_dir).expanduser().absolute()
        )
        self.cache = bool(cache)
        self.pin_memory = bool(pin_memory)
        self.save_hyperparameters()
        self.train_set: Subset | None = None
        self.val_set: Subset | None = None
        self.test_set: EventFrameDataset | None = None
        self._splits: dict[str, EventFrameDataset] = {}

    # -- what a subclass provides ---------------------------------------------------------------

    def list_recordings(self, split: str) -> list[Recording]:
        """The recordings of ``split`` on disk, in a fixed order; empty when there are none."""
        raise NotImplementedError

    def read_events(self, path: Path) -> np.ndarray:
        """The events of one recording file, :data:`EVENT_DTYPE`, timestamps in µs."""
        raise NotImplementedError

    def expected_layout(self, split: str) -> list[Path]:
        """The folders and file patterns a present ``split`` has, for error messages."""
        raise NotImplementedError

    def _download_with_tonic(self, tonic: Any, split: str) -> None:
        """Have tonic download and unpack ``split`` under :attr:`root`."""
        raise NotImplementedError

    # -- layout ---------------------------------------------------------------------------------

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Shape of one sample: ``(T, 2, H', W')``."""
        return self.transform.frame_shape

    def split_folder(self, split: str) -> Path:
        """``<root>/<dataset_name>/<split folder>``: where tonic keeps ``split``."""
        check_choice("split", split, tuple(self.split_folders))
        return self.root / self.dataset_name / self.split_folders[split]

    def is_present(self, split: str) -> bool:
        """Whether ``split`` has at least one recording on disk."""
        return bool(self.list_recordings(split))

    @property
    def cache_key(self) -> str:
        """The frame cache's key: a hash of every parameter that changes the frames."""
        return self.transform.cache_key(self.dataset_name)

    @property
    def cache_folder(self) -> Path:
        """``<cache_dir>/<dataset_name>/<key>``: the frame cache of these parameters."""
        return self.cache_dir / self.dataset_name / self.cache_key

    def cache_file(self, split: str) -> Path:
        """The frame cache of ``split``: ``<cache_folder>/<split>.pt``."""
        check_choice("split", split, tuple(self.split_folders))
        return self.cache_folder / f"{split}.pt"

    # -- Lightning hooks ------------------------------------------------------------------------

    @override
    def prepare_data(self) -> None:
        """Download missing splits (with ``download=True``) and build their frame caches.

        Runs on one process per node (the Trainer sees to it). The splits
        are those the Trainer's stage needs (all without a Trainer): the
        training split for fitting and validating, the test split for testing
        and predicting. Without ``download`` a missing split is left to
        :meth:`setup`, which raises.

        Raises:
            ImportError: ``download=True`` and tonic is not installed.
            MissingDataError: the download failed, chained from the error.
        """
        for split in self._splits_for_trainer():
            if self.download and not self.is_present(split):
                self._download(split)
            if self.cache:
                recordings = self.list_recordings(split)
                if recordings and self._load_cache(split, recordings) is None:
                    self._build_cache(split, recordings)

    @override
    def setup(self, stage: str | None = None) -> None:
        """Load (or build) the frames of the split(s) the stage needs and hold out validation.

        ``"fit"`` and ``"validate"`` read the training split, ``"test"`` and
        ``"predict"`` the test split, ``None`` both.

        Raises:
            MissingDataError: a needed split has no recordings on disk.
            ValueError: an unknown ``stage``, ``val_size`` not smaller than the
                training split, or a recording that cannot be read.
        """
        check_choice("stage", stage, _STAGES)
        for split in _SPLITS_OF_STAGE[stage]:
            if split in self._splits:
                continue
            frames, recordings = self._frames(split)
            self._splits[split] = frames
            if split == "test":
                self.test_set = frames
                continue
            if self.val_size >= len(frames):
                raise ValueError(
                    f"val_size must be smaller than the {len(frames)} training recordings of "
                    f"{self.name} under {self.split_folder('train')}, got {self.val_size}"
                )
            train, val = self.split_indices(recordings)
            self.train_set = Subset(frames, train.tolist())
            self.val_set = Subset(frames, val.tolist())

    def split_indices(self, recordings: Sequence[Recording]) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the training and validation recordings of the training split.

        Stratified and seeded: class ``c`` with ``n_c`` of the ``N``
        recordings gives ``floor(val_size * n_c / N)`` to validation, and the
        few left over go one each to the classes with the largest remainders;
        which recordings go is drawn by a NumPy generator seeded ``seed``.

        Args:
            recordings: the training split's recordings, as listed.

        Returns:
            ``(train, val)``: increasing int64 index arrays, disjoint, covering
            ``range(N)``, of ``N - val_size`` and ``val_size`` elements.
        """
        labels = np.array([recording.label for recording in recordings], dtype=np.int64)
        return _stratified_split(labels, self.val_size, self.seed)

    # -- presence and download ------------------------------------------------------------------

    def _splits_for_trainer(self) -> tuple[str, ...]:
        trainer = getattr(self, "trainer", None)
        function = getattr(getattr(trainer, "state", None), "fn", None)
        stage = {"fit": "fit", "validate": "validate", "test": "test", "predict": "predict"}.get(
            str(getattr(function, "value", "")), None
        )
        return _SPLITS_OF_STAGE[stage]

    def _how_to_get(self) -> str:
        return (
            f"To download it, pass download=True (on the command line: --data.download true) on "
            f"a machine with network access; this needs tonic: pip install "
            f"'inferno-lightning[events]'. Or unpack the files yourself into the layout above "
            f"(the one tonic.datasets.{self.dataset_name}(save_to=root) makes), or point root (or "
            f"${DATA_ROOT_ENV}) at a folder that holds {self.dataset_name}/."
        )

    def _missing(self, split: str) -> MissingDataError:
        hint = self._how_to_get()
        if self.download:
            hint = (
                "download=True downloads it in prepare_data(), which the Trainer calls before "
                "setup(); without a Trainer call prepare_data() first. " + hint
            )
        return MissingDataError(self.name, split, self.expected_layout(split), self.root, hint)

    def _download(self, split: str) -> None:
        try:
            import tonic
        except ImportError as error:
            raise ImportError(
                f"{type(self).__name__}(download=True) downloads {self.name} with tonic, which "
                f"could not be imported ({_summary(error)}): install the `events` extra, pip "
                f"install 'inferno-lightning[events]' (or pip install tonic). Reading a copy "
                f"already on disk under {self.root / self.dataset_name} does not need it."
            ) from error
        _log.info("Downloading %s (%s split) into %s with tonic", self.name, split, self.root)
        try:
            self._download_with_tonic(tonic, split)
        except Exception as error:
            raise MissingDataError(
                self.name,
                split,
                self.expected_layout(split),
                self.root,
                f"Downloading it with tonic failed ({_summary(error)}). " + self._how_to_get(),
            ) from error
        if not self.is_present(split):
            raise MissingDataError(
                self.name,
                split,
                self.expected_layout(split),
                self.root,
                "tonic finished downloading but the files are not in this layout. "
                + self._how_to_get(),
            )

    # -- frames and their cache -----------------------------------------------------------------

    def _frames(self, split: str) -> tuple[EventFrameDataset, list[Recording]]:
        recordings = self.list_recordings(split)
        if not recordings:
            raise self._missing(split)
        content = self._load_cache(split, recordings) if self.cache else None
        if content is None:
            content = self._build_cache(split, recordings)
        frames = EventFrameDataset(
            content["indices"],
            content["counts"],
            content["offsets"],
            content["labels"],
            self.transform.frame_shape,
            binary=self.binary,
        )
        return frames, recordings

    def _load_cache(self, split: str, recordings: Sequence[Recording]) -> dict[str, Any] | None:
        """The cache file's content if it is complete and current, else ``None`` (warning if bad)."""
        path = self.cache_file(split)
        if not path.is_file():
            return None
        try:
            content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            problem = self._cache_problem(content, split, recordings)
        except Exception as error:  # a truncated zip, a pickle error, ...: all mean rebuild
            problem = f"it cannot be read ({_summary(error)})"
        if problem is None:
            return content
        warnings.warn(
            f"The {self.name} frame cache {path} is unusable: {problem}; rebuilding it",
            UserWarning,
            stacklevel=3,
        )
        return None

    def _cache_problem(
        self, content: Any, split: str, recordings: Sequence[Recording]
    ) -> str | None:
        if not isinstance(content, dict) or not set(_CACHE_ENTRIES) <= set(content):
            return "it does not hold a frame cache"
        if content["format"] != FRAME_CACHE_FORMAT or content["key"] != self.cache_key:
            return f"it was written for other parameters (format {content['format']!r})"
        if content["split"] != split:
            return f"it holds the {content['split']!r} split"
        if content["recordings"] != [recording.path for recording in recordings]:
            return f"the recordings under {self.split_folder(split)} changed since it was built"
        labels, offsets = content["labels"], content["offsets"]
        indices, counts = content["indices"], content["counts"]
        expected = torch.tensor([recording.label for recording in recordings], dtype=torch.int64)
        if not (isinstance(labels, torch.Tensor) and torch.equal(labels, expected)):
            return "its labels differ from the recordings' classes"
        if not (
            isinstance(offsets, torch.Tensor)
            and offsets.shape == (len(recordings) + 1,)
            and int(offsets[0]) == 0
            and isinstance(indices, torch.Tensor)
            and isinstance(counts, torch.Tensor)
            and indices.shape == counts.shape == (int(offsets[-1]),)
        ):
            return "its arrays have inconsistent lengths"
        return None

    def _build_cache(self, split: str, recordings: Sequence[Recording]) -> dict[str, Any]:
        folder = self.split_folder(split)
        _log.info(
            "Computing the %s frames of %d %s recordings (cache: %s)",
            self.name,
            len(recordings),
            split,
            self.cache_file(split) if self.cache else "off",
        )
        all_indices: list[np.ndarray] = []
        all_counts: list[np.ndarray] = []
        offsets = np.zeros(len(recordings) + 1, dtype=np.int64)
        for number, recording in enumerate(recordings):
            path = folder / recording.path
            events = self.read_events(path)
            try:
                indices, counts = self.transform.sparse(events)
            except ValueError as error:
                raise ValueError(f"{self.name} recording {path}: {error}") from error
            all_indices.append(indices)
            all_counts.append(counts)
            offsets[number + 1] = offsets[number] + indices.shape[0]
        indices = np.concatenate(all_indices) if all_indices else np.zeros(0, np.int64)
        counts = np.concatenate(all_counts) if all_counts else np.zeros(0, np.int64)
        # Indices become int64 (for indexing) on access; int32 holds them for any usual frame.
        index_dtype = _smallest_integer_dtype(
            math.prod(self.transform.frame_shape) - 1, (torch.int32,)
        )
        count_dtype = _smallest_integer_dtype(
            int(counts.max()) if counts.size else 0, (torch.uint8, torch.int16, torch.int32)
        )
        content = {
            "format": FRAME_CACHE_FORMAT,
            "key": self.cache_key,
            "params": self.transform.cache_params(self.dataset_name),
            "split": split,
            "recordings": [recording.path for recording in recordings],
            "labels": torch.tensor(
                [recording.label for recording in recordings], dtype=torch.int64
            ),
            "offsets": torch.from_numpy(offsets),
            "indices": torch.from_numpy(indices).to(index_dtype),
            "counts": torch.from_numpy(counts).to(count_dtype),
        }
        if self.cache:
            self._save_cache(split, content)
        return content

    def _save_cache(self, split: str, content: dict[str, Any]) -> None:
        path = self.cache_file(split)
        try:
            atomic_save(content, path)
            atomic_write_text(
                path.parent / "params.json",
                json.dumps(
                    self.transform.cache_params(self.dataset_name), indent=2, sort_keys=True
                ),
            )
        except OSError as error:
            warnings.warn(
                f"The {self.name} frame cache {path} could not be written ({_summary(error)}); "
                "the frames are kept in memory only. Pass a writable cache_dir to keep them.",
                UserWarning,
                stacklevel=3,
            )
