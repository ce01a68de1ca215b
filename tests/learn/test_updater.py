"""Updater: accumulators by name, checkpoints, and the flattened cross-rank reduction."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch import nn

from inferno_lightning.learn import (
    Accumulator,
    Clamp,
    Normalize,
    PowerBound,
    Updater,
    apply_flattened,
    flatten_pending,
)


def zero_linear(n_in: int = 2, n_out: int = 2) -> nn.Linear:
    linear = nn.Linear(n_in, n_out)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
    return linear


class Model(nn.Module):
    """A parent holding both the connection and its Updater, as a LightningModule would."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.updater = Updater(self.linear)


# ------------------------------------------------------------------ one rank


def test_updater_on_linear_with_weight_and_bias_by_hand(device: torch.device) -> None:
    linear = zero_linear().to(device)
    updater = Updater(linear)
    assert updater.weight is updater["weight"] and updater.bias is updater["bias"]
    assert updater.names == ("bias", "weight") and len(updater) == 2 and "weight" in updater
    # two samples, per-sample outer products; batch mean, then time sum over two steps
    post = torch.tensor([[1.0, 0.0], [1.0, 1.0]], device=device)
    pre = torch.tensor([[2.0, 4.0], [0.0, 2.0]], device=device)
    for _ in range(2):
        updater.weight.accumulate(post[:, :, None] * pre[:, None, :], batched=True)
        updater.bias.accumulate(depression=post, batched=True)
    assert set(updater.pending()) == {"weight", "bias"}
    assert updater.step() is True
    # mean over samples: [[1, 3], [0, 1]]; twice -> [[2, 6], [0, 2]]
    assert torch.allclose(linear.weight.detach().cpu(), torch.tensor([[2.0, 6.0], [0.0, 2.0]]))
    # bias: -(mean post) * 2 steps = -[1, 0.5] * 2
    assert torch.allclose(linear.bias.detach().cpu(), torch.tensor([-2.0, -1.0]))
    assert updater.pending() == {}


def test_updater_never_changes_parameters_before_apply() -> None:
    linear = nn.Linear(3, 2)
    before = {name: p.detach().clone() for name, p in linear.named_parameters()}
    updater = Updater(linear)
    updater.add("weight", bound="soft", w_min=-1.0, w_max=1.0, constraints=[Normalize(1.0)])
    updater.weight.accumulate(torch.rand(4, 2, 3), torch.rand(4, 2, 3), batched=True)
    updater.bias.accumulate(torch.rand(2))
    updater.pending()
    updater.pending_flat(world_size=2)
    updater.state_dict()
    for name, p in linear.named_parameters():
        assert torch.equal(p.detach(), before[name])


def test_add_with_configuration_and_defaults() -> None:
    linear = nn.Linear(3, 2)
    updater = Updater(linear, batch_reduction="sum")
    weight = updater.add("weight", bound=PowerBound(0.5), w_min=-2.0, w_max=2.0)
    assert weight.batch_reduction == "sum" and weight.bound == PowerBound(0.5)
    assert updater.bias.batch_reduction == "sum"
    with pytest.raises(ValueError, match="already has an Accumulator"):
        updater.add("weight")
    with pytest.raises(ValueError, match="w_min .* w_max"):
        Updater(nn.Linear(2, 2)).add("weight", w_min=1.0, w_max=0.0)
    with pytest.raises(ValueError, match="batch_reduction must be one of"):
        Updater(linear, batch_reduction="median")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        Updater(torch.zeros(2))  # type: ignore[arg-type]


def test_unknown_parameter_names_are_clear_errors() -> None:
    updater = Updater(nn.Linear(3, 2))
    with pytest.raises(
        AttributeError, match=r"Linear has no parameter 'delay'.*\['weight', 'bias'\]"
    ):
        updater.delay  # noqa: B018
    with pytest.raises(AttributeError, match="no parameter or tensor 'delay'"):
        updater["delay"]
    assert len(updater) == 0


def test_state_dict_has_no_duplicate_parameters_and_is_empty_between_steps() -> None:
    model = Model()
    model.updater.weight.accumulate(torch.ones(2, 3))
    assert list(model.state_dict()) == ["linear.weight", "linear.bias", "updater._extra_state"]
    model.updater.step()
    assert model.state_dict()["updater._extra_state"] == {}


def test_checkpoint_round_trip_mid_accumulation() -> None:
    model = Model()
    model.updater.add("weight", time_reduction="mean")
    model.updater.weight.accumulate(torch.rand(4, 2, 3), batched=True)
    model.updater.weight.accumulate(torch.rand(2, 3), torch.rand(2, 3))
    model.updater.bias.accumulate(depression=torch.rand(2))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    fresh = Model()  # accumulators not created yet: their state waits for first access
    fresh.load_state_dict(state)
    fresh.updater.add("weight", time_reduction="mean")
    assert fresh.updater.weight.steps == 2 and fresh.updater.bias.steps == 1
    for name in ("weight", "bias"):
        for a, b in zip(model.updater[name].pending(), fresh.updater[name].pending(), strict=True):
            assert (a is None and b is None) or torch.equal(a, b)
    model.updater.step()
    fresh.updater.step()
    assert torch.equal(model.linear.weight, fresh.linear.weight)
    assert torch.equal(model.linear.bias, fresh.linear.bias)


def test_pickle_and_deepcopy_keep_the_module_shared() -> None:
    model = Model()
    model.updater.add("weight", constraints=[Clamp(-1.0, 1.0)])
    model.updater.weight.accumulate(torch.ones(2, 3))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.updater.module is clone.linear
        assert clone.updater.weight.parameter is clone.linear.weight
        clone.updater.step()
        assert torch.equal(clone.linear.weight, (model.linear.weight + 1.0).clamp(-1, 1))
    # the original is untouched by the copies
    assert model.updater.weight.steps == 1


def test_module_apply_with_a_function_keeps_its_meaning() -> None:
    model = Model()
    model.updater.weight.accumulate(torch.ones(2, 3))
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "Updater", "Model"]
    assert model.updater.weight.steps == 1  # not applied by model.apply(fn)
    assert Updater.apply is torch.nn.Module.apply  # not shadowed: updates are applied by step()
    assert model.updater.step() and model.updater.weight.steps == 0


def test_to_moves_running_state(device: torch.device) -> None:
    model = Model()
    model.updater.weight.accumulate(torch.ones(2, 3))
    model.to(device)
    model.updater.weight.accumulate(torch.ones(2, 3, device=device))
    assert model.updater.weight.pending().potentiation.device.type == device.type
    before = model.linear.weight.detach().clone()
    model.updater.step()
    assert torch.allclose(model.linear.weight, before + 2.0)


def test_apply_is_all_or_nothing_across_parameters() -> None:
    linear = nn.Linear(3, 2)
    before = {name: p.detach().clone() for name, p in linear.named_parameters()}
    updater = Updater(linear)
    updater.weight.accumulate(torch.ones(2, 3))
    updater.bias.accumulate(torch.tensor([float("inf"), 0.0]))
    with pytest.raises(ValueError, match="must be finite"):
        updater.step()
    for name, p in linear.named_parameters():
        assert torch.equal(p.detach(), before[name])


def test_two_updaters_of_one_module_compose_in_order() -> None:
    holder = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        holder.weight.fill_(0.5)
    first, second = Updater(holder), Updater(holder)
    first.add("weight", bound="soft", w_max=1.0)
    second.add("weight", bound="soft", w_max=1.0)
    first.weight.accumulate(torch.ones(1, 1))
    second.weight.accumulate(torch.ones(1, 1))
    flat, spec = flatten_pending([first, second])
    apply_flattened([first, second], flat, spec)
    # 0.5 + 1 * (1 - 0.5) = 1.0, then 1.0 + 1 * (1 - 1) = 1.0
    assert torch.equal(holder.weight.detach(), torch.ones(1, 1))


# ---------------------------------------------------------------- many ranks


def fake_all_reduce(flats: list[torch.Tensor]) -> torch.Tensor:
    """What torch.distributed.all_reduce(op=SUM) leaves on every rank."""
    return torch.stack(flats).sum(dim=0)


def run_ranks(make_module, configure, updates, world_size: int, steps: int = 4, batches: int = 3):
    """Simulate `world_size` ranks, each with an equal share of every batch.

    Returns the modules of all ranks after `batches` training steps.
    """
    modules = [make_module() for _ in range(world_size)]
    updaters = [Updater(m) for m in modules]
    for updater in updaters:
        configure(updater)
    for batch in range(batches):
        for step in range(steps):
            full = updates(batch, step)  # {name: (P (B, ...), D (B, ...))}
            for rank, updater in enumerate(updaters):
                for name, (p, d) in full.items():
                    share = p.shape[0] // world_size
                    rows = slice(rank * share, (rank + 1) * share)
                    updater[name].accumulate(p[rows], d[rows], batched=True)
        flats, specs = zip(
            *(flatten_pending([u], world_size=world_size) for u in updaters), strict=True
        )
        assert all(spec == specs[0] for spec in specs)
        reduced = fake_all_reduce(list(flats))
        for updater, spec in zip(updaters, specs, strict=True):
            apply_flattened([updater], reduced.clone(), spec)
    return modules


def make_updates(shapes: dict[str, tuple[int, ...]], batch_size: int, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    table = {
        (b, s): {
            name: (
                torch.rand(batch_size, *shape, generator=generator),
                torch.rand(batch_size, *shape, generator=generator) * 0.5,
            )
            for name, shape in shapes.items()
        }
        for b in range(3)
        for s in range(4)
    }
    return lambda batch, step: table[(batch, step)]


def dense() -> nn.Linear:
    torch.manual_seed(3)
    linear = nn.Linear(6, 4)
    with torch.no_grad():
        linear.weight.uniform_(0.0, 1.0)
    return linear


def conv() -> nn.Conv2d:
    torch.manual_seed(4)
    layer = nn.Conv2d(2, 3, kernel_size=3)
    with torch.no_grad():
        layer.weight.uniform_(0.0, 1.0)
    return layer


def configure_dense(updater: Updater) -> None:
    updater.add("weight", bound="soft", w_min=0.0, w_max=1.0, constraints=[Normalize(3.0)])
    updater.add("bias", time_reduction="mean")


def configure_conv(updater: Updater) -> None:
    updater.add("weight", bound="hard", w_min=0.0, w_max=1.0, constraints=[Clamp(0.0, 1.0)])
    updater.add("bias", bound=PowerBound(0.5), w_min=-1.0, w_max=1.0)


@pytest.mark.parametrize(
    ("make_module", "configure", "shapes"),
    [
        (dense, configure_dense, {"weight": (4, 6), "bias": (4,)}),
        (conv, configure_conv, {"weight": (3, 2, 3, 3), "bias": (3,)}),
    ],
    ids=["dense", "conv"],
)
def test_two_ranks_of_batch_b_equal_one_of_batch_2b(make_module, configure, shapes) -> None:
    b = 4
    updates = make_updates(shapes, 2 * b)
    one = run_ranks(make_module, configure, updates, world_size=1)[0]
    rank0, rank1 = run_ranks(make_module, configure, updates, world_size=2)
    initial = make_module()
    for name in shapes:
        w0, w1, w = getattr(rank0, name), getattr(rank1, name), getattr(one, name)
        assert torch.equal(w0, w1)  # replicas stay identical
        assert torch.allclose(w0, w, rtol=0, atol=1e-6)
        assert not torch.allclose(w, getattr(initial, name))  # something was learned


def test_sum_reduction_across_ranks_equals_one_process() -> None:
    def configure(updater: Updater) -> None:
        updater.add("weight", batch_reduction="sum", bound="clamp", w_min=-5.0, w_max=5.0)

    updates = make_updates({"weight": (4, 6)}, 6)
    one = run_ranks(dense, configure, updates, world_size=1)[0]
    for rank in run_ranks(dense, configure, updates, world_size=3):
        assert torch.allclose(rank.weight, one.weight, rtol=0, atol=1e-5)


def test_single_rank_flat_path_equals_updater_step() -> None:
    a, b = dense(), dense()
    ua, ub = Updater(a), Updater(b)
    for u in (ua, ub):
        configure_dense(u)
    p = torch.rand(5, 4, 6)
    for u in (ua, ub):
        u.weight.accumulate(p, p * 0.3, batched=True)
    ua.step()
    ub.apply_flat(*ub.pending_flat())
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_layout_does_not_depend_on_creation_order_or_pending_state() -> None:
    first, second = Updater(nn.Linear(3, 2)), Updater(nn.Linear(3, 2))
    first.add("weight")
    first.add("bias")
    second.add("bias")
    second.add("weight")
    second.weight.accumulate(torch.ones(2, 3))
    _, spec_a = first.pending_flat(world_size=2)
    flat_b, spec_b = second.pending_flat(world_size=2)
    assert spec_a == spec_b and flat_b.numel() == spec_b.numel == 2 * (2 + 6) + 4


def test_a_rank_with_nothing_pending_contributes_zero() -> None:
    ranks = [zero_linear(), zero_linear()]
    updaters = [Updater(m) for m in ranks]
    for u in updaters:
        u.add("weight")
    updaters[0].weight.accumulate(torch.full((2, 2), 4.0))  # rank 1 accumulates nothing
    flats, specs = zip(*(u.pending_flat(world_size=2) for u in updaters), strict=True)
    reduced = fake_all_reduce(list(flats))
    for u, spec in zip(updaters, specs, strict=True):
        assert u.apply_flat(reduced.clone(), spec)
    for m in ranks:
        assert torch.equal(m.weight.detach(), torch.full((2, 2), 2.0))  # mean of 4 and 0
        assert torch.equal(m.bias.detach(), torch.zeros(2))  # no accumulator, untouched


def test_callable_reduction_without_rank_reduction_is_refused_on_several_ranks() -> None:
    updater = Updater(nn.Linear(3, 2))
    updater.add("weight", batch_reduction=torch.nn.functional.relu)
    updater.pending_flat(world_size=1)  # fine on one rank
    with pytest.raises(ValueError, match="'weight' .* declare rank_reduction"):
        updater.pending_flat(world_size=2)
    declared = Updater(nn.Linear(3, 2))
    declared.add("weight", batch_reduction=torch.nn.functional.relu, rank_reduction="sum")
    assert declared.pending_flat(world_size=2)[1].segments[0].rank_reduction == "sum"


def test_flat_errors_leave_parameters_unchanged() -> None:
    model = Model()
    before = model.linear.weight.detach().clone()
    model.updater.weight.accumulate(torch.ones(2, 3))
    flat, spec = model.updater.pending_flat()
    with pytest.raises(ValueError, match=r"flat must be a 1-D tensor of 14 elements, got \(13,\)"):
        apply_flattened([model.updater], flat[:-1], spec)
    bad = flat.clone()
    bad[0] = float("nan")
    with pytest.raises(ValueError, match="flat must be finite"):
        apply_flattened([model.updater], bad, spec)
    bad[0], bad[1] = float("inf"), float("-inf")  # a sum of NaN: still caught
    with pytest.raises(ValueError, match="flat must be finite"):
        apply_flattened([model.updater], bad, spec)
    with pytest.raises(ValueError, match="updaters do not match"):
        apply_flattened([Updater(model.linear)], flat, spec)
    with pytest.raises(ValueError, match="world_size must be a positive int"):
        flatten_pending([model.updater], world_size=0)
    assert torch.equal(model.linear.weight.detach(), before)
    assert model.updater.weight.steps == 1


def test_a_flat_buffer_whose_sum_overflows_is_still_finite() -> None:
    """The finiteness check sums the buffer; an overflowing sum of finite terms is rechecked."""
    model = Model()
    model.updater.weight.accumulate(torch.full((2, 3), 3e38))
    flat, spec = model.updater.pending_flat()
    assert not torch.isfinite(flat.sum())  # 6 x 3e38 overflows float32
    assert apply_flattened([model.updater], flat, spec)
    assert torch.isfinite(model.linear.weight).all()


def test_nothing_to_reduce() -> None:
    flat, spec = flatten_pending([Updater(nn.Linear(2, 2))], world_size=4)
    assert spec.numel == 0 and flat.numel() == 0
    assert apply_flattened([], flat, spec) is False


def test_flat_on_device(device: torch.device) -> None:
    model = Model().to(device)
    model.updater.weight.accumulate(torch.ones(2, 3, device=device))
    flat, spec = model.updater.pending_flat(world_size=2)
    assert flat.device.type == device.type
    before = model.linear.weight.detach().clone()
    model.updater.apply_flat(flat * 2, spec)  # as if the other rank had the same
    assert torch.allclose(model.linear.weight, before + 1.0)


def test_accumulator_class_is_exported() -> None:
    assert isinstance(Updater(nn.Linear(2, 2)).weight, Accumulator)
