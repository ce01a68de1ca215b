"""Learning-rule registration: shared Updaters and monitors, validation with nothing left behind."""

from __future__ import annotations

import copy
import io
import math
import pickle

import pytest
import torch
from torch import nn

from inferno_lightning.learn import (
    MSTDP,
    MSTDPET,
    STDP,
    DelayLearning,
    LinearHomeostasis,
    TripletSTDP,
    Updater,
    updater_for,
)
from inferno_lightning.neural.connections import Conv2d, LinearDense
from inferno_lightning.neural.layers import Layer, Serial
from inferno_lightning.neural.neurons import LIF
from inferno_lightning.neural.synapses import DeltaCurrent
from inferno_lightning.observe import MonitorPool

DRIVE = 1e4


def dense(n_in: int = 2, n_out: int = 2, **kwargs) -> Serial:
    conn = LinearDense(n_in, n_out, synapse=DeltaCurrent(n_in, 1.0), weight_init=0.0, **kwargs)
    return Serial(conn, LIF(n_out, 1.0, refrac_t=0.0))


def step(layer: Serial, pre: list[float], post: list[float]) -> None:
    with torch.no_grad():
        layer.connection(torch.tensor([pre]))
        layer.neuron(torch.tensor([post]) * DRIVE)


class Model(nn.Module):
    """What a SpikingModule holds: layers, a shared monitor pool, rules."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = dense()
        self.pool = MonitorPool()
        self.stdp = STDP(lr_post=1.0, lr_pre=0.5, monitors=self.pool)
        self.mstdpet = MSTDPET(monitors=self.pool)
        self.stdp.register(self.layer.cell())
        self.mstdpet.register(self.layer.cell())


# ------------------------------------------------------------- shared Updater


def test_updater_for_is_one_submodule_per_connection() -> None:
    layer = dense()
    updater = updater_for(layer.connection)
    assert updater is updater_for(layer.connection) is layer.connection.updater
    assert updater.module is layer.connection
    # no cycle: the Updater does not register the connection, and no parameter is listed twice
    assert list(updater.children()) == []
    assert [name for name, _ in layer.named_parameters()] == ["connections.connection.weight"]


def test_accumulators_are_created_at_registration() -> None:
    model = Model()
    updaters = [m for m in model.modules() if isinstance(m, Updater)]
    assert updaters == [updater_for(model.layer.connection)]
    assert updaters[0].names == ("weight",)


def test_rules_sharing_observations_share_monitors() -> None:
    model = Model()
    # pre, post, pre trace, post trace: four monitors, each with two users
    assert len(model.pool) == 4
    assert all(model.pool.users(m) == 2 for m in model.pool)
    assert all(not m.eval_update and m.train_update for m in model.pool)
    # a rule with other time constants gets its own traces but shares the spikes
    other = STDP(tc_pre=7.0, monitors=model.pool)
    other.register(model.layer.cell())
    assert len(model.pool) == 5


def test_two_rules_accumulate_once_each_per_step() -> None:
    model = Model()
    step(model.layer, [1.0, 0.0], [0.0, 1.0])
    model.stdp()
    model.mstdpet(reward=torch.ones(1))
    assert updater_for(model.layer.connection).weight.steps == 2


# ------------------------------------------------------ several cells, overrides


def test_one_rule_on_two_cells_with_per_cell_hyperparameters() -> None:
    """Two connections feeding one group; the second with its own lr_post."""
    a = LinearDense(1, 1, synapse=DeltaCurrent(1, 1.0), weight_init=0.0)
    b = LinearDense(1, 1, synapse=DeltaCurrent(1, 1.0), weight_init=0.0)
    layer = Layer({"a": a, "b": b}, {"n": LIF(1, 1.0, refrac_t=0.0)}, {"a": "n", "b": "n"})
    rule = STDP(lr_post=1.0, lr_pre=0.0, tc_pre=2.0)
    rule.register(layer.cell("a"))
    rule.register(layer.cell("b"), lr_post=3.0)
    assert rule.cells == (layer.cell("a"), layer.cell("b"))
    assert rule.config(layer.cell("b"))["lr_post"] == 3.0
    with torch.no_grad():
        one, zero = torch.ones(1, 1), torch.zeros(1, 1)
        for t, (xa, xb) in enumerate([(one, zero), (zero, one), (zero, zero)]):
            a(xa)
            b(xb)
            layer.neurons["n"](one * DRIVE if t == 2 else zero)
            rule()
    updater_for(a).step()
    updater_for(b).step()
    assert a.weight.item() == pytest.approx(math.exp(-1.0))  # 2 ms before the post spike
    assert b.weight.item() == pytest.approx(3.0 * math.exp(-0.5))  # 1 ms before, lr_post 3


def test_deregister_releases_monitors_and_stops_accumulating() -> None:
    layer = dense()
    rule = STDP()
    rule.register(layer.cell())
    rule.deregister(layer.cell())
    assert rule.cells == () and len(rule.monitors) == 0
    step(layer, [1.0, 1.0], [1.0, 1.0])
    rule()
    assert updater_for(layer.connection).weight.steps == 0
    with pytest.raises(ValueError, match="not registered"):
        rule.deregister(layer.cell())


# ----------------------------------------------------------------- bad input


def assert_untouched(layer: Serial, rule, had_updater: bool = False) -> None:
    assert rule.cells == ()
    assert len(rule.monitors) == 0
    assert ("updater" in layer.connection._modules) == had_updater


def test_delay_learning_without_delays_is_refused_with_nothing_left_behind() -> None:
    layer = dense()
    rule = DelayLearning()
    with pytest.raises(ValueError, match="delay"):
        rule.register(layer.cell())
    assert_untouched(layer, rule)
    # also when the connection already has an Updater from another rule
    stdp = STDP(monitors=rule.monitors)
    stdp.register(layer.cell())
    users = [rule.monitors.users(m) for m in rule.monitors]
    with pytest.raises(ValueError, match="delay"):
        rule.register(layer.cell())
    assert rule.cells == ()
    assert [rule.monitors.users(m) for m in rule.monitors] == users
    assert updater_for(layer.connection).names == ("weight",)


def test_delay_learning_on_conv_is_refused() -> None:
    conv = Conv2d((1, 3, 3), 1, 2, synapse=DeltaCurrent((1, 3, 3), 1.0))
    layer = Serial(conv, LIF((1, 2, 2), 1.0))
    rule = DelayLearning()
    with pytest.raises(ValueError, match="delay=None"):
        rule.register(layer.cell())
    assert_untouched(layer, rule)


@pytest.mark.parametrize(
    ("overrides", "error", "name"),
    [
        ({"lr_psot": 1.0}, TypeError, "lr_psot"),
        ({"tc_pre": -1.0}, ValueError, "tc_pre"),
        ({"trace_mode": "all-to-all"}, ValueError, "trace_mode"),
        ({"lr_post": float("nan")}, ValueError, "lr_post"),
    ],
)
def test_bad_overrides_are_named_and_leave_nothing(overrides, error, name) -> None:
    layer = dense()
    rule = STDP()
    with pytest.raises(error, match=name):
        rule.register(layer.cell(), **overrides)
    assert_untouched(layer, rule)


def test_registering_twice_or_a_non_cell_is_refused() -> None:
    layer = dense()
    rule = STDP()
    rule.register(layer.cell())
    with pytest.raises(ValueError, match="already registered"):
        rule.register(layer.cell())
    with pytest.raises(TypeError, match="cell"):
        rule.register(layer)
    assert len(rule.cells) == 1 and len(rule.monitors) == 4


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (STDP, {"tc_post": 0.0}, "tc_post"),
        (STDP, {"tc_pre": float("inf")}, "tc_pre"),
        (STDP, {"trace_mode": "pairs"}, "trace_mode"),
        (STDP, {"lr_pre": "fast"}, "lr_pre"),
        (TripletSTDP, {"tc_y": -5.0}, "tc_y"),
        (TripletSTDP, {"a3_plus": float("nan")}, "a3_plus"),
        (MSTDP, {"scale": float("nan")}, "scale"),
        (DelayLearning, {"window": 0.0}, "window"),
        (DelayLearning, {"lead": -1.0}, "lead"),
        (LinearHomeostasis, {"target_rate": -2.0}, "target_rate"),
    ],
)
def test_bad_hyperparameters_at_construction_are_named(cls, kwargs, name) -> None:
    with pytest.raises((ValueError, TypeError), match=name):
        cls(**kwargs)


def test_rule_before_any_step_or_in_eval_is_a_clear_error() -> None:
    layer = dense()
    rule = STDP()
    rule.register(layer.cell())
    with pytest.raises(RuntimeError, match="recorded nothing"):
        rule()
    layer.eval()  # monitors of rules record only in training
    step(layer, [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(RuntimeError, match="training"):
        rule()
    assert updater_for(layer.connection).weight.steps == 0


# --------------------------------------------------------- state and copies


def test_rule_state_dict_is_empty_and_checkpoints_load_at_any_batch_size() -> None:
    model = Model()
    with torch.no_grad():
        model.layer(torch.ones(4, 2))
    model.stdp()
    model.mstdpet(reward=torch.ones(4))
    keys = [k for k in model.state_dict() if "stdp" in k.lower()]
    assert keys == []
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = Model()
    fresh.load_state_dict(torch.load(buffer))
    # unfinished accumulation resumes exactly (the Updater saves its running sums)
    assert updater_for(fresh.layer.connection).weight.steps == 2
    with torch.no_grad():
        fresh.layer(torch.ones(1, 2))
    fresh.stdp()
    fresh.mstdpet(reward=torch.ones(1))


def test_deepcopy_and_pickle_keep_rules_working() -> None:
    model = Model()
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.stdp.cells[0].connection is clone.layer.connection
        step(clone.layer, [1.0, 0.0], [0.0, 1.0])
        clone.stdp()
        clone.mstdpet(reward=torch.ones(1))
        assert updater_for(clone.layer.connection).weight.steps == 2
        assert updater_for(model.layer.connection).weight.steps == 0
        updater_for(clone.layer.connection).step()
        # same-step pair: lr_post - lr_pre from STDP; MSTDPET's zeta is 1 - 1 = 0
        assert clone.layer.connection.weight[1, 0].item() == pytest.approx(0.5)
    assert model.layer.connection.weight.abs().sum().item() == 0.0


# ------------------------------------------------------------------- devices


def test_every_rule_runs_on_the_model_device(device: torch.device) -> None:
    """All rules on one delayed dense cell, on ``device``; the reward may come from the CPU
    in another dtype."""
    layer = dense(delay=torch.tensor([[0.0, 1.0], [2.0, 0.0]]), max_delay=2.0).to(device)
    pool = MonitorPool()
    rules = [
        STDP(monitors=pool),
        TripletSTDP(monitors=pool),
        MSTDP(monitors=pool),
        MSTDPET(monitors=pool),
        LinearHomeostasis(monitors=pool),
        DelayLearning(monitors=pool),
    ]
    for rule in rules:
        rule.register(layer.cell())
    pool.to(device)
    generator = torch.Generator().manual_seed(3)
    for _ in range(6):
        pre = (torch.rand(3, 2, generator=generator) < 0.5).float().to(device)
        post = (torch.rand(3, 2, generator=generator) < 0.5).float().to(device)
        with torch.no_grad():
            layer.connection(pre)
            layer.neuron(post * DRIVE)
        for rule in rules:
            rule(reward=torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64))
    updater = updater_for(layer.connection)
    # one accumulate() per rule and step: five weight rules, one delay rule, six steps
    assert updater.weight.steps == 30 and updater.delay.steps == 6
    assert updater.step() is True
    assert layer.connection.weight.device.type == device.type
    assert bool(torch.isfinite(layer.connection.weight).all())
    assert bool((layer.connection.delay >= 0).all() and (layer.connection.delay <= 2).all())
