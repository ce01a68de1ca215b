"""Bounding functions against their formulas at hand-picked points."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from inferno_lightning.functional.bounding import (
    BOUND_NAMES,
    ClampBound,
    HardBound,
    PowerBound,
    SoftBound,
    bounded_update,
    clamp_weight,
    lower_hard,
    lower_power,
    lower_soft,
    resolve_bound,
    upper_hard,
    upper_power,
    upper_soft,
)


def t(*values: float, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, device=device)


# --------------------------------------------------------------- half bounds

W = t(0.0, 0.75, 0.96, 1.0)


def test_upper_hard_is_heaviside_of_distance_to_w_max() -> None:
    # 0.4 * Theta(1 - w), Theta(0) = 0 at the limit itself
    assert torch.equal(upper_hard(W, torch.full_like(W, 0.4), 1.0), t(0.4, 0.4, 0.4, 0.0))


def test_lower_hard_is_heaviside_of_distance_to_w_min() -> None:
    # 0.2 * Theta(w - 0)
    assert torch.equal(lower_hard(W, torch.full_like(W, 0.2), 0.0), t(0.0, 0.2, 0.2, 0.2))


def test_upper_soft_is_update_times_w_max_minus_w() -> None:
    # 0.4 * (1 - w) = 0.4 * [1, 0.25, 0.04, 0]
    expected = t(0.4, 0.1, 0.016, 0.0)
    assert torch.allclose(upper_soft(W, torch.full_like(W, 0.4), 1.0), expected, atol=1e-15)


def test_lower_soft_is_update_times_w_minus_w_min() -> None:
    # 0.2 * (w - 0)
    expected = t(0.0, 0.15, 0.192, 0.2)
    assert torch.allclose(lower_soft(W, torch.full_like(W, 0.2), 0.0), expected, atol=1e-15)


def test_upper_power_is_update_times_distance_to_the_mu() -> None:
    # 0.4 * sqrt(1 - w) = 0.4 * [1, 0.5, 0.2, 0]
    expected = t(0.4, 0.2, 0.08, 0.0)
    assert torch.allclose(upper_power(W, torch.full_like(W, 0.4), 1.0, 0.5), expected, atol=1e-15)


def test_lower_power_is_update_times_distance_to_the_mu() -> None:
    # 0.2 * w^2 = 0.2 * [0, 0.5625, 0.9216, 1]
    expected = t(0.0, 0.1125, 0.18432, 0.2)
    assert torch.allclose(lower_power(W, torch.full_like(W, 0.2), 0.0, 2.0), expected, atol=1e-15)


def test_power_keeps_the_sign_beyond_the_limit_and_never_gives_nan() -> None:
    # w = 1.25 above w_max = 1: factor -(0.25)^0.5 = -0.5 pulls the weight back
    out = upper_power(t(1.25), t(0.4), 1.0, 0.5)
    assert torch.allclose(out, t(-0.2), atol=1e-15)
    assert torch.isfinite(out).all()


def test_power_of_one_equals_soft() -> None:
    w = torch.rand(50, dtype=torch.float64) * 2 - 0.5
    p, d = torch.rand(50, dtype=torch.float64), torch.rand(50, dtype=torch.float64)
    a = bounded_update(w, p, d, bound=PowerBound(1.0), w_min=0.0, w_max=1.0)
    b = bounded_update(w, p, d, bound="soft", w_min=0.0, w_max=1.0)
    assert torch.equal(a, b)


def test_clamp_weight() -> None:
    w = t(-0.5, 0.3, 1.7)
    assert torch.equal(clamp_weight(w, 0.0, 1.0), t(0.0, 0.3, 1.0))
    assert torch.equal(clamp_weight(w, None, 1.0), t(-0.5, 0.3, 1.0))
    assert torch.equal(clamp_weight(w, 0.0, None), t(0.0, 0.3, 1.7))
    assert clamp_weight(w, None, None) is w


# ------------------------------------------------- full update, by the formula
# w = [0, 0.5, 1], P = 0.4, D = 0.2: w' = w + U(w) P - L(w) D

W3 = t(0.0, 0.5, 1.0)
P = torch.full_like(W3, 0.4)
D = torch.full_like(W3, 0.2)
S = math.sqrt(0.5)

CASES = [
    # kind, w_min, w_max, expected
    ("soft", 0.0, 1.0, [0.4, 0.5 + 0.2 - 0.1, 1.0 - 0.2]),
    ("soft", None, 1.0, [0.2, 0.5 + 0.2 - 0.2, 0.8]),
    ("soft", 0.0, None, [0.4, 0.5 + 0.4 - 0.1, 1.0 + 0.4 - 0.2]),
    ("hard", 0.0, 1.0, [0.4, 0.7, 0.8]),
    ("hard", None, 1.0, [0.2, 0.7, 0.8]),
    ("hard", 0.0, None, [0.4, 0.7, 1.2]),
    (PowerBound(0.5, lower_power=2.0), 0.0, 1.0, [0.4, 0.5 + 0.4 * S - 0.2 * 0.25, 0.8]),
    (PowerBound(0.5, lower_power=2.0), None, 1.0, [0.2, 0.5 + 0.4 * S - 0.2, 0.8]),
    (PowerBound(0.5, lower_power=2.0), 0.0, None, [0.4, 0.5 + 0.4 - 0.2 * 0.25, 1.2]),
    ("clamp", 0.0, 1.0, [0.2, 0.7, 1.0]),
    ("clamp", None, 1.0, [0.2, 0.7, 1.0]),
    ("clamp", 0.0, None, [0.2, 0.7, 1.2]),
    ("clamp", None, None, [0.2, 0.7, 1.2]),
]


@pytest.mark.parametrize(("kind", "w_min", "w_max", "expected"), CASES)
def test_bounded_update_by_hand(kind, w_min, w_max, expected, device: torch.device) -> None:
    out = bounded_update(
        W3.to(device), P.to(device), D.to(device), bound=kind, w_min=w_min, w_max=w_max
    )
    assert torch.allclose(out.cpu(), t(*expected), atol=1e-12)


def test_clamp_lower_only_with_depression() -> None:
    out = bounded_update(W3, depression=torch.full_like(W3, 0.3), bound="clamp", w_min=0.0)
    assert torch.allclose(out, t(0.0, 0.2, 0.7), atol=1e-15)


def test_negative_terms_are_bounded_by_the_other_limit() -> None:
    # Anti-Hebbian: P = -0.4 lowers the weight, D = -0.2 raises it:
    # w' = w + 0.2 (1 - w) - 0.4 (w - 0) = [0.2, 0.4, 0.6]
    out = bounded_update(W3, -P, -D, bound="soft", w_min=0.0, w_max=1.0)
    assert torch.allclose(out, t(0.2, 0.4, 0.6), atol=1e-15)


def test_mixed_signs_elementwise() -> None:
    # element 0: P = +0.5 -> w + 0.5 (1 - w); element 1: P = -0.5 -> w - 0.5 (w - 0)
    out = bounded_update(t(0.5, 0.5), t(0.5, -0.5), bound="soft", w_min=0.0, w_max=1.0)
    assert torch.allclose(out, t(0.75, 0.25), atol=1e-15)


def test_only_potentiation_or_only_depression() -> None:
    only_p = bounded_update(W3, P, bound="soft", w_min=0.0, w_max=1.0)
    assert torch.allclose(only_p, W3 + 0.4 * (1 - W3), atol=1e-15)
    only_d = bounded_update(W3, depression=D, bound="soft", w_min=0.0, w_max=1.0)
    assert torch.allclose(only_d, W3 - 0.2 * W3, atol=1e-15)
    unchanged = bounded_update(W3, bound="soft", w_min=0.0, w_max=1.0)
    assert torch.equal(unchanged, W3) and unchanged is not W3


def test_tensor_limits_per_element() -> None:
    w_max = t(1.0, 0.6, 2.0)
    out = bounded_update(W3, P, bound="soft", w_max=w_max)
    assert torch.allclose(out, W3 + 0.4 * (w_max - W3), atol=1e-15)


def test_bounded_update_does_not_modify_its_input() -> None:
    w = W3.clone()
    bounded_update(w, P, D, bound="hard", w_min=0.0, w_max=1.0)
    assert torch.equal(w, W3)


# ------------------------------------------------------------- selection


def test_resolve_bound_by_name_and_alias() -> None:
    assert resolve_bound("hard") == HardBound() == resolve_bound("sharp")
    assert resolve_bound("soft") == SoftBound() == resolve_bound("multiplicative")
    assert resolve_bound("clamp") == ClampBound()
    power = PowerBound(0.5)
    assert resolve_bound(power) is power
    assert set(BOUND_NAMES) >= {"clamp", "hard", "soft"}


def test_resolve_bound_errors() -> None:
    with pytest.raises(ValueError, match="bound must be one of"):
        resolve_bound("softer")
    with pytest.raises(ValueError, match="PowerBound"):
        resolve_bound("power")
    with pytest.raises(TypeError, match="bound"):
        resolve_bound(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_power_bound_rejects_bad_exponents(bad: float) -> None:
    with pytest.raises(ValueError, match="power"):
        PowerBound(bad)
    with pytest.raises(ValueError, match="lower_power"):
        PowerBound(1.0, lower_power=bad)


def test_bounds_are_picklable_values() -> None:
    for bound in (ClampBound(), HardBound(), SoftBound(), PowerBound(0.5, lower_power=2.0)):
        assert pickle.loads(pickle.dumps(bound)) == bound
    assert PowerBound(2) == PowerBound(2.0)
    assert PowerBound(1.0).lower_power is None


@pytest.mark.parametrize("w_min", [0.0, -0.0, 0.1, torch.tensor(0.0)])
@pytest.mark.parametrize("w_max", [1.0, 0.3, torch.full((4, 5), 0.7)])
def test_soft_bound_in_place_path_is_bit_identical_to_the_allocating_one(w_min, w_max) -> None:
    # The in-place path (one pass for w_max - w, w * D without "w - 0") equals the
    # allocating formula w + (w_max - w) P - (w - w_min) D bit for bit; for w_min = 0 it is
    # w - w (P + D) + w_max P, three passes, equal to the last place.
    generator = torch.Generator().manual_seed(3)
    weight = torch.rand(4, 5, generator=generator)
    weight[0, 0] = -0.0
    potentiation = torch.rand(4, 5, generator=generator) * 1e-2
    depression = torch.rand(4, 5, generator=generator) * 1e-3
    bound = SoftBound()
    work = (torch.empty_like(weight), torch.empty_like(weight))
    fast = bound(weight, potentiation, depression, w_min, w_max, nonnegative=True, out=work)
    assert fast is work[0]
    slow = bound(weight, potentiation, depression, w_min, w_max, nonnegative=True)
    reference = weight + ((w_max - weight) * potentiation - (weight - w_min) * depression)
    assert torch.equal(fast.sign(), slow.sign())
    if not isinstance(w_min, torch.Tensor) and w_min == 0.0:
        eps = torch.finfo(weight.dtype).eps
        torch.testing.assert_close(fast, reference, rtol=0, atol=2 * eps)
        torch.testing.assert_close(slow, reference, rtol=0, atol=2 * eps)
        return
    assert torch.equal(fast, slow) and torch.equal(fast, reference)
