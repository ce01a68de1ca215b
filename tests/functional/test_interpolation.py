"""Interpolation formulas and delayed reads from a ring-buffer history."""

from __future__ import annotations

import pickle

import pytest
import torch

from inferno_lightning.functional.interpolation import (
    INTERPOLATIONS,
    delay_steps,
    interp_linear,
    interp_nearest,
    interp_previous,
    interpolate,
    interpolation,
    read_history,
)

X0 = torch.tensor([1.0, -2.0])
X1 = torch.tensor([3.0, 4.0])


def test_previous_holds_the_earlier_sample() -> None:
    for elapsed in (0.0, 0.2, 0.5, 0.99):
        assert torch.equal(interp_previous(X0, X1, elapsed, 1.0), X0)


def test_nearest_switches_after_half_a_step_and_ties_go_to_the_earlier_sample() -> None:
    assert torch.equal(interp_nearest(X0, X1, 0.2, 1.0), X0)
    assert torch.equal(interp_nearest(X0, X1, 0.5, 1.0), X0)  # tie
    assert torch.equal(interp_nearest(X0, X1, 0.6, 1.0), X1)
    elapsed = torch.tensor([0.4, 0.6])
    assert torch.equal(interp_nearest(X0, X1, elapsed, 1.0), torch.tensor([1.0, 4.0]))


def test_linear_by_formula() -> None:
    # x0 + (x1 - x0) * 0.15 / 0.5 = x0 + 0.3 (x1 - x0)
    out = interp_linear(X0, X1, 0.15, 0.5)
    assert torch.allclose(out, torch.tensor([1.0 + 0.3 * 2.0, -2.0 + 0.3 * 6.0]))
    assert torch.equal(interp_linear(X0, X1, 0.0, 0.5), X0)
    assert torch.equal(interp_linear(X0, X1, 0.5, 0.5), X1)


def test_selection_by_name_is_picklable() -> None:
    for name, fn in zip(
        INTERPOLATIONS, (interp_previous, interp_nearest, interp_linear), strict=True
    ):
        assert interpolation(name) is fn
        assert pickle.loads(pickle.dumps(interpolation(name))) is fn
    assert torch.allclose(interpolate(X0, X1, 0.25, 1.0, "linear"), torch.tensor([1.5, -0.5]))
    with pytest.raises(ValueError, match="interp_mode must be one of"):
        interpolation("cubic")


def test_delay_steps_clamps_to_the_history() -> None:
    steps = delay_steps(torch.tensor([-1.0, 0.0, 0.75, 2.0, 9.0]), 0.5, 4)
    assert torch.equal(steps, torch.tensor([0.0, 0.0, 1.5, 3.0, 3.0]))


def _window(values: list[float]) -> torch.Tensor:
    """A history window of one element, batch 1, oldest sample first."""
    return torch.tensor(values, dtype=torch.float32).view(1, 1, -1)


def test_read_history_whole_steps() -> None:
    window = _window([40, 50, 60, 70])
    selector = torch.tensor([[[0.0, 0.5, 1.0, 1.5]]])  # ms, step 0.5 ms: 0..3 steps back
    for mode in INTERPOLATIONS:
        out = read_history(window, selector, 0.5, mode)
        assert torch.equal(out, torch.tensor([[[70.0, 60.0, 50.0, 40.0]]])), mode


def test_read_history_between_steps_by_formula() -> None:
    window = _window([10, 20, 30, 40])  # 0 steps back: 40, 1: 30, 2: 20, 3: 10
    selector = torch.tensor([[[0.25, 1.5, 2.75]]])  # dt = 1: s = 0.25, 1.5, 2.75
    previous = read_history(window, selector, 1.0, "previous")
    nearest = read_history(window, selector, 1.0, "nearest")
    linear = read_history(window, selector, 1.0, "linear")
    # previous: ceil(s) steps back
    assert torch.equal(previous, torch.tensor([[[30.0, 20.0, 10.0]]]))
    # nearest: floor(s + 1/2) steps back (1.5 is a tie: the earlier sample, 2 back)
    assert torch.equal(nearest, torch.tensor([[[40.0, 20.0, 10.0]]]))
    # linear: (1 - f) x_later + f x_earlier
    expected = torch.tensor([[[0.75 * 40 + 0.25 * 30, 0.5 * 30 + 0.5 * 20, 0.25 * 20 + 0.75 * 10]]])
    assert torch.allclose(linear, expected)
    # the same as interp_linear(x0, x1, elapsed = (ceil(s) - s) dt, dt)
    assert torch.allclose(
        linear[0, 0, 0], interp_linear(torch.tensor(30.0), torch.tensor(40.0), 0.75, 1.0)
    )


def test_read_history_float_rounding_does_not_move_previous_back_a_step() -> None:
    window = _window([1, 2, 3, 4])
    # 0.3 / 0.1 == 2.9999999999999996 in float64
    selector = torch.tensor([[[0.3]]], dtype=torch.float64)
    assert read_history(window, selector, 0.1, "previous").item() == 1.0


def test_read_history_beyond_clamps_or_fills() -> None:
    window = _window([10, 20, 30])
    selector = torch.tensor([[[2.0, 5.0]]])
    assert torch.equal(
        read_history(window, selector, 1.0, "linear"), torch.tensor([[[10.0, 10.0]]])
    )
    filled = read_history(window, selector, 1.0, "linear", overbound=-1.0)
    assert torch.equal(filled, torch.tensor([[[10.0, -1.0]]]))


def test_read_history_bool_and_batched_selector() -> None:
    window = torch.zeros(2, 1, 3, dtype=torch.bool)
    window[0, 0, 1] = True  # 1 step back in sample 0
    selector = torch.tensor([[[0.6, 1.4]], [[1.0, 1.0]]])  # (batch, *shape, N)
    out = read_history(window, selector, 1.0, "linear")
    assert out.dtype == torch.bool
    assert out.tolist() == [[[True, True]], [[False, False]]]


@pytest.mark.parametrize("mode", INTERPOLATIONS)
def test_read_history_the_same_in_either_selector_memory_order(mode: str) -> None:
    # a connection passes its (out, in) delays transposed: readers not the fastest dimension
    window = torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(0))  # (batch, in, H)
    delays = torch.rand(6, 4, generator=torch.Generator().manual_seed(1)) * 5.0  # (out, in)
    strided = read_history(window, delays.t(), 1.0, mode)
    contiguous = read_history(window, delays.t().contiguous(), 1.0, mode)
    assert strided.shape == contiguous.shape == (3, 4, 6)
    assert torch.equal(strided, contiguous)
    filled = read_history(window, delays.t() * 2, 1.0, mode, overbound=-1.0)
    assert torch.equal(
        filled, read_history(window, delays.t().contiguous() * 2, 1.0, mode, overbound=-1.0)
    )
    assert bool((filled == -1.0).any())
