"""The allocation-free apply path gives exactly what the allocating path gives."""

from __future__ import annotations

import pytest
import torch

from inferno_lightning.functional.bounding import (
    ClampBound,
    HardBound,
    PowerBound,
    SoftBound,
)
from inferno_lightning.learn import Accumulator

BOUNDS = [SoftBound(), HardBound(), ClampBound(), PowerBound(0.5)]


def _terms(signed: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    weight = torch.rand(7, 5, generator=generator) * 1.2 - 0.1  # some beyond the limits
    low = -0.5 if signed else 0.0
    potentiation = (torch.rand(7, 5, generator=generator) + low) * 0.1
    depression = (torch.rand(7, 5, generator=generator) + low) * 0.1
    return weight, potentiation, depression


@pytest.mark.parametrize("bound", BOUNDS, ids=repr)
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("present", ["both", "potentiation", "depression"])
@pytest.mark.parametrize("limits", [(0.0, 1.0), (None, 1.0), (0.0, None)])
def test_in_place_bound_is_bit_identical(bound, signed, present, limits) -> None:
    weight, potentiation, depression = _terms(signed)
    if present == "potentiation":
        depression = None
    elif present == "depression":
        potentiation = None
    w_min, w_max = limits
    expected = bound(weight, potentiation, depression, w_min, w_max)
    out = (torch.empty_like(weight), torch.empty_like(weight))
    kept = weight.clone()
    got = bound(weight, potentiation, depression, w_min, w_max, out=out, nonnegative=not signed)
    assert torch.equal(got, expected)
    assert torch.equal(weight, kept)


def test_accumulator_takes_over_owned_terms_and_copies_others() -> None:
    weight = torch.nn.Parameter(torch.full((3, 4), 0.5))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    term = torch.full((3, 4), 0.1)
    accumulator.accumulate(term, None, owned=True)
    assert accumulator._sums[0].data_ptr() == term.data_ptr()  # no copy
    kept = torch.full((3, 4), 0.1)
    accumulator.clear()
    accumulator.accumulate(kept, None)
    kept.add_(1.0)  # the caller may keep changing its tensor
    assert torch.allclose(accumulator.pending().potentiation, torch.full((3, 4), 0.1))
    with pytest.raises(TypeError, match="owned"):
        accumulator.accumulate(kept, None, owned=1)


def test_apply_every_step_matches_formula_and_reuses_work_tensors() -> None:
    weight = torch.nn.Parameter(torch.full((3, 4), 0.5))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    accumulator.accumulate(torch.full((3, 4), 0.2), torch.full((3, 4), 0.1))
    accumulator.apply_pending()
    # 0.5 + 0.2 * (1 - 0.5) - 0.1 * (0.5 - 0) = 0.55
    assert torch.allclose(weight, torch.full((3, 4), 0.55))
    work = accumulator._work
    accumulator.accumulate(torch.full((3, 4), 0.2), None)
    accumulator.apply_pending()
    assert accumulator._work is work
    assert accumulator.__getstate__()["_work"] is None


def test_large_finite_terms_whose_sum_overflows_are_accepted() -> None:
    # The quick finiteness check (a sum) overflows here; the exact check must accept it.
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    accumulator = Accumulator(weight, bound="clamp")
    big = torch.full((2, 2), 3.0e38)
    assert accumulator.apply(big, None)
    assert torch.equal(weight, big)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_term_still_named_and_weight_unchanged(bad) -> None:
    weight = torch.nn.Parameter(torch.full((2, 3), 0.5))
    accumulator = Accumulator(weight, bound="soft", w_min=0.0, w_max=1.0)
    depression = torch.zeros(2, 3)
    depression[1, 2] = bad
    with pytest.raises(ValueError, match="depression .* must be finite"):
        accumulator.apply(torch.full((2, 3), 0.1), depression)
    assert torch.equal(weight, torch.full((2, 3), 0.5))
