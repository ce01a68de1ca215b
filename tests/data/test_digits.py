"""DigitsDataModule: the split's sizes and stratification, determinism, values, loaders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from inferno_lightning.data import DIGITS_SAMPLES, DigitsDataModule

# Samples per class in scikit-learn's digits, 0..9.
CLASS_SIZES = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.fixture(scope="module")
def data() -> DigitsDataModule:
    module = DigitsDataModule(batch_size=32)
    module.setup("fit")
    return module


def labels(dataset) -> np.ndarray:
    return dataset.tensors[1].numpy()


def test_split_sizes_add_up_to_the_data_set(data: DigitsDataModule) -> None:
    assert DIGITS_SAMPLES == sum(CLASS_SIZES) == 1797
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (1077, 360, 360)
    assert data.train_size == 1077
    small = DigitsDataModule(val_size=100, test_size=200)
    small.setup()
    assert (len(small.train_set), len(small.val_set), len(small.test_set)) == (1497, 100, 200)


def test_parts_are_disjoint_and_cover_every_sample(data: DigitsDataModule) -> None:
    _, every = DigitsDataModule.load()
    parts = data.split_indices(every)
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(1797))
    # Each part's images are those of its indices in the full data set.
    images, _ = DigitsDataModule.load()
    torch.testing.assert_close(data.val_set.tensors[0].reshape(360, 64), images[parts[1]])


def test_every_part_has_the_class_proportions_of_the_whole(data: DigitsDataModule) -> None:
    assert np.bincount(labels(data.train_set)).tolist() == [107, 109, 106, 109, 109, 109, 109, 107, 104, 108]  # fmt: skip
    for dataset in (data.train_set, data.val_set, data.test_set):
        counts = np.bincount(labels(dataset), minlength=10)
        share = np.array(CLASS_SIZES) * len(dataset) / 1797
        # Stratified: every class within one sample of its proportional share.
        assert np.all(np.abs(counts - share) < 1.0), (counts, share)


def test_the_same_seed_gives_the_same_split_and_order() -> None:
    first, second, other = (DigitsDataModule(seed=s) for s in (0, 0, 1))
    for module in (first, second, other):
        module.setup()
    for part in ("train_set", "val_set", "test_set"):
        for a, b in zip(getattr(first, part).tensors, getattr(second, part).tensors, strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(first.test_set.tensors[1], other.test_set.tensors[1])
    batches = [next(iter(m.train_dataloader()))[1] for m in (first, second)]
    assert torch.equal(batches[0], batches[1])
    # The training loader shuffles, the others keep the split's order.
    assert not torch.equal(batches[0], first.train_set.tensors[1][:32])
    assert torch.equal(next(iter(first.val_dataloader()))[1], first.val_set.tensors[1][:32])


def test_values_are_intensities_in_the_unit_interval(data: DigitsDataModule) -> None:
    images, targets = next(iter(data.train_dataloader()))
    assert images.shape == (32, 1, 8, 8) and images.dtype == torch.float32
    assert targets.shape == (32,) and targets.dtype == torch.int64
    every = torch.cat([d.tensors[0] for d in (data.train_set, data.val_set, data.test_set)])
    assert every.min().item() == 0.0 and every.max().item() == 1.0
    # Pixel values 0..16 divided by 16: exact multiples of 1/16.
    assert torch.equal(every * 16, (every * 16).round())
    raw = load_digits().data
    assert every.sum().item() == pytest.approx(raw.sum() / 16.0)


def test_flatten_gives_vectors() -> None:
    module = DigitsDataModule(batch_size=5, flatten=True)
    module.setup()
    images, _ = next(iter(module.test_dataloader()))
    assert images.shape == (5, 64) and module.input_shape == (64,)
    assert DigitsDataModule().input_shape == (1, 8, 8)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DigitsDataModule(batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be a non-negative int"):
        DigitsDataModule(num_workers=-1)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        DigitsDataModule(seed=-1)
    with pytest.raises(ValueError, match="val_size must be a positive int"):
        DigitsDataModule(val_size=0)
    with pytest.raises(ValueError, match="must leave at least 100"):
        DigitsDataModule(val_size=900, test_size=800)
    with pytest.raises(RuntimeError, match="call setup"):
        DigitsDataModule().train_dataloader()
