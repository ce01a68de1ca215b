"""NMNISTDataModule on a tiny N-MNIST written in Orchard's binary format: the reader, frames,
loaders and split, the frame cache, missing data and downloads without a network."""

from __future__ import annotations

import json
import pickle
import sys
import types
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from inferno_lightning.data import nmnist
from inferno_lightning.data._files import DATA_ROOT_ENV, MissingDataError
from inferno_lightning.data.events import make_events, to_frames
from inferno_lightning.data.nmnist import NMNISTDataModule, read_nmnist_events

# The tiny data set: recordings per digit, per split.
TRAIN = {0: 4, 1: 4, 2: 4}
TEST = {0: 2, 1: 2}
# The first training recording of digit 0, (x, y, t µs, p): known frames.
KNOWN = [(0, 0, 0, 1), (0, 0, 10, 1), (33, 33, 100_000, 0), (5, 7, 299_999, 1), (5, 7, 200_000, 1)]


def encode(events: list[tuple[int, int, int, int]]) -> bytes:
    """Orchard's 5-byte records: x, y, then p in bit 23 and t in bits 22-0, big-endian."""
    out = bytearray()
    for x, y, t, p in events:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def recording(digit: int, number: int) -> list[tuple[int, int, int, int]]:
    if (digit, number) == (0, 0):
        return KNOWN
    generator = np.random.default_rng(100 * digit + number)
    count = 40
    times = np.sort(generator.integers(0, 300_000, count))
    # Each digit lights its own band of rows, so classes differ.
    x = generator.integers(0, 34, count)
    y = generator.integers(10 * digit, 10 * digit + 4, count)
    p = generator.integers(0, 2, count)
    return [(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(x, y, times, p, strict=True)]


def write_split(root: Path, folder: str, sizes: dict[int, int]) -> None:
    for digit, count in sizes.items():
        target = root / "NMNIST" / folder / str(digit)
        target.mkdir(parents=True, exist_ok=True)
        for number in range(count):
            (target / f"{number:05d}.bin").write_bytes(encode(recording(digit, number)))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_split(tmp_path, "Train", TRAIN)
    write_split(tmp_path, "Test", TEST)
    return tmp_path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the data module reads, in order."""
    seen: list[Path] = []
    real = nmnist.read_nmnist_events

    def counting(path):
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(nmnist, "read_nmnist_events", counting)
    return seen


def module(root: Path, **options) -> NMNISTDataModule:
    options = {"val_size": 3, "batch_size": 4, **options}
    return NMNISTDataModule(root=root, **options)


def test_the_reader_decodes_what_was_written(tmp_path: Path) -> None:
    # Timestamps past 2**16 (and near 2**23), both polarities, the sensor's corners.
    written = [(0, 0, 0, 0), (33, 0, 65_535, 1), (0, 33, 65_536, 0), (33, 33, 70_000, 1),
               (17, 4, 8_388_607, 1), (255, 239, 1, 0)]  # fmt: skip
    path = tmp_path / "sample.bin"
    path.write_bytes(encode(written))
    events = read_nmnist_events(path)
    assert [tuple(int(v) for v in (e["x"], e["y"], e["t"], e["p"])) for e in events] == written


def test_an_overflow_record_adds_two_to_the_thirteen_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "overflow.bin"
    path.write_bytes(encode([(1, 2, 100, 1), (0, 240, 0, 0), (3, 4, 50, 0)]))
    events = read_nmnist_events(path)
    assert events["t"].tolist() == [100, 50 + 8192] and events["y"].tolist() == [2, 4]


def test_a_truncated_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(encode(KNOWN)[:-3])
    with pytest.raises(ValueError, match=r"cut\.bin must hold 5-byte event records, got 22 bytes"):
        read_nmnist_events(path)


def test_loaders_give_batches_of_frames_and_digits(root: Path) -> None:
    data = module(root, n_time_bins=3)
    data.setup("fit")
    frames, labels = next(iter(data.train_dataloader()))
    assert frames.shape == (4, 3, 2, 34, 34) and frames.dtype == torch.float32
    assert labels.dtype == torch.int64 and set(labels.tolist()) <= {0, 1, 2}
    assert data.input_shape == (3, 2, 34, 34) and data.num_classes == 10
    # 12 training recordings: 9 train and 3 validation (one per digit); the test split is 4.
    assert (len(data.train_set), len(data.val_set)) == (9, 3)
    assert sorted(data.val_set[i][1].item() for i in range(3)) == [0, 1, 2]
    assert data.test_set is None
    data.setup("test")
    assert len(data.test_set) == 4
    assert [data.test_set[i][1].item() for i in range(4)] == [0, 0, 1, 1]
    # Every event is in some frame: counts add up to the events written.
    totals = [data.test_set[i][0].sum().item() for i in range(4)]
    assert totals == [len(KNOWN), 40.0, 40.0, 40.0]
    small = module(root, n_time_bins=3, downsample=2, batch_size=2)
    small.setup("test")
    assert next(iter(small.test_dataloader()))[0].shape == (2, 3, 2, 17, 17)


def test_the_frames_of_a_known_recording(root: Path) -> None:
    data = module(root, n_time_bins=3, val_size=0)
    data.setup("fit")
    frames, label = data.train_set[0]  # Train/0/00000.bin
    assert label.item() == 0
    # Span 0..299999 µs in 3 bins of 100 ms: t 0, 10 -> 0; 100000 -> 1; 200000, 299999 -> 2.
    expected = torch.zeros(3, 2, 34, 34)
    expected[0, 1, 0, 0] = 2
    expected[1, 0, 33, 33] = 1
    expected[2, 1, 7, 5] = 2
    assert torch.equal(frames, expected)
    binary = module(root, n_time_bins=3, val_size=0, binary=True)
    binary.setup("fit")
    assert binary.train_set[0][0].sum().item() == 3.0
    # A fixed window of 50 ms (time_window in ms, timestamps in µs) per frame keeps the first
    # 150 ms: t 0, 10 -> 0; 100000 -> 2; 200000 and 299999 are dropped.
    windowed = module(root, n_time_bins=3, val_size=0, time_window=50.0)
    windowed.setup("fit")
    first = windowed.train_set[0][0]
    assert first[0, 1, 0, 0].item() == 2 and first[2, 0, 33, 33].item() == 1 and first.sum() == 3
    assert windowed.hparams["time_window"] == 50.0
    assert json.loads((windowed.cache_folder / "params.json").read_text())["time_window"] == 50.0


def test_the_frames_are_those_of_the_pure_functions(root: Path) -> None:
    data = module(root, n_time_bins=4, val_size=0)
    data.setup("fit")
    frames, label = data.train_set[6]  # Train/1/00002.bin
    events = make_events(*zip(*recording(1, 2), strict=True))
    assert label.item() == 1
    assert torch.equal(frames, torch.from_numpy(to_frames(events, (34, 34), 4)).float())


def test_the_split_is_seeded(root: Path) -> None:
    first, second, other = (module(root, seed=seed) for seed in (0, 0, 5))
    for data in (first, second, other):
        data.setup("fit")
    assert first.val_set.indices == second.val_set.indices
    assert first.train_set.indices == second.train_set.indices
    assert first.val_set.indices != other.val_set.indices
    assert sorted(first.train_set.indices + first.val_set.indices) == list(range(12))
    batches = [next(iter(data.train_dataloader()))[1] for data in (first, second)]
    assert torch.equal(batches[0], batches[1])


def test_a_second_setup_reads_no_event_file(root: Path, reads: list[Path]) -> None:
    first = module(root, n_time_bins=3)
    first.setup()
    assert len(reads) == 12 + 4
    cache = root / "cache" / "NMNIST" / first.cache_key
    assert first.cache_folder == cache
    assert sorted(path.name for path in cache.iterdir()) == ["params.json", "test.pt", "train.pt"]
    reads.clear()
    second = module(root, n_time_bins=3)
    second.setup()
    assert reads == []
    for index in range(4):
        assert torch.equal(second.test_set[index][0], first.test_set[index][0])
    # binary clips at read time: the same cache serves it.
    third = module(root, n_time_bins=3, binary=True)
    assert third.cache_folder == cache
    third.setup("fit")
    assert reads == []


@pytest.mark.parametrize(
    "change", [{"n_time_bins": 4}, {"denoise_time": 5.0}, {"downsample": 2}, {"time_window": 10.0}]
)
def test_a_changed_transform_misses_the_cache(root: Path, reads: list[Path], change) -> None:
    first = module(root, n_time_bins=3)
    first.setup("fit")
    reads.clear()
    changed = module(root, **{"n_time_bins": 3, **change})
    assert changed.cache_folder != first.cache_folder
    changed.setup("fit")
    assert len(reads) == 12
    assert (changed.cache_folder / "train.pt").is_file()


def test_a_truncated_cache_file_is_rebuilt(root: Path, reads: list[Path]) -> None:
    first = module(root, n_time_bins=3)
    first.setup("fit")
    expected = [first.train_set[i][0] for i in range(len(first.train_set))]
    path = first.cache_file("train")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    reads.clear()
    second = module(root, n_time_bins=3)
    with pytest.warns(UserWarning, match=r"train\.pt is unusable: it cannot be read"):
        second.setup("fit")
    assert len(reads) == 12
    assert all(torch.equal(second.train_set[i][0], expected[i]) for i in range(len(expected)))
    # The rebuilt file is whole: a third setup reads nothing.
    reads.clear()
    module(root, n_time_bins=3).setup("fit")
    assert reads == []
    # No temporary file is left behind.
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_cache_of_other_recordings_is_rebuilt(root: Path, reads: list[Path]) -> None:
    module(root).setup("fit")
    (root / "NMNIST" / "Train" / "2" / "00009.bin").write_bytes(encode(KNOWN))
    reads.clear()
    data = module(root)
    with pytest.warns(UserWarning, match="changed since it was built"):
        data.setup("fit")
    assert len(reads) == 13 and len(data.train_set) + len(data.val_set) == 13


def test_without_cache_nothing_is_written(root: Path, reads: list[Path]) -> None:
    data = module(root, cache=False)
    data.prepare_data()
    data.setup("test")
    assert len(reads) == 4 and not (root / "cache").exists()
    elsewhere = root / "elsewhere"
    module(root, cache_dir=elsewhere).setup("test")
    assert (elsewhere / "NMNIST").is_dir() and not (root / "cache").exists()


def test_missing_data_names_everything_and_touches_no_network(
    tmp_path: Path, no_network: list[tuple]
) -> None:
    data = NMNISTDataModule(root=tmp_path, val_size=1)
    data.prepare_data()  # nothing to download or build: no error, no connection
    with pytest.raises(MissingDataError) as caught:
        data.setup("fit")
    message = str(caught.value)
    for text in (
        "N-MNIST",
        "train split",
        str(tmp_path / "NMNIST" / "Train"),
        str(tmp_path / "NMNIST" / "Train" / "0" / "*.bin"),
        str(tmp_path / "NMNIST" / "Train" / "9" / "*.bin"),
        f"data root {tmp_path}",
        "download=True",
        "pip install 'inferno-lightning[events]'",
        DATA_ROOT_ENV,
    ):
        assert text in message, text
    assert caught.value.split == "train" and caught.value.dataset == "N-MNIST"
    # The test split alone: a training split present does not hide it.
    write_split(tmp_path, "Train", {3: 1})
    with pytest.raises(MissingDataError, match=r"test split[\s\S]*NMNIST/Test"):
        data.setup("test")
    assert no_network == []


def test_download_without_tonic_asks_for_the_events_extra(
    tmp_path: Path, no_network: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tonic", None)  # import tonic -> ImportError
    data = NMNISTDataModule(root=tmp_path, download=True)
    with pytest.raises(ImportError, match=r"inferno-lightning\[events\]"):
        data.prepare_data()
    assert no_network == []


def fake_tonic(action) -> types.ModuleType:
    tonic = types.ModuleType("tonic")
    tonic.datasets = types.SimpleNamespace(NMNIST=action)  # type: ignore[attr-defined]
    return tonic


def test_a_failed_download_is_a_missing_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def unreachable(save_to: str, train: bool) -> None:
        calls.append((save_to, train))
        raise URLError("no route to host")

    monkeypatch.setitem(sys.modules, "tonic", fake_tonic(unreachable))
    data = NMNISTDataModule(root=tmp_path, download=True)
    with pytest.raises(MissingDataError, match="Downloading it with tonic failed") as caught:
        data.prepare_data()
    assert isinstance(caught.value.__cause__, URLError)
    assert "no route to host" in str(caught.value) and str(tmp_path) in str(caught.value)
    assert calls == [(str(tmp_path), True)]


def test_download_has_tonic_fill_its_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[Path]
) -> None:
    calls = []

    def download(save_to: str, train: bool) -> None:
        calls.append(train)
        write_split(Path(save_to), "Train" if train else "Test", TRAIN if train else TEST)

    monkeypatch.setitem(sys.modules, "tonic", fake_tonic(download))
    data = NMNISTDataModule(root=tmp_path, download=True, val_size=3)
    data.prepare_data()  # downloads both splits, then builds both caches
    assert calls == [True, False] and len(reads) == 16
    reads.clear()
    data.setup()
    data.prepare_data()  # everything is there: no download, no build
    assert calls == [True, False] and reads == []
    assert len(data.train_set) == 9 and len(data.test_set) == 4


def test_a_trainer_runs_on_the_frames(root: Path) -> None:
    import lightning.pytorch as pl

    class Classifier(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.readout = torch.nn.Linear(2 * 17 * 17, 10)

        def training_step(self, batch, batch_index):
            frames, labels = batch
            assert frames.shape[1:] == (2, 2, 17, 17)
            logits = self.readout(frames.sum(1).flatten(1))
            return torch.nn.functional.cross_entropy(logits, labels)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = module(root, n_time_bins=2, downsample=2)
    trainer = pl.Trainer(
        max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, accelerator="cpu", devices=1,
    )  # fmt: skip
    trainer.fit(Classifier(), datamodule=data)
    # prepare_data built only what fitting needs.
    assert sorted(p.name for p in data.cache_folder.glob("*.pt")) == ["train.pt"]
    assert trainer.global_step == 2


def test_the_data_sets_pickle(root: Path) -> None:
    data = module(root, n_time_bins=2)
    data.setup("fit")
    copy = pickle.loads(pickle.dumps(data.train_set))
    assert torch.equal(copy[3][0], data.train_set[3][0])
    assert data.hparams["n_time_bins"] == 2 and data.hparams["val_size"] == 3


def test_bad_arguments_are_named(root: Path) -> None:
    with pytest.raises(ValueError, match="n_time_bins must be a positive int, got 0"):
        NMNISTDataModule(root=root, n_time_bins=0)
    with pytest.raises(ValueError, match="downsample must be a positive int"):
        NMNISTDataModule(root=root, downsample=0)
    with pytest.raises(ValueError, match=r"denoise_time must be positive and finite \(in ms\)"):
        NMNISTDataModule(root=root, denoise_time=-1.0)
    with pytest.raises(ValueError, match=r"time_window must be a positive number \(in ms\)"):
        NMNISTDataModule(root=root, time_window="10 ms")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        NMNISTDataModule(root=root, batch_size=0)
    with pytest.raises(ValueError, match="val_size must be a non-negative int"):
        NMNISTDataModule(root=root, val_size=-1)
    with pytest.raises(TypeError, match="cache_dir must be a folder path"):
        NMNISTDataModule(root=root, cache_dir=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="val_size must be smaller than the 12 training"):
        NMNISTDataModule(root=root, val_size=12).setup("fit")
    with pytest.raises(ValueError, match="stage must be one of"):
        NMNISTDataModule(root=root).setup("train")
    with pytest.raises(RuntimeError, match=r"call setup\('fit'\)"):
        NMNISTDataModule(root=root).train_dataloader()


def test_a_recording_off_the_sensor_names_its_file(root: Path) -> None:
    (root / "NMNIST" / "Train" / "1" / "00099.bin").write_bytes(encode([(40, 0, 5, 1)]))
    with pytest.raises(ValueError, match=r"00099\.bin: event x coordinates must lie in \[0, 34\)"):
        module(root).setup("fit")
