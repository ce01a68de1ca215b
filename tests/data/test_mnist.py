"""MNISTDataModule on tiny data in the real IDX format: values, splits, missing data, arguments."""

from __future__ import annotations

import struct
from pathlib import Path
from urllib.error import URLError

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from inferno_lightning.data._files import DATA_ROOT_ENV, MissingDataError
from inferno_lightning.data.mnist import MNISTDataModule

TRAIN_SAMPLES = 60
TEST_SAMPLES = 20
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def write_idx(path: Path, values: torch.Tensor) -> None:
    """uint8 IDX: big-endian magic 0x0800 + rank (2051 images, 2049 labels), sizes, payload."""
    header = struct.pack(f">I{values.dim()}I", 0x0800 + values.dim(), *values.shape)
    path.write_bytes(header + values.to(torch.uint8).numpy().tobytes())


def images(count: int, offset: int) -> torch.Tensor:
    """Image i has pixel (r, c) = (offset + 7 i + 3 r + 5 c) mod 256: all differ, 0 and 255 occur."""
    index = torch.arange(count).reshape(-1, 1, 1)
    row = torch.arange(28).reshape(1, -1, 1)
    column = torch.arange(28).reshape(1, 1, -1)
    return ((offset + 7 * index + 3 * row + 5 * column) % 256).to(torch.uint8)


class Written:
    """What the fixture wrote: uint8 images and int64 labels of each split."""

    def __init__(self, root: Path, folder: str) -> None:
        self.root = root
        self.train_images = images(TRAIN_SAMPLES, offset=0)
        self.train_labels = torch.arange(TRAIN_SAMPLES) % 10  # 6 of each class
        self.test_images = images(TEST_SAMPLES, offset=100)
        self.test_labels = (torch.arange(TEST_SAMPLES) * 3) % 10
        raw = root / folder / "raw"
        raw.mkdir(parents=True)
        values = (self.train_images, self.train_labels, self.test_images, self.test_labels)
        for name, tensor in zip(FILES, values, strict=True):
            write_idx(raw / name, tensor)


@pytest.fixture
def written(tmp_path: Path) -> Written:
    return Written(tmp_path / "data", "MNIST")


def test_loads_exactly_the_written_values(written: Written) -> None:
    data = MNISTDataModule(root=written.root, val_size=20, batch_size=8)
    data.setup()
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (40, 20, 20)
    train, val = data.split_indices(written.train_labels)
    assert sorted(torch.cat([train, val]).tolist()) == list(range(TRAIN_SAMPLES))
    for dataset, index in ((data.train_set, train), (data.val_set, val)):
        pixels, labels = dataset.tensors
        assert pixels.shape == (len(index), 1, 28, 28) and pixels.dtype == torch.float32
        assert labels.dtype == torch.int64
        assert torch.equal(pixels, written.train_images[index].unsqueeze(1).float() / 255)
        assert torch.equal(labels, written.train_labels[index])
    pixels, labels = data.test_set.tensors
    assert torch.equal(pixels[:, 0], written.test_images.float() / 255)
    assert labels.tolist() == [0, 3, 6, 9, 2, 5, 8, 1, 4, 7] * 2
    # Test image 3, pixel (1, 2): (100 + 21 + 3 + 10) / 255.
    assert pixels[3, 0, 1, 2].item() == pytest.approx(134 / 255)
    assert pixels.min().item() == 0.0 and pixels.max().item() == 1.0
    assert data.num_classes == 10 and data.input_shape == (1, 28, 28)
    batch, targets = next(iter(data.test_dataloader()))
    assert batch.shape == (8, 1, 28, 28) and torch.equal(targets, labels[:8])


def test_validation_part_is_stratified_and_seeded(written: Written) -> None:
    modules = [MNISTDataModule(root=written.root, val_size=20, seed=s) for s in (0, 0, 1)]
    for module in modules:
        module.setup("fit")
    first, second, other = modules
    # 6 samples per class, a third held out: exactly 2 per class.
    assert torch.bincount(first.val_set.tensors[1], minlength=10).tolist() == [2] * 10
    assert torch.bincount(first.train_set.tensors[1], minlength=10).tolist() == [4] * 10
    for a, b in zip(first.val_set.tensors, second.val_set.tensors, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first.val_set.tensors[0], other.val_set.tensors[0])
    assert first.test_set is None  # "fit" does not read the test split
    orders = [next(iter(m.train_dataloader()))[0] for m in (first, second, other)]
    assert torch.equal(orders[0], orders[1])
    assert not torch.equal(orders[0], first.train_set.tensors[0][:64])


def test_split_gives_each_class_its_share_to_within_one_sample() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    for val_size, expected in ((10, [5, 3, 2]), (7, [4, 2, 1]), (0, [0, 0, 0])):
        data = MNISTDataModule(root="unused", val_size=val_size, seed=3)
        train, val = data.split_indices(labels)
        assert torch.bincount(labels[val], minlength=3).tolist() == expected
        assert len(train) == 100 - val_size
        assert torch.equal(torch.sort(torch.cat([train, val])).values, torch.arange(100))
        assert torch.equal(train, torch.sort(train).values)


def test_flatten_gives_vectors(written: Written) -> None:
    data = MNISTDataModule(root=written.root, val_size=10, flatten=True)
    data.setup("test")
    assert data.input_shape == (784,)
    pixels, _ = data.test_set.tensors
    assert pixels.shape == (TEST_SAMPLES, 784)
    assert torch.equal(pixels, written.test_images.reshape(TEST_SAMPLES, 784).float() / 255)
    assert data.train_set is None  # "test" does not read the training split


def test_fashion_reads_its_own_folder(tmp_path: Path, no_network: list[object]) -> None:
    fashion = Written(tmp_path, "FashionMNIST")
    data = MNISTDataModule(root=tmp_path, variant="fashion", val_size=10)
    data.setup("fit")
    assert data.raw_folder == tmp_path / "FashionMNIST" / "raw"
    assert len(data.train_set) == 50
    assert torch.equal(
        torch.sort(torch.cat([data.train_set.tensors[1], data.val_set.tensors[1]])).values,
        torch.sort(fashion.train_labels).values,
    )
    with pytest.raises(MissingDataError, match=r"MNIST \(train split\)") as caught:
        MNISTDataModule(root=tmp_path, variant="mnist").setup("fit")
    assert all(path.parent == tmp_path / "MNIST" / "raw" for path in caught.value.missing)
    assert no_network == []


def test_missing_data_names_every_file_and_downloads_nothing(
    tmp_path: Path, no_network: list[object]
) -> None:
    root = tmp_path / "nowhere"
    data = MNISTDataModule(root=root)
    data.prepare_data()  # download=False: checks nothing, fetches nothing
    with pytest.raises(MissingDataError) as caught:
        data.setup("fit")
    message = str(caught.value)
    assert "MNIST (train split)" in message
    for name in FILES:
        assert str(root / "MNIST" / "raw" / name) in message
    assert f"data root {root}" in message
    assert "download=True" in message and DATA_ROOT_ENV in message
    assert caught.value.missing == [root / "MNIST" / "raw" / name for name in FILES]
    with pytest.raises(MissingDataError, match=r"MNIST \(test split\)"):
        data.setup("predict")
    assert no_network == []
    assert not root.exists()


def test_a_split_missing_its_files_lists_only_those(written: Written) -> None:
    for name in FILES[2:]:
        (written.root / "MNIST" / "raw" / name).unlink()
    with pytest.raises(MissingDataError, match=r"MNIST \(test split\)") as caught:
        MNISTDataModule(root=written.root).setup("test")
    assert [path.name for path in caught.value.missing] == list(FILES[2:])
    # torchvision reads either split only when all four files exist.
    with pytest.raises(MissingDataError, match=r"MNIST \(train split\)"):
        MNISTDataModule(root=written.root, val_size=10).setup("fit")


def test_failed_download_raises_missing_data_error(
    tmp_path: Path, no_network: list[object]
) -> None:
    root = tmp_path / "offline"
    data = MNISTDataModule(root=root, download=True)
    with pytest.raises(MissingDataError) as caught:
        data.prepare_data()
    assert not isinstance(caught.value, URLError)
    assert isinstance(caught.value.__cause__, RuntimeError)
    message = str(caught.value)
    assert "failed" in message and "Downloading" in message
    assert "network access is blocked" in message
    assert str(root / "MNIST" / "raw" / FILES[0]) in message
    assert no_network, "torchvision should have tried to download"
    assert all(str(url).endswith(".gz") for url in no_network)
    # setup afterwards still says what is missing, and that prepare_data downloads.
    with pytest.raises(MissingDataError, match="prepare_data"):
        data.setup("fit")


def test_present_files_are_not_downloaded_again(written: Written, no_network: list[object]) -> None:
    data = MNISTDataModule(root=written.root, download=True, val_size=10)
    data.prepare_data()
    data.setup("fit")
    assert no_network == [] and len(data.train_set) == 50


def test_root_comes_from_the_environment(
    written: Written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_ROOT_ENV, str(written.root))
    data = MNISTDataModule(val_size=10)
    assert data.root == written.root
    data.setup("test")
    assert len(data.test_set) == TEST_SAMPLES
    # An explicit root wins over the environment.
    assert MNISTDataModule(root=tmp_path / "other").root == tmp_path / "other"


@pytest.mark.parametrize(
    ("arguments", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"val_size": -1}, "val_size"),
        ({"num_workers": -1}, "num_workers"),
        ({"seed": -2}, "seed"),
        ({"variant": "kmnist"}, "variant"),
    ],
)
def test_bad_arguments_name_the_argument(arguments: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        MNISTDataModule(root="unused", **arguments)


def test_val_size_must_leave_training_samples(written: Written) -> None:
    for val_size in (TRAIN_SAMPLES, 5000):
        with pytest.raises(ValueError, match=r"val_size must be smaller than the 60 training"):
            MNISTDataModule(root=written.root, val_size=val_size).setup("fit")


def test_corrupt_file_gives_a_clear_error(written: Written) -> None:
    # The header says 60 images, the payload holds 10 (an interrupted copy).
    payload = written.train_images[:10].numpy().tobytes()
    path = written.root / "MNIST" / "raw" / FILES[0]
    path.write_bytes(struct.pack(">4I", 2051, 60, 28, 28) + payload)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        MNISTDataModule(root=written.root, val_size=10).setup("fit")


def test_loaders_need_setup(written: Written) -> None:
    data = MNISTDataModule(root=written.root)
    with pytest.raises(RuntimeError, match=r"setup\('fit'\)"):
        data.train_dataloader()


class _Linear(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(784, 10)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        images, labels = batch
        return nn.functional.cross_entropy(self.layer(images), labels)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> None:
        images, labels = batch
        self.log("val_loss", nn.functional.cross_entropy(self.layer(images), labels))

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> None:
        self.validation_step(batch, index)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_trainer_runs_on_the_tiny_data(written: Written, tmp_path: Path) -> None:
    data = MNISTDataModule(root=written.root, val_size=10, batch_size=16, flatten=True)
    trainer = pl.Trainer(
        accelerator="cpu",
        fast_dev_run=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    model = _Linear()
    before = model.layer.weight.detach().clone()
    trainer.fit(model, datamodule=data)
    assert not torch.equal(before, model.layer.weight)
    assert trainer.test(model, datamodule=data, verbose=False)[0]["val_loss"] > 0


def test_legacy_processed_files_count_as_present(tmp_path: Path) -> None:
    # torchvision < 0.9 cached the splits as processed/{training,test}.pt; MNIST still loads them.
    processed = tmp_path / "MNIST" / "processed"
    processed.mkdir(parents=True)
    train = (images(TRAIN_SAMPLES, offset=0), torch.arange(TRAIN_SAMPLES) % 10)
    torch.save(train, processed / "training.pt")
    torch.save(
        (images(TEST_SAMPLES, offset=100), torch.arange(TEST_SAMPLES) % 10), processed / "test.pt"
    )
    data = MNISTDataModule(root=tmp_path, val_size=10)
    assert data.missing_files() == []
    data.setup("fit")
    assert len(data.train_set) == 50
    assert torch.equal(
        data.val_set.tensors[0][:, 0] * 255, train[0][data.split_indices(train[1])[1]].float()
    )
