"""DVSGestureDataModule on a tiny DVS Gesture in tonic's preprocessed layout (.npy per gesture,
timestamps in ms): the reader, frames, loaders, the hold-out by recording or by user, the cache,
missing data without a network."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inferno_lightning.data import dvs_gesture
from inferno_lightning.data._files import MissingDataError
from inferno_lightning.data.dvs_gesture import (
    DVS_GESTURE_CLASSES,
    DVSGestureDataModule,
    read_dvs_gesture_events,
)
from inferno_lightning.data.events import denoise_events, downsample_events, to_frames

# user folder -> labels recorded, per split.
TRAIN = {"user01_fluorescent": [0, 1, 2, 10], "user02_led": [0, 1, 2, 10]}
TEST = {"user24_natural": [3, 10]}


def gesture(label: int, user: int) -> np.ndarray:
    """An (N, 4) float array of x, y, p, t (ms), as in tonic's files."""
    generator = np.random.default_rng(100 * user + label)
    count = 60
    return np.stack(
        [
            # An 8x8 patch per gesture: events dense enough for denoising to keep some.
            generator.integers(0, 8, count) + 10 * label,
            generator.integers(0, 8, count) + 40,
            generator.integers(0, 2, count),
            np.sort(generator.integers(0, 1500, count)),
        ],
        axis=1,
    ).astype(np.float64)


def write_split(root: Path, folder: str, users: dict[str, list[int]]) -> None:
    for user_folder, labels in users.items():
        target = root / "DVSGesture" / folder / user_folder
        target.mkdir(parents=True, exist_ok=True)
        user = int(user_folder[4:6])
        for label in labels:
            np.save(target / f"{label}.npy", gesture(label, user))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_split(tmp_path, "ibmGestureTrain", TRAIN)
    write_split(tmp_path, "ibmGestureTest", TEST)
    return tmp_path


def module(root: Path, **options) -> DVSGestureDataModule:
    options = {"val_size": 2, "batch_size": 3, "n_time_bins": 5, **options}
    return DVSGestureDataModule(root=root, **options)


def test_the_reader_decodes_what_was_written(tmp_path: Path) -> None:
    written = np.array([[0, 0, 0, 0.0], [127, 5, 1, 65.536], [3, 127, 1, 9000.0], [9, 9, 0, 70.0]])
    np.save(tmp_path / "3.npy", written)
    events = read_dvs_gesture_events(tmp_path / "3.npy")
    assert events["x"].tolist() == [0, 127, 3, 9]
    assert events["y"].tolist() == [0, 5, 127, 9]
    assert events["p"].tolist() == [0, 1, 1, 0]
    # ms to µs, also past 2**16 µs.
    assert events["t"].tolist() == [0, 65_536, 9_000_000, 70_000]
    # Integer files work the same.
    np.save(tmp_path / "4.npy", written[[0, 2]].astype(np.int64))
    assert read_dvs_gesture_events(tmp_path / "4.npy")["t"].tolist() == [0, 9_000_000]
    np.save(tmp_path / "5.npy", written[:, :3])
    with pytest.raises(ValueError, match=r"5\.npy must hold an \(N, 4\) numeric array"):
        read_dvs_gesture_events(tmp_path / "5.npy")


def test_recordings_are_listed_with_labels_and_users(root: Path) -> None:
    data = module(root)
    recordings = data.list_recordings("train")
    assert [r.path for r in recordings][:4] == [
        f"user01_fluorescent/{n}.npy" for n in (0, 1, 2, 10)
    ]
    assert [r.label for r in recordings] == [0, 1, 2, 10] * 2
    assert [r.group for r in recordings] == [1] * 4 + [2] * 4
    (root / "DVSGesture" / "ibmGestureTrain" / "user02_led" / "11.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"label from 0 to 10, got .*user02_led/11\.npy"):
        data.list_recordings("train")


def test_loaders_give_batches_of_frames_and_gestures(root: Path) -> None:
    data = module(root)
    data.setup()
    frames, labels = next(iter(data.train_dataloader()))
    assert frames.shape == (3, 5, 2, 32, 32) and frames.dtype == torch.float32
    assert set(labels.tolist()) <= {0, 1, 2, 10}
    assert data.input_shape == (5, 2, 32, 32) and data.num_classes == len(DVS_GESTURE_CLASSES) == 11
    assert (len(data.train_set), len(data.val_set), len(data.test_set)) == (6, 2, 2)
    assert [data.test_set[i][1].item() for i in range(2)] == [3, 10]
    full = module(root, downsample=1, batch_size=2)
    full.setup("test")
    frames = next(iter(full.test_dataloader()))[0]
    assert frames.shape == (2, 5, 2, 128, 128) and frames[0].sum().item() == 60


def test_the_frames_of_a_known_recording(tmp_path: Path) -> None:
    folder = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user05_lab"
    folder.mkdir(parents=True)
    # x, y, p, t (ms in the file, µs once read); bins of time_window = 2 ms from t0 = 10 ms,
    # pixels pooled by 4.
    rows = [[0, 0, 1, 10], [3, 3, 1, 11], [4, 0, 0, 12], [127, 127, 1, 15], [50, 50, 1, 16]]
    np.save(folder / "7.npy", np.array(rows, dtype=np.int64))
    data = DVSGestureDataModule(root=tmp_path, n_time_bins=3, time_window=2.0, val_size=0)
    data.setup("fit")
    frames, label = data.train_set[0]
    expected = torch.zeros(3, 2, 32, 32)
    expected[0, 1, 0, 0] = 2  # (0, 0) and (3, 3) at 10 and 11 ms
    expected[1, 0, 0, 1] = 1  # (4, 0) at 12 ms
    # 15 ms is bin 2; 16 ms is bin 3, past the 3 frames.
    expected[2, 1, 31, 31] = 1
    assert label.item() == 7 and torch.equal(frames, expected)


def test_validation_can_hold_out_users(root: Path) -> None:
    data = module(root, val_users=[2])
    data.setup("fit")
    assert data.val_set.indices == [4, 5, 6, 7] and data.train_set.indices == [0, 1, 2, 3]
    assert data.hparams["val_users"] == [2]
    by_recording = module(root, val_size=4, seed=1)
    by_recording.setup("fit")
    # Stratified: 4 of 8 recordings, 2 per gesture -> one of each gesture.
    labels = sorted(by_recording.val_set[i][1].item() for i in range(4))
    assert labels == [0, 1, 2, 10]
    again = module(root, val_size=4, seed=1)
    again.setup("fit")
    assert again.val_set.indices == by_recording.val_set.indices
    with pytest.raises(ValueError, match=r"has users \[1, 2\], got val_users=\[3\]"):
        module(root, val_users=[3]).setup("fit")
    with pytest.raises(ValueError, match="leaving some for training"):
        module(root, val_users=[1, 2]).setup("fit")
    for bad in ([], [0], [1, 1], "12", [1.5]):
        with pytest.raises(ValueError, match="val_users must be None or a non-empty sequence"):
            module(root, val_users=bad)


def test_a_second_setup_reads_no_event_file(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = module(root, denoise_time=200.0)
    first.setup()
    cache = root / "cache" / "DVSGesture" / first.cache_key / "train.pt"
    assert cache.is_file()
    # The module's frames are the pure functions' with the window in ms: 200 ms = 200_000 µs.
    events = read_dvs_gesture_events(
        root / "DVSGesture" / "ibmGestureTest" / "user24_natural/3.npy"
    )
    pooled = downsample_events(denoise_events(events, (128, 128), denoise_time=200.0), 4)
    expected = torch.from_numpy(to_frames(pooled, (32, 32), n_time_bins=5)).float()
    assert torch.equal(first.test_set[0][0], expected)

    def refuse(path):
        raise AssertionError(f"read {path} despite the cache")

    monkeypatch.setattr(dvs_gesture, "read_dvs_gesture_events", refuse)
    second = module(root, denoise_time=200)  # the same 200 ms: the same cache
    second.setup()
    assert all(torch.equal(second.test_set[i][0], first.test_set[i][0]) for i in range(2))
    # Denoising dropped some of the random, sparse events.
    assert 0 < second.test_set[0][0].sum().item() < 60
    with pytest.raises(AssertionError, match="despite the cache"):
        module(root, denoise_time=100.0).setup("test")


def test_missing_data_names_everything_and_touches_no_network(
    tmp_path: Path, no_network: list[tuple]
) -> None:
    write_split(tmp_path, "ibmGestureTrain", TRAIN)
    data = DVSGestureDataModule(root=tmp_path)
    with pytest.raises(MissingDataError) as caught:
        data.setup("test")
    message = str(caught.value)
    folder = tmp_path / "DVSGesture" / "ibmGestureTest"
    for text in (
        "DVS Gesture (test split)",
        str(folder),
        str(folder / "user<NN>_<lighting>" / "<label 0-10>.npy"),
        f"data root {tmp_path}",
        "download=True",
        "inferno-lightning[events]",
        "INFERNO_LIGHTNING_DATA",
    ):
        assert text in message, text
    assert no_network == []


def test_download_without_tonic_asks_for_the_events_extra(
    tmp_path: Path, no_network: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tonic", None)
    data = DVSGestureDataModule(root=tmp_path, download=True)
    with pytest.raises(ImportError, match=r"`events` extra.*inferno-lightning\[events\]"):
        data.prepare_data()
    assert no_network == []
