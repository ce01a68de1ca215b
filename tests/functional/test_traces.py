"""Trace updates against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

from inferno_lightning.functional.traces import (
    cumulative_trace,
    cumulative_trace_,
    nearest_trace,
    nearest_trace_,
    scaled_trace,
    scaled_trace_,
    trace_decay,
)

# tau = dt / ln 2 makes the per-step decay exactly one half.
HALF_LIFE_TAU = 1.0 / math.log(2.0)
SPIKES = [1.0, 0.0, 1.0, 1.0, 0.0]
# x_t = 1 on a spike, else x_{t-1} / 2
NEAREST = [1.0, 0.5, 1.0, 1.0, 0.5]
# x_t = x_{t-1} / 2 + s_t
CUMULATIVE = [1.0, 0.5, 1.25, 1.625, 0.8125]


def test_trace_decay_float_and_tensor() -> None:
    assert trace_decay(1.0, HALF_LIFE_TAU) == pytest.approx(0.5)
    assert trace_decay(2.0, 4.0) == pytest.approx(math.exp(-0.5))
    tau = torch.tensor([HALF_LIFE_TAU, 0.5 * HALF_LIFE_TAU])
    assert_close(trace_decay(1.0, tau), torch.tensor([0.5, 0.25]))


def _run(update, events: torch.Tensor, **kwargs) -> torch.Tensor:
    trace = torch.zeros(events.shape[1:], dtype=torch.float32, device=events.device)
    out = []
    for event in events:
        trace = update(trace, event, **kwargs)
        out.append(trace.clone())
    return torch.stack(out)


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("as_bool", [False, True])
def test_nearest_and_cumulative_differ_by_hand(
    device: torch.device, in_place: bool, as_bool: bool
) -> None:
    events = torch.tensor(SPIKES, device=device).unsqueeze(1)
    if as_bool:
        events = events.bool()
    nearest = nearest_trace_ if in_place else nearest_trace
    cumulative = cumulative_trace_ if in_place else cumulative_trace
    decay = trace_decay(1.0, HALF_LIFE_TAU)
    got_n = _run(nearest, events, decay=decay, amplitude=2.0)
    got_c = _run(cumulative, events, decay=decay, amplitude=2.0)
    expected_n = 2.0 * torch.tensor(NEAREST, device=device).unsqueeze(1)
    expected_c = 2.0 * torch.tensor(CUMULATIVE, device=device).unsqueeze(1)
    assert_close(got_n, expected_n)
    assert_close(got_c, expected_c)
    # They agree until the first spike that lands on a non-zero trace.
    assert_close(got_n[:2], got_c[:2])
    assert_close(got_c[2] - got_n[2], torch.tensor([0.5], device=device))


def test_in_place_writes_into_trace_and_returns_it() -> None:
    trace = torch.tensor([4.0, 4.0])
    event = torch.tensor([True, False])
    assert nearest_trace_(trace, event, 0.5, 3.0) is trace
    assert_close(trace, torch.tensor([3.0, 2.0]))
    assert cumulative_trace_(trace, event, 0.5, 3.0) is trace
    assert_close(trace, torch.tensor([4.5, 1.0]))
    assert scaled_trace_(trace, torch.tensor([2.0, -2.0]), 0.5, 0.5) is trace
    assert_close(trace, torch.tensor([3.25, -0.5]))


def test_per_neuron_decay_and_amplitude_tensors() -> None:
    decay = torch.tensor([0.5, 0.25])
    amplitude = torch.tensor([1.0, 3.0])
    event = torch.tensor([[1.0, 1.0], [0.0, 1.0]])  # (batch=2, neurons=2)
    trace = torch.full((2, 2), 8.0)
    expected_n = torch.tensor([[1.0, 3.0], [4.0, 3.0]])
    expected_c = torch.tensor([[5.0, 5.0], [4.0, 5.0]])
    assert_close(nearest_trace(trace, event, decay, amplitude), expected_n)
    assert_close(cumulative_trace(trace, event, decay, amplitude), expected_c)
    assert_close(nearest_trace_(trace.clone(), event, decay, amplitude), expected_n)
    assert_close(cumulative_trace_(trace.clone(), event, decay, amplitude), expected_c)


def test_scaled_trace_by_hand(device: torch.device) -> None:
    # x_t = x_{t-1} / 2 + 3 v_t for v = [2, 0, -1]: 6, 3, -1.5
    values = torch.tensor([[2.0], [0.0], [-1.0]], device=device)
    expected = torch.tensor([[6.0], [3.0], [-1.5]], device=device)
    assert_close(_run(scaled_trace, values, decay=0.5, scale=3.0), expected)
    assert_close(_run(scaled_trace_, values, decay=0.5, scale=3.0), expected)


def test_out_of_place_leaves_trace_untouched() -> None:
    trace = torch.tensor([1.0])
    nearest_trace(trace, torch.tensor([True]), 0.5, 2.0)
    cumulative_trace(trace, torch.tensor([True]), 0.5, 2.0)
    scaled_trace(trace, torch.tensor([1.0]), 0.5)
    assert trace.item() == 1.0


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    decay=st.floats(0.01, 1.0),
    amplitude=st.floats(0.0, 5.0),
    steps=st.integers(1, 6),
)
def test_trace_properties(
    shape: list[int], dtype: torch.dtype, decay: float, amplitude: float, steps: int
) -> None:
    """In-place equals out-of-place; dtype kept; 0 <= nearest <= min(cumulative, A)."""
    generator = torch.Generator().manual_seed(0)
    n, c, n_, c_ = (torch.zeros(shape, dtype=dtype) for _ in range(4))
    for _ in range(steps):
        event = torch.rand(shape, generator=generator) < 0.5
        n = nearest_trace(n, event, decay, amplitude)
        c = cumulative_trace(c, event, decay, amplitude)
        nearest_trace_(n_, event, decay, amplitude)
        cumulative_trace_(c_, event, decay, amplitude)
    assert n.dtype == c.dtype == dtype
    assert_close(n_, n)
    assert_close(c_, c)
    assert bool((n >= 0).all()) and bool((n <= amplitude).all())
    assert bool((n <= c + 1e-6 * (1.0 + c.abs())).all())
