"""No host synchronisation inside a simulation step on an accelerator (DESIGN.md design rules).

On CPU the step may read values (fast finiteness checks, sparse products over the spikes that
are there). On every other device it may not: checks are recorded on the device and read once
per batch. The CPU tests run the accelerator's policy by emptying
``HOST_READABLE_DEVICE_TYPES`` and count the operations that read a tensor on the host
(``item``, ``bool``, ``tolist``, ``nonzero``, ...): a batch of 20 steps must count exactly
as many as a batch of 5. On CUDA, ``torch.cuda.set_sync_debug_mode("error")`` around the steps.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import pytest
import torch
from torch.overrides import TorchFunctionMode

from inferno_lightning import _validation
from inferno_lightning.learn import updater_for
from inferno_lightning.models import DiehlCook2015, RewardModulatedClassifier, SurrogateConvSNN
from tests.lightning_models import MixedNet, STDPNet

pytestmark = pytest.mark.filterwarnings("ignore:.*optimizer.*")

HOST_READS = {
    "item", "__bool__", "__float__", "__int__", "__index__", "tolist", "nonzero", "argwhere",
    "masked_select", "unique",
}  # fmt: skip


class HostReads(TorchFunctionMode):
    """Counts the tensor operations that read values on the host (a synchronisation on CUDA)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        name = getattr(func, "__name__", "")
        if name in HOST_READS:
            self.counts[name] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture
def accelerator_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_validation, "HOST_READABLE_DEVICE_TYPES", frozenset())


def spikes(steps: int, batch: int = 4, n: int = 12, density: float = 0.3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(steps)
    return (torch.rand(steps, batch, n, generator=generator) < density).float()


def labelled(model, shape: tuple[int, ...]) -> Callable[[], object]:  # noqa: ANN001
    generator = torch.Generator().manual_seed(0)
    batch = (torch.rand(4, *shape, generator=generator), torch.arange(4) % 3)
    return lambda: model.training_step(batch, 0)


def simulating(model: torch.nn.Module) -> Callable[[int], Callable[[], object]]:
    model.train()
    return lambda steps: lambda: model.simulate(spikes(steps))


def presenting(cls: type, **kwargs: object) -> Callable[[int], Callable[[], object]]:
    # A model that encodes its own presentation: the number of steps is a hyperparameter.
    def make(steps: int) -> Callable[[], object]:
        model = cls(**kwargs, presentation_time=float(steps))
        model.train()
        return labelled(model, (kwargs["n_inputs"],))

    return make


def surrogate(steps: int) -> Callable[[], object]:
    model = SurrogateConvSNN(input_shape=(1, 8, 8), n_steps=steps, channels=(4,), hidden=8)
    model.train()
    return labelled(model, (1, 8, 8))


CASES = {
    "STDP on ALIF (checks on)": lambda: simulating(STDPNet()),
    "STDP on LIF": lambda: simulating(STDPNet(adaptive=False)),
    "STDP and surrogate gradients": lambda: simulating(MixedNet()),
    "DiehlCook2015 training batch": lambda: presenting(DiehlCook2015, n_inputs=16, n_neurons=10),
    "RewardModulatedClassifier training batch": lambda: presenting(
        RewardModulatedClassifier, n_inputs=16
    ),
    "SurrogateConvSNN training batch": lambda: surrogate,
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_step_reads_nothing_on_the_host_under_the_accelerator_policy(
    case: str, accelerator_policy: None
) -> None:
    make = CASES[case]()
    counted = {}
    for steps in (5, 20):
        run = make(steps)
        run()  # first batch: constants are computed and cached once
        with HostReads() as counter:
            run()
        counted[steps] = counter
    assert counted[20].counts == counted[5].counts, (counted[5].counts, counted[20].counts)
    assert counted[5].total <= 16  # a handful per batch: input checks, boosts, metrics


def test_on_cpu_the_checks_read_every_step() -> None:
    """The counter sees the CPU path's per-step reads: the test above could fail."""
    model = STDPNet()
    model.train()
    model.simulate(spikes(5))
    with HostReads() as few:
        model.simulate(spikes(5))
    with HostReads() as many:
        model.simulate(spikes(20))
    assert many.total - few.total >= 15


def test_a_nan_inside_the_loop_is_found_once_per_batch_and_the_batch_undone(
    accelerator_policy: None,
) -> None:
    model = STDPNet()
    model.train()
    model.simulate(spikes(20))
    before = {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}
    with torch.no_grad():
        model.layer.connection.weight[2, 7:11] = 1e38
    inputs = torch.zeros(20, 4, 12)
    inputs[13, 1, 7:11] = 1.0  # 4e38 nA overflows float32 to inf: first at step 13
    inputs[15:, :, :3] = 1.0
    with (
        HostReads() as counter,
        pytest.raises(ValueError, match="inputs must be finite: NaN or inf at time step 13"),
    ):
        model.simulate(inputs)
    assert counter.total <= 3  # the batch's input check and one read of the records
    weight = model.layer.connection.weight.detach().clone()
    weight[2, 7:11] = before["layer.connections.connection.weight"][2, 7:11]
    assert torch.equal(weight, before["layer.connections.connection.weight"])
    assert torch.equal(model.layer.neuron.adaptation, before["layer.neurons.neuron.adaptation"])
    assert updater_for(model.layer.connection).weight.steps == 20  # the earlier batch's, kept


def test_the_sparse_products_stay_off_under_the_accelerator_policy(
    accelerator_policy: None,
) -> None:
    """The CPU's event-driven products find the spikes with nonzero: never off the host."""
    from inferno_lightning.neural import connections

    weight = torch.rand(5, 12)
    post = torch.zeros(4, 5, dtype=torch.bool)
    post[0, 1] = True
    assert connections._spike_matrix(post, torch.rand(4, 12), weight, "sum") is None
    current = torch.zeros(4, 12)
    current[0, 3] = 1.0
    assert connections._sparse_linear(current, weight, None) is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_steps_never_synchronise() -> None:
    from inferno_lightning._validation import deferred_finite_checks

    for model in (STDPNet().cuda(), MixedNet().cuda()):
        model.train()
        inputs = spikes(30).cuda()
        model.simulate(inputs)  # constants cached
        model.reset_state()
        with deferred_finite_checks() as checks:
            torch.cuda.set_sync_debug_mode("error")
            try:
                for t in range(inputs.shape[0]):
                    checks.step = t
                    model.step(inputs[t])
                    model.learning_step()
            finally:
                torch.cuda.set_sync_debug_mode(0)
            checks.raise_if_failed()
        assert (
            updater_for(
                model.layer.connection if hasattr(model, "layer") else model.hidden.connection
            ).weight.steps
            == 30
        )
