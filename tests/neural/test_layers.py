"""Layer, Serial and Cell: wiring, combination, observables, batch-agnostic state."""

from __future__ import annotations

import pytest
import torch

from inferno_lightning.neural import (
    LIF,
    Cell,
    DeltaCurrent,
    Layer,
    LinearDense,
    LinearLateral,
    Serial,
)


def dense(n_in: int, n_out: int, weight: torch.Tensor | None = None, step_time: float = 1.0):
    init = weight if weight is not None else "uniform"
    return LinearDense(n_in, n_out, synapse=DeltaCurrent(n_in, step_time), weight_init=init)


def lif(n: int, **kw) -> LIF:
    # No leak towards rest within a step matters here: compare against lif_step by hand.
    return LIF(n, step_time=1.0, time_constant=10.0, refrac_t=0.0, **kw)


def test_serial_is_connection_then_neuron(device: torch.device) -> None:
    weight = torch.tensor([[20.0, 0.0, 5.0], [0.0, 1.0, 0.0]])
    layer = Serial(dense(3, 2, weight), lif(2)).to(device)
    x = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]], device=device)
    spikes = layer(x)
    # DeltaCurrent with q = 1 pC, dt = 1 ms gives 1 nA per spike; R = 1 MOhm.
    current = x @ weight.to(device).T
    decay = torch.exp(torch.tensor(-0.1))
    v = -65.0 + current * (1 - decay.item())
    expected = (v >= -50.0).float()
    torch.testing.assert_close(spikes, expected)
    # 25 nA * (1 - e^-0.1) = 2.379 mV: below threshold, so nothing spikes.
    assert spikes.sum().item() == 0.0
    torch.testing.assert_close(layer.neuron.voltage, v)


def test_layer_sums_connections_feeding_one_group(device: torch.device) -> None:
    w_a = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    w_b = torch.tensor([[1.0, 1.0], [4.0, 0.0]])
    layer = Layer(
        connections={"a": dense(2, 2, w_a), "b": dense(2, 2, w_b)},
        neurons={"n": lif(2)},
        wiring={"a": "n", "b": "n"},
    ).to(device)
    x_a = torch.tensor([[1.0, 1.0]], device=device)
    x_b = torch.tensor([[0.0, 1.0]], device=device)
    layer({"a": x_a, "b": x_b})
    total = torch.tensor([[2.0 + 1.0, 3.0 + 0.0]], device=device)
    expected = -65.0 + total * (1 - torch.exp(torch.tensor(-0.1)).item())
    torch.testing.assert_close(layer.neurons["n"].voltage, expected)


@pytest.mark.parametrize(("mode", "value"), [("mean", 2.0), ("max", 3.0), ("min", 1.0)])
def test_layer_combine_modes(mode: str, value: float) -> None:
    layer = Layer(
        connections={
            "a": dense(1, 1, torch.tensor([[1.0]])),
            "b": dense(1, 1, torch.tensor([[3.0]])),
        },
        neurons={"n": lif(1)},
        wiring={"a": "n", "b": "n"},
        combine=mode,
    )
    layer({"a": torch.ones(1, 1), "b": torch.ones(1, 1)})
    expected = -65.0 + value * (1 - torch.exp(torch.tensor(-0.1)).item())
    torch.testing.assert_close(layer.neurons["n"].voltage, torch.tensor([[expected]]))


def _negate_b(currents: dict[str, torch.Tensor]) -> torch.Tensor:
    return currents["a"] - currents["b"]


def test_layer_combine_callable() -> None:
    layer = Layer(
        connections={
            "a": dense(1, 1, torch.tensor([[5.0]])),
            "b": dense(1, 1, torch.tensor([[2.0]])),
        },
        neurons={"n": lif(1)},
        wiring={"a": "n", "b": "n"},
        combine={"n": _negate_b},
    )
    layer({"a": torch.ones(1, 1), "b": torch.ones(1, 1)})
    expected = -65.0 + 3.0 * (1 - torch.exp(torch.tensor(-0.1)).item())
    torch.testing.assert_close(layer.neurons["n"].voltage, torch.tensor([[expected]]))


def test_layer_with_lateral_inhibition_two_groups() -> None:
    exc = lif(3)
    layer = Layer(
        connections={
            "input": dense(4, 3, torch.full((3, 4), 100.0)),
            "inhibition": LinearLateral(3, synapse=DeltaCurrent(3, 1.0), weight_init=-7.0),
        },
        neurons={"exc": exc},
        wiring={"input": "exc", "inhibition": "exc"},
    )
    previous = torch.tensor([[1.0, 0.0, 0.0]])
    layer({"input": torch.zeros(1, 4), "inhibition": previous})
    # Neuron 0 gets no inhibition from itself; neurons 1 and 2 get -7 nA from neuron 0.
    factor = 1 - torch.exp(torch.tensor(-0.1)).item()
    expected = torch.tensor([[-65.0, -65.0 - 7.0 * factor, -65.0 - 7.0 * factor]])
    torch.testing.assert_close(exc.voltage, expected)


def test_cells_are_stable_views_and_name_observables() -> None:
    conn, neuron = dense(3, 2), lif(2)
    layer = Serial(conn, neuron)
    cell = layer.cell()
    assert isinstance(cell, Cell)
    assert layer.cell() is cell
    assert layer.cells == {"connection": cell}
    assert cell.connection is conn and cell.neuron is neuron and cell.synapse is conn.synapse
    assert cell.observable("presynaptic.spike") == (conn, "synspike")
    assert cell.observable("presynaptic.current") == (conn, "syncurrent")
    assert cell.observable("postsynaptic.voltage") == (neuron, "voltage")
    with pytest.raises(ValueError, match="name must be one of"):
        cell.observable("dendrite.voltage")
    # A cell is a view: parameters appear once in the state dict.
    keys = list(layer.state_dict())
    assert all(k.startswith(("connections.", "neurons.")) for k in keys), keys
    assert [k for k in keys if k.endswith("weight")] == ["connections.connection.weight"]


def test_state_dict_is_batch_agnostic() -> None:
    torch.manual_seed(1)
    layer = Serial(dense(5, 4), lif(4))
    x4 = (torch.rand(4, 5) < 0.5).float() * 30
    for _ in range(3):
        layer(x4)
    assert layer.neuron.voltage.shape == (4, 4)
    state = layer.state_dict()
    assert not any(k.endswith(("_voltage", "_refrac", "_spike")) for k in state)

    fresh = Serial(dense(5, 4), lif(4))
    fresh.load_state_dict(state)
    layer.reset()
    x1 = x4[:1]
    outs_a = [layer(x1).clone() for _ in range(3)]
    outs_b = [fresh(x1).clone() for _ in range(3)]
    assert layer.neuron.voltage.shape == (1, 4)
    for a, b in zip(outs_a, outs_b, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(layer.neuron.voltage, fresh.neuron.voltage)


def test_batch_change_without_reset_is_an_error() -> None:
    layer = Serial(dense(2, 2), lif(2))
    layer(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="batch size"):
        layer(torch.zeros(1, 2))
    layer.reset()
    assert layer(torch.zeros(1, 2)).shape == (1, 2)


def test_wiring_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="output_shape"):
        Layer({"a": dense(2, 3)}, {"n": lif(2)}, {"a": "n"})
    with pytest.raises(ValueError, match="unknown neuron group 'm'"):
        Layer({"a": dense(2, 2)}, {"n": lif(2)}, {"a": "m"})
    with pytest.raises(ValueError, match="missing"):
        Layer({"a": dense(2, 2), "b": dense(2, 2)}, {"n": lif(2)}, {"a": "n"})
    with pytest.raises(ValueError, match="unfed"):
        Layer({"a": dense(2, 2)}, {"n": lif(2), "m": lif(2)}, {"a": "n"})
    with pytest.raises(ValueError, match="step_time"):
        Layer({"a": dense(2, 2, step_time=0.5)}, {"n": lif(2)}, {"a": "n"})
    with pytest.raises(ValueError, match="combine must be one of"):
        Layer({"a": dense(2, 2)}, {"n": lif(2)}, {"a": "n"}, combine="product")
    with pytest.raises(TypeError, match=r"connections\['a'\] must be a Connection"):
        Layer({"a": torch.nn.Linear(2, 2)}, {"n": lif(2)}, {"a": "n"})


def test_forward_input_errors() -> None:
    layer = Layer({"a": dense(2, 2), "b": dense(2, 2)}, {"n": lif(2)}, {"a": "n", "b": "n"})
    with pytest.raises(ValueError, match="mapping from connection name"):
        layer(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        layer({"a": torch.zeros(1, 2)})
    with pytest.raises(ValueError, match="feeds neuron group 'n', not 'm'"):
        layer.cell("a", "m")
