"""Encoder modules: shapes, statistics, hand-computed trains, reproducibility, errors."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch

from inferno_lightning.encode.encoders import (
    Encoder,
    LatencyEncoder,
    PoissonEncoder,
    RateEncoder,
)
from inferno_lightning.functional.encoding import (
    latency_windows,
    poisson_windows,
    regular_windows,
)

METHODS = ["exact", "bernoulli"]


def _generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _min_interval(spikes: torch.Tensor) -> int:
    """Smallest inter-spike interval, in steps, over all trains of (steps, ...)."""
    flat = spikes.reshape(spikes.shape[0], -1).cpu()
    smallest = spikes.shape[0]
    for column in flat.T:
        times = column.nonzero().flatten()
        if times.numel() > 1:
            smallest = min(smallest, int(times.diff().min()))
    return smallest


@pytest.mark.parametrize("method", METHODS)
def test_poisson_mean_rate_within_five_sigma(method, device):
    # max_rate 100 Hz, 1 ms steps, 600 steps, 300 samples per intensity.
    encoder = PoissonEncoder(1.0, steps=600, max_rate=100.0, method=method)
    x = torch.tensor([0.0, 0.1, 0.5, 1.0], device=device).repeat(300, 1)
    spikes = encoder(x, _generator(0, device))
    assert spikes.shape == (600, 300, 4)
    assert spikes.device.type == device.type
    counts = spikes.sum(dim=(0, 1)).double().cpu()
    lam = torch.tensor([0.0, 0.01, 0.05, 0.1], dtype=torch.float64)
    # Without a refractory period the exact method merges events in one step,
    # so a step spikes with probability 1 - exp(-lam); Bernoulli uses lam.
    p = 1 - torch.exp(-lam) if method == "exact" else lam
    trials = 600 * 300
    mean, sigma = trials * p, torch.sqrt(trials * p * (1 - p))
    assert counts[0] == 0
    assert torch.all((counts[1:] - mean[1:]).abs() < 5 * sigma[1:]), (counts, mean)


def test_poisson_exact_intervals_have_unit_cv():
    encoder = PoissonEncoder(0.1, duration=2000.0, max_rate=50.0)
    spikes = encoder(torch.ones(60, 1), _generator(1))[:, :, 0]
    intervals = torch.cat([column.nonzero().flatten().diff() for column in spikes.T]).double()
    assert intervals.numel() > 4000
    assert abs(float(intervals.std() / intervals.mean()) - 1.0) < 0.1


@pytest.mark.parametrize("method", METHODS)
def test_poisson_same_seed_same_spikes(method, device):
    encoder = PoissonEncoder(1.0, steps=100, max_rate=60.0, method=method, refrac_t=2.0)
    x = torch.rand(4, 3, 5, generator=_generator(10), device="cpu").to(device)
    a = encoder(x, _generator(3, device))
    b = encoder(x, _generator(3, device))
    c = encoder(x, _generator(4, device))
    assert a.shape == (100, 4, 3, 5)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_poisson_constructor_generator_and_forward_override():
    x = torch.full((8, 6), 0.7)
    encoder = PoissonEncoder(1.0, steps=80, max_rate=100.0, generator=_generator(5))
    first = encoder(x)
    encoder.generator = _generator(5)
    assert torch.equal(encoder(x), first)
    # A generator passed to forward wins over the stored one.
    assert torch.equal(encoder(x, _generator(5)), first)
    assert not torch.equal(encoder(x, _generator(6)), first)


@pytest.mark.parametrize("method", METHODS)
def test_poisson_refractory_compensation(method, device):
    # 100 Hz with 5 ms refractory: compensated, 100 Hz delivered and no
    # interval below 5 steps.
    encoder = PoissonEncoder(1.0, steps=1000, max_rate=100.0, method=method, refrac_t=5.0)
    spikes = encoder(torch.ones(400, 1, device=device), _generator(2, device))
    expected = 400 * 1000 * 0.1
    assert abs(float(spikes.sum()) - expected) < 5 * math.sqrt(expected)
    assert _min_interval(spikes) >= 5
    assert encoder.refrac_steps == 5


@pytest.mark.parametrize("method", METHODS)
def test_poisson_iter_matches_forward_and_keeps_refractory_across_chunks(method):
    encoder = PoissonEncoder(1.0, steps=300, max_rate=150.0, method=method, refrac_t=3.0)
    x = torch.full((200, 2), 0.8)
    whole = encoder(x, _generator(11))
    steps = list(encoder.iter(x, _generator(11), chunk_steps=300))
    assert len(steps) == 300 and steps[0].shape == (200, 2)
    assert torch.equal(torch.stack(steps), whole)
    # Step by step: a different draw, the same statistics and refractoriness.
    stepped = torch.stack(list(encoder.iter(x, _generator(11), chunk_steps=1)))
    assert _min_interval(stepped) >= 3
    expected = 200 * 2 * 300 * 0.12
    assert abs(float(stepped.sum()) - expected) < 5 * math.sqrt(expected)
    chunked = torch.stack(list(encoder.iter(x, _generator(12), chunk_steps=7)))
    assert _min_interval(chunked) >= 3
    assert abs(float(chunked.sum()) - expected) < 5 * math.sqrt(expected)


def test_rate_encoder_hand_computed(device):
    encoder = RateEncoder(1.0, steps=50, max_rate=100.0)
    x = torch.tensor([[1.0, 0.5, 0.0, 0.3]], device=device)
    spikes = encoder(x)
    assert spikes.shape == (50, 1, 4)
    positions = [spikes[:, 0, i].nonzero().flatten().tolist() for i in range(4)]
    # 100 Hz: every 10th step; 50 Hz: every 20th; 30 Hz: first crossing of
    # 0.03 (n + 1) over 1 at n = 33.
    assert positions == [[9, 19, 29, 39, 49], [19, 39], [], [33]]
    assert spikes.sum().item() == 5 + 2 + 0 + 1
    # Half a period ahead; a 0.5 ms step at 200 Hz is again every 10th step.
    shifted = RateEncoder(1.0, steps=50, max_rate=100.0, phase=0.5)(x)
    assert shifted[:, 0, 0].nonzero().flatten().tolist() == [4, 14, 24, 34, 44]
    fine = RateEncoder(0.5, duration=10.0, max_rate=200.0)(x[:, :1])
    assert fine[:, 0, 0].nonzero().flatten().tolist() == [9, 19]


def test_latency_encoder_hand_computed(device):
    x = torch.tensor([[1.0, 0.5, 0.3, 0.8, 0.0]], device=device)
    spikes = LatencyEncoder(1.0, steps=10)(x)
    assert spikes.shape == (10, 1, 5)
    # round((1 - x) * 9): 0, 5, 6, 2; zero stays silent.
    assert spikes.sum(0)[0].tolist() == [1, 1, 1, 1, 0]
    assert spikes[:, 0, :4].argmax(0).tolist() == [0, 5, 6, 2]
    every = LatencyEncoder(1.0, steps=10, fire_last=True)(x)
    assert every.sum(0)[0].tolist() == [1, 1, 1, 1, 1]
    assert int(every[:, 0, 4].argmax()) == 9
    log = LatencyEncoder(1.0, steps=30, mapping="log", time_constant=10.0, threshold=0.2)
    # 10 ln(x / (x - 0.2)) ms: 2.23, 5.11, 10.99 -> steps 2, 5, 11.
    out = log(torch.tensor([[1.0, 0.5, 0.3, 0.1]], device=device))
    assert out.sum(0)[0].tolist() == [1, 1, 1, 0]
    assert out[:, 0, :3].argmax(0).tolist() == [2, 5, 11]


@pytest.mark.parametrize(
    "encoder",
    [
        RateEncoder(1.0, steps=23, max_rate=300.0, phase=0.3),
        LatencyEncoder(1.0, steps=23, fire_last=True),
    ],
)
@pytest.mark.parametrize("chunk_steps", [1, 5, 23, 100])
def test_deterministic_iter_equals_forward(encoder, chunk_steps):
    x = torch.rand(3, 7, generator=_generator(0))
    stepped = torch.stack(list(encoder.iter(x, chunk_steps=chunk_steps)))
    assert torch.equal(stepped, encoder(x))


def test_dtype_follows_input_or_option():
    x = torch.full((2, 3), 0.5, dtype=torch.float64)
    assert RateEncoder(1.0, steps=5, max_rate=100.0)(x).dtype == torch.float64
    spikes = PoissonEncoder(1.0, steps=5, max_rate=100.0, dtype=torch.bool)(x)
    assert spikes.dtype == torch.bool
    assert LatencyEncoder(1.0, steps=5, dtype=torch.uint8)(x).dtype == torch.uint8
    assert set(PoissonEncoder(1.0, steps=50, max_rate=500.0)(x).unique().tolist()) <= {0.0, 1.0}


def test_encoders_pickle_and_copy_with_generator():
    encoder = PoissonEncoder(1.0, steps=20, max_rate=50.0, generator=_generator(3))
    clone = pickle.loads(pickle.dumps(encoder))
    twin = copy.deepcopy(encoder)
    x = torch.full((4, 4), 0.9)
    a = encoder(x)
    assert torch.equal(clone(x), a)
    assert torch.equal(twin(x), a)
    assert isinstance(encoder, Encoder)
    assert encoder.duration == 20.0


def test_steps_from_duration():
    assert PoissonEncoder(0.5, duration=100.0, max_rate=10.0).steps == 200
    assert RateEncoder(0.1, duration=0.3, max_rate=10.0).steps == 3


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: PoissonEncoder(0.0, steps=5, max_rate=1.0), ValueError, "step_time"),
        (lambda: PoissonEncoder(-1.0, steps=5, max_rate=1.0), ValueError, "step_time"),
        (lambda: PoissonEncoder(1.0, steps=0, max_rate=1.0), ValueError, "steps"),
        (lambda: PoissonEncoder(1.0, steps=-3, max_rate=1.0), ValueError, "steps"),
        (lambda: PoissonEncoder(1.0, max_rate=1.0), ValueError, "steps or duration"),
        (
            lambda: PoissonEncoder(1.0, steps=5, duration=5.0, max_rate=1.0),
            ValueError,
            "exactly one",
        ),
        (lambda: PoissonEncoder(1.0, duration=2.5, max_rate=1.0), ValueError, "duration"),
        (lambda: PoissonEncoder(1.0, steps=5, max_rate=-1.0), ValueError, "max_rate"),
        (lambda: PoissonEncoder(1.0, steps=5, max_rate=1.0, refrac_t=-1.0), ValueError, "refrac_t"),
        (lambda: PoissonEncoder(1.0, steps=5, max_rate=1.0, method="x"), ValueError, "method"),
        (
            lambda: PoissonEncoder(2.0, steps=5, max_rate=600.0, method="bernoulli"),
            ValueError,
            r"max_rate too high for the Bernoulli approximation.*step_time",
        ),
        (
            lambda: PoissonEncoder(1.0, steps=5, max_rate=300.0, refrac_t=5.0),
            ValueError,
            "max_rate too high for refrac_t",
        ),
        (lambda: RateEncoder(1.0, steps=5, max_rate=1500.0), ValueError, "max_rate too high"),
        (lambda: RateEncoder(1.0, steps=5, max_rate=10.0, phase=-0.1), ValueError, "phase"),
        (lambda: LatencyEncoder(1.0, steps=5, mapping="log"), ValueError, "time_constant"),
        (lambda: LatencyEncoder(1.0, steps=5, mapping="exp"), ValueError, "mapping"),
    ],
)
def test_bad_construction_names_the_argument(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    "encoder",
    [
        PoissonEncoder(1.0, steps=5, max_rate=10.0),
        RateEncoder(1.0, steps=5, max_rate=10.0),
        LatencyEncoder(1.0, steps=5),
    ],
)
def test_bad_intensities_name_the_argument(encoder):
    with pytest.raises(ValueError, match=r"intensities must lie in \[0, 1\].*1 NaN"):
        encoder(torch.tensor([[0.5, float("nan")]]))
    with pytest.raises(ValueError, match=r"intensities must lie in \[0, 1\].*-0.5 to 1.5"):
        encoder(torch.tensor([[-0.5, 1.5]]))
    with pytest.raises(ValueError, match=r"intensities must have shape \(batch, \.\.\.\)"):
        encoder(torch.tensor(0.5))
    with pytest.raises(TypeError, match="intensities must be a torch.Tensor"):
        encoder([[0.5]])
    # Checked when iter() is called, not on the first step.
    with pytest.raises(ValueError, match="intensities"):
        encoder.iter(torch.tensor([[2.0]]))


@pytest.mark.cuda
def test_generator_on_wrong_device_is_named():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    encoder = PoissonEncoder(1.0, steps=5, max_rate=10.0)
    with pytest.raises(ValueError, match="generator is on device cpu"):
        encoder(torch.ones(2, 2, device="cuda"), _generator(0, "cpu"))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("chunk_steps", [1, 9, 60, 100])
def test_poisson_encoder_is_the_functional_windows(method, chunk_steps):
    # The encoder adds nothing but its configuration: rates x * max_rate,
    # max_rate as the bound that sizes the draws, and the window.
    encoder = PoissonEncoder(1.0, steps=60, max_rate=200.0, method=method, refrac_t=2.0)
    x = torch.rand(5, 4, generator=_generator(1)) * 0.5
    windows = poisson_windows(
        x.double() * 200.0,
        60,
        1.0,
        window=chunk_steps,
        method=method,
        refrac_t=2.0,
        max_rate=200.0,
        generator=_generator(2),
        dtype=x.dtype,
    )
    expected = torch.cat(list(windows))
    assert torch.equal(
        torch.stack(list(encoder.iter(x, _generator(2), chunk_steps=chunk_steps))), expected
    )
    if chunk_steps >= 60:
        assert torch.equal(encoder(x, _generator(2)), expected)


@pytest.mark.parametrize("chunk_steps", [1, 9, 100])
def test_deterministic_encoders_are_the_functional_windows(chunk_steps):
    x = torch.rand(5, 4, generator=_generator(3))
    rate = RateEncoder(0.5, steps=40, max_rate=700.0, phase=0.25)
    expected = torch.cat(
        list(
            regular_windows(
                x.double() * 700.0, 40, 0.5, window=chunk_steps, phase=0.25, dtype=x.dtype
            )
        )
    )
    assert torch.equal(torch.stack(list(rate.iter(x, chunk_steps=chunk_steps))), expected)
    assert torch.equal(rate(x), expected)
    log = LatencyEncoder(1.0, steps=40, mapping="log", time_constant=9.0, fire_last=True)
    expected = torch.cat(
        list(
            latency_windows(
                x, 40, 1.0, window=chunk_steps, mapping="log", time_constant=9.0, fire_last=True
            )
        )
    )
    assert torch.equal(torch.stack(list(log.iter(x, chunk_steps=chunk_steps))), expected)
    assert torch.equal(log(x), expected)
