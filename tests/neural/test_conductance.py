"""Conductance-based synapses against closed forms (functional and module)."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from inferno_lightning.functional import (
    conductance_current,
    conductance_decay,
    conductance_voltage_step,
    lif_coefficients,
    lif_integrate,
)
from inferno_lightning.neural import (
    LIF,
    ExponentialConductance,
    Layer,
    LinearDense,
    ReversalPotentials,
)

DT, TAU, REST = 0.5, 100.0, -65.0


def closed_form(t: float, v0: float, g: list[float], e: list[float]) -> float:
    """tau dV/dt = (rest - V) + sum g_k (E_k - V) with constant g: exponential approach to V_inf."""
    total = sum(g)
    target = (REST + sum(gk * ek for gk, ek in zip(g, e, strict=True))) / (1 + total)
    return target + (v0 - target) * math.exp(-t * (1 + total) / TAU)


def test_voltage_step_iterated_is_the_closed_form() -> None:
    g, e = [0.5, 0.25], [0.0, -100.0]
    # V_inf = (-65 + 0.25 * -100) / 1.75 = -51.428... mV, rate 1.75 / 100 ms
    assert closed_form(1e9, REST, g, e) == pytest.approx(-90.0 / 1.75)
    conductances = torch.tensor(g, dtype=torch.float64).reshape(2, 1, 1)
    reversal = torch.tensor(e, dtype=torch.float64)
    voltage = torch.full((1, 1), REST, dtype=torch.float64)
    for _ in range(200):
        voltage = conductance_voltage_step(voltage, conductances, reversal, DT, TAU, REST)
    assert float(voltage) == pytest.approx(closed_form(100.0, REST, g, e), abs=1e-10)


def test_current_through_the_lif_step_lands_on_the_conductance_solution() -> None:
    voltage = torch.tensor([[-70.0, -60.0, -52.0]], dtype=torch.float64)
    conductances = torch.tensor([[[0.3, 1.0, 0.0]], [[0.0, 2.0, 0.1]]], dtype=torch.float64)
    reversal = torch.tensor([0.0, -100.0], dtype=torch.float64)
    resistance = 7.0
    current = conductance_current(voltage, conductances, reversal, DT, TAU, REST, resistance)
    stepped = lif_integrate(
        current,
        voltage,
        lif_coefficients(DT, time_constant=TAU, rest_v=REST, resistance=resistance),
    )
    exact = conductance_voltage_step(voltage, conductances, reversal, DT, TAU, REST)
    torch.testing.assert_close(stepped, exact, rtol=0, atol=1e-12)


def test_current_tends_to_g_times_driving_force_for_small_steps() -> None:
    # I -> sum g (E - V) / R: 0.5 * (0 - -60) / 2 = 15 nA
    voltage = torch.tensor([[-60.0]], dtype=torch.float64)
    conductances = torch.tensor([[[0.5]]], dtype=torch.float64)
    current = conductance_current(
        voltage, conductances, torch.tensor([0.0], dtype=torch.float64), 1e-6, TAU, -60.0, 2.0
    )
    assert float(current) == pytest.approx(15.0, rel=1e-6)


def test_no_conductance_no_current() -> None:
    voltage = torch.tensor([[-58.0, -71.0]])
    current = conductance_current(
        voltage, torch.zeros(1, 1, 2), torch.tensor([-100.0]), DT, TAU, REST, 3.0
    )
    torch.testing.assert_close(current, torch.zeros(1, 2), rtol=0, atol=1e-5)


def test_shunting_never_carries_the_voltage_past_the_reversal_potential() -> None:
    # A current-based synapse of the same strength would drive V to -65 - 1e6 mV.
    voltage = torch.full((1, 1), -55.0, dtype=torch.float64)
    conductances = torch.full((1, 1, 1), 1e6, dtype=torch.float64)
    reversal = torch.tensor([-100.0], dtype=torch.float64)
    for _ in range(10):
        voltage = conductance_voltage_step(voltage, conductances, reversal, DT, TAU, REST)
        assert float(voltage) >= -100.0
    assert float(voltage) == pytest.approx((REST + 1e6 * -100.0) / (1 + 1e6))


def test_conductance_decay_is_exponential() -> None:
    g = conductance_decay(torch.zeros(2), torch.tensor([17.0, 10.4]), DT, 2.0)
    for _ in range(4):
        g = conductance_decay(g, 0.0, DT, 2.0)
    # four steps of 0.5 ms at tau 2 ms: a factor e^{-1}
    torch.testing.assert_close(g, torch.tensor([17.0, 10.4]) * math.exp(-1.0))


def test_exponential_conductance_jumps_by_one_and_decays() -> None:
    synapse = ExponentialConductance(3, DT, time_constant=1.0)
    spikes = torch.tensor([[True, False, True]])
    first = synapse(spikes).clone()
    torch.testing.assert_close(first, torch.tensor([[1.0, 0.0, 1.0]]))
    quiet = torch.zeros(1, 3, dtype=torch.bool)
    synapse(quiet)
    second = synapse(quiet).clone()
    # two steps of 0.5 ms at tau 1 ms: e^{-1}
    torch.testing.assert_close(second, torch.tensor([[math.exp(-1.0), 0.0, math.exp(-1.0)]]))


def test_exponential_conductance_rejects_a_nonpositive_time_constant() -> None:
    with pytest.raises(ValueError, match="time_constant"):
        ExponentialConductance(3, DT, time_constant=0.0)


def _conductance_layer(weight: float) -> tuple[Layer, LIF]:
    torch.set_default_dtype(torch.float64)
    try:
        neuron = LIF(
            1, DT, rest_v=REST, reset_v=REST, thresh_v=1e3, refrac_t=0.0,
            time_constant=TAU, resistance=5.0,
        )  # fmt: skip
        # tau_g huge: one spike leaves a constant conductance `weight`
        synapse = ExponentialConductance(1, DT, time_constant=1e15)
        layer = Layer(
            connections={"input": LinearDense(1, 1, synapse=synapse, weight_init=weight)},
            neurons={"cell": neuron},
            wiring={"input": "cell"},
            combine={"cell": ReversalPotentials(neuron, {"input": 0.0})},
        )
    finally:
        torch.set_default_dtype(torch.float32)
    return layer, neuron


def test_layer_with_reversal_potentials_follows_the_closed_form() -> None:
    layer, neuron = _conductance_layer(0.4)
    layer({"input": torch.ones(1, 1, dtype=torch.float64)})
    steps = 120
    for _ in range(steps - 1):
        layer({"input": torch.zeros(1, 1, dtype=torch.float64)})
    # V_inf = -65 / 1.4 = -46.43 mV, approached at rate 1.4 / 100 ms from rest
    expected = closed_form(steps * DT, REST, [0.4], [0.0])
    assert float(neuron.voltage.detach()) == pytest.approx(expected, abs=1e-9)


def test_reversal_potentials_adds_unnamed_connections_as_current_and_pickles() -> None:
    neuron = LIF(2, DT, rest_v=REST, time_constant=TAU, resistance=1.0)
    combine = ReversalPotentials(neuron, {"g": -100.0})
    current = combine({"g": torch.zeros(1, 2), "i": torch.tensor([[2.0, -1.0]])})
    torch.testing.assert_close(current, torch.tensor([[2.0, -1.0]]), rtol=0, atol=1e-5)
    copy = pickle.loads(pickle.dumps(combine))
    assert copy.reversal_v == {"g": -100.0}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [((object(), {"g": 0.0}), "Neuron"), (("lif", {}), "reversal_v")],
)
def test_bad_reversal_potentials_arguments(arguments: tuple, message: str) -> None:
    neuron = LIF(1, DT)
    first, reversal = arguments
    with pytest.raises((TypeError, ValueError), match=message):
        ReversalPotentials(neuron if first == "lif" else first, reversal)
