r"""The base of learning rules: registration on Cells, shared monitors, the Updater of a connection.

A learning rule is an ``nn.Module`` that is *registered* on one or more
:class:`~inferno_lightning.neural.Cell` objects (each with its own
hyperparameters), reads what it needs from
:class:`~inferno_lightning.observe.Monitor` objects it obtains from a
:class:`~inferno_lightning.observe.MonitorPool`, and, once per simulation
step, hands each cell's potentiating and depressing terms to the
:class:`~inferno_lightning.learn.Accumulator` of the parameter it trains, held
by the connection's one :class:`~inferno_lightning.learn.Updater`
(:func:`updater_for`). Rules never write parameters: the Updater (or the
``LocalLearning`` callback) reduces, bounds and applies.

Life of a rule::

    rule = STDP(lr_post=1e-2, lr_pre=1e-4, tc_post=20.0, tc_pre=20.0)
    updater_for(layer.connection).add("weight", bound="soft", w_min=0.0, w_max=1.0)  # optional
    rule.register(layer.cell())                  # monitors and accumulators created here
    for t in range(T):                           # training mode
        layer(x[t])
        rule()                                   # accumulate step t
    updater_for(layer.connection).step()        # or the LocalLearning callback
    layer.reset(); rule.reset()                  # between samples (or a network-wide reset)

**Timing convention.** Monitors record after each module's ``forward``, and a
rule is called after the whole network step, so every trace a rule reads at
step :math:`t` *includes* the spikes of step :math:`t` (unless a rule says
otherwise, e.g. the triplet terms of :class:`TripletSTDP`).

**Batch reduction.** A rule reduces the batch the way the Accumulator says:
with ``batch_reduction`` ``"mean"`` or ``"sum"`` it calls the connection's
:meth:`~inferno_lightning.neural.base.Connection.correlate` with that
reduction (one matrix product, no ``(batch, *weight.shape)`` temporary) and
accumulates with ``batched=False``; with a callable it correlates per sample
(``"none"``) and accumulates with ``batched=True``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..._validation import check_choice, no_grad
from ...neural.base import Connection, Correlation, StatefulModule
from ...neural.layers import Cell
from ...observe import LatestReducer, Monitor, MonitorPool, Reducer
from ..accumulator import Accumulator
from ..updater import Updater

__all__ = [
    "LearningRule",
    "CellRecord",
    "updater_for",
    "correlate_term",
    "correlation_term",
    "TRACE_MODES",
]

#: Values accepted by ``trace_mode``: all-to-all (``"cumulative"``) or nearest-spike traces.
TRACE_MODES: tuple[str, ...] = ("cumulative", "nearest")

#: Name of the submodule attribute holding a connection's Updater.
UPDATER_ATTRIBUTE = "updater"


def updater_for(connection: nn.Module) -> Updater:
    """The one :class:`~inferno_lightning.learn.Updater` of ``connection``, created on first call.

    It is stored as the submodule ``connection.updater`` (so it moves, saves
    and loads with the connection) and keeps a plain reference back to the
    connection (no module cycle). Every rule training a parameter of
    ``connection`` writes into this Updater; configure an Accumulator before
    registering rules, e.g. ``updater_for(conn).add("weight", bound="soft",
    w_min=0.0, w_max=1.0)``, or rules create it with the Updater's defaults
    (mean over the batch, sum over time, unbounded).

    Args:
        connection: the module whose parameters are trained.

    Returns:
        The Updater (the same object on every call).

    Raises:
        TypeError: ``connection`` is not an ``nn.Module``, or its ``updater``
            attribute is something other than an Updater.
    """
    if not isinstance(connection, nn.Module):
        raise TypeError(f"connection must be an nn.Module, got {type(connection).__name__}")
    existing = connection._modules.get(UPDATER_ATTRIBUTE)
    if existing is None:
        if UPDATER_ATTRIBUTE in connection.__dict__ or UPDATER_ATTRIBUTE in connection._parameters:
            raise TypeError(
                f"connection {type(connection).__name__} has an attribute "
                f"{UPDATER_ATTRIBUTE!r} that is not an Updater"
            )
        existing = Updater(connection)
        connection.add_module(UPDATER_ATTRIBUTE, existing)
    elif not isinstance(existing, Updater):
        raise TypeError(
            f"connection.{UPDATER_ATTRIBUTE} must be an Updater, got {type(existing).__name__}"
        )
    return existing


def correlate_term(
    connection: Connection,
    accumulator: Accumulator,
    postsynaptic: torch.Tensor,
    presynaptic: torch.Tensor,
) -> tuple[torch.Tensor, bool]:
    r"""Post :math:`\otimes` pre in the weight's layout, reduced over the batch as ``accumulator`` says.

    Args:
        connection: the connection whose ``correlate`` lays the values out.
        accumulator: the Accumulator the term goes to (its ``batch_reduction``
            decides).
        postsynaptic: ``(batch, *output_shape)``.
        presynaptic: ``(batch, *input_shape)``, or the synaptic layout for a
            delayed connection.

    Returns:
        ``(term, batched)``: ``weight.shape`` and ``False`` for ``"mean"`` /
        ``"sum"``; ``(batch, *weight.shape)`` and ``True`` for a callable.
    """
    reduction = accumulator.batch_reduction
    if isinstance(reduction, str):
        return connection.correlate(postsynaptic, presynaptic, reduction), False
    return connection.correlate(postsynaptic, presynaptic, "none"), True


def correlation_term(
    connection: Connection,
    accumulator: Accumulator,
    postsynaptic: torch.Tensor,
    presynaptic: torch.Tensor,
) -> tuple[torch.Tensor | Correlation, bool]:
    r""":func:`correlate_term` for a term handed to the Accumulator as it is (not scaled after).

    With a ``"mean"`` or ``"sum"`` batch reduction it returns the connection's
    :class:`~inferno_lightning.neural.Correlation`, which the Accumulator
    computes straight into its running sum (no weight-shaped tensor per
    step); with a callable reduction, the per-sample product as
    :func:`correlate_term` does. Scale the small operands (the learning rate
    times a trace), not the result.
    """
    reduction = accumulator.batch_reduction
    if isinstance(reduction, str):
        return connection.correlation(postsynaptic, presynaptic, reduction), False
    return connection.correlate(postsynaptic, presynaptic, "none"), True


def trace_mode(name: str, value: object) -> str:
    """Validate a ``trace_mode`` (one of :data:`TRACE_MODES`)."""
    check_choice(name, value, TRACE_MODES)
    return str(value)


class CellRecord(StatefulModule):
    """One cell's registration with a rule: its hyperparameters, monitors and per-sample state.

    The record holds the cell and the monitors by plain reference (the
    monitors belong to the rule's :class:`~inferno_lightning.observe.MonitorPool`).
    Per-sample rule state (e.g. eligibility traces) is registered on the
    record with :meth:`register_state`, so it is non-persistent, lazily sized
    and dropped by :meth:`reset` with the network's state.

    Args:
        cell: the registered cell.
        config: the resolved hyperparameters (rule defaults and overrides).
        monitors: observation name -> monitor.
        parameter: name of the connection parameter the rule trains.
    """

    def __init__(
        self,
        cell: Cell,
        config: Mapping[str, Any],
        monitors: Mapping[str, Monitor],
        parameter: str,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.config: dict[str, Any] = dict(config)
        self.monitors: dict[str, Monitor] = dict(monitors)
        self.parameter = parameter
        self.extra: dict[str, Any] = {}

    @property
    def connection(self) -> Connection:
        """The cell's connection."""
        return self.cell.connection

    @property
    def accumulator(self) -> Accumulator:
        """The Accumulator of the trained parameter in the connection's Updater."""
        # The per-step path: direct dictionary reads, the checked lookup otherwise.
        updater = self.cell.connection._modules.get(UPDATER_ATTRIBUTE)
        if isinstance(updater, Updater) and self.parameter in updater:
            return updater[self.parameter]
        return updater_for(self.cell.connection)[self.parameter]

    def observe(self, rule: str) -> dict[str, torch.Tensor]:
        """What each monitor keeps now (live tensors).

        Raises:
            RuntimeError: a monitor has recorded nothing yet (the rule was
                called before the network stepped in training mode).
        """
        out = {}
        for name, monitor in self.monitors.items():
            value = monitor._modules["reducer"].peek()
            if value is None:
                raise RuntimeError(
                    f"{rule} on {self.cell!r}: monitor {name!r} has recorded nothing; call the rule "
                    "after a network step in training mode (monitors of rules record only in "
                    "training), and not before the first step after a reset"
                )
            out[name] = value
        return out

    def extra_repr(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{self.cell!r}, parameter={self.parameter!r}, {items}"


Observation = tuple[nn.Module, str, Reducer]
Terms = tuple[torch.Tensor | Correlation | None, torch.Tensor | Correlation | None, bool]


class LearningRule(nn.Module, ABC):
    """Base of local learning rules: per-cell registration, shared monitors, one step's update.

    Subclasses define their hyperparameters in :meth:`check_config`, what they
    observe in :meth:`observations`, and one step's terms in :meth:`terms`;
    the base class validates and registers cells with nothing left behind on
    an error, and accumulates every cell's terms only after every cell's
    inputs were checked.

    Args:
        defaults: the rule's hyperparameters (each cell may override them at
            :meth:`register`).
        monitors: the pool to take monitors from; pass the model's pool so
            that rules sharing an observation share one monitor. ``None``
            creates a pool owned by this rule.

    Attributes:
        inputs: names of the keyword inputs :meth:`forward` requires (e.g.
            ``("reward",)``); other keywords are ignored, so a model may pass
            the same keywords to every rule.
        parameter: name of the connection parameter the rule trains.
    """

    inputs: ClassVar[tuple[str, ...]] = ()
    parameter: ClassVar[str] = "weight"

    def __init__(self, defaults: Mapping[str, Any], monitors: MonitorPool | None = None) -> None:
        super().__init__()
        if monitors is not None and not isinstance(monitors, MonitorPool):
            raise TypeError(
                f"monitors must be a MonitorPool or None, got {type(monitors).__name__}"
            )
        self._defaults: dict[str, Any] = self.check_config(dict(defaults))
        self.monitors = MonitorPool() if monitors is None else monitors
        self.records = nn.ModuleList()

    # -------------------------------------------------------------- subclass API

    @abstractmethod
    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Validate the hyperparameters, naming a bad one; return them normalised."""

    def check_cell(self, cell: Cell, config: Mapping[str, Any]) -> None:
        """Raise if ``cell`` lacks something this rule needs (beyond the base checks)."""

    @abstractmethod
    def observations(self, cell: Cell, config: Mapping[str, Any]) -> dict[str, Observation]:
        """Observation name -> ``(module, attribute, reducer)`` the rule reads for ``cell``."""

    def setup_accumulator(self, updater: Updater, cell: Cell) -> None:
        """Create the trained parameter's Accumulator if absent (with the Updater's defaults)."""
        updater[self.parameter]

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the step's keyword inputs (before any record is looked at)."""
        return {}

    def check_step(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> None:
        """Validate one cell's step inputs against its observations (before anything accumulates)."""

    @abstractmethod
    def terms(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> Terms:
        """One step's ``(potentiation, depression, batched)`` for one cell."""

    # --------------------------------------------------------------- public API

    @property
    def defaults(self) -> dict[str, Any]:
        """The rule's hyperparameters (a copy); a cell's own are in :meth:`config`."""
        return dict(self._defaults)

    @property
    def cells(self) -> tuple[Cell, ...]:
        """The registered cells, in registration order."""
        return tuple(record.cell for record in self.records)

    def config(self, cell: Cell) -> dict[str, Any]:
        """The hyperparameters used for ``cell`` (a copy).

        Raises:
            ValueError: ``cell`` is not registered.
        """
        return dict(self._record(cell).config)

    def updater(self, cell: Cell) -> Updater:
        """The Updater this rule writes into for ``cell`` (that of its connection)."""
        return updater_for(self._record(cell).connection)

    def _find(self, cell: Cell) -> int | None:
        for index, record in enumerate(self.records):
            other = record.cell
            if other is cell or (
                other.layer is cell.layer
                and other.connection_name == cell.connection_name
                and other.neuron_name == cell.neuron_name
            ):
                return index
        return None

    def _record(self, cell: Cell) -> CellRecord:
        index = self._find(cell) if isinstance(cell, Cell) else None
        if index is None:
            raise ValueError(f"cell {cell!r} is not registered with this {type(self).__name__}")
        return self.records[index]

    def register(self, cell: Cell, **overrides: Any) -> None:
        """Train ``cell``'s connection with this rule, optionally with its own hyperparameters.

        Creates (or shares) the monitors the rule reads, recording in training
        only, and the connection's Updater and Accumulator, all now, so every
        rank holds the same Updaters from the start.

        Args:
            cell: the cell (``layer.cell(...)``).
            **overrides: hyperparameters for this cell only (names as in the
                constructor).

        Raises:
            TypeError: ``cell`` is not a Cell, or an unknown hyperparameter name.
            ValueError: a bad hyperparameter value, ``cell`` already registered,
                or the cell lacks what the rule needs (naming it). On any error
                nothing is changed: no monitor, Updater or Accumulator is left
                behind.
        """
        name = type(self).__name__
        if not isinstance(cell, Cell):
            raise TypeError(
                f"cell must be a Cell (e.g. layer.cell('connection')), got {type(cell).__name__}"
            )
        if self._find(cell) is not None:
            raise ValueError(f"cell {cell!r} is already registered with this {name}")
        unknown = sorted(set(overrides) - set(self._defaults))
        if unknown:
            raise TypeError(
                f"{name}.register() got unknown hyperparameter(s) {unknown}; "
                f"known: {sorted(self._defaults)}"
            )
        config = self.check_config({**self._defaults, **overrides})
        connection = cell.connection
        if not isinstance(connection, Connection):
            raise TypeError(f"cell: {name} trains a Connection, got {type(connection).__name__}")
        self.check_cell(cell, config)
        self._check_base(cell)

        had_updater = isinstance(connection._modules.get(UPDATER_ATTRIBUTE), Updater)
        had_accumulator = had_updater and self.parameter in connection._modules[UPDATER_ATTRIBUTE]
        monitors: dict[str, Monitor] = {}
        try:
            for key, (module, attribute, reducer) in self.observations(cell, config).items():
                monitors[key] = self.monitors.get_or_create(
                    module, attribute, reducer, train_update=True, eval_update=False
                )
            updater = updater_for(connection)
            if not had_accumulator:
                self.setup_accumulator(updater, cell)
            record = CellRecord(cell, config, monitors, self.parameter)
            self.init_record(record)
        except BaseException:
            for monitor in monitors.values():
                self.monitors.release(monitor)
            if not had_updater and UPDATER_ATTRIBUTE in connection._modules:
                del connection._modules[UPDATER_ATTRIBUTE]
            raise
        self.records.append(record)

    def init_record(self, record: CellRecord) -> None:
        """Register per-sample state on a new record (``record.register_state``)."""

    def deregister(self, cell: Cell) -> None:
        """Stop training ``cell``: release its monitors and forget it.

        The connection's Updater and Accumulator stay (other rules may use
        them; one nobody accumulates into has nothing pending).

        Raises:
            ValueError: ``cell`` is not registered.
        """
        record = self._record(cell)
        for monitor in record.monitors.values():
            self.monitors.release(monitor)
        del self.records[self._find(cell)]

    def reset(self) -> None:
        """Drop per-sample state: the rule's own and what its monitors kept (as between samples)."""
        for record in self.records:
            record.reset()
            for monitor in record.monitors.values():
                monitor.reset()

    def forward(self, **inputs: Any) -> None:
        """Accumulate one simulation step's update for every registered cell.

        Call after each network step, in training mode. Every cell's inputs
        and observations are checked first; on an error nothing is
        accumulated for any cell. Each registered cell's Accumulator receives
        exactly one :meth:`~inferno_lightning.learn.Accumulator.accumulate`
        call per step.

        Args:
            **inputs: the keyword inputs named by :attr:`inputs` (others are
                ignored).

        Raises:
            TypeError: a required input is missing.
            ValueError: an input is malformed (naming it).
            RuntimeError: the monitors have recorded nothing yet.
        """
        with no_grad():
            self._step(inputs)

    def _step(self, inputs: dict[str, Any]) -> None:
        name = type(self).__name__
        missing = [key for key in self.inputs if key not in inputs]
        if missing:
            raise TypeError(f"{name}() needs keyword input(s) {missing} every step")
        checked = self.check_inputs(inputs)
        records = self._modules["records"]  # every step: no nn.Module.__getattr__
        observed = [record.observe(name) for record in records]
        for record, values in zip(records, observed, strict=True):
            self.check_step(record, values, checked)
        work = []
        for record, values in zip(records, observed, strict=True):
            work.append((record.accumulator, self.terms(record, values, checked)))
        for accumulator, (potentiation, depression, batched) in work:
            accumulator.accumulate(potentiation, depression, batched=batched)

    # ---------------------------------------------------------------- internals

    def _check_base(self, cell: Cell) -> None:
        connection = cell.connection
        parameter = getattr(connection, self.parameter, None)
        if not isinstance(parameter, torch.Tensor) or not parameter.is_floating_point():
            raise ValueError(
                f"cell: connection {cell.connection_name!r} ({type(connection).__name__}) has no "
                f"floating-point {self.parameter!r} for {type(self).__name__} to train"
            )
        if tuple(cell.neuron.shape) != tuple(connection.output_shape):
            raise ValueError(
                f"cell: neuron group shape {tuple(cell.neuron.shape)} differs from the "
                f"connection's output_shape {tuple(connection.output_shape)}"
            )

    @staticmethod
    def spikes(cell: Cell) -> dict[str, Observation]:
        """The latest pre- and postsynaptic spikes of ``cell`` (``"pre"``, ``"post"``)."""
        pre_module, pre_attribute = cell.observable("presynaptic.spike")
        post_module, post_attribute = cell.observable("postsynaptic.spike")
        return {
            "pre": (pre_module, pre_attribute, LatestReducer()),
            "post": (post_module, post_attribute, LatestReducer()),
        }

    def extra_repr(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self._defaults.items())
        return f"{items}, cells={len(self.records)}"
