"""EpochShuffleSampler: a random order per epoch that depends on the seed and the epoch only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from typing_extensions import override

__all__ = ["EpochShuffleSampler", "SplitDataModule", "make_loader", "resume_position"]


class EpochShuffleSampler(Sampler[int]):
    """Visits ``range(size)`` in a random order drawn from ``(seed, epoch)``.

    A ``DataLoader(shuffle=True, generator=...)`` draws each epoch's order from
    a generator that advances as the process runs, so a fit resumed from a
    checkpoint in a new process sees other orders than an uninterrupted fit.
    Here epoch ``e``'s order is the permutation of a generator seeded
    ``seed * 1_000_003 + e``, whatever ran before: Lightning calls
    :meth:`set_epoch` at the start of every training epoch (as it does for
    ``DistributedSampler``), so a resumed fit reproduces the uninterrupted one.
    A fit resumed from a checkpoint written in the middle of an epoch must
    also skip the samples that epoch already served: :meth:`resume_from`
    (the data modules call it with :func:`resume_position`).

    Args:
        size: number of samples.
        seed: base seed (non-negative).

    Example::

        loader = DataLoader(dataset, batch_size=32, sampler=EpochShuffleSampler(len(dataset), seed=0))
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a non-negative int, got {size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.size = size
        self.seed = seed
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def resume_from(self, epoch: int, samples: int) -> None:
        """Make the next iteration over ``epoch`` start after its first ``samples`` samples.

        Once only: later iterations (and other epochs) serve whole epochs.
        """
        for name, value in (("epoch", epoch), ("samples", samples)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        self._resume = (epoch, min(samples, self.size))

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` from the next iteration on."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = epoch

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of ``range(size)`` of ``epoch``, ``(size,)`` int64."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.size, generator=generator)

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch).tolist()
        if self._resume is not None and self._resume[0] == self.epoch:
            order = order[self._resume[1] :]
            self._resume = None
        return iter(order)

    def __len__(self) -> int:
        return self.size


def resume_position(trainer: Any) -> tuple[int, int] | None:
    """Where a fit being resumed stands: ``(epoch, batches of it already trained)``, else ``None``.

    Read from Lightning's restored loop state while the training dataloader is
    built (``Trainer.fit(..., ckpt_path=...)`` restores the loops first). Only
    for one process: under DDP the distributed sampler splits the order after
    this sampler, so a mid-epoch resume there restarts the epoch (``None``).

    Args:
        trainer: the data module's trainer, or ``None``.
    """
    if trainer is None or getattr(trainer, "world_size", 1) != 1:
        return None
    loop = getattr(trainer, "fit_loop", None)
    if loop is None or not loop.restarting:
        return None
    batches = loop.epoch_loop.batch_progress.current.processed
    if batches <= 0:
        return None
    return trainer.current_epoch, batches


def make_loader(
    module: Any, dataset: Dataset | None, *, shuffle: bool, stage: str, pin_memory: bool = False
) -> DataLoader:
    """A data module's loader: its ``batch_size``, ``num_workers`` and, to shuffle, ``seed``.

    A shuffling loader draws its order from an :class:`EpochShuffleSampler`
    and, in a fit resumed mid-epoch, starts where the checkpoint left off
    (:func:`resume_position`); the other loaders keep the data set's order.

    Args:
        module: the data module (``batch_size``, ``num_workers``, ``seed``, ``trainer``).
        dataset: the split, ``None`` before ``setup``.
        shuffle: training loader (True) or evaluation loader (False).
        stage: the ``setup`` stage that builds ``dataset``, for the error.
        pin_memory: pin batches in page-locked memory.

    Raises:
        RuntimeError: ``dataset`` is ``None``: ``setup(stage)`` has not run.
    """
    if dataset is None:
        raise RuntimeError(
            f"{type(module).__name__} has no data for this loader yet: call setup({stage!r}) "
            "first (the Trainer does)"
        )
    options: dict[str, Any] = {
        "batch_size": module.batch_size,
        "num_workers": module.num_workers,
        "persistent_workers": module.num_workers > 0,
        "pin_memory": pin_memory,
    }
    if shuffle:
        sampler = EpochShuffleSampler(len(dataset), module.seed)
        position = resume_position(module.trainer)
        if position is not None:  # resumed mid-epoch: skip what that epoch already served
            sampler.resume_from(position[0], position[1] * module.batch_size)
        options["sampler"] = sampler
    return DataLoader(dataset, **options)


class SplitDataModule(pl.LightningDataModule):
    """The loaders of a data module whose ``setup`` fills ``train_set``, ``val_set`` and ``test_set``.

    Training shuffles (:func:`make_loader`); validation, test and predict
    (which serves the test part) keep the split's order. Subclasses set
    ``batch_size``, ``num_workers``, ``seed`` and optionally ``pin_memory``.
    """

    pin_memory: bool = False
    train_set: Dataset | None = None
    val_set: Dataset | None = None
    test_set: Dataset | None = None

    def _loader(self, dataset: Dataset | None, shuffle: bool, stage: str) -> DataLoader:
        return make_loader(self, dataset, shuffle=shuffle, stage=stage, pin_memory=self.pin_memory)

    @override
    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True, stage="fit")

    @override
    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False, stage="validate")

    @override
    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False, stage="test")

    @override
    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False, stage="predict")
