"""Layer, Serial and Cell: wiring connections to neuron groups.

A :class:`Layer` holds named connections and named neuron groups and a wiring
that says which group each connection feeds. Every connection takes its input
from outside the layer (recurrent input, such as lateral inhibition, is the
previous step's output handed back in by the caller). Several connections may
feed one group; their currents are combined (summed by default).

A :class:`Cell` is one connection plus the neuron group it feeds: the unit a
learning rule trains. It names what monitors may observe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from .._validation import check_choice, check_finite, check_input, host_readable, require_finite
from .base import Connection, Neuron

__all__ = ["Cell", "Layer", "Serial", "COMBINATIONS"]

#: Names accepted by ``Layer(combine=...)``.
COMBINATIONS: tuple[str, ...] = ("sum", "mean", "max", "min")

Combiner = str | Callable[[Mapping[str, torch.Tensor]], torch.Tensor]


def _combine(mode: str, currents: list[torch.Tensor]) -> torch.Tensor:
    if len(currents) == 1:
        return currents[0]
    if mode == "sum":
        out = currents[0] + currents[1]
        for c in currents[2:]:
            out = out + c
        return out
    stacked = torch.stack(currents, 0)
    if mode == "mean":
        return stacked.mean(0)
    if mode == "max":
        return stacked.amax(0)
    return stacked.amin(0)


class Cell:
    """One connection and the neuron group it feeds, within a :class:`Layer`.

    A Cell is a view, not a module: it registers nothing and holds no
    parameters, so a model's ``state_dict`` lists each parameter once. Learning
    rules are registered on cells; monitors observe the states a cell names.

    Observable states (name -> module, attribute), for monitors:

    * ``"presynaptic.spike"``: the connection's ``synspike`` (presynaptic
      spikes as each synapse sees them, delays applied),
      ``(batch, *input_shape)`` or the synaptic layout when delayed;
    * ``"presynaptic.current"``: the connection's ``syncurrent``;
    * ``"postsynaptic.spike"``: the neurons' ``spike``, ``(batch, *shape)``;
    * ``"postsynaptic.voltage"``: the neurons' ``voltage`` in mV;
    * ``"postsynaptic.refrac"``: the neurons' remaining refractory time in ms.

    Args:
        layer: the layer the cell belongs to.
        connection_name: name of the connection in the layer.
        neuron_name: name of the neuron group the connection feeds.
    """

    OBSERVABLES: tuple[str, ...] = (
        "presynaptic.spike",
        "presynaptic.current",
        "postsynaptic.spike",
        "postsynaptic.voltage",
        "postsynaptic.refrac",
    )

    def __init__(self, layer: Layer, connection_name: str, neuron_name: str) -> None:
        self.layer = layer
        self.connection_name = connection_name
        self.neuron_name = neuron_name

    @property
    def connection(self) -> Connection:
        """The cell's connection."""
        return self.layer._modules["connections"][self.connection_name]

    @property
    def neuron(self) -> Neuron:
        """The neuron group the connection feeds."""
        return self.layer.neurons[self.neuron_name]

    @property
    def synapse(self) -> nn.Module:
        """The connection's synapse."""
        return self.connection.synapse

    def observable(self, name: str) -> tuple[nn.Module, str]:
        """The module and attribute that hold the observable state ``name``.

        A monitor hooks the returned module's ``forward`` and reads the
        attribute after each step.

        Raises:
            ValueError: ``name`` is not one of :attr:`OBSERVABLES`.
        """
        check_choice("name", name, self.OBSERVABLES)
        side, attr = name.split(".")
        if side == "presynaptic":
            return self.connection, "synspike" if attr == "spike" else "syncurrent"
        return self.neuron, attr

    def __repr__(self) -> str:
        return f"Cell(connection={self.connection_name!r}, neuron={self.neuron_name!r})"


class Layer(nn.Module):
    """Named connections wired to named neuron groups.

    One step: each connection maps its input spikes to current; the currents
    feeding each group are combined; each group integrates and spikes.

    Args:
        connections: connection name -> :class:`Connection`.
        neurons: neuron group name -> :class:`Neuron`.
        wiring: connection name -> name of the neuron group it feeds. Every
            connection feeds one group; a group may be fed by several.
        combine: how the currents feeding one group combine: ``"sum"``
            (default), ``"mean"``, ``"max"``, ``"min"``, or a picklable callable
            taking ``{connection name: current}`` and returning the current; or a
            mapping from group name to one of these.

    Raises:
        ValueError: a wiring names an unknown connection or group, a group or a
            connection is left unwired, a connection's ``output_shape`` is not
            its group's ``shape``, or step times differ.

    Example::

        layer = Layer(
            connections={"input": dense, "inhibition": lateral},
            neurons={"excitatory": alif},
            wiring={"input": "excitatory", "inhibition": "excitatory"},
        )
        spikes = layer({"input": x_t, "inhibition": previous_spikes})["excitatory"]
    """

    def __init__(
        self,
        connections: Mapping[str, Connection],
        neurons: Mapping[str, Neuron],
        wiring: Mapping[str, str],
        combine: Combiner | Mapping[str, Combiner] = "sum",
    ) -> None:
        super().__init__()
        for arg, mapping in (
            ("connections", connections),
            ("neurons", neurons),
            ("wiring", wiring),
        ):
            if not isinstance(mapping, Mapping):
                raise TypeError(
                    f"{arg} must be a mapping (dict) keyed by name, got {type(mapping).__name__}"
                )
            for key in mapping:
                if not isinstance(key, str):
                    raise TypeError(f"{arg} must be keyed by names (str), got key {key!r}")
                if not key or "." in key:
                    raise ValueError(
                        f"{arg} must be keyed by non-empty names without '.', got {key!r}"
                    )
        if not connections:
            raise ValueError("connections must name at least one Connection, got none")
        if not neurons:
            raise ValueError("neurons must name at least one Neuron, got none")
        for name, conn in connections.items():
            if not isinstance(conn, Connection):
                raise TypeError(
                    f"connections[{name!r}] must be a Connection, got {type(conn).__name__}"
                )
        for name, group in neurons.items():
            if not isinstance(group, Neuron):
                raise TypeError(f"neurons[{name!r}] must be a Neuron, got {type(group).__name__}")
        unwired = set(connections) - set(wiring)
        if unwired:
            raise ValueError(
                f"wiring must give a neuron group for every connection; missing {sorted(unwired)}"
            )
        for cname, nname in wiring.items():
            if not isinstance(nname, str):
                raise TypeError(
                    f"wiring[{cname!r}] must be the name of a neuron group, got {nname!r}"
                )
            if cname not in connections:
                raise ValueError(
                    f"wiring names unknown connection {cname!r}; known: {sorted(connections)}"
                )
            if nname not in neurons:
                raise ValueError(
                    f"wiring[{cname!r}] names unknown neuron group {nname!r}; known: {sorted(neurons)}"
                )
            conn, group = connections[cname], neurons[nname]
            if tuple(conn.output_shape) != tuple(group.shape):
                raise ValueError(
                    f"connection {cname!r} has output_shape {tuple(conn.output_shape)} but the neuron "
                    f"group {nname!r} it feeds has shape {tuple(group.shape)}"
                )
            if conn.step_time != group.step_time:
                raise ValueError(
                    f"connection {cname!r} has step_time {conn.step_time} ms but neuron group "
                    f"{nname!r} has step_time {group.step_time} ms"
                )
        unfed = set(neurons) - set(wiring.values())
        if unfed:
            raise ValueError(
                f"every neuron group must be fed by a connection; unfed: {sorted(unfed)}"
            )

        if isinstance(combine, Mapping):
            unknown = set(combine) - set(neurons)
            if unknown:
                raise ValueError(f"combine names unknown neuron groups {sorted(unknown)}")
            combiners = {n: combine.get(n, "sum") for n in neurons}
        else:
            combiners = {n: combine for n in neurons}
        for n, c in combiners.items():
            if isinstance(c, str):
                check_choice(
                    f"combine[{n!r}]" if isinstance(combine, Mapping) else "combine",
                    c,
                    COMBINATIONS,
                )
            elif not callable(c):
                raise TypeError(
                    f"combine must be one of {list(COMBINATIONS)} or a callable, got {c!r}"
                )

        self.connections = nn.ModuleDict(dict(connections))
        self.neurons = nn.ModuleDict(dict(neurons))
        self._wiring: dict[str, str] = dict(wiring)
        self._combine: dict[str, Combiner] = combiners
        # Group name -> connections feeding it, in the order the wiring gives.
        self._feeds: dict[str, list[str]] = {n: [] for n in neurons}
        for cname, nname in self._wiring.items():
            self._feeds[nname].append(cname)
        self._cells: dict[tuple[str, str], Cell] = {}

    @property
    def wiring(self) -> dict[str, str]:
        """Connection name -> neuron group name (a copy)."""
        return dict(self._wiring)

    def cell(self, connection: str, neuron: str | None = None) -> Cell:
        """The :class:`Cell` of ``connection`` and the group it feeds (the same object each call).

        Raises:
            ValueError: unknown connection, or ``neuron`` is not the group it feeds.
        """
        if connection not in self._wiring:
            raise ValueError(
                f"connection must be one of {sorted(self._wiring)}, got {connection!r}"
            )
        target = self._wiring[connection]
        if neuron is not None and neuron != target:
            raise ValueError(
                f"connection {connection!r} feeds neuron group {target!r}, not {neuron!r}"
            )
        key = (connection, target)
        if key not in self._cells:
            self._cells[key] = Cell(self, connection, target)
        return self._cells[key]

    @property
    def cells(self) -> dict[str, Cell]:
        """Connection name -> its :class:`Cell`."""
        return {c: self.cell(c) for c in self._wiring}

    def forward(self, inputs: Mapping[str, torch.Tensor] | torch.Tensor) -> dict[str, torch.Tensor]:
        """Advance every connection and neuron group one step.

        Args:
            inputs: connection name -> input spikes ``(batch, *input_shape)``; a
                bare tensor is accepted when the layer has one connection.

        Returns:
            neuron group name -> spikes ``(batch, *shape)``.

        Raises:
            TypeError: ``inputs`` is neither a mapping nor a tensor, an input
                is not a tensor, or a floating-point input has another dtype
                than its connection's weight.
            ValueError: an input is missing, names an unknown connection, has
                the wrong shape, a batch size other than the other inputs' or
                the live state's, another device than its connection's weight,
                or (where the connection's synapse checks its inputs) NaN or inf. Every input is checked before any
                connection or neuron group steps, so on an error no state
                changes.
        """
        if isinstance(inputs, torch.Tensor):
            if len(self._wiring) != 1:
                raise ValueError(
                    f"inputs must be a mapping from connection name to tensor for a layer with "
                    f"{len(self._wiring)} connections ({sorted(self._wiring)})"
                )
            inputs = {next(iter(self._wiring)): inputs}
        if not isinstance(inputs, Mapping):
            raise TypeError(
                f"inputs must be a mapping from connection name to tensor, or a tensor for a "
                f"layer with one connection, got {type(inputs).__name__}"
            )
        missing = set(self._wiring) - set(inputs)
        extra = set(inputs) - set(self._wiring)
        if missing or extra:
            raise ValueError(
                f"inputs must give exactly one tensor per connection {sorted(self._wiring)}; "
                f"missing {sorted(missing)}, unknown {sorted(extra)}"
            )
        self._check_inputs(inputs)
        outputs: dict[str, torch.Tensor] = {}
        # Direct dictionary reads: this runs every step (nn.Module.__getattr__ costs more).
        connections, neurons = self._modules["connections"], self._modules["neurons"]
        for nname, feeders in self._feeds.items():
            currents = {c: connections[c](inputs[c]) for c in feeders}
            how = self._combine[nname]
            current = (
                _combine(how, list(currents.values())) if isinstance(how, str) else how(currents)
            )
            outputs[nname] = neurons[nname](current)
        return outputs

    def _check_inputs(self, inputs: Mapping[str, torch.Tensor]) -> None:
        """Check every input before anything steps (one connection's check would come too late).

        Shapes, batch sizes, devices and dtypes always (host-side, no device synchronisation);
        NaN and inf only for several connections whose synapses check their
        inputs (one synchronisation for all of them): with one connection its
        synapse's own check already runs before any state changes.
        """
        batch: int | None = None
        first = ""
        floating: list[tuple[str, torch.Tensor]] = []
        connections = self._modules["connections"]
        for cname in self._wiring:
            connection = connections[cname]
            synapse = connection._modules["synapse"]
            name = f"inputs[{cname!r}]"
            value = inputs[cname]
            size = check_input(
                name, value, tuple(connection.input_shape), synapse.batch_size, False
            )
            connection.check_placement(value, name=name)
            if batch is None:
                batch, first = size, name
            elif size != batch:
                raise ValueError(f"{name} has batch size {size} but {first} has {batch}")
            if getattr(synapse, "check_inputs", False) and value.is_floating_point():
                floating.append((name, value))
        for nname, group in self._modules["neurons"].items():
            held = group.batch_size
            if held is not None and batch != held:
                raise ValueError(
                    f"inputs have batch size {batch} but neuron group {nname!r} holds state for "
                    f"batch size {held}; call reset() between samples of different batch sizes"
                )
        if len(self._wiring) > 1 and floating:
            if not host_readable(floating[0][1].device) or torch.compiler.is_compiling():
                for name, value in floating:  # recorded on the device, or asserted in-kernel
                    require_finite(name, value)
                return
            # One fast reduction; the exact (slower) check only when it is not finite.
            totals = torch.stack([value.detach().sum().float() for _, value in floating])
            if not bool(torch.isfinite(totals).all()):
                for name, value in floating:
                    check_finite(name, value)

    def reset(self) -> None:
        """Drop per-sample state of every connection and neuron group."""
        for conn in self.connections.values():
            conn.reset()
        for group in self.neurons.values():
            group.reset()


class Serial(Layer):
    """One connection feeding one neuron group.

    Args:
        connection: the :class:`Connection`.
        neuron: the :class:`Neuron` group it feeds.
        connection_name: name of the connection inside the layer.
        neuron_name: name of the neuron group inside the layer.

    Shapes:
        ``forward(inputs)``: spikes ``(batch, *connection.input_shape)``;
        returns spikes ``(batch, *neuron.shape)``.
    """

    def __init__(
        self,
        connection: Connection,
        neuron: Neuron,
        connection_name: str = "connection",
        neuron_name: str = "neuron",
    ) -> None:
        super().__init__(
            {connection_name: connection},
            {neuron_name: neuron},
            {connection_name: neuron_name},
        )
        self._connection_name = connection_name
        self._neuron_name = neuron_name

    @property
    def connection(self) -> Connection:
        """The layer's connection."""
        return self._modules["connections"][self._connection_name]

    @property
    def neuron(self) -> Neuron:
        """The layer's neuron group."""
        return self._modules["neurons"][self._neuron_name]

    def cell(self, connection: str | None = None, neuron: str | None = None) -> Cell:
        """The layer's only :class:`Cell` (the names, if given, must match)."""
        return super().cell(self._connection_name if connection is None else connection, neuron)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Advance one step: spikes in, spikes out.

        Raises:
            ValueError: as the connection's and the neurons' ``forward``; a
                batch size other than that of the neurons' state is caught
                before the connection steps, so on an error no state changes.
        """
        neuron = self.neuron
        held = neuron.batch_size
        if held is not None and isinstance(inputs, torch.Tensor) and inputs.dim() > 0:
            if inputs.shape[0] != held:
                raise ValueError(
                    f"inputs has batch size {inputs.shape[0]} but neuron group "
                    f"{self._neuron_name!r} holds state for batch size {held}; call reset() "
                    "between samples of different batch sizes"
                )
        return neuron(self.connection(inputs))
