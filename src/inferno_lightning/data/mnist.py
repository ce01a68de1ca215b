"""MNISTDataModule: MNIST or Fashion-MNIST from torchvision's IDX files, held in memory.

The files are read where torchvision keeps them,
``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (or
``<root>/FashionMNIST/raw/...``), under the data root of
:func:`~inferno_lightning.data._files.resolve_data_root`. They are never
downloaded unless asked (``download=True``, in :meth:`prepare_data`); missing
files raise :class:`~inferno_lightning.data._files.MissingDataError` naming
each file, before torchvision is asked for anything. Each split is read once
into float32 tensors, so batches are slices of memory, not per-item PIL images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.error import URLError

import torch
from torch.utils.data import TensorDataset
from typing_extensions import override

from .._validation import check_choice, nonnegative_int, positive_int
from ._files import DATA_ROOT_ENV, MissingDataError, resolve_data_root
from ._sampling import SplitDataModule

if TYPE_CHECKING:
    from torchvision.datasets import MNIST

__all__ = ["MNISTDataModule", "MNIST_VARIANTS", "MNIST_CLASSES", "MNIST_SHAPE"]

#: Data sets served, by ``variant``: the torchvision class of the same layout.
MNIST_VARIANTS = ("mnist", "fashion")
#: Number of classes of either variant.
MNIST_CLASSES = 10
#: Shape of one image, channel first.
MNIST_SHAPE = (1, 28, 28)
# The four uncompressed files torchvision's MNIST._check_exists requires (for
# either split), in its ``resources`` order.
_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# The pre-0.9 torchvision cache that MNIST still loads instead, when both exist.
_LEGACY_FILES = ("training.pt", "test.pt")
_MAX_PIXEL = 255.0
_STAGES = ("fit", "validate", "test", "predict", None)
# The split each stage reads (``None`` reads both).
_SPLIT_OF_STAGE = {"fit": "train", "validate": "train", "test": "test", "predict": "test"}


def _dataset_class(variant: str) -> type[MNIST]:
    # Imported here: torchvision takes seconds to import, and only setup needs it.
    from torchvision.datasets import MNIST, FashionMNIST

    return FashionMNIST if variant == "fashion" else MNIST


def _stratified_split(
    labels: torch.Tensor, val_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded stratified split of ``range(len(labels))`` into ``len - val_size`` and ``val_size``.

    Class ``c`` with ``n_c`` of the ``N`` samples gives ``floor(val_size * n_c / N)``
    samples to the validation part, and the samples left over go one each to
    the classes with the largest remainders (ties to the smaller class label).
    Which samples of a class go is drawn by ``torch.randperm`` with one
    generator seeded ``seed``, visiting the classes in increasing order.
    """
    total = labels.shape[0]
    classes, counts = torch.unique(labels, sorted=True, return_counts=True)
    exact = counts.to(torch.float64) * val_size / total
    quota = exact.floor().to(torch.int64)
    left_over = val_size - int(quota.sum())
    # Stable sort: equal remainders keep the class order.
    by_remainder = torch.sort(exact - quota, descending=True, stable=True).indices
    quota[by_remainder[:left_over]] += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label, take in zip(classes.tolist(), quota.tolist(), strict=True):
        members = torch.nonzero(labels == label).flatten()
        chosen.append(members[torch.randperm(members.numel(), generator=generator)[:take]])
    in_val = torch.zeros(total, dtype=torch.bool)
    if chosen:
        in_val[torch.cat(chosen)] = True
    return torch.nonzero(~in_val).flatten(), torch.nonzero(in_val).flatten()


class MNISTDataModule(SplitDataModule):
    r"""MNIST (or Fashion-MNIST) in memory, with a seeded stratified validation part.

    Every sample is an image of intensities in :math:`[0, 1]` (the pixel
    values 0..255 divided by 255), float32, shaped ``(1, 28, 28)`` (or
    ``(784,)`` with ``flatten``), with its class (0..9, int64). The
    validation part is held out of the 60000 training images by
    :meth:`split_indices`, stratified and seeded; the test part is the 10000
    test images. With the defaults:

    ==========  =======  ==============================
    part        samples  from
    ==========  =======  ==============================
    train       55000    training images
    validation  5000     training images, per class pro rata
    test        10000    test images
    ==========  =======  ==============================

    The files are those of torchvision, under the data root (``root``, else
    ``$INFERNO_LIGHTNING_DATA``, else a per-user cache folder):
    ``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/`` for ``"fashion"``)
    holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, uncompressed.
    torchvision reads either split only when all four are there, so
    :meth:`setup` requires all four. With ``download=True``,
    :meth:`prepare_data` (run by the Trainer on one process per node) has
    torchvision download the missing files; otherwise nothing is fetched.

    The training loader shuffles with an
    :class:`~inferno_lightning.data.EpochShuffleSampler` (each epoch's order
    depends on ``seed`` and the epoch only, so a resumed fit sees the batches
    of an uninterrupted one); the other loaders keep the files' order. The predict
    loader serves the test part.

    Args:
        root: the data root, the folder holding ``MNIST/`` or ``FashionMNIST/``;
            ``None`` for ``$INFERNO_LIGHTNING_DATA``, else the per-user cache
            folder.
        variant: ``"mnist"`` (handwritten digits) or ``"fashion"``
            (Fashion-MNIST, ten kinds of clothing, same format).
        batch_size: samples per batch, for every loader.
        num_workers: DataLoader worker processes (0: load in the main process,
            usually the best choice for in-memory tensors).
        seed: seed of the validation split and of the training shuffle.
        val_size: training images held out for validation (0 for none); it
            must be smaller than the training set (checked at :meth:`setup`).
        download: let :meth:`prepare_data` download missing files with
            torchvision (needs network access).
        flatten: give images as ``(784,)`` vectors instead of ``(1, 28, 28)``.
        pin_memory: the DataLoaders' ``pin_memory`` (faster copies to a GPU).

    Raises:
        ValueError: an unknown ``variant``, a non-positive ``batch_size``, or a
            negative ``num_workers``, ``seed`` or ``val_size``; at
            :meth:`setup`, a ``val_size`` not smaller than the training set,
            or files that are not valid 28x28 IDX data.
        TypeError: ``root`` is not a path.
        MissingDataError: at :meth:`setup`, a file is missing (it names every
            missing file, the root and how to get them); at
            :meth:`prepare_data`, the download failed.

    Example::

        data = MNISTDataModule(root="~/data", batch_size=64, download=True)
        data.prepare_data()  # downloads, once; the Trainer calls it too
        data.setup("fit")
        images, labels = next(iter(data.train_dataloader()))  # (64, 1, 28, 28), (64,)
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        variant: str = "mnist",
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_size: int = 5000,
        download: bool = False,
        flatten: bool = False,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        check_choice("variant", variant, MNIST_VARIANTS)
        self.root = resolve_data_root(root)
        self.variant = variant
        self.batch_size = positive_int("batch_size", batch_size)
        self.num_workers = nonnegative_int("num_workers", num_workers)
        self.seed = nonnegative_int("seed", seed)
        self.val_size = nonnegative_int("val_size", val_size)
        self.download = bool(download)
        self.flatten = bool(flatten)
        self.pin_memory = bool(pin_memory)
        self.save_hyperparameters()
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    @property
    def dataset_name(self) -> str:
        """torchvision's name of the data set, also its folder: ``"MNIST"`` or ``"FashionMNIST"``."""
        return "FashionMNIST" if self.variant == "fashion" else "MNIST"

    @property
    def raw_folder(self) -> Path:
        """The folder of the four IDX files: ``<root>/<dataset_name>/raw``."""
        return self.root / self.dataset_name / "raw"

    @property
    def raw_files(self) -> tuple[Path, ...]:
        """The four uncompressed IDX files, training images and labels, then test."""
        return tuple(self.raw_folder / name for name in _RAW_FILES)

    @property
    def num_classes(self) -> int:
        """Number of classes, 10."""
        return MNIST_CLASSES

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(1, 28, 28)``, or ``(784,)`` with ``flatten``."""
        return (28 * 28,) if self.flatten else MNIST_SHAPE

    def missing_files(self) -> list[Path]:
        """The raw files torchvision needs that are not on disk (empty when it can load).

        Mirrors torchvision's ``MNIST``: it loads when all four raw files exist,
        or when its legacy ``processed/training.pt`` and ``processed/test.pt``
        both exist.
        """
        processed = self.root / self.dataset_name / "processed"
        if all((processed / name).is_file() for name in _LEGACY_FILES):
            return []
        return [path for path in self.raw_files if not path.is_file()]

    @override
    def prepare_data(self) -> None:
        """With ``download=True``, have torchvision download the files that are missing.

        Runs on one process per node (the Trainer sees to it); does nothing
        when the files are there or ``download`` is off.

        Raises:
            MissingDataError: the download failed (no network access, a
                mirror down, a corrupt archive), chained from the error.
        """
        if not self.download or not self.missing_files():
            return
        try:
            _dataset_class(self.variant)(str(self.root), train=True, download=True)
        except (RuntimeError, URLError, OSError, EOFError) as error:
            raise MissingDataError(
                self.dataset_name,
                "train and test",
                self.missing_files() or list(self.raw_files),
                self.root,
                f"Downloading them with torchvision failed ({type(error).__name__}: "
                f"{_summary(error)}). {self._copy_hint()}",
            ) from error

    @override
    def setup(self, stage: str | None = None) -> None:
        """Read the split(s) the stage needs into memory, once, and hold out the validation part.

        ``"fit"`` and ``"validate"`` read the training images, ``"test"`` and
        ``"predict"`` the test images, ``None`` both.

        Raises:
            MissingDataError: a file is missing.
            ValueError: an unknown ``stage``, ``val_size`` not smaller than the
                training set, or files that are not 28x28 IDX image and label
                files of equal length.
        """
        check_choice("stage", stage, _STAGES)
        need_train = stage in ("fit", "validate", None) and self.train_set is None
        need_test = stage in ("test", "predict", None) and self.test_set is None
        if not (need_train or need_test):
            return
        missing = self.missing_files()
        if missing:
            raise MissingDataError(
                self.dataset_name,
                _SPLIT_OF_STAGE.get(stage or "", "train and test"),
                missing,
                self.root,
                self._missing_hint(),
            )
        if need_train:
            images, labels = self._read(train=True)
            if self.val_size >= labels.shape[0]:
                raise ValueError(
                    f"val_size must be smaller than the {labels.shape[0]} training samples "
                    f"of {self.dataset_name} under {self.root}, got {self.val_size}"
                )
            train, val = self.split_indices(labels)
            self.train_set = TensorDataset(images[train], labels[train])
            self.val_set = TensorDataset(images[val], labels[val])
        if need_test:
            self.test_set = TensorDataset(*self._read(train=False))

    def split_indices(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sorted indices of the training and validation samples of the training images.

        Stratified: class ``c`` with ``n_c`` of the ``N`` samples gives
        ``floor(val_size * n_c / N)`` samples to validation, and the few left
        over go one each to the classes with the largest remainders, so every
        class's share of the validation part is within one sample of its share
        of the whole. Seeded: the same ``seed`` and labels give the same split.

        Args:
            labels: the class of every training image, ``(N,)`` int64.

        Returns:
            ``(train, val)``: int64 index tensors of ``N - val_size`` and
            ``val_size`` elements, increasing, disjoint, covering ``range(N)``.
        """
        return _stratified_split(labels, self.val_size, self.seed)

    def _read(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One split as intensities ``(N, 1, 28, 28)`` or ``(N, 784)`` float32, labels ``(N,)`` int64."""
        split = "train" if train else "test"
        try:
            dataset = _dataset_class(self.variant)(str(self.root), train=train)
            pixels, labels = dataset.data, dataset.targets
        except (RuntimeError, ValueError, TypeError, AssertionError, IndexError) as error:
            raise ValueError(
                f"{self.dataset_name} ({split} split) under {self.raw_folder} could not be read "
                f"as IDX files ({type(error).__name__}: {_summary(error)}); the files may be "
                "truncated or corrupt: delete them and get them again"
            ) from error
        if tuple(pixels.shape[1:]) != MNIST_SHAPE[1:] or labels.shape != pixels.shape[:1]:
            raise ValueError(
                f"{self.dataset_name} ({split} split) under {self.raw_folder} must hold 28x28 "
                f"images and one label per image, got images of shape {tuple(pixels.shape)} "
                f"and labels of shape {tuple(labels.shape)}"
            )
        images = pixels.to(torch.float32).div_(_MAX_PIXEL)
        images = images.reshape(-1, *self.input_shape).contiguous()
        return images, labels.to(torch.int64).contiguous()

    def _copy_hint(self) -> str:
        names = ", ".join(_RAW_FILES)
        return (
            f"On a machine with network access pass download=True (on the command line: "
            f"--data.download true); or copy the four uncompressed IDX files ({names}) into "
            f"{self.raw_folder}; or set ${DATA_ROOT_ENV} (or root) to a folder holding "
            f"{self.dataset_name}/raw/. torchvision reads either split only when all four "
            "files are there."
        )

    def _missing_hint(self) -> str:
        if self.download:
            return (
                "download=True downloads them in prepare_data(), which the Trainer calls "
                "before setup(); without a Trainer call prepare_data() first. " + self._copy_hint()
            )
        return self._copy_hint()


def _summary(error: BaseException, limit: int = 600) -> str:
    # torchvision's download error spans lines (one per mirror tried): fold it into one.
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text or "no message"
