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


class Fingerprints(pl.LightningModule):
    """Records a fingerprint of every training sample, in order, across processes' fits."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[float] = []

    def training_step(self, batch, batch_idx):
        images = batch[0].flatten(1).double()
        self.seen += (images * torch.arange(1, images.shape[1] + 1)).sum(1).tolist()
        return (self.weight * 0).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("stop", [5, 17, 20])
def test_a_fit_resumed_mid_epoch_sees_the_remaining_samples(tmp_path, stop: int) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    from inferno_lightning.data import DigitsDataModule

    def trainer(**options) -> pl.Trainer:
        return pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                          limit_val_batches=0, **options)  # fmt: skip

    straight = Fingerprints()
    trainer(max_epochs=2, enable_checkpointing=False).fit(
        straight, datamodule=DigitsDataModule(batch_size=64)
    )
    assert len(straight.seen) == 2 * 1077
    first = Fingerprints()
    saving = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=stop, save_last=True)
    trainer(max_steps=stop, callbacks=[saving]).fit(
        first, datamodule=DigitsDataModule(batch_size=64)
    )
    # 17 batches per epoch: step 5 is mid-epoch 0, 17 its end, 20 mid-epoch 1.
    second = Fingerprints()
    trainer(max_epochs=2, enable_checkpointing=False).fit(
        second, datamodule=DigitsDataModule(batch_size=64), ckpt_path=tmp_path / "last.ckpt"
    )
    assert first.seen + second.seen == straight.seen


@pytest.mark.parametrize(
    ("size", "world", "batch"), [(24, 2, 3), (16, 4, 2), (10, 3, 2), (7, 2, 4)]
)
def test_ranks_read_the_slices_of_the_one_process_global_batches(size, world, batch) -> None:
    """N ranks at batch b take, batch by batch, exactly the samples one process at batch N b takes."""
    one = EpochShuffleSampler(size, seed=2)
    one.set_epoch(3)
    order = one.order(3).tolist()
    ranks = []
    for rank in range(world):
        sampler = EpochShuffleSampler(size, seed=2, batch_size=batch, num_replicas=world, rank=rank)
        sampler.set_epoch(3)
        ranks.append(list(sampler))
        assert len(sampler) == len(ranks[-1])
    assert len({len(r) for r in ranks}) == 1  # every rank takes the same number of steps
    width = world * batch
    for start in range(0, size - size % width, width):
        step = start // width
        for rank in range(world):
            mine = ranks[rank][step * batch : (step + 1) * batch]
            assert mine == order[start + rank * batch : start + (rank + 1) * batch]
    tail = order[size - size % width :]
    if tail:  # the last, short global batch: cut into equal slices, padded from the start
        share = -(-len(tail) // world)
        served = [r[len(r) - share :] for r in ranks]
        assert sum(served, [])[: len(tail)] == tail
        assert sum(served, [])[len(tail) :] == order[: share * world - len(tail)]


def test_the_data_modules_loader_splits_over_the_trainers_ranks() -> None:
    from types import SimpleNamespace

    from inferno_lightning.data._sampling import make_loader

    dataset = TensorDataset(torch.arange(20))
    loaders = []
    for rank in range(2):
        module = SimpleNamespace(
            batch_size=5, num_workers=0, seed=1,
            trainer=SimpleNamespace(world_size=2, global_rank=rank, fit_loop=None),
        )  # fmt: skip
        loaders.append(make_loader(module, dataset, shuffle=True, stage="fit"))
    order = EpochShuffleSampler(20, seed=1).order(0).tolist()
    batches = [[b[0].tolist() for b in loader] for loader in loaders]
    assert batches[0] == [order[0:5], order[10:15]]
    assert batches[1] == [order[5:10], order[15:20]]


def test_distributed_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        EpochShuffleSampler(4, batch_size=0)
    with pytest.raises(ValueError, match="num_replicas"):
        EpochShuffleSampler(4, num_replicas=0)
    with pytest.raises(ValueError, match="rank"):
        EpochShuffleSampler(4, num_replicas=2, rank=2)
