r"""Delay learning: move each synapse's delay so its spikes arrive just before the postsynaptic spike.

A connection with per-synapse delays :math:`d_{ij}` (ms) delivers a
presynaptic spike of :math:`j` emitted at :math:`t_j` to synapse :math:`ij`
at the *arrival* time :math:`t_j + d_{ij}` (the connection's ``synspike``).
:class:`DelayLearning` pairs arrivals with postsynaptic spikes of :math:`i`
and shifts :math:`d_{ij}` by a learning rate times the timing error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..._validation import as_float, nonnegative, positive
from ...neural.layers import Cell
from ...observe import MonitorPool, TimeSinceEventReducer
from ..constraints import Clamp
from ..updater import Updater
from .base import CellRecord, LearningRule, Observation, Terms, correlate_term

__all__ = ["DelayLearning"]


class DelayLearning(LearningRule):
    r"""Spike-timing-dependent learning of synaptic delays.

    Let :math:`\delta = t_\text{post} - t_\text{arrival}` be the time from the
    arrival of a (delayed) presynaptic spike at synapse :math:`ij` to a spike
    of postsynaptic neuron :math:`i`, :math:`\lambda` the target *lead* (how
    long before the postsynaptic spike arrivals should come) and :math:`W`
    the pairing window. For every nearest-neighbour pair with
    :math:`-W \le \delta \le W` the delay moves by

    .. math:: \Delta d_{ij} = \eta\,(\delta - \lambda),

    longer for arrivals more than :math:`\lambda` before the postsynaptic
    spike, shorter for arrivals later than that, so arrivals converge on
    :math:`\lambda` ms before the postsynaptic spike. Per step :math:`t`, with
    :math:`a_{ij}(t)` the arrivals, :math:`s_i(t)` the postsynaptic spikes,
    :math:`\Delta^a_{ij}(t)` the time since the latest arrival and
    :math:`\Delta^s_i(t)` the time since the latest postsynaptic spike (both
    0 on an event step):

    .. math::

        P_{ij}(t) &= \eta\, s_i(t)\,(\Delta^a_{ij}(t) - \lambda)\,[\Delta^a_{ij}(t) \le W]
        \quad \text{(a postsynaptic spike pairs with the latest arrival)} \\
        D_{ij}(t) &= \eta\, a_{ij}(t)\,(\Delta^s_i(t) + \lambda)\,[0 < \Delta^s_i(t) \le W]
        \quad \text{(an arrival pairs with the latest postsynaptic spike before it)}

    and :math:`\Delta d = \sum_t (P - D)`. Pairing is nearest-neighbour: each
    postsynaptic spike pairs with the latest arrival at or before it (whether
    or not that arrival was paired before), and each arrival with the latest
    postsynaptic spike at or before it. An arrival in the same step as a
    postsynaptic spike is the pair :math:`\delta = 0`, counted once, by
    :math:`P` (in this framework an input arriving at step :math:`t` already
    drives the neuron at step :math:`t`); that arrival does not also pair with
    an earlier postsynaptic spike.

    Delays are kept in :math:`[0, d_\max]` (``max_delay`` of the connection at
    registration) by a :class:`~inferno_lightning.learn.Clamp` constraint on
    the ``delay`` Accumulator, which the rule creates when the Updater has
    none (configure your own before registering to change that). Delayed
    reads round delays to whole steps (see the synapse's ``interp_mode``), so
    arrivals move once the accumulated change crosses a step.

    Args:
        lr: :math:`\eta`, ms of delay change per ms of timing error.
        window: :math:`W`, the pairing window, ms (positive).
        lead: :math:`\lambda`, the target lead of arrivals before the
            postsynaptic spike, ms (non-negative; 0: the same step).
        monitors: the monitor pool to share.

    Raises:
        ValueError: ``window`` not positive, ``lead`` negative, ``lr`` not
            finite; at :meth:`register`, a connection without per-synapse
            delays (``delay=None``).
    """

    parameter = "delay"

    def __init__(
        self,
        lr: float = 0.1,
        window: float = 20.0,
        lead: float = 0.0,
        *,
        monitors: MonitorPool | None = None,
    ) -> None:
        super().__init__({"lr": lr, "window": window, "lead": lead}, monitors)

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config["lr"] = as_float("lr", config["lr"])
        config["window"] = as_float("window", config["window"], positive, "ms")
        config["lead"] = as_float("lead", config["lead"], nonnegative, "ms")
        return config

    def check_cell(self, cell: Cell, config: Mapping[str, Any]) -> None:
        connection = cell.connection
        if getattr(connection, "delay", None) is None:
            raise ValueError(
                f"cell: DelayLearning trains per-synapse delays, but connection "
                f"{cell.connection_name!r} ({type(connection).__name__}) has delay=None; "
                "build it with delay=... (ms) and max_delay=..."
            )

    def observations(self, cell: Cell, config: Mapping[str, Any]) -> dict[str, Observation]:
        pre_module, pre_attribute = cell.observable("presynaptic.spike")
        post_module, post_attribute = cell.observable("postsynaptic.spike")
        step_time = cell.connection.step_time
        return {
            **self.spikes(cell),
            "since_pre": (pre_module, pre_attribute, TimeSinceEventReducer(step_time)),
            "since_post": (post_module, post_attribute, TimeSinceEventReducer(step_time)),
        }

    def setup_accumulator(self, updater: Updater, cell: Cell) -> None:
        max_delay = getattr(cell.connection, "max_delay", None)
        updater.add("delay", constraints=[Clamp(0.0, max_delay)])

    def terms(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> Terms:
        config, connection, accumulator = record.config, record.connection, record.accumulator
        lr, lead = config["lr"], config["lead"]
        # Times since events are sums of step_time: allow rounding at the window's edge.
        window = config["window"] + 1e-6 * connection.step_time
        since_pre, since_post = observed["since_pre"], observed["since_post"]
        zero = since_pre.new_zeros(())
        early = torch.where(since_pre <= window, since_pre - lead, zero)
        late = torch.where((since_post > 0) & (since_post <= window), since_post + lead, zero)
        potentiation, batched = correlate_term(connection, accumulator, observed["post"], early)
        depression, _ = correlate_term(connection, accumulator, late, observed["pre"])
        return potentiation * lr, depression * lr, batched
