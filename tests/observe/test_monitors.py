"""Monitors and MonitorPool on small hand-made modules."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from inferno_lightning.neural.base import StatefulModule
from inferno_lightning.observe import (
    EventCountReducer,
    HistoryReducer,
    LatestReducer,
    Monitor,
    MonitorPool,
    NearestTraceReducer,
)


class Inner(nn.Module):
    """Holds a value set by its parent, for dotted attribute paths."""

    def __init__(self) -> None:
        super().__init__()
        self.level: torch.Tensor | None = None


class Probe(nn.Module):
    """forward(x): sets ``value = 2 x`` and ``inner.level = 3 x``, returns ``x + 1``."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = Inner()
        self.value: torch.Tensor | None = None
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.value = 2.0 * x
        self.inner.level = 3.0 * x
        return x + 1.0


class InPlace(nn.Module):
    """Multiplies its input by 10 in place, as a module might."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul_(10.0)


class Stateful(nn.Module):
    """Has a ``state`` property that only works after the first forward."""

    def __init__(self) -> None:
        super().__init__()
        self._state: torch.Tensor | None = None

    @property
    def state(self) -> torch.Tensor:
        if self._state is None:
            raise RuntimeError("no state before the first step")
        return self._state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._state = x.clone()
        return x


class Net(nn.Module):
    """A probe and a pool of monitors on it, as a model would hold them."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = Probe()
        self.monitors = MonitorPool()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe(x)


def _steps(module: nn.Module, values: list[float], device: torch.device | str = "cpu") -> None:
    for v in values:
        module(torch.tensor([[v]], device=device))


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("output", [2.0, 3.0, 4.0]),
        ("input", [1.0, 2.0, 3.0]),
        ("value", [2.0, 4.0, 6.0]),
        ("inner.level", [3.0, 6.0, 9.0]),
    ],
)
def test_monitor_records_output_input_and_attributes(
    attribute: str, expected: list[float], device: torch.device
) -> None:
    probe = Probe().to(device)
    monitor = Monitor(probe, attribute, HistoryReducer(step_time=1.0, duration=5.0))
    assert monitor.peek() is None
    _steps(probe, [1.0, 2.0, 3.0], device)
    kept = monitor.peek()
    assert kept.shape == (3, 1, 1)
    assert kept.device.type == device.type
    assert kept.reshape(-1).tolist() == expected


def test_input_is_recorded_before_forward_changes_it() -> None:
    module = InPlace()
    monitor = Monitor(module, "input", LatestReducer())
    module(torch.tensor([[2.0]]))
    assert monitor.peek().item() == 2.0


def test_recorded_values_are_detached() -> None:
    probe = Probe()
    monitor = Monitor(probe, "output", LatestReducer())
    out = probe(torch.ones(1, 2, requires_grad=True) * probe.scale)
    assert out.requires_grad
    assert not monitor.peek().requires_grad


def test_property_without_state_is_accepted_and_read_after_forward() -> None:
    module = Stateful()
    monitor = Monitor(module, "state", LatestReducer())
    module(torch.tensor([[5.0]]))
    assert monitor.peek().item() == 5.0


@pytest.mark.parametrize(
    ("train_update", "eval_update", "expected"),
    [(True, False, 2.0), (False, True, 3.0), (True, True, 5.0)],
)
def test_monitor_limited_to_training_or_evaluation(
    train_update: bool, eval_update: bool, expected: float
) -> None:
    probe = Probe()
    monitor = Monitor(
        probe, "input", EventCountReducer(), train_update=train_update, eval_update=eval_update
    )
    probe.train()
    _steps(probe, [1.0, 1.0])
    probe.eval()
    _steps(probe, [1.0, 1.0, 1.0])
    assert monitor.peek().item() == expected


def test_training_only_monitor_does_not_record_in_eval() -> None:
    probe = Probe().eval()
    monitor = Monitor(probe, "output", LatestReducer(), eval_update=False)
    _steps(probe, [1.0, 2.0])
    assert monitor.peek() is None
    probe.train()
    _steps(probe, [3.0])
    assert monitor.peek().item() == 4.0


def test_remove_and_register_again() -> None:
    probe = Probe()
    monitor = Monitor(probe, "input", EventCountReducer())
    assert monitor.registered and len(probe._forward_pre_hooks) == 1
    _steps(probe, [1.0])
    monitor.remove()
    monitor.remove()  # idempotent
    assert not monitor.registered and len(probe._forward_pre_hooks) == 0
    _steps(probe, [1.0, 1.0])
    assert monitor.peek().item() == 1.0  # kept, not updated
    monitor.register()
    monitor.register()  # idempotent
    _steps(probe, [1.0])
    assert monitor.peek().item() == 2.0
    assert len(probe._forward_pre_hooks) == 1


def test_reset_clears_and_next_batch_size_is_free(device: torch.device) -> None:
    probe = Probe().to(device)
    monitor = Monitor(probe, "value", NearestTraceReducer(step_time=1.0, time_constant=10.0))
    probe(torch.ones(4, 3, device=device))
    assert monitor.peek().shape == (4, 3)
    with pytest.raises(ValueError, match="reset"):
        probe(torch.ones(1, 3, device=device))
    monitor.reset()
    assert monitor.peek() is None
    probe(torch.full((1, 3), 2.0, device=device))  # value = 4: not a spike
    assert_close(monitor.peek(), torch.zeros(1, 3, device=device))


def test_monitor_adds_nothing_to_state_dict() -> None:
    net = Net()
    keys = set(net.state_dict())
    net.monitors.get_or_create(net.probe, "output", HistoryReducer(1.0, 3.0))
    net.monitors.get_or_create(net.probe, "value", LatestReducer())
    _steps(net, [1.0, 2.0])
    assert set(net.state_dict()) == keys == {"probe.scale"}
    assert net.monitors.state_dict() == {}


def test_pool_shares_one_monitor_that_fires_once_per_step() -> None:
    probe = Probe()
    pool = MonitorPool()
    first = pool.get_or_create(probe, "input", EventCountReducer())
    second = pool.get_or_create(probe, "input", EventCountReducer())
    assert second is first
    assert len(pool) == 1 and pool.users(first) == 2
    assert len(probe._forward_pre_hooks) == 1
    _steps(probe, [1.0] * 5)
    assert first.peek().item() == 5.0  # not 10


def test_pool_distinguishes_configurations() -> None:
    probe, other = Probe(), Probe()
    pool = MonitorPool()
    base = pool.get_or_create(probe, "output", NearestTraceReducer(1.0, 20.0))
    variants = [
        pool.get_or_create(probe, "output", NearestTraceReducer(1.0, 10.0)),
        pool.get_or_create(probe, "value", NearestTraceReducer(1.0, 20.0)),
        pool.get_or_create(other, "output", NearestTraceReducer(1.0, 20.0)),
        pool.get_or_create(probe, "output", HistoryReducer(1.0, 20.0)),
        pool.get_or_create(probe, "output", NearestTraceReducer(1.0, 20.0), eval_update=False),
    ]
    assert all(v is not base for v in variants)
    assert len({id(v) for v in variants}) == len(variants)
    assert len(pool) == 6
    assert pool.get_or_create(probe, "output", NearestTraceReducer(1.0, 20.0)) is base


def test_pool_release_removes_hook_after_last_user() -> None:
    probe = Probe()
    pool = MonitorPool()
    monitor = pool.get_or_create(probe, "output", LatestReducer())
    pool.get_or_create(probe, "output", LatestReducer())
    pool.release(monitor)
    assert monitor.registered and monitor in pool and pool.users(monitor) == 1
    pool.release(monitor)
    assert not monitor.registered and monitor not in pool and len(pool) == 0
    assert len(probe._forward_hooks) == 0
    with pytest.raises(ValueError, match="not in this pool"):
        pool.release(monitor)


def test_pool_reset_and_clear() -> None:
    probe = Probe()
    pool = MonitorPool()
    a = pool.get_or_create(probe, "output", LatestReducer())
    b = pool.get_or_create(probe, "input", EventCountReducer())
    _steps(probe, [1.0])
    pool.reset()
    assert a.peek() is None and b.peek() is None
    pool.clear()
    assert len(pool) == 0 and not a.registered and not b.registered
    assert len(probe._forward_hooks) == 0 and len(probe._forward_pre_hooks) == 0


def test_network_wide_reset_reaches_pooled_reducers() -> None:
    net = Net()
    monitor = net.monitors.get_or_create(net.probe, "output", LatestReducer())
    _steps(net, [1.0])
    for module in net.modules():
        if isinstance(module, StatefulModule):
            module.reset()
    assert monitor.peek() is None


@pytest.mark.parametrize("duplicate", [pickle.loads, copy.deepcopy])
def test_pickled_model_keeps_its_monitors_attached(duplicate) -> None:
    net = Net()
    monitor = net.monitors.get_or_create(net.probe, "output", EventCountReducer(target=2.0))
    _steps(net, [1.0])
    twin = duplicate(pickle.dumps(net)) if duplicate is pickle.loads else duplicate(net)
    twin_monitor = next(iter(twin.monitors))
    assert twin_monitor is not monitor
    assert twin_monitor.observed is twin.probe
    assert twin_monitor.peek().item() == 1.0  # kept state travels with the copy
    _steps(twin, [1.0, 1.0])
    assert twin_monitor.peek().item() == 3.0
    assert monitor.peek().item() == 1.0  # the original is not fed by the copy
    assert len(twin.probe._forward_hooks) == 1
    twin.monitors.release(twin_monitor)
    assert len(twin.probe._forward_hooks) == 0
    assert len(net.probe._forward_hooks) == 1


def test_bad_arguments_raise_naming_them() -> None:
    probe = Probe()
    with pytest.raises(AttributeError, match="'nothing'"):
        Monitor(probe, "nothing", LatestReducer())
    with pytest.raises(AttributeError, match="'inner.nothing'"):
        Monitor(probe, "inner.nothing", LatestReducer())
    with pytest.raises(ValueError, match="attribute"):
        Monitor(probe, "inner..level", LatestReducer())
    with pytest.raises(TypeError, match="reducer"):
        Monitor(probe, "output", "latest")
    with pytest.raises(TypeError, match="module"):
        Monitor("probe", "output", LatestReducer())
    with pytest.raises(TypeError, match="eval_update"):
        Monitor(probe, "output", LatestReducer(), eval_update=1)
    with pytest.raises(ValueError, match="never record"):
        Monitor(probe, "output", LatestReducer(), train_update=False, eval_update=False)
    assert len(probe._forward_hooks) == 0  # nothing registered by failed constructions


def test_non_tensor_observation_is_an_error() -> None:
    probe = Probe()
    Monitor(probe, "inner", LatestReducer())
    with pytest.raises(TypeError, match="'inner'"):
        probe(torch.ones(1, 1))


def test_monitors_on_a_lif_group(device: torch.device) -> None:
    neurons_module = pytest.importorskip("inferno_lightning.neural.neurons")
    lif = neurons_module.LIF(3, step_time=1.0).to(device)
    pool = MonitorPool()
    voltage = pool.get_or_create(lif, "voltage", HistoryReducer(step_time=1.0, duration=2.0))
    count = pool.get_or_create(lif, "output", EventCountReducer())
    trace = pool.get_or_create(lif, "spike", NearestTraceReducer(1.0, 10.0))
    assert pool.get_or_create(lif, "output", EventCountReducer()) is count
    currents = torch.tensor([[0.0, 20.0, 40.0]], device=device)
    outputs, voltages = [], []
    for _ in range(60):
        outputs.append(lif(currents))
        voltages.append(lif.voltage.clone())
    spikes = torch.stack(outputs)
    assert spikes[:, 0, 0].sum() == 0 and spikes[:, 0, 2].sum() > spikes[:, 0, 1].sum() > 0
    assert_close(count.peek(), spikes.sum(0))
    assert_close(voltage.peek(), torch.stack(voltages[-3:]))
    # nearest trace: exp(-k/10) k steps after the last spike, 0 without one
    last = [max((t for t in range(60) if spikes[t, 0, i]), default=None) for i in range(3)]
    expected = [
        0.0 if t is None else torch.exp(torch.tensor(-(59 - t) / 10.0)).item() for t in last
    ]
    assert_close(trace.peek(), torch.tensor([expected], device=device))
    assert set(lif.state_dict()) == set(neurons_module.LIF(3, step_time=1.0).state_dict())
    lif.reset()
    pool.reset()
    lif(torch.zeros(1, 3, device=device))
    assert count.peek().sum() == 0 and voltage.peek().shape == (1, 1, 3)
