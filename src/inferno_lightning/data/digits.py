"""DigitsDataModule: scikit-learn's bundled 8x8 handwritten digits, split once and for all.

The data ship with scikit-learn (:func:`sklearn.datasets.load_digits`: 1797
grey-level images of 8x8 pixels with values 0..16, ten classes of 174 to 183
samples), so nothing is ever downloaded: this is the offline default data set
of the package, small enough for a full train, label and test run on a laptop
CPU.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset
from typing_extensions import override

from .._validation import positive_int
from ._sampling import SplitDataModule

__all__ = ["DigitsDataModule", "DIGITS_SAMPLES", "DIGITS_CLASSES", "DIGITS_SHAPE"]

#: Samples in scikit-learn's digits data set.
DIGITS_SAMPLES = 1797
#: Number of classes (the digits 0..9).
DIGITS_CLASSES = 10
#: Shape of one image, channel first.
DIGITS_SHAPE = (1, 8, 8)
# Pixel values are integers 0..16.
_MAX_PIXEL = 16.0


class DigitsDataModule(SplitDataModule):
    r"""The 8x8 digits of scikit-learn with a fixed, seeded, stratified train/validation/test split.

    Every sample is an image of intensities in :math:`[0, 1]` (the pixel
    values 0..16 divided by 16), float32, shaped ``(1, 8, 8)`` (or ``(64,)``
    with ``flatten``), with its class (0..9, int64). The 1797 samples are
    split by :meth:`split_indices`: scikit-learn's stratified
    ``train_test_split`` with ``random_state=seed`` takes the test part, then
    the validation part from the rest. With the defaults:

    ==========  =======  =================
    part        samples  per class
    ==========  =======  =================
    train       1077     104 to 109 (60 %)
    validation  360      35 to 37 (20 %)
    test        360      35 to 37 (20 %)
    ==========  =======  =================

    Each part has the class proportions of the whole data set (to within a
    sample), and the same seed gives the same parts. The
    training loader shuffles with an
    :class:`~inferno_lightning.data.EpochShuffleSampler` (each epoch's order
    depends on ``seed`` and the epoch only, so a resumed fit sees the batches
    of an uninterrupted one; under DDP Lightning's distributed sampler
    reshuffles it per epoch); the other loaders keep the split's order.

    Args:
        batch_size: samples per batch, for every loader.
        num_workers: DataLoader worker processes (0: load in the main process,
            the best choice for this small, in-memory data set).
        seed: seed of the split and of the training shuffle.
        val_size: validation samples.
        test_size: test samples; the training part gets the rest.
        flatten: give images as ``(64,)`` vectors instead of ``(1, 8, 8)``.

    Raises:
        ValueError: a non-positive ``batch_size``, ``val_size`` or
            ``test_size``, a negative ``num_workers`` or ``seed``, or sizes
            leaving fewer than 100 training samples.
        ImportError: scikit-learn is not installed (at :meth:`setup`).

    Example::

        data = DigitsDataModule(batch_size=32)
        data.setup("fit")
        images, labels = next(iter(data.train_dataloader()))  # (32, 1, 8, 8), (32,)
    """

    def __init__(
        self,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        val_size: int = 360,
        test_size: int = 360,
        flatten: bool = False,
    ) -> None:
        super().__init__()
        self.batch_size = positive_int("batch_size", batch_size)
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.val_size = positive_int("val_size", val_size)
        self.test_size = positive_int("test_size", test_size)
        if DIGITS_SAMPLES - val_size - test_size < 10 * DIGITS_CLASSES:
            raise ValueError(
                f"val_size + test_size must leave at least {10 * DIGITS_CLASSES} of the "
                f"{DIGITS_SAMPLES} samples for training, got val_size={val_size} and "
                f"test_size={test_size}"
            )
        self.num_workers = num_workers
        self.seed = seed
        self.flatten = bool(flatten)
        self.save_hyperparameters()
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    @property
    def train_size(self) -> int:
        """Training samples: those not in the validation or test part."""
        return DIGITS_SAMPLES - self.val_size - self.test_size

    @property
    def num_classes(self) -> int:
        """Number of classes, 10."""
        return DIGITS_CLASSES

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(1, 8, 8)``, or ``(64,)`` with ``flatten``."""
        return (64,) if self.flatten else DIGITS_SHAPE

    @staticmethod
    def load() -> tuple[torch.Tensor, torch.Tensor]:
        """All 1797 samples: intensities ``(1797, 64)`` float32 in [0, 1] and labels ``(1797,)`` int64.

        Raises:
            ImportError: scikit-learn is missing, with how to install it.
        """
        try:
            from sklearn.datasets import load_digits
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "DigitsDataModule needs scikit-learn, which ships the digits data set "
                "(sklearn.datasets.load_digits); install it with `pip install scikit-learn`"
            ) from error
        digits = load_digits()
        images = torch.as_tensor(digits.data, dtype=torch.float32) / _MAX_PIXEL
        labels = torch.as_tensor(digits.target, dtype=torch.int64)
        return images, labels

    def split_indices(self, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted indices of the train, validation and test samples.

        Two stratified ``sklearn.model_selection.train_test_split`` calls with
        ``random_state=seed``: the test part from all samples, then the
        validation part from the rest.

        Args:
            labels: the class of every sample, ``(N,)``.

        Returns:
            ``(train, val, test)`` index arrays, disjoint, covering ``range(N)``.
        """
        from sklearn.model_selection import train_test_split

        targets = labels.numpy()
        every = np.arange(targets.shape[0])
        rest, test = train_test_split(
            every, test_size=self.test_size, stratify=targets, random_state=self.seed
        )
        train, val = train_test_split(
            rest, test_size=self.val_size, stratify=targets[rest], random_state=self.seed
        )
        return np.sort(train), np.sort(val), np.sort(test)

    @override
    def setup(self, stage: str | None = None) -> None:
        """Load the data (bundled: nothing to download) and split it."""
        if self.train_set is not None:
            return
        images, labels = self.load()
        if not self.flatten:
            images = images.reshape(-1, *DIGITS_SHAPE)
        train, val, test = self.split_indices(labels)
        self.train_set = self._subset(images, labels, train)
        self.val_set = self._subset(images, labels, val)
        self.test_set = self._subset(images, labels, test)

    @staticmethod
    def _subset(images: torch.Tensor, labels: torch.Tensor, indices: np.ndarray) -> TensorDataset:
        index = torch.as_tensor(indices, dtype=torch.int64)
        return TensorDataset(images[index].contiguous(), labels[index].contiguous())
