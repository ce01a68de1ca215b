"""EpochShuffleSampler: a random order per epoch that depends on the seed and the epoch only."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["EpochShuffleSampler"]


class EpochShuffleSampler(Sampler[int]):
    """Visits ``range(size)`` in a random order drawn from ``(seed, epoch)``.

    A ``DataLoader(shuffle=True, generator=...)`` draws each epoch's order from
    a generator that advances as the process runs, so a fit resumed from a
    checkpoint in a new process sees other orders than an uninterrupted fit.
    Here epoch ``e``'s order is the permutation of a generator seeded
    ``seed * 1_000_003 + e``, whatever ran before: Lightning calls
    :meth:`set_epoch` at the start of every training epoch (as it does for
    ``DistributedSampler``), so a resumed fit reproduces the uninterrupted one.

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
        return iter(self.order(self.epoch).tolist())

    def __len__(self) -> int:
        return self.size
