"""Pure encoding functions: statistics, hand-computed trains, argument checks."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from inferno_lightning.functional.encoding import (
    check_generator,
    check_intensities,
    check_latency_mapping,
    check_phase,
    check_poisson_rate,
    check_regular_rate,
    homogeneous_poisson_bernoulli_approx,
    homogeneous_poisson_exp_interval,
    homogeneous_regular,
    latency,
    latency_windows,
    poisson_windows,
    refractory_compensated_rate,
    refractory_steps,
    regular_windows,
    spike_dtype,
)

POISSON = [homogeneous_poisson_exp_interval, homogeneous_poisson_bernoulli_approx]


def _generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _intervals(train: torch.Tensor) -> torch.Tensor:
    """Inter-spike intervals, in steps, of every train in a (steps, n) tensor."""
    out = []
    for column in train.T:
        times = column.nonzero().flatten()
        out.append(times.diff())
    return torch.cat(out)


def test_refractory_steps_round_up_with_tolerance():
    assert refractory_steps(0.0, 1.0) == 0
    assert refractory_steps(2.0, 1.0) == 2
    assert refractory_steps(2.5, 1.0) == 3
    assert refractory_steps(0.3, 0.1) == 3  # 0.3 / 0.1 = 2.9999999999999996


def test_refractory_compensated_rate_formula():
    rates = torch.tensor([0.0, 100.0, 50.0])
    # r / (1 - r d / 1000) with d = 5 ms: 100 -> 200, 50 -> 50 / 0.75.
    expected = torch.tensor([0.0, 200.0, 50.0 / 0.75])
    torch.testing.assert_close(refractory_compensated_rate(rates, 5.0), expected)
    with pytest.raises(ValueError, match="rates too high for refrac_t"):
        refractory_compensated_rate(torch.tensor([300.0]), 5.0)


@pytest.mark.parametrize("method", POISSON)
def test_poisson_counts_within_five_sigma(method):
    # 1 ms steps, 400 trains of 500 steps per rate.
    rates = torch.tensor([0.0, 20.0, 100.0, 400.0]).repeat(400, 1)
    spikes = method(rates, 500, 1.0, generator=_generator(0))
    assert spikes.shape == (500, 400, 4)
    counts = spikes.sum(dim=(0, 1)).double()
    lam = torch.tensor([0.0, 0.02, 0.1, 0.4], dtype=torch.float64)
    # Exact: merged Poisson events, so P(spike in a step) = 1 - exp(-lam).
    p = 1 - torch.exp(-lam) if method is homogeneous_poisson_exp_interval else lam
    trials = 500 * 400
    mean, sigma = trials * p, torch.sqrt(trials * p * (1 - p))
    assert counts[0] == 0
    assert torch.all((counts[1:] - mean[1:]).abs() < 5 * sigma[1:]), (counts, mean, sigma)


def test_exact_interval_distribution_is_exponential():
    # 50 Hz on a fine grid (0.1 ms) so the discretisation is negligible.
    rates = torch.full((60,), 50.0)
    spikes = homogeneous_poisson_exp_interval(rates, 20_000, 0.1, generator=_generator(1))
    isi = _intervals(spikes).double() * 0.1  # ms
    assert isi.numel() > 4000
    cv = isi.std() / isi.mean()
    assert abs(cv - 1) < 0.1
    assert abs(isi.mean() - 20.0) < 1.5  # 1000 / 50 ms
    # P(I > mean) = exp(-1) for an exponential.
    assert abs(float((isi > isi.mean()).double().mean()) - math.exp(-1)) < 0.04


@pytest.mark.parametrize("method", POISSON)
@pytest.mark.parametrize("refrac_t", [5.0, 4.5])
def test_refractory_compensation_delivers_requested_rate(method, refrac_t):
    # 100 Hz with a 5 ms refractory period (4.5 ms rounds up to 5 steps).
    rates = torch.full((500,), 100.0)
    spikes = method(rates, 1000, 1.0, refrac_t=refrac_t, generator=_generator(2))
    isi = _intervals(spikes)
    assert int(isi.min()) >= 5
    expected = 500 * 1000 * 0.1  # requested count
    # A refractory train is more regular than Poisson, so the Poisson
    # standard deviation is a conservative bound.
    assert abs(float(spikes.sum()) - expected) < 5 * math.sqrt(expected)


@pytest.mark.parametrize(
    ("method", "delivered"),
    [
        # r / (1 + r d / 1000), d = 5 ms
        (homogeneous_poisson_exp_interval, 100.0 / 1.5),
        # r / (1 + (R - 1) lam): the spike's own step is a trial
        (homogeneous_poisson_bernoulli_approx, 100.0 / 1.4),
    ],
)
def test_without_compensation_rate_drops_as_documented(method, delivered):
    rates = torch.full((500,), 100.0)
    spikes = method(rates, 1000, 1.0, refrac_t=5.0, compensate=False, generator=_generator(3))
    expected = 500 * delivered
    assert abs(float(spikes.sum()) - expected) < 5 * math.sqrt(expected)
    assert int(_intervals(spikes).min()) >= 5


@pytest.mark.parametrize("method", POISSON)
def test_first_steps_already_at_the_stationary_rate(method):
    # 10 steps at 100 Hz with a 5-step refractory period: 1 spike expected per
    # train from the first step on. Starting every train fresh would give
    # about 12 % more.
    rates = torch.full((20_000,), 100.0)
    spikes = method(rates, 10, 1.0, refrac_t=5.0, generator=_generator(4))
    assert abs(float(spikes.sum()) - 20_000) < 5 * math.sqrt(20_000)


@pytest.mark.parametrize("method", POISSON)
def test_poisson_seed_reproducible(method):
    rates = torch.full((8, 5), 80.0)
    a = method(rates, 200, 1.0, refrac_t=2.0, generator=_generator(7))
    b = method(rates, 200, 1.0, refrac_t=2.0, generator=_generator(7))
    c = method(rates, 200, 1.0, refrac_t=2.0, generator=_generator(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("method", POISSON)
def test_poisson_highest_compensable_rate_is_regular(method):
    # 250 Hz with 4 steps of 1 ms refractory: exactly one spike every 4 steps.
    spikes = method(torch.full((6,), 250.0), 40, 1.0, refrac_t=4.0, generator=_generator(5))
    assert torch.all(spikes.sum(0) == 10)
    assert torch.all(_intervals(spikes) == 4)


def test_regular_hand_computed():
    rates = torch.tensor([100.0, 50.0, 0.0, 30.0])
    spikes = homogeneous_regular(rates, 50, 1.0)
    assert spikes.shape == (50, 4)
    assert spikes[:, 0].nonzero().flatten().tolist() == [9, 19, 29, 39, 49]
    assert spikes[:, 1].nonzero().flatten().tolist() == [19, 39]
    assert spikes[:, 2].sum() == 0
    # 30 Hz: floor(0.03 (n + 1)) first reaches 1 at n = 33.
    assert spikes[:, 3].nonzero().flatten().tolist() == [33]
    shifted = homogeneous_regular(rates, 50, 1.0, phase=0.5)
    assert shifted[:, 0].nonzero().flatten().tolist() == [4, 14, 24, 34, 44]
    assert shifted[:, 1].nonzero().flatten().tolist() == [9, 29, 49]


@settings(max_examples=40, deadline=None)
@given(
    rate=st.integers(0, 1000),
    steps=st.integers(1, 3000),
    phase=st.sampled_from([0.0, 0.25, 0.5, 0.75]),
)
def test_regular_count_and_intervals(rate, steps, phase):
    spikes = homogeneous_regular(torch.tensor([float(rate)]), steps, 1.0, phase=phase)
    # floor(T * r / 1000 + phase), in exact integer arithmetic.
    assert int(spikes.sum()) == (steps * rate + int(phase * 1000)) // 1000
    isi = _intervals(spikes)
    if isi.numel() > 1:
        assert int(isi.max() - isi.min()) <= 1


def test_latency_linear_hand_computed():
    x = torch.tensor([1.0, 0.5, 0.3, 0.8, 0.0])
    spikes = latency(x, 10, 1.0)
    # round((1 - x) * 9): 0, 4.5 -> 5, 6.3 -> 6, 1.8 -> 2; zero is silent.
    assert spikes.sum(0).tolist() == [1, 1, 1, 1, 0]
    assert spikes[:, :4].argmax(0).tolist() == [0, 5, 6, 2]
    last = latency(x, 10, 1.0, fire_last=True)
    assert last.sum(0).tolist() == [1, 1, 1, 1, 1]
    assert int(last[:, 4].argmax()) == 9


def test_latency_log_hand_computed():
    x = torch.tensor([1.0, 0.5, 0.25, 0.21, 0.2, 0.0])
    spikes = latency(x, 30, 1.0, mapping="log", time_constant=10.0, threshold=0.2)
    # 10 ln(x / (x - 0.2)): 2.23 -> 2, 5.11 -> 5, 16.09 -> 16, 30.4 (after
    # the window) silent, x <= 0.2 silent.
    assert spikes.sum(0).tolist() == [1, 1, 1, 0, 0, 0]
    assert spikes[:, :3].argmax(0).tolist() == [2, 5, 16]
    last = latency(x, 30, 1.0, mapping="log", time_constant=10.0, threshold=0.2, fire_last=True)
    assert last.sum(0).tolist() == [1] * 6
    assert last[:, 3:].argmax(0).tolist() == [29, 29, 29]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, width=32), min_size=2, max_size=20), st.integers(1, 60))
def test_latency_stronger_fires_no_later(values, steps):
    x = torch.tensor(values)
    spikes = latency(x, steps, 1.0, fire_last=True)
    assert torch.all(spikes.sum(0) == 1)
    first = spikes.argmax(0)
    order = torch.argsort(x)
    assert torch.all(first[order].diff() <= 0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: homogeneous_poisson_exp_interval(torch.ones(2), 0, 1.0), ValueError, "steps"),
        (lambda: homogeneous_poisson_exp_interval(torch.ones(2), 5.0, 1.0), TypeError, "steps"),
        (lambda: homogeneous_poisson_exp_interval(torch.ones(2), 5, 0.0), ValueError, "step_time"),
        (lambda: homogeneous_poisson_exp_interval(torch.ones(2), 5, -1.0), ValueError, "step_time"),
        (
            lambda: homogeneous_poisson_exp_interval(torch.ones(2), 5, 1.0, refrac_t=-1.0),
            ValueError,
            "refrac_t",
        ),
        (
            lambda: homogeneous_poisson_exp_interval(torch.tensor([-1.0]), 5, 1.0),
            ValueError,
            "rates must be non-negative",
        ),
        (
            lambda: homogeneous_poisson_bernoulli_approx(torch.tensor([float("nan")]), 5, 1.0),
            ValueError,
            "rates must be non-negative and finite",
        ),
        (
            lambda: homogeneous_poisson_bernoulli_approx(torch.tensor([2000.0]), 5, 1.0),
            ValueError,
            "rates too high for the Bernoulli approximation",
        ),
        (
            lambda: homogeneous_poisson_exp_interval(torch.tensor([300.0]), 5, 1.0, refrac_t=5.0),
            ValueError,
            "rates too high for refrac_t",
        ),
        (lambda: homogeneous_regular(torch.tensor([2000.0]), 5, 1.0), ValueError, "rates too high"),
        (lambda: homogeneous_regular(torch.ones(1), 5, 1.0, phase=1.0), ValueError, "phase"),
        (
            lambda: latency(torch.tensor([1.5]), 5, 1.0),
            ValueError,
            r"intensities must lie in \[0, 1\]",
        ),
        (lambda: latency(torch.ones(1), 5, 1.0, mapping="cubic"), ValueError, "mapping"),
        (lambda: latency(torch.ones(1), 5, 1.0, mapping="log"), ValueError, "time_constant"),
        (
            lambda: latency(torch.ones(1), 5, 1.0, mapping="log", time_constant=5.0, threshold=0.0),
            ValueError,
            "threshold",
        ),
    ],
)
def test_bad_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_poisson_runs_on_device(device):
    rates = torch.full((300, 3), 100.0, device=device)
    for method in POISSON:
        a = method(rates, 400, 1.0, refrac_t=2.0, generator=_generator(9, device))
        b = method(rates, 400, 1.0, refrac_t=2.0, generator=_generator(9, device))
        assert a.device.type == device.type
        assert torch.equal(a, b)
        expected = 300 * 3 * 400 * 0.1
        assert abs(float(a.sum()) - expected) < 5 * math.sqrt(expected)
        assert int(_intervals(a.reshape(400, -1).cpu()).min()) >= 2
    assert homogeneous_regular(rates, 50, 1.0).sum().item() == 300 * 3 * 5
    assert latency(rates / 100, 10, 1.0).sum().item() == 300 * 3


def test_regular_matches_phase_accumulator_definition():
    rates = torch.rand(500, generator=_generator(3), dtype=torch.float64) * 1000
    steps, phase = 400, 0.37
    lam = rates * 1e-3
    n = torch.arange(steps + 1, dtype=torch.float64).view(-1, 1)
    counts = torch.floor(n * lam + phase)
    assert torch.equal(homogeneous_regular(rates, steps, 1.0, phase=phase), counts.diff(dim=0))


# ------------------------------------------------------------------ windowed generation


def _concatenated(windows, steps: int, window: int) -> torch.Tensor:
    windows = list(windows)
    # ceil(steps / window) windows of `window` steps, the last one shorter.
    assert len(windows) == -(-steps // window)
    assert all(w.shape[0] == window for w in windows[:-1])
    assert 1 <= windows[-1].shape[0] <= window
    return torch.cat(windows)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 300),
    window=st.integers(1, 320),
    step_time=st.sampled_from([0.1, 0.5, 1.0, 0.3]),
    phase=st.sampled_from([0.0, 0.37, 0.5, 0.999]),
)
def test_regular_windows_put_together_are_the_whole_train(steps, window, step_time, phase):
    top = 1000.0 / step_time  # one spike per step
    rates = torch.rand(2, 9, generator=_generator(steps), dtype=torch.float64) * top
    rates[0, 0], rates[0, 1] = top, 0.0
    whole = homogeneous_regular(rates, steps, step_time, phase=phase)
    windows = regular_windows(rates, steps, step_time, window=window, phase=phase)
    joined = _concatenated(windows, steps, window)
    assert joined.dtype == whole.dtype
    assert torch.equal(joined, whole)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 120),
    window=st.integers(1, 130),
    mapping=st.sampled_from(["linear", "log"]),
    fire_last=st.booleans(),
)
def test_latency_windows_put_together_are_the_whole_train(steps, window, mapping, fire_last):
    x = torch.rand(3, 11, generator=_generator(window))
    x[0, :3] = torch.tensor([0.0, 1.0, 0.2])
    options = {"mapping": mapping, "fire_last": fire_last}
    if mapping == "log":
        options["time_constant"] = 15.0
    whole = latency(x, steps, 1.0, **options)
    joined = _concatenated(latency_windows(x, steps, 1.0, window=window, **options), steps, window)
    assert torch.equal(joined, whole)


@pytest.mark.parametrize(
    ("method", "whole_train"),
    [
        ("exact", homogeneous_poisson_exp_interval),
        ("bernoulli", homogeneous_poisson_bernoulli_approx),
    ],
)
@pytest.mark.parametrize("refrac_t", [0.0, 1.0, 3.0])
@pytest.mark.parametrize("window", [150, 151, 1000])
def test_poisson_windows_with_one_window_are_the_whole_train(method, whole_train, refrac_t, window):
    rates = torch.rand(40, 3, generator=_generator(0)) * 200
    options = {"refrac_t": refrac_t, "dtype": torch.float64}
    whole = whole_train(rates, 150, 1.0, generator=_generator(21), **options)
    windows = poisson_windows(
        rates, 150, 1.0, window=window, method=method, generator=_generator(21), **options
    )
    assert torch.equal(_concatenated(windows, 150, window), whole)


@pytest.mark.parametrize("method", ["exact", "bernoulli"])
@pytest.mark.parametrize("window", [1, 7, 64])
def test_poisson_windows_keep_rate_and_refractoriness_across_windows(method, window):
    # 100 Hz with 4 ms refractory at 1 ms steps: the spike count of the
    # requested rate, and no two spikes under 4 steps apart, even across a
    # window boundary.
    rates = torch.full((400,), 100.0)

    def run(seed: int) -> torch.Tensor:
        return _concatenated(
            poisson_windows(
                rates,
                500,
                1.0,
                window=window,
                method=method,
                refrac_t=4.0,
                generator=_generator(seed),
            ),
            500,
            window,
        )

    spikes = run(6)
    assert torch.equal(run(6), spikes)
    assert int(_intervals(spikes).min()) >= 4
    expected = 400 * 500 * 0.1
    assert abs(float(spikes.sum()) - expected) < 5 * math.sqrt(expected)


def test_poisson_windows_max_rate_bound_keeps_the_statistics():
    # A bound above the largest rate only resizes the rounds of draws.
    rates = torch.full((300,), 20.0)
    spikes = _concatenated(
        poisson_windows(rates, 400, 1.0, window=50, max_rate=500.0, generator=_generator(8)),
        400,
        50,
    )
    p = 1 - math.exp(-0.02)  # exact method, merged events
    expected = 300 * 400 * p
    assert abs(float(spikes.sum()) - expected) < 5 * math.sqrt(expected)


def test_windows_are_checked_when_called_not_on_first_step():
    with pytest.raises(ValueError, match="rates must be non-negative"):
        poisson_windows(torch.tensor([-1.0]), 5, 1.0, window=2)
    with pytest.raises(ValueError, match="phase"):
        regular_windows(torch.ones(1), 5, 1.0, window=2, phase=2.0)
    with pytest.raises(ValueError, match="intensities"):
        latency_windows(torch.tensor([2.0]), 5, 1.0, window=2)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: poisson_windows(torch.ones(2), 5, 1.0, window=0), ValueError, "window"),
        (lambda: poisson_windows(torch.ones(2), 5, 1.0, window=2.0), TypeError, "window"),
        (lambda: poisson_windows(torch.ones(2), 0, 1.0, window=2), ValueError, "steps"),
        (
            lambda: poisson_windows(torch.ones(2), 5, 1.0, window=2, method="gauss"),
            ValueError,
            "method must be one of",
        ),
        (
            lambda: poisson_windows(torch.full((2,), 50.0), 5, 1.0, window=2, max_rate=10.0),
            ValueError,
            "max_rate must be at least the largest rate",
        ),
        (
            lambda: poisson_windows(torch.ones(2), 5, 1.0, window=2, max_rate=-1.0),
            ValueError,
            "max_rate must be non-negative",
        ),
        (
            lambda: poisson_windows(torch.ones(2), 5, 1.0, window=2, generator=3),
            TypeError,
            "generator must be a torch.Generator",
        ),
        (
            lambda: poisson_windows(torch.ones(2), 5, 1.0, window=2, dtype="float"),
            TypeError,
            "dtype must be a torch.dtype",
        ),
        (
            lambda: poisson_windows(
                torch.tensor([300.0]), 5, 1.0, window=2, method="bernoulli", refrac_t=5.0
            ),
            ValueError,
            "rates too high for refrac_t",
        ),
        (lambda: regular_windows(torch.ones(2), 5, 1.0, window=-1), ValueError, "window"),
        (lambda: regular_windows(torch.ones(2), 5, 0.0, window=2), ValueError, "step_time"),
        (
            lambda: regular_windows(torch.tensor([2000.0]), 5, 1.0, window=2),
            ValueError,
            "rates too high: at most one spike per step",
        ),
        (lambda: latency_windows(torch.ones(2), 5, 1.0, window=True), TypeError, "window"),
        (
            lambda: latency_windows(torch.ones(2), 5, 1.0, window=2, mapping="log"),
            ValueError,
            "time_constant",
        ),
    ],
)
def test_bad_window_arguments_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_public_checks_name_the_argument_they_are_given():
    with pytest.raises(ValueError, match="max_rate too high for the Bernoulli approximation"):
        check_poisson_rate(2000.0, 1.0, method="bernoulli", name="max_rate")
    # 4 refractory steps of 1 ms deliver at most 250 Hz.
    with pytest.raises(ValueError, match=r"peak too high for refrac_t.*at most 250.0 Hz"):
        check_poisson_rate(300.0, 1.0, refrac_t=4.0, name="peak")
    check_poisson_rate(250.0, 1.0, refrac_t=4.0)
    check_poisson_rate(300.0, 1.0, refrac_t=4.0, compensate=False)
    with pytest.raises(ValueError, match="max_rate must be non-negative"):
        check_poisson_rate(-1.0, 1.0, name="max_rate")
    with pytest.raises(ValueError, match="max_rate too high: at most one spike per step"):
        check_regular_rate(1500.0, 1.0, name="max_rate")
    check_regular_rate(1000.0, 1.0)
    assert check_phase(0) == 0.0
    with pytest.raises(ValueError, match=r"phase must be in \[0, 1\)"):
        check_phase(float("nan"))
    assert check_latency_mapping("log", 5, 0.5) == (5.0, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        check_latency_mapping("log", 5.0, 1.0)
    with pytest.raises(ValueError, match=r"intensities must have shape \(batch, \.\.\.\)"):
        check_intensities(torch.tensor(0.5), batched=True)
    check_intensities(torch.tensor(0.5))
    with pytest.raises(ValueError, match=r"intensities must lie in \[0, 1\].*1 NaN"):
        check_intensities(torch.tensor([0.5, float("nan")]))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        check_generator(object(), torch.device("cpu"))
    check_generator(None, torch.device("cpu"))
    assert spike_dtype(None, torch.zeros(1, dtype=torch.float64)) == torch.float64
    assert spike_dtype(None, torch.zeros(1, dtype=torch.uint8)) == torch.get_default_dtype()
    assert spike_dtype(torch.bool, torch.zeros(1)) == torch.bool
