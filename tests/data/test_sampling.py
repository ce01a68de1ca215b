"""EpochShuffleSampler: one permutation per (seed, epoch), whatever ran before."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from inferno_lightning.data import EpochShuffleSampler


def test_each_epoch_is_a_permutation_fixed_by_seed_and_epoch() -> None:
    sampler = EpochShuffleSampler(50, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(50)) and len(sampler) == 50
    assert list(sampler) == first  # iterating again does not advance anything
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(second) == list(range(50)) and second != first
    # A fresh sampler (a resumed process) gives the same orders.
    fresh = EpochShuffleSampler(50, seed=3)
    fresh.set_epoch(1)
    assert list(fresh) == second
    assert list(EpochShuffleSampler(50, seed=4)) != first
    assert torch.equal(sampler.order(0), torch.tensor(first))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: EpochShuffleSampler(-1), "size"),
        (lambda: EpochShuffleSampler(4, seed=-2), "seed"),
        (lambda: EpochShuffleSampler(4).set_epoch(True), "epoch"),
    ],
)
def test_bad_arguments_name_the_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()


class Record(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []

    def training_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.seen.append([])
        self.seen[-1] += batch[0].tolist()
        return (self.weight * 0).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_sets_the_epoch() -> None:
    sampler = EpochShuffleSampler(12, seed=5)
    loader = DataLoader(TensorDataset(torch.arange(12)), batch_size=4, sampler=sampler)
    model = Record()
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, loader)
    assert model.seen == [sampler.order(epoch).tolist() for epoch in range(3)]
