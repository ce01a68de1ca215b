"""NIR export and import: round trips give the same spikes, the unit mapping, clear errors."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from inferno_lightning.neural import (  # noqa: E402
    ALIF,
    LIF,
    QIF,
    Conv2d,
    DeltaCurrent,
    ExponentialCurrent,
    LinearDense,
    Serial,
)
from inferno_lightning.nir import (  # noqa: E402
    IntegrateAndFire,
    NIRExportError,
    NIRImportError,
    NIRNetwork,
    from_nir,
    to_nir,
)


def spikes(steps: int, batch: int, *shape: int, rate: float = 0.2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, *shape, generator=generator) < rate).float()


def run(layers: list[Serial], inputs: torch.Tensor) -> torch.Tensor:
    return NIRNetwork(layers).run(inputs)


def dense_network(dt: float = 0.5, charge: float = 2.0) -> list[Serial]:
    generator = torch.Generator().manual_seed(1)
    return [
        Serial(
            LinearDense(
                20,
                30,
                synapse=DeltaCurrent(20, dt, spike_charge=charge),
                bias=0.5,
                weight_init="uniform",
                weight_init_args=(0.0, 3.0),
                generator=generator,
            ),
            LIF(
                30,
                dt,
                rest_v=-65.0,
                reset_v=-70.0,
                thresh_v=-55.0,
                refrac_t=0.0,
                time_constant=torch.linspace(10.0, 30.0, 30),
                resistance=2.0,
            ),
        ),  # fmt: skip
        Serial(
            LinearDense(
                30,
                10,
                synapse=DeltaCurrent(30, dt, spike_charge=charge),
                weight_init="uniform",
                weight_init_args=(0.0, 6.0),
                generator=generator,
            ),
            LIF(10, dt, rest_v=-60.0, reset_v=-60.0, thresh_v=-50.0, refrac_t=0.0),
        ),  # fmt: skip
    ]


def test_dense_lif_network_round_trips_to_the_same_spikes(tmp_path: Path) -> None:
    layers = dense_network()
    inputs = spikes(200, 4, 20)
    expected = run(layers, inputs)
    assert expected.sum() > 50  # the network is active: the comparison means something
    graph = to_nir(layers)
    assert [type(graph.nodes[n]).__name__ for n in graph.nodes] == [
        "Input", "Affine", "LIF", "Linear", "LIF", "Output",
    ]  # fmt: skip
    nir.write(tmp_path / "network.nir", graph)
    imported = from_nir(nir.read(tmp_path / "network.nir"))
    assert imported.step_time == 0.5
    assert torch.equal(imported.run(inputs), expected)
    # The imported network exports to the same graph.
    again = to_nir(imported)
    for name, node in graph.nodes.items():
        for field in ("weight", "bias", "tau", "r", "v_leak", "v_threshold", "v_reset"):
            if hasattr(node, field):
                np.testing.assert_array_equal(
                    getattr(again.nodes[name], field), getattr(node, field)
                )


def test_the_unit_mapping_of_a_lif_layer() -> None:
    dt, charge = 0.5, 2.0
    layer = dense_network(dt, charge)[0]
    graph = to_nir(layer)
    affine, lif = graph.nodes["layer0.affine"], graph.nodes["layer0.lif"]
    # Weight: the current (nA) a spike delivers during its step, w q / dt; bias in nA.
    np.testing.assert_allclose(affine.weight, layer.connection.weight.detach() * charge / dt)
    np.testing.assert_allclose(affine.bias, np.full(30, 0.5))
    # tau in s, voltages in mV, r in MOhm, one value per neuron.
    np.testing.assert_allclose(lif.tau, np.linspace(0.010, 0.030, 30), rtol=1e-6)
    assert lif.tau.shape == lif.v_leak.shape == (30,)
    assert (lif.v_leak == -65.0).all() and (lif.v_reset == -70.0).all()
    assert (lif.v_threshold == -55.0).all() and (lif.r == 2.0).all()
    assert graph.metadata["step_time_ms"] == 0.5


def test_a_lif_neuron_steps_the_nir_ode_exactly_for_current_held_over_a_step() -> None:
    # NIR's tau dv/dt = (v_leak - v) + R I with I held for dt has the closed form
    # v(dt) = v_leak + (v0 - v_leak) e^(-dt/tau) + R I (1 - e^(-dt/tau)).
    graph = to_nir(dense_network(dt=1.0, charge=1.0)[1])
    network = from_nir(graph)
    lif = graph.nodes["layer0.lif"]
    weight = torch.as_tensor(graph.nodes["layer0.linear"].weight, dtype=torch.float64)
    inputs = torch.zeros(1, 30)
    inputs[0, :5] = 1.0
    network.run(inputs[None])  # one step from rest
    current = weight[:, :5].sum(1)
    decay = math.exp(-1e-3 / float(lif.tau[0]))  # dt = 1 ms in s
    expected = -60.0 + float(lif.r[0]) * current * (1 - decay)
    below = expected < -50.0
    voltage = network.layers[0].neuron.voltage[0].double()
    torch.testing.assert_close(voltage[below], expected[below], rtol=0, atol=1e-4)


def test_alif_exports_its_frozen_thresholds_in_eval_mode_and_refuses_in_training() -> None:
    dt = 1.0
    neuron = ALIF(8, dt, thresh_v=-55.0, refrac_t=0.0, tc_adaptation=100.0, spike_increment=2.0)
    layer = Serial(
        LinearDense(6, 8, synapse=DeltaCurrent(6, dt), weight_init="uniform",
                    weight_init_args=(0.0, 20.0), generator=torch.Generator().manual_seed(0)),
        neuron,
    )  # fmt: skip
    with torch.no_grad():
        NIRNetwork([layer]).train().run(spikes(100, 2, 6, rate=0.5))  # thresholds adapt
    assert neuron.adaptation.max() > 0
    with pytest.raises(NIRExportError, match=r"layer0: ALIF's adaptive thresholds .*\.eval\(\)"):
        to_nir(layer)
    layer.eval()
    inputs = spikes(150, 3, 6, rate=0.3, seed=2)
    expected = NIRNetwork([layer]).eval().run(inputs)
    assert expected.sum() > 10
    graph = to_nir(layer)
    threshold = graph.nodes["layer0.lif"].v_threshold
    np.testing.assert_allclose(threshold, (-55.0 + neuron.adaptation.sum(0)).numpy(), rtol=1e-6)
    assert torch.equal(from_nir(graph).run(inputs), expected)


def test_conv_then_dense_round_trips_through_a_flatten_node() -> None:
    dt = 1.0
    generator = torch.Generator().manual_seed(3)
    layers = [
        Serial(
            Conv2d((2, 8, 8), 4, 3, synapse=DeltaCurrent((2, 8, 8), dt), stride=1, padding=1,
                   bias=0.2, weight_init="uniform", weight_init_args=(-1.0, 4.0),
                   generator=generator),
            LIF((4, 8, 8), dt, thresh_v=-60.0, refrac_t=0.0),
        ),
        Serial(
            LinearDense((4, 8, 8), 5, synapse=DeltaCurrent((4, 8, 8), dt),
                        weight_init="uniform", weight_init_args=(0.0, 6.0), generator=generator),
            LIF(5, dt, thresh_v=-60.0, refrac_t=0.0),
        ),
    ]  # fmt: skip
    inputs = spikes(60, 2, 2, 8, 8, rate=0.3)
    expected = run(layers, inputs)
    assert expected.sum() > 10
    graph = to_nir(layers)
    assert list(graph.nodes) == [
        "input", "layer0.conv", "layer0.lif", "layer1.flatten", "layer1.linear", "layer1.lif",
        "output",
    ]  # fmt: skip
    assert graph.nodes["layer0.lif"].tau.shape == (4, 8, 8)
    assert torch.equal(from_nir(graph).run(inputs), expected)


def test_exponential_synapses_become_cuba_lif_and_round_trip() -> None:
    dt = 0.5
    layer = Serial(
        LinearDense(10, 6, synapse=ExponentialCurrent(10, dt, spike_charge=1.0, time_constant=5.0),
                    weight_init="uniform", weight_init_args=(0.0, 40.0),
                    generator=torch.Generator().manual_seed(4)),
        LIF(6, dt, refrac_t=0.0),
    )  # fmt: skip
    inputs = spikes(200, 2, 10, rate=0.1)
    expected = run([layer], inputs)
    assert expected.sum() > 5
    graph = to_nir(layer)
    cuba = graph.nodes["layer0.cubalif"]
    np.testing.assert_allclose(cuba.tau_syn, np.full(6, 0.005))
    np.testing.assert_allclose(cuba.tau_mem, np.full(6, 0.020))
    imported = from_nir(graph).run(inputs)
    # q/dt into the weight and dt back into the charge: equal up to float32 rounding.
    assert (imported != expected).float().mean() < 0.005


def test_presynaptic_delays_become_a_delay_node() -> None:
    dt = 1.0
    delays = torch.tensor([0.0, 1.0, 2.0, 3.0, 5.0]).expand(4, 5)  # one per presynaptic neuron
    layer = Serial(
        LinearDense(5, 4, synapse=DeltaCurrent(5, dt), weight_init="uniform",
                    weight_init_args=(5.0, 15.0), delay=delays,
                    generator=torch.Generator().manual_seed(5)),
        LIF(4, dt, refrac_t=0.0),
    )  # fmt: skip
    inputs = spikes(80, 2, 5, rate=0.4)
    expected = run([layer], inputs)
    graph = to_nir(layer)
    np.testing.assert_allclose(graph.nodes["layer0.delay"].delay, [0.0, 0.001, 0.002, 0.003, 0.005])
    assert torch.equal(from_nir(graph).run(inputs), expected)
    layer.connection.delay.data[0, 0] = 4.0  # now one presynaptic neuron has two delays
    with pytest.raises(NIRExportError, match="layer0: per-synapse delays differ"):
        to_nir(layer)


def test_integrate_and_fire_neurons_round_trip_to_nir_if() -> None:
    dt = 1.0
    neuron = IntegrateAndFire(3, dt, capacitance=2.0, reset_v=0.0, thresh_v=1.0)
    # C dV/dt = I: 0.5 nA for 1 ms on 2 nF adds 0.25 mV: spikes at steps 3, 7, 11, ...
    out = torch.stack([neuron(torch.full((1, 3), 0.5)) for _ in range(12)])[:, 0, 0]
    assert out.nonzero().flatten().tolist() == [3, 7, 11]
    layer = Serial(
        LinearDense(4, 3, synapse=DeltaCurrent(4, dt), weight_init="uniform",
                    weight_init_args=(0.0, 1.0), generator=torch.Generator().manual_seed(6)),
        IntegrateAndFire(3, dt, capacitance=2.0, thresh_v=1.0),
    )  # fmt: skip
    inputs = spikes(50, 2, 4, rate=0.5)
    graph = to_nir(layer)
    assert isinstance(graph.nodes["layer0.if"], nir.IF)
    np.testing.assert_allclose(graph.nodes["layer0.if"].r, np.full(3, 500.0))  # 1000 / C
    assert torch.equal(from_nir(graph).run(inputs), run([layer], inputs))


def test_what_nir_cannot_express_is_named() -> None:
    dt = 1.0
    refractory = Serial(LinearDense(3, 2, synapse=DeltaCurrent(3, dt)), LIF(2, dt, refrac_t=2.0))
    with pytest.raises(NIRExportError, match="layer0: the refractory period refrac_t = 2 ms"):
        to_nir(refractory)
    # Kept in metadata on request, and read back.
    graph = to_nir(refractory, refractory="metadata")
    assert graph.nodes["layer0.lif"].metadata["refrac_t_ms"] == [2.0, 2.0]
    assert float(from_nir(graph).layers[0].neuron.refrac_t.max()) == 2.0
    qif = Serial(LinearDense(3, 2, synapse=DeltaCurrent(3, dt)), QIF(2, dt))
    with pytest.raises(NIRExportError, match="the neuron model QIF has no NIR node"):
        to_nir(qif)

    class Trained(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rules = [object()]

    with pytest.raises(NIRExportError, match="NIR has no learning rules"):
        to_nir(Trained())


def test_import_errors_name_the_node() -> None:
    graph = to_nir(dense_network()[1])
    del graph.metadata["step_time_ms"]
    with pytest.raises(NIRImportError, match="pass step_time"):
        from_nir(graph)
    assert from_nir(graph, step_time=0.5).step_time == 0.5
    odd = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "li": nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)),
            "output": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("input", "li"), ("li", "output")],
        type_check=False,
    )
    with pytest.raises(NIRImportError, match="'li': NIR node LI has no counterpart"):
        from_nir(odd, step_time=1.0)


def test_the_core_never_imports_the_nir_module() -> None:
    code = (
        "import sys, inferno_lightning, inferno_lightning.neural, inferno_lightning.learn, "
        "inferno_lightning.callbacks; "
        "assert 'inferno_lightning.nir' not in sys.modules and 'nir' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------- Euler form and other tools


def lif_chain(dt: float = 0.1) -> list[Serial]:
    """Two LIF layers at rest 0 and threshold 1 (the form snnTorch's importer takes)."""
    generator = torch.Generator().manual_seed(0)
    return [
        Serial(
            LinearDense(20, 10, synapse=DeltaCurrent(20, dt), bias=0.1, weight_init="uniform",
                        weight_init_args=(0.0, 0.6), generator=generator),
            LIF(10, dt, rest_v=0.0, reset_v=0.0, thresh_v=1.0, refrac_t=0.0, time_constant=5.0),
        ),
        Serial(
            LinearDense(10, 5, synapse=DeltaCurrent(10, dt), weight_init="uniform",
                        weight_init_args=(0.0, 1.0), generator=generator),
            LIF(5, dt, rest_v=0.0, reset_v=0.0, thresh_v=1.0, refrac_t=0.0, time_constant=5.0),
        ),
    ]  # fmt: skip


def train_with_stdp(layers: list[Serial], steps: int = 300) -> None:
    """A few hundred steps of pair STDP on the first layer, applied every 50 steps."""
    from inferno_lightning.learn import STDP, updater_for

    layer = layers[0]
    updater_for(layer.connection).add("weight", bound="clamp", w_min=0.0, w_max=1.0)
    rule = STDP(lr_post=5e-3, lr_pre=5e-3, tc_post=5.0, tc_pre=5.0)
    rule.register(layer.cell())
    network = NIRNetwork(layers).train()
    inputs = spikes(steps, 4, 20, rate=0.3, seed=7)
    with torch.no_grad():
        network.reset()
        for step, x in enumerate(inputs):
            network(x)
            rule()
            if step % 50 == 49:
                updater_for(layer.connection).step()
    network.eval()


def test_euler_form_makes_forward_euler_reproduce_the_exact_steps() -> None:
    layers = lif_chain()
    dt = 0.1
    graph = to_nir(layers, discretisation="euler")
    lif = graph.nodes["layer0.lif"]
    beta = math.exp(-dt / 5.0)
    # tau' = dt / (1 - e^(-dt/tau)) (s), r' = tau'/dt, weights times (1 - e^(-dt/tau)) R.
    np.testing.assert_allclose(lif.tau, np.full(10, 1e-4 / (1 - beta)), rtol=1e-6)
    np.testing.assert_allclose(lif.r, np.full(10, 1 / (1 - beta)), rtol=1e-6)
    affine = graph.nodes["layer0.affine"]
    weight = layers[0].connection.weight.detach().double().numpy()
    np.testing.assert_allclose(affine.weight, weight * (1 / dt) * (1 - beta), rtol=1e-6)
    # A forward-Euler step of the graph, by hand, is the framework's exact step.
    inputs = spikes(100, 2, 20, rate=0.3)
    voltage = torch.zeros(2, 10, dtype=torch.float64)
    w = torch.as_tensor(affine.weight, dtype=torch.float64)
    b = torch.as_tensor(affine.bias, dtype=torch.float64)
    tau, r = float(lif.tau[0]), float(lif.r[0])
    expected = []
    for x in inputs:
        voltage = voltage + (1e-4 / tau) * (0.0 - voltage + r * (x.double() @ w.T + b))
        fired = voltage > 1.0
        voltage = torch.where(fired, torch.zeros_like(voltage), voltage)
        expected.append(fired.float())
    ours = NIRNetwork(layers[:1]).run(inputs)
    assert ours.sum() > 20 and torch.equal(ours, torch.stack(expected))
    assert graph.metadata["discretisation"] == "euler"
    assert torch.equal(from_nir(graph).run(inputs), run(layers, inputs))


def _snntorch() -> object:
    """snnTorch (with nirtorch), from the environment or from $INFERNO_SNNTORCH_PATH, else skip."""
    import os

    path = os.environ.get("INFERNO_SNNTORCH_PATH")
    if path and path not in sys.path:
        sys.path.append(path)
    pytest.importorskip("nirtorch")
    return pytest.importorskip("snntorch")


def test_a_network_trained_here_gives_the_same_spikes_in_snntorch() -> None:
    _snntorch()
    from snntorch.import_nir import import_from_nir

    layers = lif_chain()
    before = layers[0].connection.weight.detach().clone()
    train_with_stdp(layers)
    assert not torch.equal(layers[0].connection.weight, before)  # STDP trained it
    inputs = spikes(500, 3, 20, rate=0.3, seed=1)
    ours = run(layers, inputs)
    assert ours.sum() > 100
    network = import_from_nir(to_nir(layers, discretisation="euler"))
    with torch.no_grad():
        theirs = torch.stack([network(x)[0] for x in inputs])
    assert torch.equal(theirs, ours)
