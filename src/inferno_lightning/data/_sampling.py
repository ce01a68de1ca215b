"""EpochShuffleSampler: a random order per epoch that depends on the seed and the epoch only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from typing_extensions import override

__all__ = ["EpochShuffleSampler", "SplitDataModule", "make_loader", "resume_position"]


class EpochShuffleSampler(DistributedSampler):
    """Visits ``range(size)`` in a random order drawn from ``(seed, epoch)``, split over ranks by global batch.

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

    **Several ranks** (DESIGN.md invariant 1). With ``N`` ranks and per-rank
    batch ``b``, the epoch's order is cut into global batches of ``N b``
    samples, exactly the batches one process with batch ``N b`` takes, and
    rank ``r`` reads the ``r``-th slice of ``b`` samples of each. Mean-reduced
    updates, all-reduced over the ranks, then equal those of the one process.
    A last global batch of ``m < N b`` samples is cut into ``N`` slices of
    ``ceil(m / N)``, padded with the epoch's first samples when ``N`` does not
    divide ``m`` (every rank must take the same number of steps), so that
    batch alone differs from one process's. The sampler is a
    ``DistributedSampler`` so that Lightning uses it as it is rather than
    wrapping it in one that shuffles again.

    Args:
        size: number of samples.
        seed: base seed (non-negative).
        batch_size: per-rank batch size ``b`` (only matters with several ranks).
        num_replicas: number of ranks ``N``; ``None`` reads it from
            ``torch.distributed`` when it is initialised (else 1) at each iteration.
        rank: this rank; ``None`` as ``num_replicas``.

    Example::

        loader = DataLoader(dataset, batch_size=32, sampler=EpochShuffleSampler(len(dataset), seed=0, batch_size=32))
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        *,
        batch_size: int = 1,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        # DistributedSampler.__init__ is not called: it needs a data set and an initialised
        # process group; every attribute Lightning or users read is set here.
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a non-negative int, got {size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if num_replicas is not None and (
            isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1
        ):
            raise ValueError(f"num_replicas must be a positive int or None, got {num_replicas!r}")
        if rank is not None and (
            isinstance(rank, bool)
            or not isinstance(rank, int)
            or rank < 0
            or (num_replicas is not None and rank >= num_replicas)
        ):
            raise ValueError(
                f"rank must be an int in [0, num_replicas) or None, got {rank!r} "
                f"(num_replicas {num_replicas!r})"
            )
        self.size = size
        self.seed = seed
        self.batch_size = batch_size
        self._num_replicas = num_replicas
        self._rank = rank
        self.shuffle = True
        self.drop_last = False
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    @property
    def num_replicas(self) -> int:  # type: ignore[override]
        """Number of ranks the order is split over."""
        if self._num_replicas is not None:
            return self._num_replicas
        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1

    @property
    def rank(self) -> int:  # type: ignore[override]
        """This rank."""
        if self._rank is not None:
            return self._rank
        return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0

    def resume_from(self, epoch: int, samples: int) -> None:
        """Make the next iteration over ``epoch`` start after its first ``samples`` samples.

        ``samples`` counts samples of the epoch's whole order (over every
        rank). Once only: later iterations (and other epochs) serve whole epochs.
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

    def _indices(self, resume: bool) -> list[int]:
        order = self.order(self.epoch).tolist()
        start = 0
        if resume and self._resume is not None and self._resume[0] == self.epoch:
            start = self._resume[1]
            self._resume = None
        world, rank = self.num_replicas, self.rank
        if world == 1:
            return order[start:]
        return _rank_slices(order, start, world, rank, self.batch_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices(resume=True))

    def __len__(self) -> int:
        """Samples this rank reads in a whole epoch (Lightning counts an epoch's batches by it)."""
        world = self.num_replicas
        if world == 1:
            return self.size
        width = world * self.batch_size
        tail = self.size % width
        return self.size // width * self.batch_size + -(-tail // world)


def _rank_slices(order: list[int], start: int, world: int, rank: int, batch: int) -> list[int]:
    """Rank ``rank``'s slice of each global batch of ``world * batch`` samples of ``order[start:]``."""
    rest = order[start:]
    width = world * batch
    full = len(rest) // width * width
    out: list[int] = []
    for begin in range(0, full, width):
        out += rest[begin + rank * batch : begin + (rank + 1) * batch]
    tail = rest[full:]
    if tail:
        share = -(-len(tail) // world)
        missing = share * world - len(tail)
        padded = tail + (order * (missing // len(order) + 1))[:missing]
        out += padded[rank * share : (rank + 1) * share]
    return out


def resume_position(trainer: Any) -> tuple[int, int] | None:
    """Where a fit being resumed stands: ``(epoch, batches of it already trained)``, else ``None``.

    Read from Lightning's restored loop state while the training dataloader is
    built (``Trainer.fit(..., ckpt_path=...)`` restores the loops first). The
    batches are per rank; each stands for one global batch of every rank.

    Args:
        trainer: the data module's trainer, or ``None``.
    """
    if trainer is None:
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
    (split over the trainer's ranks by global batch, so ``N`` ranks at batch
    ``b`` see the batches one process at batch ``N b`` sees) and, in a fit
    resumed mid-epoch, starts where the checkpoint left off
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
        trainer = module.trainer
        world = int(getattr(trainer, "world_size", 1)) if trainer is not None else 1
        rank = int(getattr(trainer, "global_rank", 0)) if trainer is not None else 0
        sampler = EpochShuffleSampler(
            len(dataset), module.seed, batch_size=module.batch_size, num_replicas=world, rank=rank
        )
        position = resume_position(trainer)
        if position is not None:  # resumed mid-epoch: skip what that epoch already served
            sampler.resume_from(position[0], position[1] * module.batch_size * world)
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
