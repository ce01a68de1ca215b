r"""Linear rate homeostasis: push each neuron's input weights toward a target firing rate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..._validation import as_float, nonnegative
from ...neural.layers import Cell
from ...observe import MonitorPool
from .base import CellRecord, LearningRule, Observation, Terms, correlate_term

__all__ = ["LinearHomeostasis"]


class LinearHomeostasis(LearningRule):
    r"""Linear rate homeostasis of each postsynaptic neuron's input weights.

    In continuous time, every input weight of postsynaptic neuron :math:`i`
    follows

    .. math:: \frac{dw_{i\cdot}}{dt} = \eta\,\bigl(r^* - r_i(t)\bigr)

    with :math:`r^*` the target rate and :math:`r_i(t) = \sum_k \delta(t - t_i^k)`
    the neuron's spike train, time in seconds. Per step of :math:`\Delta t`
    (converted to seconds) the rule accumulates

    .. math::

        P_{i\cdot}(t) = \eta\, r^*\, \Delta t, \qquad D_{i\cdot}(t) = \eta\, s_i(t),

    so over an accumulation window of duration :math:`T` (in s) with the
    Accumulator's default ``time_reduction="sum"`` the applied change is

    .. math:: \Delta w_{i\cdot} = \eta\,(r^* T - N_i) = \eta\, T\,(r^* - \hat r_i),

    where :math:`N_i` is the neuron's spike count in the window and
    :math:`\hat r_i = N_i / T` its observed rate in Hz (with
    ``time_reduction="mean"``, divide by the number of steps:
    :math:`\eta\,\Delta t\,(r^* - \hat r_i)`). The observed rate is thus the
    spike count over the accumulation window (no state is kept between
    windows); :math:`\eta` is the weight change per spike missing from (or in
    excess of) the target. Terms are per sample and reduced over the batch by
    the Accumulator (batch mean: the mean observed rate).

    **Weight layout.** The change of neuron :math:`i` applies to all its input
    weights, through :meth:`~inferno_lightning.neural.base.Connection.correlate`
    with a presynaptic value of 1: broadcast over the input dimensions of a
    dense weight ``(O, I)``, elementwise for a direct one, zero on the
    (unused) diagonal of a lateral one. A convolutional filter ``o`` serves
    the :math:`L` neurons of channel ``o``; it gets the mean of their changes
    (a kernel entry that falls on padding at some positions gets those
    positions' share as zero).

    Args:
        lr: :math:`\eta`, weight change per spike of rate error (positive:
            homeostatic).
        target_rate: :math:`r^*`, Hz (non-negative).
        monitors: the monitor pool to share.

    Raises:
        ValueError: ``lr`` not finite, ``target_rate`` negative or not finite.
    """

    def __init__(
        self,
        lr: float = 1e-3,
        target_rate: float = 10.0,
        *,
        monitors: MonitorPool | None = None,
    ) -> None:
        super().__init__({"lr": lr, "target_rate": target_rate}, monitors)

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config["lr"] = as_float("lr", config["lr"])
        config["target_rate"] = as_float("target_rate", config["target_rate"], nonnegative, "Hz")
        return config

    def observations(self, cell: Cell, config: Mapping[str, Any]) -> dict[str, Observation]:
        return {"post": self.spikes(cell)["post"]}

    def init_record(self, record: CellRecord) -> None:
        connection = record.connection
        # L: positions each weight is applied at (1 for linear connections).
        probe = torch.zeros(1, *connection.output_shape)
        record.extra["positions"] = int(connection.postsyn_receptive(probe).shape[-1])

    def terms(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> Terms:
        config, connection, accumulator = record.config, record.connection, record.accumulator
        post = observed["post"]
        batch = post.shape[0]
        weight = connection.weight
        options = {"dtype": weight.dtype, "device": weight.device}
        ones = torch.ones(batch, *connection.input_shape, **options)
        if connection.delayed:
            ones = connection.like_synaptic(ones)
        scale = config["lr"] / record.extra["positions"]
        target = config["target_rate"] * connection.step_time / 1000.0
        constant = torch.full((batch, *connection.output_shape), target, **options)
        potentiation, batched = correlate_term(connection, accumulator, constant, ones)
        depression, _ = correlate_term(connection, accumulator, post, ones)
        return potentiation * scale, depression * scale, batched
