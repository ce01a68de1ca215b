"""Neurons under torch.compile: one graph per step, the same numbers as the eager step.

Most tests use the ``aot_eager`` backend: Dynamo traces the step as a compiled
run does (the compile-only branches of the neurons run), without the seconds a
C++ build takes; one test runs the real Inductor kernels.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch._dynamo

from inferno_lightning.neural.neurons import ALIF, EIF, LIF, QIF, AdEx, Izhikevich

MODELS = [LIF, ALIF, QIF, EIF, AdEx, Izhikevich]
F64 = torch.float64


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    # Dynamo caches per code object, shared by every instance of a class: start clean.
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _run(step, neuron, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    spikes, voltages, refracs = [], [], []
    for x in inputs:
        spikes.append(step(x))
        voltages.append(neuron.voltage)
        refracs.append(neuron.refrac)
    return torch.stack(spikes), torch.stack(voltages), torch.stack(refracs)


@pytest.mark.parametrize("cls", MODELS)
def test_compiled_step_has_no_graph_break_and_matches_eager(cls):
    torch.manual_seed(0)
    eager = cls(4, 1.0, surrogate="arctan").double()
    traced = copy.deepcopy(eager)
    step = torch.compile(traced, backend="aot_eager", fullgraph=True)  # a graph break raises
    currents = 40.0 + torch.rand(16, 3, 4, dtype=F64) * 40.0
    inputs_eager = currents.clone().requires_grad_(True)
    inputs_traced = currents.clone().requires_grad_(True)
    expected = _run(eager, eager, inputs_eager)
    got = _run(step, traced, inputs_traced)
    assert expected[0].sum() > 0
    # Refractory holds where the model has them (Izhikevich: none, the eager fast path).
    assert bool((expected[2] > 0).any()) == bool(eager.refrac_t.any())
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    if cls is ALIF:
        torch.testing.assert_close(traced.adaptation, eager.adaptation, rtol=0, atol=1e-12)
    # Surrogate gradients through time agree too.
    (expected[0].sum() + expected[1].sum()).backward()
    (got[0].sum() + got[1].sum()).backward()
    torch.testing.assert_close(inputs_traced.grad, inputs_eager.grad, rtol=0, atol=1e-12)


def test_inductor_kernels_match_eager():
    # ALIF in training mode: the LIF step, plus the adaptation buffer written in place.
    torch.manual_seed(1)
    eager = ALIF(5, 0.5, refrac_t=1.5).double()
    compiled = copy.deepcopy(eager)
    step = torch.compile(compiled, fullgraph=True)
    adaptation = compiled.adaptation
    inputs = torch.rand(15, 2, 5, dtype=F64) * 80.0
    with torch.no_grad():
        expected, got = _run(eager, eager, inputs), _run(step, compiled, inputs)
    assert expected[0].sum() > 0
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b, a)
    assert eager.adaptation.sum() > 0
    assert compiled.adaptation is adaptation  # without autograd, still written in place
    torch.testing.assert_close(compiled.adaptation, eager.adaptation)


def test_compiled_nan_check_raises_before_any_state_changes():
    neuron = LIF(3)
    step = torch.compile(neuron, backend="aot_eager", fullgraph=True)
    step(torch.full((2, 3), 10.0))
    before = neuron.voltage
    bad = torch.full((2, 3), 10.0)
    bad[1, 2] = float("nan")
    with pytest.raises(RuntimeError, match="inputs must be finite"):
        step(bad)
    assert neuron.voltage is before
    unchecked = LIF(3, check_finite=False)
    torch.compile(unchecked, backend="aot_eager", fullgraph=True)(bad)  # no check, no error
    assert unchecked.voltage.isnan().any()


def test_compiled_layer_step_is_one_graph_and_matches_eager():
    # A connection's synapse checks its input inside the graph too (no host sync, no break).
    from inferno_lightning.neural import DeltaCurrent, LinearDense, Serial

    torch.manual_seed(1)
    connection = LinearDense(6, 4, synapse=DeltaCurrent(6, 1.0), weight_init=20.0)
    eager = Serial(connection, LIF(4, 1.0)).double()
    traced = copy.deepcopy(eager)
    step = torch.compile(traced, backend="aot_eager", fullgraph=True)  # a graph break raises
    spikes_in = (torch.rand(12, 3, 6) < 0.5).double()
    with torch.no_grad():
        expected = torch.stack([eager(x) for x in spikes_in])
        got = torch.stack([step(x) for x in spikes_in])
    assert expected.sum() > 0
    assert torch.equal(got, expected)
    torch.testing.assert_close(traced.neuron.voltage, eager.neuron.voltage, rtol=0, atol=1e-12)
    bad = spikes_in[0].clone()
    bad[0, 0] = float("nan")
    voltage = traced.neuron.voltage.clone()
    with pytest.raises(RuntimeError, match="inputs must be finite"):
        with torch.no_grad():
            step(bad)
    assert torch.equal(traced.neuron.voltage, voltage)
