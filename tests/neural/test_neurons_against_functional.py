"""Every neuron module against its functional step: the same spikes, states and gradients.

Each module is stepped next to its function of
:mod:`inferno_lightning.functional.neurons`, called with constants computed
from the same parameters by the public ``*_coefficients`` functions, over
steps that spike, hold refractory neurons, reset and start again after a
``reset()`` (float64, per-neuron parameters where a model takes them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch

from inferno_lightning.functional import neurons as nf
from inferno_lightning.functional.spikes import Surrogate
from inferno_lightning.neural import (
    ALIF,
    EIF,
    LIF,
    QIF,
    AdEx,
    IntegrateAndFire,
    Izhikevich,
    SpikingNeuron,
)

F64 = torch.float64
STEPS, RESET_AT, BATCH, N = 24, 13, 3, 4


def _per_neuron(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


def _terms(value: float | list[float]) -> float | torch.Tensor:
    """One value per adaptation term, laid out ``(K, 1)`` against ``(K, N)``."""
    return torch.tensor(value, dtype=F64).view(-1, 1) if isinstance(value, list) else value


# model -> (module keywords, functional constants from the same keywords, initial state, step)
def _lif(dt: float, kw: dict[str, Any]):
    coefficients = nf.lif_coefficients(
        dt, time_constant=kw["time_constant"], rest_v=kw["rest_v"], resistance=kw["resistance"]
    )
    return coefficients, nf.lif_step


def _alif(dt: float, kw: dict[str, Any]):
    coefficients = nf.alif_coefficients(
        dt,
        time_constant=kw["time_constant"],
        rest_v=kw["rest_v"],
        resistance=kw["resistance"],
        tc_adaptation=_terms(kw["tc_adaptation"]),
        spike_increment=_terms(kw["spike_increment"]),
    )
    return coefficients, nf.alif_step


def _qif(dt: float, kw: dict[str, Any]):
    coefficients = nf.qif_coefficients(
        dt,
        time_constant=kw["time_constant"],
        rest_v=kw["rest_v"],
        crit_v=kw["crit_v"],
        affinity=kw["affinity"],
        resistance=kw["resistance"],
    )
    return coefficients, nf.qif_step


def _eif(dt: float, kw: dict[str, Any]):
    coefficients = nf.eif_coefficients(
        dt,
        time_constant=kw["time_constant"],
        rest_v=kw["rest_v"],
        rheobase_v=kw["rheobase_v"],
        sharpness=kw["sharpness"],
        resistance=kw["resistance"],
    )
    return coefficients, nf.eif_step


def _adex(dt: float, kw: dict[str, Any]):
    coefficients = nf.adex_coefficients(
        dt,
        time_constant=kw["time_constant"],
        rest_v=kw["rest_v"],
        rheobase_v=kw["rheobase_v"],
        sharpness=kw["sharpness"],
        resistance=kw["resistance"],
        tc_adaptation=_terms(kw["tc_adaptation"]),
        voltage_coupling=_terms(kw["voltage_coupling"]),
        spike_increment=_terms(kw["spike_increment"]),
    )
    return coefficients, nf.adex_step


def _izhikevich(dt: float, kw: dict[str, Any]):
    coefficients = nf.izhikevich_coefficients(
        dt,
        tc_adaptation=kw["tc_adaptation"],
        voltage_coupling=kw["voltage_coupling"],
        resistance=kw["resistance"],
        spike_increment=kw["spike_increment"],
    )
    return coefficients, nf.izhikevich_step


def _integrate_and_fire(dt: float, kw: dict[str, Any]):
    coefficients = nf.integrate_and_fire_coefficients(dt, capacitance=kw["capacitance"])
    return coefficients, nf.integrate_and_fire_step


MEMBRANE = {"rest_v": -65.0, "reset_v": _per_neuron(-70.0, -65.0, -68.0, -60.0),
            "resistance": _per_neuron(1.0, 2.0, 1.5, 1.0)}  # fmt: skip
CASES: dict[str, tuple[type, dict[str, Any], Callable, float]] = {
    "LIF": (LIF, {**MEMBRANE, "thresh_v": -52.0, "refrac_t": _per_neuron(0.0, 1.0, 2.5, 4.0),
                  "time_constant": _per_neuron(5.0, 10.0, 20.0, 8.0)}, _lif, 1.0),
    "LIF no refractory period": (LIF, {**MEMBRANE, "thresh_v": -52.0, "refrac_t": 0.0,
                                       "time_constant": 10.0}, _lif, 0.5),
    "ALIF": (ALIF, {**MEMBRANE, "thresh_v": -52.0, "refrac_t": 1.5, "time_constant": 10.0,
                    "tc_adaptation": [20.0, 200.0], "spike_increment": [1.0, 0.5]}, _alif, 0.5),
    "ALIF no refractory period": (ALIF, {**MEMBRANE, "thresh_v": -52.0, "refrac_t": 0.0,
                                         "time_constant": 10.0, "tc_adaptation": 30.0,
                                         "spike_increment": 2.0}, _alif, 1.0),
    "QIF": (QIF, {**MEMBRANE, "thresh_v": -30.0, "refrac_t": 2.0, "time_constant": 10.0,
                  "crit_v": -55.0, "affinity": _per_neuron(0.1, 0.2, 0.05, 0.1)}, _qif, 0.5),
    "EIF": (EIF, {**MEMBRANE, "thresh_v": -40.0, "refrac_t": _per_neuron(1.0, 2.0, 0.0, 3.0),
                  "time_constant": 10.0, "rheobase_v": -50.0, "sharpness": 2.0}, _eif, 0.5),
    "AdEx": (AdEx, {**MEMBRANE, "thresh_v": -40.0, "refrac_t": 2.0, "time_constant": 10.0,
                    "rheobase_v": -50.0, "sharpness": _per_neuron(2.0, 1.0, 3.0, 2.0),
                    "tc_adaptation": [30.0, 100.0], "voltage_coupling": [0.1, -0.05],
                    "spike_increment": [1.0, 0.5]}, _adex, 0.5),
    "Izhikevich": (Izhikevich, {"rest_v": -65.0, "reset_v": _per_neuron(-65.0, -55.0, -50.0, -65.0),
                                "thresh_v": 30.0, "refrac_t": 1.0,
                                "tc_adaptation": _per_neuron(50.0, 10.0, 50.0, 20.0),
                                "voltage_coupling": 0.2, "spike_increment": _per_neuron(8.0, 2.0, 4.0, 6.0),
                                "resistance": 1.0}, _izhikevich, 0.5),
    "IntegrateAndFire": (IntegrateAndFire, {"capacitance": _per_neuron(1.0, 2.0, 4.0, 0.5),
                                            "reset_v": -1.0, "thresh_v": 10.0},
                         _integrate_and_fire, 1.0),
}  # fmt: skip


def _initial(module: torch.nn.Module, kw: dict[str, Any], inputs: torch.Tensor) -> Any:
    """The state a module starts from after a reset, built from the keywords alone."""
    start = kw["reset_v"] if isinstance(module, IntegrateAndFire) else kw["rest_v"]
    voltage = torch.as_tensor(start, dtype=F64).expand_as(inputs)
    if isinstance(module, ALIF):
        return nf.ALIFState(voltage, None, module.adaptation.detach().clone())
    if isinstance(module, AdEx):
        terms = len(kw["tc_adaptation"])
        return nf.AdExState(voltage, None, inputs.new_zeros(BATCH, terms, N))
    if isinstance(module, Izhikevich):
        return nf.IzhikevichState(voltage, None, voltage * kw["voltage_coupling"])
    return nf.NeuronState(voltage, None)


def _as_f64(value: Any) -> Any:
    return value.to(F64) if isinstance(value, torch.Tensor) else value


@pytest.mark.parametrize("surrogate", [None, Surrogate("arctan", 0.5)])
@pytest.mark.parametrize("case", list(CASES))
def test_module_steps_as_its_functional_step(case: str, surrogate: Surrogate | None) -> None:
    cls, kw, constants, dt = CASES[case]
    kw = {name: _as_f64(value) for name, value in kw.items()}
    default = torch.get_default_dtype()
    torch.set_default_dtype(F64)  # per-term lists become float64 buffers, as the function's
    try:
        module = cls(N, dt, surrogate=surrogate, **kw)
    finally:
        torch.set_default_dtype(default)
    coefficients, step = constants(dt, kw)
    firing = nf.Firing(dt, thresh_v=kw["thresh_v"], reset_v=kw["reset_v"],
                       refrac_t=kw.get("refrac_t", 0.0))  # fmt: skip
    options = {"batch_reduction": module.batch_reduction} if cls is ALIF else {}
    torch.manual_seed(0)
    currents = torch.rand(STEPS, BATCH, N, dtype=F64) * 60.0
    currents[5:8] = 0.0  # a quiet stretch: held and released neurons, subthreshold decay
    module_inputs = currents.clone().requires_grad_(surrogate is not None)
    function_inputs = currents.clone().requires_grad_(surrogate is not None)
    state = None
    module_total, function_total = 0.0, 0.0
    held = spiked = 0
    for t in range(STEPS):
        if t == RESET_AT:
            module.reset()
            state = None
        if state is None:
            state = _initial(module, kw, currents[t])
        got = module(module_inputs[t])
        expected, state = step(function_inputs[t], state, coefficients, firing, surrogate,
                               **options)  # fmt: skip
        assert torch.equal(got, expected), (case, t)
        torch.testing.assert_close(module.voltage, state.voltage, rtol=0, atol=1e-12)
        refrac = torch.zeros_like(state.voltage) if state.refrac is None else state.refrac
        torch.testing.assert_close(module.refrac, refrac, rtol=0, atol=1e-12)
        assert torch.equal(module.spike, expected.bool())
        if isinstance(module, ALIF):
            torch.testing.assert_close(module.adaptation, state.adaptation, rtol=0, atol=1e-12)
        if isinstance(module, AdEx):
            torch.testing.assert_close(module.adaptation, state.adaptation, rtol=0, atol=1e-12)
        if isinstance(module, Izhikevich):
            torch.testing.assert_close(module.recovery, state.recovery, rtol=0, atol=1e-12)
        spiked += int(expected.sum())
        held += int((refrac > 0).sum())
        weights = torch.arange(1.0, N + 1, dtype=F64)
        module_total = module_total + (got * weights).sum() + module.voltage.sum()
        function_total = function_total + (expected * weights).sum() + state.voltage.sum()
    assert spiked > 0
    assert (held > 0) == bool(torch.as_tensor(kw.get("refrac_t", 0.0)).any())
    if surrogate is not None:
        module_total.backward()
        function_total.backward()
        torch.testing.assert_close(module_inputs.grad, function_inputs.grad, rtol=0, atol=1e-12)
        assert module_inputs.grad.abs().sum() > 0


def test_a_module_in_eval_mode_steps_as_its_function_without_training() -> None:
    # ALIF's adaptive threshold is frozen in eval mode: the function's training=False.
    kw = {"refrac_t": 0.0, "spike_increment": 3.0, "tc_adaptation": 50.0}
    module = ALIF(N, 1.0, **kw).double()
    module.adaptation.fill_(2.0)
    module.eval()
    coefficients = nf.alif_coefficients(
        1.0, time_constant=20.0, rest_v=-65.0, resistance=1.0, tc_adaptation=50.0,
        spike_increment=3.0,
    )  # fmt: skip
    firing = nf.Firing(1.0, thresh_v=-50.0, reset_v=-65.0, refrac_t=None)
    state = nf.ALIFState(torch.full((BATCH, N), -65.0, dtype=F64), None, module.adaptation.clone())
    currents = torch.rand(10, BATCH, N, dtype=F64, generator=torch.Generator().manual_seed(1))
    for x in currents * 50.0:
        expected, state = nf.alif_step(x, state, coefficients, firing, training=False)
        assert torch.equal(module(x), expected)
    assert torch.equal(module.adaptation, state.adaptation)
    assert (module.adaptation == 2.0).all()


class _Coefficients(NamedTuple):
    gain: torch.Tensor | float
    fall: torch.Tensor | float


def _linear_leak_step(inputs, state, coefficients, firing, surrogate=None):  # noqa: ANN001, ANN202
    voltage, refrac = state
    integrated = voltage + inputs * coefficients.gain - coefficients.fall
    spikes, voltage, refrac = nf.fire(integrated, voltage, refrac, firing, surrogate)
    return spikes, nf.NeuronState(voltage, refrac)


class _LinearLeak(SpikingNeuron):
    """A model written outside the library: one step, one thin subclass."""

    constant_names = ("capacitance", "leak", "rest_v", "reset_v", "thresh_v", "refrac_t")

    def __init__(self, shape, step_time=1.0, *, capacitance=1.0, leak=0.5, surrogate=None):  # noqa: ANN001
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=True)
        self.add_membrane(
            rest_v=-65.0, reset_v=-65.0, thresh_v=-50.0, refrac_t=2.0, resistance=1.0,
            time_constant=None,
        )  # fmt: skip
        self.add_parameter("capacitance", capacitance)
        self.add_parameter("leak", leak)

    def coefficients(self) -> _Coefficients:
        return _Coefficients(self.step_time / self.capacitance, self.leak * self.step_time)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        state = nf.NeuronState(*self.start(inputs))
        spikes, state = _linear_leak_step(inputs, state, coefficients, firing, self.surrogate)
        return self.finish(inputs, spikes, state.voltage, state.refrac)


def test_a_model_written_on_the_public_base_steps_as_its_function() -> None:
    neuron = _LinearLeak(3, 0.5, capacitance=torch.tensor([1.0, 2.0, 4.0]))
    drive = torch.rand(40, 2, 3, generator=torch.Generator().manual_seed(3)) * 12
    state = nf.NeuronState(torch.full((2, 3), -65.0), torch.zeros(2, 3))
    spiked = held = 0
    with torch.no_grad():
        for x in drive:
            coefficients, firing = neuron.constants(x.dtype)
            expected, state = _linear_leak_step(x, state, coefficients, firing)
            assert torch.equal(neuron(x), expected)
            torch.testing.assert_close(neuron.voltage, state.voltage, rtol=0, atol=1e-12)
            torch.testing.assert_close(neuron.refrac, state.refrac, rtol=0, atol=1e-12)
            spiked += int(expected.sum())
            held += int((state.refrac > 0).sum())
    assert spiked > 0 and held > 0
    # By hand: gain = dt / C per neuron, fall = leak dt.
    coefficients, _ = neuron.constants(torch.float32)
    torch.testing.assert_close(torch.as_tensor(coefficients.gain), torch.tensor([0.5, 0.25, 0.125]))
    assert float(coefficients.fall) == 0.25
    # A parameter changed in place: the cached constants follow it.
    neuron.leak.fill_(1.0)
    assert float(neuron.constants(torch.float32)[0].fall) == 0.5
    # An nn.Parameter stays one and gets a gradient through the surrogate.
    learned = _LinearLeak(3, capacitance=torch.nn.Parameter(torch.ones(3)), surrogate="arctan")
    assert [name for name, _ in learned.named_parameters()] == ["capacitance"]
    learned(torch.full((2, 3), 20.0)).sum().backward()
    assert learned.capacitance.grad is not None and bool((learned.capacitance.grad != 0).all())
