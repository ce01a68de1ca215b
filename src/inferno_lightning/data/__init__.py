"""LightningDataModules: bundled digits, MNIST / FashionMNIST, N-MNIST and DVS Gesture.

Data sets that are not bundled live under a data root: the ``root`` argument,
else ``$INFERNO_LIGHTNING_DATA``, else a per-user cache directory
(:func:`resolve_data_root`). Missing data raises :class:`MissingDataError`,
naming the files expected, the root searched and how to get them. Event-camera
recordings become dense frames ``(T, 2, H, W)`` through :class:`FrameTransform`,
cached on disk under a key of the transform's parameters.
"""

from ._files import (
    DATA_ROOT_ENV,
    MissingDataError,
    atomic_save,
    default_data_root,
    resolve_data_root,
)
from ._sampling import EpochShuffleSampler
from .digits import DIGITS_CLASSES, DIGITS_SAMPLES, DIGITS_SHAPE, DigitsDataModule
from .dvs_gesture import (
    DVS_GESTURE_CLASSES,
    DVS_GESTURE_SENSOR_SHAPE,
    DVSGestureDataModule,
    read_dvs_gesture_events,
)
from .events import (
    EVENT_DTYPE,
    EventDataModule,
    FrameTransform,
    denoise_events,
    downsample_events,
    make_events,
    to_frames,
)
from .mnist import MNIST_CLASSES, MNIST_SHAPE, MNIST_VARIANTS, MNISTDataModule
from .nmnist import NMNIST_CLASSES, NMNIST_SENSOR_SHAPE, NMNISTDataModule, read_nmnist_events

__all__ = [
    "DATA_ROOT_ENV",
    "DIGITS_CLASSES",
    "DIGITS_SAMPLES",
    "DIGITS_SHAPE",
    "DVS_GESTURE_CLASSES",
    "DVS_GESTURE_SENSOR_SHAPE",
    "EVENT_DTYPE",
    "MNIST_CLASSES",
    "MNIST_SHAPE",
    "MNIST_VARIANTS",
    "NMNIST_CLASSES",
    "NMNIST_SENSOR_SHAPE",
    "DVSGestureDataModule",
    "DigitsDataModule",
    "EpochShuffleSampler",
    "EventDataModule",
    "FrameTransform",
    "MNISTDataModule",
    "MissingDataError",
    "NMNISTDataModule",
    "atomic_save",
    "default_data_root",
    "denoise_events",
    "downsample_events",
    "make_events",
    "read_dvs_gesture_events",
    "read_nmnist_events",
    "resolve_data_root",
    "to_frames",
]
