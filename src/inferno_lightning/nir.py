r"""NIR export and import: networks of this framework as Neuromorphic Intermediate Representation graphs.

`NIR <https://neuroir.org>`_ is the interchange format that Norse, snnTorch,
SpikingJelly, Lava and neuromorphic hardware toolchains read and write. This
module is the only one that imports the ``nir`` package (``pip install
'inferno-lightning[nir]'``); nothing in the core imports this module.

* :func:`to_nir` turns a chain of :class:`~inferno_lightning.neural.Serial`
  layers into a :class:`nir.NIRGraph`.
* :func:`from_nir` turns a chain-shaped graph back into a :class:`NIRNetwork`
  of ``Serial`` layers that steps with a given :math:`\Delta t`.

What maps to what (one layer = connection, synapse, neurons):

- ``LinearDense`` (with a bias): ``Linear`` (``Affine``), preceded by
  ``Flatten`` when its input is not flat;
- ``Conv2d``: ``Conv2d``;
- ``DeltaCurrent``: nothing (the neuron node takes the current);
  ``ExponentialCurrent``: the synaptic filter of ``CubaLIF``;
- synapse delays: ``Delay`` (one delay per presynaptic neuron);
- ``LIF``: ``LIF`` (``CubaLIF`` behind an exponential synapse); ``ALIF`` in
  eval mode: ``LIF`` with :math:`V_\text{thresh} + \sum_k\theta_k`;
  :class:`IntegrateAndFire`: ``IF``.

**Units and time.** NIR nodes are continuous-time ODEs without units. The
graph is written in this framework's units except for time, which NIR tools
take in seconds: ``tau``, ``tau_syn``, ``tau_mem`` and ``delay`` in s;
voltages in mV; ``r`` in MOhm (so :math:`R I` is in mV for :math:`I` in nA);
``IF``'s ``r`` in mV per nA per second. The input of a layer's affine node is
the spike train as 0/1 per step, *held over the step* (zero-order hold), and
its output is current in nA: a delta synapse of charge :math:`q` (pC) and a
weight :math:`w` give the NIR weight

.. math::

    w_\text{NIR} = w\,\frac{q}{\Delta t} \quad \text{(nA)},

the current the synapse delivers during a spike's step. With that reading
this framework's neurons step the NIR equations *exactly* (not by Euler):
``LIF``'s :math:`\tau \dot v = (v_\text{leak} - v) + R I` is solved in closed
form for the held current, so an imported graph gives the spikes of the
exported network, bit for bit where the arithmetic is exact. (With
``CubaLIF`` the synaptic current is sampled once per step, a spike's jump
:math:`q/\tau_s` held over its step, where the ODE's current also decays
within the step: a difference of order :math:`\Delta t/\tau_s` for other
tools; round trips through this module are unaffected.) The step the graph
was written with is kept in ``graph.metadata["step_time_ms"]``;
:func:`from_nir` needs a step (its argument, or that entry).

**Forward Euler.** Most NIR simulators (snnTorch, Norse) step
:math:`v \leftarrow v + \frac{\Delta t}{\tau}(v_\text{leak} - v + r I)`,
which approximates the exact step. ``to_nir(..., discretisation="euler")``
writes LIF parameters for them instead, chosen so that forward Euler at
``step_time`` *is* this framework's exact step:
:math:`\tau' = \Delta t/(1 - e^{-\Delta t/\tau})`, :math:`r' = \tau'/\Delta t`
and the affine node times :math:`(1 - e^{-\Delta t/\tau}) R`, so the affine
output is added to :math:`v` as it is. ``from_nir(graph,
discretisation="euler")`` reads such graphs (the metadata says which form a
graph of this module is in). A network trained here runs in snnTorch with
the same spikes (``tests/test_nir.py``; snnTorch's importer also needs
:math:`v_\text{leak} = v_\text{reset} = 0`, one threshold per layer and a
step of 0.1 ms, its fixed ``dt`` of :math:`10^{-4}` s).

**What NIR cannot express** raises :class:`NIRExportError` naming it:
adaptive thresholds that learn (``ALIF`` in training mode: its
:math:`\theta` is shared over the batch and grows with spikes; ``eval()``
freezes it and exports it folded into the threshold), learning rules
(export the layers, not the module that trains them), refractory periods
(NIR's neurons have none: set ``refrac_t=0``, or pass
``refractory="metadata"`` to keep it in node metadata that this module reads
back and other tools ignore), per-synapse delays that differ within one
presynaptic neuron's fan-out, and every other neuron, synapse or connection
kind. NIR's threshold is strict (:math:`v > v_\text{thr}`), this framework's
is not (:math:`V \ge V_\text{thresh}`); they differ only on exact equality.

Example::

    >>> import nir
    >>> from inferno_lightning.nir import from_nir, to_nir
    >>> graph = to_nir([layer1, layer2])  # trained Serial layers
    >>> nir.write("network.nir", graph)
    >>> network = from_nir(nir.read("network.nir"))  # step_time from the graph
    >>> spikes = network.run(inputs)  # (T, batch, *input_shape) -> (T, batch, *output_shape)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .neural import (
    ALIF,
    LIF,
    Conv2d,
    DeltaCurrent,
    ExponentialCurrent,
    IntegrateAndFire,
    LinearDense,
    Neuron,
    Serial,
)

__all__ = [
    "IntegrateAndFire",
    "NIRExportError",
    "NIRImportError",
    "NIRNetwork",
    "from_nir",
    "to_nir",
]

#: Seconds per ms: NIR time constants and delays are in seconds.
_S_PER_MS = 1e-3


class NIRExportError(ValueError):
    """A part of the network that NIR cannot express; the message names it and what to do."""


class NIRImportError(ValueError):
    """A NIR graph (or node) that this framework cannot run; the message names the node."""


def _nir() -> Any:
    try:
        import nir
    except ImportError as error:  # pragma: no cover - the extra is part of dev
        raise ImportError(
            "NIR export and import need the nir package: pip install 'inferno-lightning[nir]'"
        ) from error
    return nir


# ------------------------------------------------------------------------------ export


def _full(value: torch.Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    tensor = torch.as_tensor(value).detach().to("cpu", torch.float64)
    return tensor.expand(shape).numpy().astype(np.float32).copy()


def _scalar_or_none(tensor: torch.Tensor) -> float | None:
    flat = tensor.detach().reshape(-1)
    if flat.numel() == 0:
        return 0.0
    return float(flat[0]) if bool((flat == flat[0]).all()) else None


def _layers(network: Any) -> list[Serial]:
    if isinstance(network, Serial):
        return [network]
    if isinstance(network, NIRNetwork):
        return list(network.layers)
    rules = getattr(network, "rules", None)
    if isinstance(network, nn.Module) and rules is not None and not isinstance(network, Iterable):
        names = ", ".join(type(rule).__name__ for rule in rules) or "none registered"
        raise NIRExportError(
            f"{type(network).__name__} is a training module: NIR has no learning rules "
            f"({names}) and no time loop; export its trained layers instead, e.g. "
            "to_nir([model.layer1, model.layer2])"
        )
    if isinstance(network, nn.Module) and not isinstance(network, Iterable):
        raise NIRExportError(
            f"to_nir exports a Serial layer or a sequence of them, got {type(network).__name__}"
        )
    layers = list(network)
    for index, layer in enumerate(layers):
        if not isinstance(layer, Serial):
            raise NIRExportError(
                f"layer {index} is a {type(layer).__name__}; to_nir exports chains of Serial "
                "layers (one connection feeding one neuron group)"
            )
    if not layers:
        raise NIRExportError("to_nir needs at least one layer")
    return layers


def _presynaptic_delays(layer: Serial, name: str) -> np.ndarray | None:
    """Delay in ms of each presynaptic neuron, or ``None`` without delays."""
    connection = layer.connection
    delay = getattr(connection, "delay", None)
    if delay is None:
        return None
    delay = delay.detach().to("cpu", torch.float64)
    if isinstance(connection, LinearDense):
        per_input = delay.reshape(delay.shape[0], -1)
        if not bool((per_input == per_input[:1]).all()):
            raise NIRExportError(
                f"{name}: per-synapse delays differ between the postsynaptic neurons of one "
                "presynaptic neuron; NIR's Delay node delays a signal elementwise, so only one "
                "delay per presynaptic neuron (equal along each column of the delay matrix) "
                "can be exported"
            )
        return per_input[0].reshape(connection.input_shape).numpy()
    value = _scalar_or_none(delay)
    if value is None:
        raise NIRExportError(
            f"{name}: a Conv2d with per-synapse delays that differ cannot be exported; NIR's "
            "Delay node gives one delay per input element, and only a delay shared by every "
            "synapse fits before a convolution"
        )
    return np.full(connection.input_shape, value)


def _charge_per_step(layer: Serial, name: str) -> tuple[torch.Tensor, float | None]:
    """``(q / dt, tau_syn in ms or None)``: current per spike held over the step, synaptic filter."""
    synapse = layer.connection.synapse
    if type(synapse) not in (DeltaCurrent, ExponentialCurrent):
        raise NIRExportError(
            f"{name}: the synapse {type(synapse).__name__} has no NIR node; DeltaCurrent and "
            "ExponentialCurrent (as CubaLIF's synaptic current) can be exported"
        )
    charge = torch.as_tensor(synapse.spike_charge).detach().to("cpu", torch.float64)
    per_step = charge / synapse.step_time
    if isinstance(synapse, ExponentialCurrent):
        tau = _scalar_or_none(torch.as_tensor(synapse.time_constant))
        if tau is None:
            raise NIRExportError(
                f"{name}: ExponentialCurrent time constants that differ between presynaptic "
                "neurons cannot be exported; CubaLIF filters each postsynaptic neuron's summed "
                "current with one time constant"
            )
        return per_step, tau
    return per_step, None


def _weighted(layer: Serial, per_step: torch.Tensor) -> np.ndarray:
    """The connection's weight times the current per spike of each presynaptic neuron."""
    connection = layer.connection
    weight = connection.weight.detach().to("cpu", torch.float64)
    if isinstance(connection, LinearDense):
        scale = per_step.expand(connection.input_shape).reshape(1, -1)
        return (weight * scale).numpy()
    # Conv2d: per_step broadcastable to (C, H, W) must be one value per input channel at most.
    value = _scalar_or_none(per_step)
    if value is None:
        raise NIRExportError(
            f"{type(layer.connection).__name__}: a spike charge that differs between inputs "
            "cannot be folded into convolution weights; use one spike_charge"
        )
    return (weight * value).numpy()


def _euler_scale(layer: Serial, name: str, tau_syn_ms: float | None) -> np.ndarray:
    """``(1 - e^{-dt/tau}) R`` of each postsynaptic neuron: the factor of Euler-form weights."""
    neuron = layer.neuron
    if type(neuron) not in (LIF, ALIF) or tau_syn_ms is not None:
        raise NIRExportError(
            f"{name}: discretisation='euler' is written for LIF (or frozen ALIF) neurons behind "
            f"delta synapses, not {type(neuron).__name__} behind "
            f"{type(layer.connection.synapse).__name__}; use discretisation='exact'"
        )
    shape = tuple(neuron.shape)
    tau = torch.as_tensor(neuron.time_constant).double().expand(shape)
    growth = -torch.expm1(-neuron.step_time / tau)
    scale = (growth * torch.as_tensor(neuron.resistance).double().expand(shape)).numpy()
    if isinstance(layer.connection, Conv2d) and not np.all(scale == scale.reshape(-1)[0]):
        raise NIRExportError(
            f"{name}: discretisation='euler' folds (1 - exp(-dt/tau)) R into the weights, which "
            "a convolution shares between neurons: give the neurons one time_constant and resistance"
        )
    return scale


def _neuron_node(
    layer: Serial,
    name: str,
    tau_syn_ms: float | None,
    refractory: str,
    discretisation: str = "exact",
) -> tuple[Any, dict[str, Any]]:
    nir = _nir()
    neuron = layer.neuron
    shape = tuple(neuron.shape)
    metadata: dict[str, Any] = {"inferno_lightning": type(neuron).__name__}
    if isinstance(neuron, IntegrateAndFire):
        if tau_syn_ms is not None:
            raise NIRExportError(
                f"{name}: an IntegrateAndFire group behind an ExponentialCurrent has no NIR node"
            )
        node = nir.IF(
            r=_full(1000.0 / neuron.capacitance, shape),
            v_threshold=_full(neuron.thresh_v, shape),
            v_reset=_full(neuron.reset_v, shape),
            metadata=metadata,
        )
        return node, metadata
    if type(neuron) not in (LIF, ALIF):
        raise NIRExportError(
            f"{name}: the neuron model {type(neuron).__name__} has no NIR node; LIF, ALIF (in "
            "eval mode) and IntegrateAndFire can be exported"
        )
    thresh = neuron.thresh_v.detach()
    if isinstance(neuron, ALIF):
        if neuron.training:
            raise NIRExportError(
                f"{name}: ALIF's adaptive thresholds (theta, shared over the batch and raised by "
                "spikes in training mode) have no NIR node; call .eval() to export the frozen "
                "thresholds folded into v_threshold, or use LIF"
            )
        thresh = neuron.threshold.detach()
        metadata["adaptation_folded_into_threshold"] = True
    refrac = neuron.refrac_t.detach()
    if bool((refrac != 0).any()):
        if refractory != "metadata":
            raise NIRExportError(
                f"{name}: the refractory period refrac_t = {refrac.max().item():g} ms has no "
                "place in NIR's neuron nodes; set refrac_t=0, or pass refractory='metadata' to "
                "keep it in the node's metadata (read back by from_nir, ignored by other tools)"
            )
        metadata["refrac_t_ms"] = _full(refrac, shape).tolist()
    common = {
        "r": _full(neuron.resistance, shape),
        "v_leak": _full(neuron.rest_v, shape),
        "v_threshold": _full(thresh, shape),
        "v_reset": _full(neuron.reset_v, shape),
        "metadata": metadata,
    }
    tau = _full(neuron.time_constant * _S_PER_MS, shape)
    if discretisation == "euler":
        growth = -torch.expm1(-neuron.step_time / torch.as_tensor(neuron.time_constant).double())
        step = neuron.step_time * _S_PER_MS
        tau = _full(step / growth, shape)
        common["r"] = _full(1.0 / growth, shape)  # tau' / dt: the affine output enters v as is
    if tau_syn_ms is None:
        return nir.LIF(tau=tau, **common), metadata
    tau_syn = np.full(shape, tau_syn_ms * _S_PER_MS, dtype=np.float32)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, w_in=np.ones(shape, np.float32), **common), (
        metadata
    )


def _connection_node(
    layer: Serial, name: str, weight: np.ndarray, scale: np.ndarray | None = None
) -> Any:
    nir = _nir()
    connection = layer.connection
    bias = connection.bias
    bias_array = None if bias is None else bias.detach().to("cpu", torch.float64).numpy()
    if bias_array is not None and scale is not None:
        bias_array = bias_array * (
            scale.reshape(-1) if weight.ndim == 2 else float(scale.reshape(-1)[0])
        )
    if isinstance(connection, LinearDense):
        weight = weight.astype(np.float32)
        if bias_array is None:
            return nir.Linear(weight=weight)
        return nir.Affine(weight=weight, bias=bias_array.astype(np.float32))
    if isinstance(connection, Conv2d):
        out_channels = weight.shape[0]
        return nir.Conv2d(
            input_shape=tuple(connection.input_shape[1:]),
            weight=weight.astype(np.float32),
            stride=tuple(connection._stride),
            padding=tuple(connection._padding),
            dilation=tuple(connection._dilation),
            groups=int(connection._groups),
            bias=(
                np.zeros(out_channels, np.float32)
                if bias_array is None
                else bias_array.astype(np.float32)
            ),
        )
    raise NIRExportError(
        f"{name}: the connection {type(connection).__name__} has no NIR node; LinearDense and "
        "Conv2d can be exported"
    )


def to_nir(
    network: Serial | Sequence[Serial] | NIRNetwork,
    *,
    refractory: str = "error",
    discretisation: str = "exact",
) -> Any:
    r"""Export a chain of ``Serial`` layers to a NIR graph.

    The layers run in order, each one's spikes the next one's input (a
    :class:`NIRNetwork`, or the layers of a model: ``[model.layer1,
    model.layer2]``). The graph holds ``input``, then per layer ``i``
    (``layer{i}.``): ``delay`` (with delays), ``flatten`` (a dense connection
    fed by a multi-dimensional group), ``linear``/``affine``/``conv`` and the
    neuron node, then ``output``. Units and the mapping are in the module's
    documentation; ``graph.metadata`` holds ``step_time_ms`` and the units.

    Args:
        network: a ``Serial`` layer, a sequence of them, or a :class:`NIRNetwork`.
        refractory: ``"error"`` (a nonzero ``refrac_t`` raises) or
            ``"metadata"`` (kept in the neuron node's metadata).
        discretisation: ``"exact"`` (the ODE's parameters as they are) or
            ``"euler"``: LIF parameters that a forward-Euler simulator stepping
            by ``step_time`` turns into this framework's exact steps,
            :math:`\tau' = \Delta t / (1 - e^{-\Delta t/\tau})`,
            :math:`r' = \tau'/\Delta t` and weights and bias times
            :math:`(1 - e^{-\Delta t/\tau}) R`, so that each step's affine
            output is added to :math:`v` as it is (what snnTorch's importer
            requires). LIF-type neurons behind delta synapses only.

    Returns:
        A :class:`nir.NIRGraph`.

    Raises:
        NIRExportError: a part NIR cannot express (see the module documentation),
            layers with different step times, or shapes that do not chain.
    """
    nir = _nir()
    if refractory not in ("error", "metadata"):
        raise ValueError(f"refractory must be 'error' or 'metadata', got {refractory!r}")
    if discretisation not in ("exact", "euler"):
        raise ValueError(f"discretisation must be 'exact' or 'euler', got {discretisation!r}")
    layers = _layers(network)
    step_time = layers[0].neuron.step_time
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    input_shape = tuple(layers[0].connection.input_shape)
    nodes["input"] = nir.Input(input_type={"input": np.array(input_shape)})
    previous, previous_shape = "input", input_shape
    for index, layer in enumerate(layers):
        name = f"layer{index}"
        if layer.neuron.step_time != step_time or layer.connection.synapse.step_time != step_time:
            raise NIRExportError(
                f"{name}: step_time {layer.neuron.step_time} ms differs from layer0's "
                f"{step_time} ms; a NIR graph is written for one step"
            )
        connection = layer.connection
        shape_in = tuple(connection.input_shape)
        if math.prod(shape_in) != math.prod(previous_shape) or (
            isinstance(connection, Conv2d) and shape_in != previous_shape
        ):
            raise NIRExportError(
                f"{name}: its input shape {shape_in} does not take the previous output "
                f"{previous_shape}"
            )
        delays = _presynaptic_delays(layer, name)
        if delays is not None and bool((delays != 0).any()):
            node = f"{name}.delay"
            nodes[node] = nir.Delay(delay=(delays * _S_PER_MS).astype(np.float32))
            edges.append((previous, node))
            previous = node
        if isinstance(connection, LinearDense) and len(previous_shape) > 1:
            node = f"{name}.flatten"
            nodes[node] = nir.Flatten(
                input_type={"input": np.array(previous_shape)}, start_dim=0, end_dim=-1
            )
            edges.append((previous, node))
            previous = node
        per_step, tau_syn = _charge_per_step(layer, name)
        if tau_syn is not None and connection.bias is not None:
            raise NIRExportError(
                f"{name}: a bias behind an ExponentialCurrent enters the current unfiltered, but "
                "CubaLIF filters everything its affine node gives; export without the bias"
            )
        weighted = _weighted(layer, per_step)
        scale = None
        if discretisation == "euler":
            scale = _euler_scale(layer, name, tau_syn)
            weighted = weighted * (
                scale.reshape(-1, 1) if weighted.ndim == 2 else float(scale.reshape(-1)[0])
            )
        kind = {nir.Linear: "linear", nir.Affine: "affine", nir.Conv2d: "conv"}
        transform = _connection_node(layer, name, weighted, scale)
        node = f"{name}.{kind[type(transform)]}"
        nodes[node] = transform
        edges.append((previous, node))
        neuron_node, _ = _neuron_node(layer, name, tau_syn, refractory, discretisation)
        neuron_name = f"{name}.{type(neuron_node).__name__.lower()}"
        nodes[neuron_name] = neuron_node
        edges.append((node, neuron_name))
        previous, previous_shape = neuron_name, tuple(layer.neuron.shape)
    nodes["output"] = nir.Output(output_type={"output": np.array(previous_shape)})
    edges.append((previous, "output"))
    metadata = {
        "framework": "inferno-lightning",
        "step_time_ms": float(step_time),
        "discretisation": discretisation,
        "units": "time s, voltage mV, current nA, resistance MOhm",
        "input": "spikes, 0/1 held over each step",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


# ------------------------------------------------------------------------------ import


class NIRNetwork(nn.Module):
    """A chain of ``Serial`` layers imported from a NIR graph, stepped one step at a time.

    Args:
        layers: the layers in order; each one's output spikes are the next one's input.

    Shapes:
        ``forward(spikes)``: ``(batch, *input_shape)`` -> ``(batch, *output_shape)``.
        ``run(spikes)``: ``(T, batch, *input_shape)`` -> ``(T, batch, *output_shape)``.
    """

    def __init__(self, layers: Sequence[Serial]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    @property
    def step_time(self) -> float:
        """:math:`\\Delta t` of the layers, in ms."""
        return self.layers[0].neuron.step_time

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Advance every layer one step; return the last layer's spikes."""
        for layer in self.layers:
            spikes = layer(spikes)
        return spikes

    @torch.no_grad()
    def run(self, spikes: torch.Tensor) -> torch.Tensor:
        """Reset, then step through ``spikes`` (time first); return the output spikes of every step."""
        self.reset()
        return torch.stack([self(step) for step in spikes])

    def reset(self) -> None:
        """Clear the per-sample state of every layer."""
        for layer in self.layers:
            layer.reset()


def _array(node: Any, name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    value = torch.as_tensor(np.asarray(getattr(node, name), dtype=np.float64))
    if shape is not None and value.dim() > 0:
        value = value.reshape(shape) if value.numel() == math.prod(shape) else value
    return value.to(torch.get_default_dtype())


def _chain(graph: Any) -> list[str]:
    """Node names from the input to the output; raises for anything but a chain."""
    successors: dict[str, list[str]] = {name: [] for name in graph.nodes}
    predecessors: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for source, target in graph.edges:
        successors[source].append(target)
        predecessors[target].append(source)
    for name in graph.nodes:
        if len(successors[name]) > 1 or len(predecessors[name]) > 1:
            raise NIRImportError(
                f"node {name!r} has {len(predecessors[name])} inputs and "
                f"{len(successors[name])} outputs; from_nir imports chains (feed-forward "
                "layers without branches or recurrence)"
            )
    starts = [name for name in graph.nodes if not predecessors[name]]
    if len(starts) != 1:
        raise NIRImportError(f"the graph must have one input node, found {starts}")
    order = [starts[0]]
    while successors[order[-1]]:
        order.append(successors[order[-1]][0])
        if len(order) > len(graph.nodes):
            raise NIRImportError("the graph has a cycle; from_nir imports feed-forward chains")
    if len(order) != len(graph.nodes):
        missing = sorted(set(graph.nodes) - set(order))
        raise NIRImportError(f"nodes {missing} are not on the chain from the input")
    return order


def _input_shape(node: Any) -> tuple[int, ...]:
    types = node.input_type
    value = next(iter(types.values()))
    return tuple(int(d) for d in np.asarray(value).reshape(-1))


def from_nir(
    graph: Any, step_time: float | None = None, discretisation: str | None = None
) -> NIRNetwork:
    r"""Import a chain-shaped NIR graph as a :class:`NIRNetwork` of ``Serial`` layers.

    Every layer is ``[Delay] -> [Flatten] -> Linear | Affine | Conv2d ->
    LIF | CubaLIF | IF``; NIR's values are read in the units of the module's
    documentation (time in s). The affine output is taken as current held over
    the step: layers get a :class:`~inferno_lightning.neural.DeltaCurrent` (or,
    for ``CubaLIF``, an :class:`~inferno_lightning.neural.ExponentialCurrent`)
    with ``spike_charge = step_time`` and the NIR weights. Neurons start at
    ``v_leak`` (``LIF``) or ``v_reset`` (``IF``).

    Args:
        graph: a :class:`nir.NIRGraph` (e.g. from :func:`nir.read`).
        step_time: :math:`\Delta t` in ms (default: ``graph.metadata["step_time_ms"]``).
        discretisation: how the graph's LIF parameters are meant: ``"exact"``
            (the ODE) or ``"euler"`` (forward Euler with ``step_time``, as
            :func:`to_nir` writes them with ``discretisation="euler"`` and
            snnTorch and other Euler simulators read them). Default:
            ``graph.metadata["discretisation"]``, else ``"exact"``.

    Returns:
        The network, in eval mode.

    Raises:
        NIRImportError: no step time, a node kind or layout that cannot be
            imported (named), delays that are not whole steps.
    """
    nir = _nir()
    if step_time is None:
        step_time = (graph.metadata or {}).get("step_time_ms")
        if step_time is None:
            raise NIRImportError(
                "the graph does not say its step (metadata 'step_time_ms'): pass step_time (ms)"
            )
    step_time = float(step_time)
    if discretisation is None:
        discretisation = (graph.metadata or {}).get("discretisation", "exact")
    if discretisation not in ("exact", "euler"):
        raise NIRImportError(f"discretisation must be 'exact' or 'euler', got {discretisation!r}")
    order = _chain(graph)
    first = graph.nodes[order[0]]
    if not isinstance(first, nir.Input):
        raise NIRImportError(f"the chain starts at {order[0]!r}, a {type(first).__name__}")
    shape = _input_shape(first)
    layers: list[Serial] = []
    delay: torch.Tensor | None = None
    flatten_from: tuple[int, ...] | None = None
    transform: Any = None
    for name in order[1:]:
        node = graph.nodes[name]
        if isinstance(node, nir.Output):
            break
        if isinstance(node, nir.Delay):
            if transform is not None or delay is not None:
                raise NIRImportError(f"{name!r}: a Delay must come first in a layer")
            ms = _array(node, "delay") / _S_PER_MS
            steps = ms / step_time
            if not torch.allclose(steps, steps.round(), atol=1e-4):
                raise NIRImportError(
                    f"{name!r}: delays {ms.flatten().tolist()[:4]} ms are not whole steps of "
                    f"{step_time} ms"
                )
            delay = (steps.round() * step_time).expand(shape)
            continue
        if isinstance(node, nir.Flatten):
            flatten_from = shape
            shape = (math.prod(shape),)
            continue
        if isinstance(node, nir.Linear | nir.Affine | nir.Conv2d):
            if transform is not None:
                raise NIRImportError(f"{name!r}: two connections without neurons between them")
            transform = node
            continue
        if isinstance(node, nir.LIF | nir.CubaLIF | nir.IF):
            if transform is None:
                raise NIRImportError(f"{name!r}: neurons without a connection before them")
            in_shape = flatten_from if flatten_from is not None else shape
            layer = _layer(nir, name, transform, node, in_shape, delay, step_time, discretisation)
            layers.append(layer)
            shape = tuple(layer.neuron.shape)
            transform, delay, flatten_from = None, None, None
            continue
        raise NIRImportError(
            f"{name!r}: NIR node {type(node).__name__} has no counterpart here; Delay, Flatten, "
            "Linear, Affine, Conv2d, LIF, CubaLIF and IF can be imported"
        )
    if transform is not None or delay is not None:
        raise NIRImportError("the graph ends with a connection or delay that feeds no neurons")
    if not layers:
        raise NIRImportError("the graph holds no layer (connection and neurons)")
    return NIRNetwork(layers).eval()


def _layer(
    nir: Any,
    name: str,
    transform: Any,
    node: Any,
    in_shape: tuple[int, ...],
    delay: torch.Tensor | None,
    step_time: float,
    discretisation: str = "exact",
) -> Serial:
    weight = _array(transform, "weight")
    w_in = None
    tau_syn = None
    if isinstance(node, nir.CubaLIF):
        tau_syn = _array(node, "tau_syn") / _S_PER_MS
        single = _scalar_or_none(tau_syn)
        if single is None:
            raise NIRImportError(
                f"{name!r}: CubaLIF synaptic time constants that differ between neurons cannot "
                "be imported (ExponentialCurrent filters each presynaptic neuron)"
            )
        tau_syn = single
        w_in = _array(node, "w_in")
    if tau_syn is None:
        synapse = DeltaCurrent(in_shape, step_time, spike_charge=step_time)
    else:
        synapse = ExponentialCurrent(
            in_shape, step_time, spike_charge=step_time, time_constant=tau_syn
        )
    if isinstance(transform, nir.Conv2d):
        out_channels = weight.shape[0]
        bias = _array(transform, "bias")
        if w_in is not None:
            weight = weight * _scalar_w_in(name, w_in)
            bias = bias * _scalar_w_in(name, w_in)
        if delay is not None and _scalar_or_none(delay) is None:
            raise NIRImportError(f"{name!r}: delays before a convolution must all be equal")
        connection = Conv2d(
            in_shape,
            out_channels,
            tuple(weight.shape[2:]),
            synapse=synapse,
            stride=tuple(int(s) for s in np.broadcast_to(transform.stride, 2)),
            padding=_padding(name, transform.padding),
            dilation=tuple(int(d) for d in np.broadcast_to(transform.dilation, 2)),
            groups=int(transform.groups),
            bias=bias if bool(bias.any()) else False,
            weight_init=weight,
            delay=None if delay is None or not bool(delay.any()) else float(delay.max()),
        )
    else:
        weight = weight.reshape(weight.shape[0], -1)
        bias = _array(transform, "bias") if isinstance(transform, nir.Affine) else None
        if w_in is not None:
            factor = w_in.expand(weight.shape[0]) if w_in.dim() <= 1 else w_in.reshape(-1)
            weight = weight * factor[:, None]
            bias = None if bias is None else bias * factor
        per_synapse = None
        if delay is not None and bool(delay.any()):
            per_synapse = delay.reshape(1, -1).expand(weight.shape[0], -1).clone()
        connection = LinearDense(
            in_shape,
            weight.shape[0],
            synapse=synapse,
            bias=False if bias is None else bias,
            weight_init=weight,
            delay=per_synapse,
        )
    out_shape = tuple(connection.output_shape)
    return Serial(connection, _neuron(nir, name, node, out_shape, step_time, discretisation))


def _scalar_w_in(name: str, w_in: torch.Tensor) -> float:
    value = _scalar_or_none(w_in)
    if value is None:
        raise NIRImportError(f"{name!r}: CubaLIF w_in must be one value after a convolution")
    return value


def _padding(name: str, padding: Any) -> tuple[int, int]:
    if isinstance(padding, str):
        raise NIRImportError(f"{name!r}: padding {padding!r} by name is not supported; give ints")
    return tuple(int(p) for p in np.broadcast_to(padding, 2))


def _neuron(
    nir: Any,
    name: str,
    node: Any,
    shape: tuple[int, ...],
    step_time: float,
    discretisation: str = "exact",
) -> Neuron:
    def value(attribute: str) -> torch.Tensor:
        tensor = _array(node, attribute)
        return tensor.reshape(shape) if tensor.numel() == math.prod(shape) else tensor

    metadata = getattr(node, "metadata", None) or {}
    if isinstance(node, nir.IF):
        reset = value("v_reset") if node.v_reset is not None else torch.tensor(0.0)
        return IntegrateAndFire(
            shape,
            step_time,
            capacitance=1000.0 / value("r"),
            reset_v=reset,
            thresh_v=value("v_threshold"),
        )
    tau = value("tau_mem" if isinstance(node, nir.CubaLIF) else "tau") / _S_PER_MS
    resistance = value("r")
    if discretisation == "euler":
        if isinstance(node, nir.CubaLIF):
            raise NIRImportError(
                f"{name!r}: CubaLIF nodes in Euler form are not imported; import them as exact"
            )
        # v += (dt/tau')(v_leak - v + r' I) is the exact step of tau with e^(-dt/tau) = 1 - dt/tau'.
        ratio = step_time / tau
        if bool((ratio >= 1).any()):
            raise NIRImportError(
                f"{name!r}: tau {float(tau.min()) * _S_PER_MS:g} s is not longer than the step "
                f"{step_time * _S_PER_MS:g} s; forward Euler at that step does not decay"
            )
        tau = -step_time / torch.log1p(-ratio)
    leak = value("v_leak")
    reset = value("v_reset") if node.v_reset is not None else leak
    refrac = metadata.get("refrac_t_ms", 0.0)
    return LIF(
        shape,
        step_time,
        rest_v=leak,
        reset_v=reset,
        thresh_v=value("v_threshold"),
        refrac_t=torch.as_tensor(refrac, dtype=torch.get_default_dtype()),
        time_constant=tau,
        resistance=resistance,
    )
