"""Accumulator: time and batch reductions by hand, bounded application, bad input."""

from __future__ import annotations

import functools
import pickle

import pytest
import torch
from torch import nn

from inferno_lightning.learn import Accumulator, Clamp, Normalize, PendingUpdate, PowerBound


def t(*values, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


def param(*values, device: torch.device | str = "cpu") -> nn.Parameter:
    return nn.Parameter(t(*values, device=device))


class Holder(nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)


# ------------------------------------------------------------- time reduction


@pytest.mark.parametrize(
    ("time_reduction", "expected"), [("sum", (9.0, 12.0)), ("mean", (3.0, 4.0))]
)
def test_time_reduction_by_hand(time_reduction: str, expected, device: torch.device) -> None:
    acc = Accumulator(param(0.0, 0.0, device=device), time_reduction=time_reduction)
    for step in ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0)):
        acc.accumulate(potentiation=t(*step, device=device))
    pending = acc.pending()
    assert isinstance(pending, PendingUpdate)
    assert pending.depression is None
    assert torch.equal(pending.potentiation, t(*expected, device=device))
    assert acc.steps == 3


def test_time_mean_counts_steps_where_a_term_was_none() -> None:
    acc = Accumulator(param(0.0, 0.0), time_reduction="mean")
    acc.accumulate(potentiation=t(3.0, 3.0))
    acc.accumulate(depression=t(6.0, 0.0))
    acc.accumulate(potentiation=t(3.0, 6.0))
    p, d = acc.pending()
    assert torch.equal(p, t(2.0, 3.0))  # (3 + 0 + 3) / 3, (3 + 0 + 6) / 3
    assert torch.equal(d, t(2.0, 0.0))  # (0 + 6 + 0) / 3


# ------------------------------------------------------------ batch reduction


@pytest.mark.parametrize(
    ("batch_reduction", "expected"),
    [("mean", (2.0 + 1.0, 3.5 + 2.0)), ("sum", (4.0 + 2.0, 7.0 + 4.0))],
)
def test_batch_reduction_by_hand(batch_reduction: str, expected, device: torch.device) -> None:
    acc = Accumulator(param(0.0, 0.0, device=device), batch_reduction=batch_reduction)
    # step 1: samples [1, 2] and [3, 5]; step 2: samples [0, 1] and [2, 3]
    acc.accumulate(torch.tensor([[1.0, 2.0], [3.0, 5.0]], device=device), batched=True)
    acc.accumulate(torch.tensor([[0.0, 1.0], [2.0, 3.0]], device=device), batched=True)
    assert torch.equal(acc.pending().potentiation, t(*expected, device=device))


def test_batched_and_unbatched_terms_mix_in_one_step() -> None:
    acc = Accumulator(param(0.0, 0.0))
    acc.accumulate(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), batched=True)
    acc.accumulate(depression=t(1.0, 1.0))
    p, d = acc.pending()
    assert torch.equal(p, t(1.0, 1.0)) and torch.equal(d, t(1.0, 1.0))


def test_callable_reductions_and_what_they_receive() -> None:
    seen: list[tuple[int, ...]] = []

    class Max:
        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(x.shape))
            return x.amax(dim=0)

    acc = Accumulator(param(0.0, 0.0, 0.0), batch_reduction=Max(), time_reduction=Max())
    acc.accumulate(torch.tensor([[1.0, 5.0, 0.0], [4.0, 2.0, 0.0]]), batched=True)
    acc.accumulate(depression=t(1.0, 1.0, 1.0))
    acc.accumulate(torch.tensor([[3.0, 9.0, -1.0], [0.0, 0.0, -2.0]]), batched=True)
    p, d = acc.pending()
    # batch max per step: [4, 5, 0], (none -> zeros), [3, 9, -1]; then max over the 3 steps
    assert torch.equal(p, t(4.0, 9.0, 0.0))
    assert torch.equal(d, t(1.0, 1.0, 1.0))
    # two batch reductions of (2, 3) per-sample terms, then two time reductions of (3, 3)
    assert seen == [(2, 3), (2, 3), (3, 3), (3, 3)]
    assert acc.rank_reduction is None


def test_rank_reduction_is_derived_or_declared() -> None:
    assert Accumulator(param(0.0)).rank_reduction == "mean"
    assert Accumulator(param(0.0), batch_reduction="sum").rank_reduction == "sum"
    assert (
        Accumulator(param(0.0), batch_reduction="sum", time_reduction="mean").rank_reduction
        == "sum"
    )
    amax = functools.partial(torch.amax, dim=0)
    assert (
        Accumulator(param(0.0), batch_reduction=amax, rank_reduction="sum").rank_reduction == "sum"
    )
    assert Accumulator(param(0.0), time_reduction=amax).rank_reduction is None


def test_accumulated_state_is_a_copy_and_detached() -> None:
    acc = Accumulator(param(0.0, 0.0))
    trace = t(1.0, 2.0).requires_grad_()
    source = trace * 1.0
    acc.accumulate(source)
    with torch.no_grad():
        source.add_(10.0)  # a rule updating its trace in place must not change the sum
    p = acc.pending().potentiation
    assert torch.equal(p, t(1.0, 2.0))
    assert p.grad_fn is None and not p.requires_grad
    p.add_(100.0)  # pending() hands out new tensors
    assert torch.equal(acc.pending().potentiation, t(1.0, 2.0))


def test_clear_empties_and_running_sums_are_reused() -> None:
    acc = Accumulator(param(0.0, 0.0))
    acc.accumulate(t(1.0, 1.0), t(2.0, 2.0))
    buffer = acc._sums[0]
    acc.clear()
    assert acc.pending() is None and acc.steps == 0
    acc.accumulate(t(5.0, 6.0))
    assert acc._sums[0] is buffer  # preallocated, no growth
    p, d = acc.pending()
    assert torch.equal(p, t(5.0, 6.0)) and d is None


def test_nothing_accumulated_is_none() -> None:
    acc = Accumulator(param(0.0))
    assert acc.pending() is None
    acc.accumulate()
    assert acc.pending() is None and acc.steps == 1


# ---------------------------------------------------------------------- apply


def test_apply_soft_bounds_by_hand(device: torch.device) -> None:
    w = param(0.5, 0.5, device=device)
    acc = Accumulator(w, bound="soft", w_min=0.0, w_max=1.0)
    acc.accumulate(t(0.2, 0.0, device=device), t(0.0, 0.5, device=device))
    assert acc.step()
    # [0.5 + 0.2 * (1 - 0.5), 0.5 - 0.5 * (0.5 - 0)]
    assert torch.allclose(w.detach(), t(0.6, 0.25, device=device))
    assert acc.pending() is None


def test_apply_hebbian_and_anti_hebbian_signs() -> None:
    # Hebbian: LTP = lr_post * ..., LTD = lr_pre * ... with lr_post, lr_pre > 0 -> w += P - D
    w = param(0.0)
    Accumulator(w).step((t(0.3), t(0.1)))
    assert torch.allclose(w.detach(), t(0.2))
    # anti-Hebbian: both learning rates negative -> the signs flip
    w = param(0.0)
    Accumulator(w).step((t(-0.3), t(-0.1)))
    assert torch.allclose(w.detach(), t(-0.2))


def test_apply_keeps_the_parameter_object_and_no_grad() -> None:
    linear = nn.Linear(3, 2)
    weight = linear.weight
    acc = Accumulator("weight", module=linear)
    acc.step((torch.ones(2, 3), None))
    assert linear.weight is weight and weight.grad is None and weight.requires_grad


def test_apply_runs_constraints_in_order_after_the_update() -> None:
    w = param(0.5, 0.5, 0.5)
    acc = Accumulator(w, constraints=[Clamp(0.0, 1.0), Normalize(1.5)])
    acc.step((t(1.0, 0.0, 0.0), None))  # [1.5, 0.5, 0.5] -> clamp [1, 0.5, 0.5] -> sum 2 -> *0.75
    assert torch.allclose(w.detach(), t(0.75, 0.375, 0.375))


def test_apply_nothing_does_not_run_constraints() -> None:
    w = param(2.0, 2.0)
    acc = Accumulator(w, constraints=[Normalize(1.0)])
    assert acc.step((None, None)) is False and acc.step() is False
    assert torch.equal(w.detach(), t(2.0, 2.0))


def test_power_bound_through_accumulator() -> None:
    w = param(0.75)
    Accumulator(w, bound=PowerBound(0.5), w_max=1.0).step((t(0.4), None))
    assert torch.allclose(w.detach(), t(0.75 + 0.4 * 0.5))


def test_tensor_limits_follow_the_parameter_device(device: torch.device) -> None:
    w = param(0.0, 0.0, device=device)
    acc = Accumulator(w, w_max=t(0.5, 2.0))  # limits given on CPU
    acc.step((t(1.0, 1.0, device=device), None))
    assert torch.equal(w.detach(), t(0.5, 1.0, device=device))


def test_parameter_by_name_follows_a_replaced_parameter() -> None:
    holder = Holder(t(0.0, 0.0))
    acc = Accumulator("weight", module=holder)
    holder.weight = nn.Parameter(t(1.0, 1.0))
    acc.step((t(1.0, 1.0), None))
    assert torch.equal(holder.weight.detach(), t(2.0, 2.0))


# ---------------------------------------------------------------- bad input


def test_wrong_shape_accumulate_names_the_argument() -> None:
    acc = Accumulator(param(0.0, 0.0))
    with pytest.raises(ValueError, match=r"potentiation .* shape \(2,\).*batched=True"):
        acc.accumulate(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"depression .*batched=True must have shape \(batch, 2\)"):
        acc.accumulate(depression=torch.zeros(2), batched=True)
    with pytest.raises(TypeError, match="potentiation must be a floating-point"):
        acc.accumulate(torch.zeros(2, dtype=torch.int64))
    # a bad depression leaves the valid potentiation of the same call unaccumulated
    with pytest.raises(ValueError, match="depression"):
        acc.accumulate(t(1.0, 1.0), torch.zeros(5))
    assert acc.steps == 0 and acc.pending() is None


def test_callable_batch_reduction_of_the_wrong_shape() -> None:
    acc = Accumulator(param(0.0, 0.0), batch_reduction=torch.flatten)
    with pytest.raises(ValueError, match="batch_reduction .* must return a tensor of shape"):
        acc.accumulate(torch.zeros(3, 2), batched=True)


@pytest.mark.cuda
def test_term_on_another_device_is_refused() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    acc = Accumulator(param(0.0))
    with pytest.raises(ValueError, match="potentiation is on cuda"):
        acc.accumulate(t(1.0, device="cuda"))


def test_wrong_shape_apply_leaves_the_parameter_unchanged() -> None:
    w = param(0.1, 0.2)
    before = w.detach().clone()
    acc = Accumulator(w, bound="soft", w_min=0.0, w_max=1.0)
    acc.accumulate(t(1.0, 1.0))
    with pytest.raises(
        ValueError,
        match=r"depression for parameter 'parameter' must have the parameter's shape \(2,\)",
    ):
        acc.step((t(1.0, 1.0), t(1.0, 1.0, 1.0)))
    assert torch.equal(w.detach(), before)
    assert acc.steps == 1  # the accumulated state is kept for inspection


def test_non_finite_pending_leaves_the_parameter_unchanged() -> None:
    w = param(0.1, 0.2)
    before = w.detach().clone()
    acc = Accumulator(w)
    acc.accumulate(t(1.0, float("nan")))
    with pytest.raises(ValueError, match="potentiation .* must be finite"):
        acc.step()
    assert torch.equal(w.detach(), before)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"w_min": 1.0, "w_max": 0.0},
            ValueError,
            r"w_min \(1.0\) must be less than or equal to w_max \(0.0\)",
        ),
        ({"w_min": torch.tensor([0.0, 2.0]), "w_max": 1.0}, ValueError, "w_min .* w_max"),
        ({"w_min": float("nan")}, ValueError, "w_min must be finite"),
        ({"batch_reduction": "median"}, ValueError, "batch_reduction must be one of"),
        ({"time_reduction": "max"}, ValueError, "time_reduction must be one of"),
        ({"bound": "springy", "w_max": 1.0}, ValueError, "bound must be one of"),
        ({"bound": "power", "w_max": 1.0}, ValueError, "PowerBound"),
        ({"bound": "soft"}, ValueError, "needs w_min, w_max or both"),
        ({"w_max": torch.ones(3)}, ValueError, "w_max must be a float or a tensor broadcastable"),
        ({"rank_reduction": "max"}, ValueError, "rank_reduction must be one of"),
        (
            {"rank_reduction": "sum"},
            ValueError,
            "rank_reduction='sum' contradicts batch_reduction='mean'",
        ),
        ({"constraints": [3]}, TypeError, r"constraints\[0\] must be callable"),
    ],
)
def test_bad_configuration_is_refused(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        Accumulator(param(0.5, 0.5), **kwargs)


def test_bad_parameter_is_refused() -> None:
    linear = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="no parameter or tensor 'wieght'.*'weight', 'bias'"):
        Accumulator("wieght", module=linear)
    with pytest.raises(TypeError, match="module must be the nn.Module"):
        Accumulator("weight")
    with pytest.raises(TypeError, match="floating-point"):
        Accumulator(torch.zeros(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="parameter must be a tensor"):
        Accumulator(3)  # type: ignore[arg-type]


# --------------------------------------------------------- state and pickling


def test_state_dict_round_trip() -> None:
    w = param(0.0, 0.0)
    acc = Accumulator(w, time_reduction="mean")
    acc.accumulate(t(1.0, 2.0))
    acc.accumulate(t(3.0, 4.0), t(1.0, 1.0))
    other = Accumulator(param(0.0, 0.0), time_reduction="mean")
    other.load_state_dict(acc.state_dict())
    assert other.steps == 2
    for a, b in zip(acc.pending(), other.pending(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="does not match the parameter shape"):
        Accumulator(param(0.0, 0.0, 0.0)).load_state_dict(acc.state_dict())


def test_accumulator_pickles_with_callables_and_constraints() -> None:
    acc = Accumulator(
        param(0.5, 0.5),
        batch_reduction=functools.partial(torch.amax, dim=0),
        rank_reduction="sum",
        bound=PowerBound(0.5),
        w_min=0.0,
        w_max=1.0,
        constraints=[Clamp(0.0, 1.0), Normalize(1.0)],
    )
    acc.accumulate(torch.ones(2, 2), batched=True)
    copy = pickle.loads(pickle.dumps(acc))
    assert torch.equal(copy.pending().potentiation, acc.pending().potentiation)
    assert copy.step()
