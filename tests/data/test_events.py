"""Event arrays to frames: binning, downsampling and denoising in closed form; the cache key;
the sparse frame data set; the stratified split.

Timestamps (the ``t`` of the events) are µs, the time parameters (``time_window``,
``denoise_time``) ms: a window of 100 µs is passed as ``0.1``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from inferno_lightning.data.events import (
    EVENT_DTYPE,
    FRAME_CACHE_FORMAT,
    EventFrameDataset,
    FrameTransform,
    _stratified_split,
    denoise_events,
    downsample_events,
    make_events,
    to_frames,
)


def events_of(*rows: tuple[int, int, int, int]) -> np.ndarray:
    """Events from ``(x, y, t, p)`` rows."""
    x, y, t, p = zip(*rows, strict=True) if rows else ((), (), (), ())
    return make_events(x, y, t, p)


def test_make_events_keeps_the_columns_and_checks_their_shapes() -> None:
    events = make_events([1, 2], [3, 4], [70_000, 8_000_000], [0, 1])
    assert events.dtype == EVENT_DTYPE
    assert events["x"].tolist() == [1, 2] and events["y"].tolist() == [3, 4]
    assert events["t"].tolist() == [70_000, 8_000_000] and events["p"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="one-dimensional and of one length"):
        make_events([1, 2], [3], [0, 1], [0, 1])


def test_frames_count_events_per_time_bin_polarity_and_pixel() -> None:
    # Span 0..399 µs in 4 bins: bin = t * 4 // 400, i.e. 100 µs each, the last event included.
    events = events_of(
        (0, 0, 0, 1),
        (0, 0, 99, 1),  # bin 0, same pixel and polarity: count 2
        (0, 0, 50, 0),  # bin 0, OFF channel
        (2, 1, 100, 1),  # bin 1
        (3, 2, 250, 0),  # bin 2
        (3, 2, 299, 0),  # bin 2, count 2
        (1, 2, 399, 1),  # bin 3 (the last event)
    )
    frames = to_frames(events, (3, 4), n_time_bins=4)
    assert frames.shape == (4, 2, 3, 4) and frames.dtype == np.int64
    expected = np.zeros((4, 2, 3, 4), dtype=np.int64)
    expected[0, 1, 0, 0] = 2
    expected[0, 0, 0, 0] = 1
    expected[1, 1, 1, 2] = 1
    expected[2, 0, 2, 3] = 2
    expected[3, 1, 2, 1] = 1
    np.testing.assert_array_equal(frames, expected)
    # Time counts from the first event: shifting every timestamp changes nothing.
    shifted = events.copy()
    shifted["t"] += 1_000_000
    np.testing.assert_array_equal(to_frames(shifted, (3, 4), n_time_bins=4), expected)
    # The order of the events does not matter either.
    np.testing.assert_array_equal(to_frames(events[::-1], (3, 4), n_time_bins=4), expected)


def test_uneven_span_bins_follow_the_integer_formula() -> None:
    # Span 0..9 (10 µs) in 3 bins: bin = t * 3 // 10 -> t 0..3: 0, 4..6: 1, 7..9: 2.
    times = np.arange(10)
    events = make_events(np.zeros(10), np.zeros(10), times, np.ones(10))
    frames = to_frames(events, (1, 1), n_time_bins=3)
    assert frames[:, 1, 0, 0].tolist() == [4, 3, 3]
    assert frames.sum() == 10


def test_a_time_window_fixes_the_bin_duration_and_drops_later_events() -> None:
    events = events_of((0, 0, 1000, 1), (0, 0, 1099, 1), (0, 0, 1100, 0), (0, 0, 1250, 1))
    # Bins of 0.1 ms = 100 µs from t0 = 1000 µs: [1000, 1100) and [1100, 1200); the event at
    # 1250 µs is dropped.
    frames = to_frames(events, (1, 1), n_time_bins=2, time_window=0.1)
    assert frames[:, :, 0, 0].tolist() == [[0, 2], [1, 0]]
    # Three bins reach it.
    assert to_frames(events, (1, 1), n_time_bins=3, time_window=0.1)[2, 1, 0, 0] == 1
    # A window of 0.15 ms = 150 µs: [1000, 1150) holds three events, [1150, 1300) the last.
    assert to_frames(events, (1, 1), n_time_bins=2, time_window=0.15)[:, :, 0, 0].tolist() == [
        [1, 2],
        [0, 1],
    ]


def test_an_empty_recording_gives_empty_frames() -> None:
    frames = to_frames(events_of(), (2, 3), n_time_bins=5)
    assert frames.shape == (5, 2, 2, 3) and frames.sum() == 0


def test_events_off_the_sensor_or_with_odd_polarity_are_refused() -> None:
    with pytest.raises(ValueError, match=r"x coordinates must lie in \[0, 4\)"):
        to_frames(events_of((4, 0, 0, 1)), (3, 4), n_time_bins=1)
    with pytest.raises(ValueError, match=r"y coordinates must lie in \[0, 3\)"):
        to_frames(events_of((0, -1, 0, 1)), (3, 4), n_time_bins=1)
    with pytest.raises(ValueError, match="polarities p must be 0 or 1"):
        to_frames(events_of((0, 0, 0, 2)), (3, 4), n_time_bins=1)
    with pytest.raises(TypeError, match="structured array with fields x, y, t and p"):
        to_frames(np.zeros((3, 4)), (3, 4), n_time_bins=1)


def test_downsampling_sums_the_pooled_pixels() -> None:
    events = events_of((0, 0, 0, 1), (1, 0, 1, 1), (0, 1, 2, 1), (1, 1, 3, 1), (4, 4, 4, 0))
    pooled = downsample_events(events, 2)
    assert pooled["x"].tolist() == [0, 0, 0, 0, 2] and pooled["y"].tolist() == [0, 0, 0, 0, 2]
    assert events["x"].tolist() == [0, 1, 0, 1, 4]  # the input is not changed
    transform = FrameTransform((5, 5), n_time_bins=1, downsample=2)
    # 5x5 pooled by 2 gives ceil(5 / 2) = 3 pixels a side; the edge pixel pools fewer.
    assert transform.frame_shape == (1, 2, 3, 3)
    frames = transform(events)
    assert frames[0, 1, 0, 0] == 4 and frames[0, 0, 2, 2] == 1 and frames.sum() == 5
    full = FrameTransform((5, 5), n_time_bins=1)(events)
    assert full[0, 1, :2, :2].sum() == frames[0, 1, 0, 0]
    with pytest.raises(ValueError, match="factor must be a positive int"):
        downsample_events(events, 0)


def test_denoising_keeps_supported_events_and_drops_isolated_ones() -> None:
    # Hand-worked, denoise_time = 1 ms = 1000 µs (timestamps in µs), 8-neighbourhood, earlier
    # events only.
    events = events_of(
        (5, 5, 0, 1),  # A: nothing before it -> dropped
        (6, 6, 500, 0),  # B: diagonal neighbour A 500 µs earlier -> kept
        (20, 20, 600, 1),  # C: isolated -> dropped
        (7, 6, 1400, 1),  # D: neighbour B 900 µs earlier -> kept
        (6, 6, 1450, 1),  # E: same pixel as B (does not count), neighbour D 50 µs -> kept
        (5, 5, 5000, 1),  # F: neighbours' last events (B, E) over 1000 µs earlier -> dropped
        (30, 30, 6000, 1),  # G: alone
        (30, 30, 6100, 1),  # H: only its own pixel before it -> dropped
        (31, 31, 7100, 0),  # I: neighbour H exactly 1000 µs earlier: not < 1000 -> dropped
    )
    kept = denoise_events(events, (34, 34), denoise_time=1.0)
    assert kept["t"].tolist() == [500, 1400, 1450]
    assert denoise_events(events, (34, 34), denoise_time=1)["t"].tolist() == [500, 1400, 1450]
    # A window of 1.001 ms = 1001 µs lets I see H (1000 µs earlier).
    assert denoise_events(events, (34, 34), denoise_time=1.001)["t"].tolist() == [
        500,
        1400,
        1450,
        7100,
    ]
    # 0.05 ms = 50 µs: B (500 µs after A) and D (900 µs after B) lose their support; E's
    # neighbour D is exactly 50 µs earlier, not < 50.
    assert denoise_events(events, (34, 34), denoise_time=0.05)["t"].tolist() == []
    assert denoise_events(events, (34, 34), denoise_time=0.051)["t"].tolist() == [1450]
    with pytest.raises(ValueError, match=r"denoise_time must be positive and finite \(in ms\)"):
        denoise_events(events, (34, 34), denoise_time=0)


def _denoise_by_loop(events: np.ndarray, window_us: int) -> np.ndarray:
    """The filter's definition, one event at a time, the window in µs like the timestamps."""
    events = events[np.argsort(events["t"], kind="stable")]
    last: dict[tuple[int, int], int] = {}
    keep = []
    for event in events:
        x, y, t = int(event["x"]), int(event["y"]), int(event["t"])
        neighbours = [(x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
        keep.append(any(n in last and t - last[n] < window_us for n in neighbours))
        last[(x, y)] = t
    return events[np.array(keep, dtype=bool)]


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_denoising_matches_the_definition(seed: int) -> None:
    generator = np.random.default_rng(seed)
    count = 400
    # Small sensor and repeated timestamps: many neighbours, ties and same-pixel repeats.
    events = make_events(
        generator.integers(0, 8, count),
        generator.integers(0, 6, count),
        generator.integers(0, 3000, count),
        generator.integers(0, 2, count),
    )
    expected = _denoise_by_loop(events, 150)
    kept = denoise_events(events, (6, 8), denoise_time=0.15)  # ms
    assert 0 < kept.shape[0] < count
    np.testing.assert_array_equal(kept, expected)


def test_times_in_ms_meet_the_microsecond_timestamps_exactly() -> None:
    # Support exactly at the window's end is no support: tonic's 10_000 µs is 10.0 ms.
    def kept(gap_us: int, denoise_time: float) -> list[int]:
        events = events_of((0, 0, 0, 1), (1, 0, gap_us, 1))
        return denoise_events(events, (2, 2), denoise_time=denoise_time)["t"].tolist()

    assert kept(9_999, 10.0) == [9_999] and kept(10_000, 10.0) == []
    # 2.007 * 1000.0 is 2007.0000000000002 in floats; the window is still exactly 2007 µs.
    assert 2.007 * 1000.0 != 2007
    assert kept(2006, 2.007) == [2006] and kept(2007, 2.007) == []
    # Likewise for a frame's window: 2007 µs after t0 starts the second 2.007 ms bin.
    events = events_of((0, 0, 0, 1), (0, 0, 2006, 1), (0, 0, 2007, 0), (0, 0, 4014, 0))
    frames = to_frames(events, (1, 1), n_time_bins=3, time_window=2.007)
    assert frames[:, :, 0, 0].tolist() == [[0, 2], [1, 0], [1, 0]]


def test_denoising_runs_on_sensor_pixels_before_pooling() -> None:
    # Two pixels 2 apart: no support at full resolution, neighbours once pooled by 2.
    events = events_of((0, 0, 0, 1), (2, 0, 10, 1))
    transform = FrameTransform((4, 4), n_time_bins=1, downsample=2, denoise_time=0.1)
    assert transform(events).sum() == 0
    assert FrameTransform((4, 4), n_time_bins=1, downsample=2)(events).sum() == 2
    # Denoised after pooling, the second event (10 µs after the first, 0.1 ms = 100 µs window)
    # would have been kept.
    assert denoise_events(downsample_events(events, 2), (2, 2), 0.1)["t"].tolist() == [10]


def test_the_cache_key_hashes_every_parameter_that_changes_the_frames() -> None:
    base = FrameTransform((34, 34), n_time_bins=10)
    key = base.cache_key("NMNIST")
    assert len(key) == 16 and key == FrameTransform((34, 34), n_time_bins=10).cache_key("NMNIST")
    others = [
        FrameTransform((34, 34), n_time_bins=11),
        FrameTransform((34, 34), n_time_bins=10, time_window=1.0),
        FrameTransform((34, 34), n_time_bins=10, downsample=2),
        FrameTransform((34, 34), n_time_bins=10, denoise_time=1.0),
        FrameTransform((35, 34), n_time_bins=10),
    ]
    keys = {key, base.cache_key("DVSGesture")} | {other.cache_key("NMNIST") for other in others}
    assert len(keys) == 7
    assert pickle.loads(pickle.dumps(base)) == base


@pytest.mark.parametrize("name", ["time_window", "denoise_time"])
def test_the_cache_key_holds_the_times_as_stored_in_ms(name: str) -> None:
    def key(value: float) -> str:
        return FrameTransform((34, 34), 10, **{name: value}).cache_key("NMNIST")

    # 10 ms and 10.0 ms are one parameter, stored as the float 10.0 (ms, not 10000 µs).
    assert key(10) == key(10.0)
    transform = FrameTransform((34, 34), 10, **{name: 10})
    assert getattr(transform, name) == 10.0 and isinstance(getattr(transform, name), float)
    params = transform.cache_params("NMNIST")
    assert params[name] == 10.0 and params["format"] == FRAME_CACHE_FORMAT == 2
    # Another value is another key, down to a µs.
    assert len({key(10.0), key(10.001), key(10.5), key(10_000.0)}) == 4


def test_frame_transform_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="n_time_bins must be a positive int, got 0"):
        FrameTransform((34, 34), n_time_bins=0)
    with pytest.raises(ValueError, match="downsample must be a positive int"):
        FrameTransform((34, 34), n_time_bins=1, downsample=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"time_window must be positive and finite \(in ms\)"):
        FrameTransform((34, 34), n_time_bins=1, time_window=-5)
    with pytest.raises(ValueError, match=r"denoise_time must be a positive number \(in ms\)"):
        FrameTransform((34, 34), n_time_bins=1, denoise_time="10 ms")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="denoise_time must be positive"):
        FrameTransform((34, 34), n_time_bins=1, denoise_time=float("nan"))
    with pytest.raises(ValueError, match=r"sensor_shape must be \(height, width\)"):
        FrameTransform((34,), n_time_bins=1)  # type: ignore[arg-type]


def test_the_frame_data_set_expands_sparse_counts() -> None:
    transform = FrameTransform((2, 3), n_time_bins=2)
    recordings = [
        events_of((0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 2, 1), (2, 1, 9, 0)),
        events_of(),
        events_of((1, 1, 5, 0)),
    ]
    sparse = [transform.sparse(events) for events in recordings]
    offsets = torch.tensor([0] + np.cumsum([i.shape[0] for i, _ in sparse]).tolist())
    indices = torch.from_numpy(np.concatenate([i for i, _ in sparse])).to(torch.int32)
    counts = torch.from_numpy(np.concatenate([c for _, c in sparse])).to(torch.uint8)
    labels = torch.tensor([4, 0, 7])
    dataset = EventFrameDataset(indices, counts, offsets, labels, transform.frame_shape)
    assert len(dataset) == 3
    for number, events in enumerate(recordings):
        frames, label = dataset[number]
        assert frames.dtype == torch.float32 and frames.shape == (2, 2, 2, 3)
        assert torch.equal(frames, torch.from_numpy(transform(events)).float())
        assert label.item() == labels[number].item()
    assert dataset[0][0][0, 1, 0, 0].item() == 3.0
    binary = EventFrameDataset(indices, counts, offsets, labels, transform.frame_shape, binary=True)
    assert binary[0][0][0, 1, 0, 0].item() == 1.0 and binary[0][0].sum().item() == 2.0
    assert torch.equal(dataset[-1][0], dataset[2][0])
    with pytest.raises(IndexError, match="out of range for 3 recordings"):
        dataset[3]
    with pytest.raises(ValueError, match="indices and counts must both be"):
        EventFrameDataset(indices[:-1], counts[:-1], offsets, labels, transform.frame_shape)


def test_the_stratified_split_is_seeded_and_pro_rata() -> None:
    labels = np.array([0] * 10 + [1] * 20 + [2] * 30)
    train, val = _stratified_split(labels, 12, seed=3)
    assert np.bincount(labels[val]).tolist() == [2, 4, 6]
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(60))
    again = _stratified_split(labels, 12, seed=3)
    assert np.array_equal(val, again[1]) and np.array_equal(train, again[0])
    assert not np.array_equal(val, _stratified_split(labels, 12, seed=4)[1])
    # Left-over places go to the largest remainders: 5 * (10, 20, 30) / 60 = 0.83, 1.67, 2.5.
    assert np.bincount(labels[_stratified_split(labels, 5, 0)[1]], minlength=3).tolist() == [
        1,
        2,
        2,
    ]
