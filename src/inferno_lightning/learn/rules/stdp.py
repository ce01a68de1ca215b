r"""Spike-timing-dependent plasticity: pair-based :class:`STDP` and :class:`TripletSTDP`.

Both rules read spike traces from monitors (see
:mod:`inferno_lightning.observe.reducers`) and hand signed potentiating and
depressing terms to the connection's weight Accumulator
(:math:`\Delta w = P - D`, bounded there).

**Trace timing.** The network steps first, then the rule: a trace read at
step :math:`t` already holds the spikes of step :math:`t`. So a pre- and a
postsynaptic spike *in the same step* form a pair at distance 0 for both
terms of :class:`STDP`: the step contributes :math:`\eta_\text{post} A -
\eta_\text{pre} A` (:math:`A = 1`, the trace amplitude), which cancels for
symmetric Hebbian learning rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..._validation import as_float, check_choice, positive
from ...neural.layers import Cell
from ...observe import (
    CumulativeTraceReducer,
    MonitorPool,
    NearestTraceReducer,
    PriorTraceReducer,
    Reducer,
)
from .base import (
    CellRecord,
    LearningRule,
    Observation,
    Terms,
    correlation_term,
    trace_mode,
)

__all__ = ["STDP", "TripletSTDP", "POTENTIATION_REDUCTIONS"]

#: Values accepted by ``STDP(potentiation_reduction=...)``.
POTENTIATION_REDUCTIONS: tuple[str, ...] = ("batch", "winners")


def trace_reducer(mode: str, step_time: float, time_constant: float) -> Reducer:
    """A nearest or cumulative spike-trace reducer (amplitude 1)."""
    if mode == "nearest":
        return NearestTraceReducer(step_time, time_constant)
    return CumulativeTraceReducer(step_time, time_constant)


def pair_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate the pair-STDP hyperparameters ``lr_post, lr_pre, tc_post, tc_pre, trace_mode``."""
    config["lr_post"] = as_float("lr_post", config["lr_post"])
    config["lr_pre"] = as_float("lr_pre", config["lr_pre"])
    config["tc_post"] = as_float("tc_post", config["tc_post"], positive, "ms")
    config["tc_pre"] = as_float("tc_pre", config["tc_pre"], positive, "ms")
    config["trace_mode"] = trace_mode("trace_mode", config["trace_mode"])
    return config


def pair_observations(cell: Cell, config: Mapping[str, Any]) -> dict[str, Observation]:
    """Latest spikes and traces of both sides, for pair-based rules."""
    pre_module, pre_attribute = cell.observable("presynaptic.spike")
    post_module, post_attribute = cell.observable("postsynaptic.spike")
    step_time = cell.connection.step_time
    mode = config["trace_mode"]
    return {
        **LearningRule.spikes(cell),
        "pre_trace": (
            pre_module,
            pre_attribute,
            trace_reducer(mode, step_time, config["tc_pre"]),
        ),
        "post_trace": (
            post_module,
            post_attribute,
            trace_reducer(mode, step_time, config["tc_post"]),
        ),
    }


class STDP(LearningRule):
    r"""Pair-based spike-timing-dependent plasticity with nearest or all-to-all traces.

    Per step :math:`t`, with presynaptic spikes :math:`s^\text{pre}_j(t)`,
    postsynaptic spikes :math:`s^\text{post}_i(t)` and their traces

    .. math::

        x^\text{pre}_j(t) = x^\text{pre}_j(t - \Delta t)\, e^{-\Delta t/\tau_\text{pre}}
                            + s^\text{pre}_j(t)
        \quad \text{(cumulative; nearest: set to 1 on a spike)}

    (and :math:`x^\text{post}` likewise with :math:`\tau_\text{post}`), the rule
    accumulates

    .. math::

        P_{ij}(t) = \eta_\text{post}\, s^\text{post}_i(t)\, x^\text{pre}_j(t), \qquad
        D_{ij}(t) = \eta_\text{pre}\, x^\text{post}_i(t)\, s^\text{pre}_j(t),

    so that :math:`\Delta w = \sum_t (P - D)` before bounding. Summed over a
    spike train, cumulative traces give every pre/post pair
    :math:`\eta_\text{post} e^{-\Delta/\tau_\text{pre}}` (pre :math:`\Delta`
    ms before post) or :math:`-\eta_\text{pre} e^{-\Delta/\tau_\text{post}}`
    (post before pre); nearest traces pair each spike with the latest spike
    of the other side only.

    **Same-step spikes.** Traces include the current step's spikes (see the
    module docstring), so a pre and a post spike in the same step give
    :math:`P = \eta_\text{post}` and :math:`D = \eta_\text{pre}`.

    **Signs** select the mode: both positive, Hebbian; both negative,
    anti-Hebbian; ``lr_pre = 0``, potentiation only; ``lr_post = 0``,
    depression only. A term with a zero learning rate is not computed.

    Indices are in the weight's layout through
    :meth:`~inferno_lightning.neural.base.Connection.correlate` (summed over the
    positions of a convolution; presynaptic spikes and traces in the synaptic
    layout for delayed connections, i.e. the delayed spikes each synapse
    receives).

    Args:
        lr_post: :math:`\eta_\text{post}`, the post-spike-triggered rate
            (potentiation when positive), in weight units per pair.
        lr_pre: :math:`\eta_\text{pre}`, the pre-spike-triggered rate
            (depression when positive), in weight units per pair.
        tc_post: :math:`\tau_\text{post}`, postsynaptic trace time constant, ms.
        tc_pre: :math:`\tau_\text{pre}`, presynaptic trace time constant, ms.
        trace_mode: ``"cumulative"`` (all-to-all) or ``"nearest"``.
        potentiation_reduction: how the potentiation of a batch is reduced.
            ``"batch"`` (default): by the Accumulator's batch reduction, like
            every term. ``"winners"``: each postsynaptic neuron's
            potentiation is averaged over the samples in which it spiked at
            that step, not over the whole batch,

            .. math::

                P_{ij}(t) = \eta_\text{post}\,
                    \frac{\sum_b s^\text{post}_{bi}(t)\, x^\text{pre}_{bj}(t)}
                          {\max\bigl(1, \sum_b s^\text{post}_{bi}(t)\bigr)},

            so a neuron moves toward the mean input of the samples it won,
            as in mini-batch k-means, by as much at batch 1024 as at batch 1
            (with a ``"mean"`` Accumulator the rule multiplies by the batch
            size to undo its division). For winner-take-all networks
            (Diehl & Cook) trained with large batches.
        monitors: the monitor pool to share (see
            :class:`~inferno_lightning.learn.rules.LearningRule`).

    Raises:
        ValueError: a time constant not positive, a learning rate not
            finite, an unknown ``trace_mode`` or ``potentiation_reduction``.

    Example::

        stdp = STDP(lr_post=1e-2, lr_pre=1e-4, tc_post=20.0, tc_pre=20.0)
        stdp.register(layer.cell())
        for t in range(T):
            layer(x[t])
            stdp()
        updater_for(layer.connection).step()
    """

    def __init__(
        self,
        lr_post: float = 1e-2,
        lr_pre: float = 1e-2,
        tc_post: float = 20.0,
        tc_pre: float = 20.0,
        trace_mode: str = "cumulative",
        *,
        potentiation_reduction: str = "batch",
        monitors: MonitorPool | None = None,
    ) -> None:
        super().__init__(
            {
                "lr_post": lr_post,
                "lr_pre": lr_pre,
                "tc_post": tc_post,
                "tc_pre": tc_pre,
                "trace_mode": trace_mode,
                "potentiation_reduction": potentiation_reduction,
            },
            monitors,
        )

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        check_choice(
            "potentiation_reduction", config["potentiation_reduction"], POTENTIATION_REDUCTIONS
        )
        return pair_config(config)

    def observations(self, cell: Cell, config: Mapping[str, Any]) -> dict[str, Observation]:
        return pair_observations(cell, config)

    def terms(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> Terms:
        config, connection, accumulator = record.config, record.connection, record.accumulator
        potentiation = depression = None
        batched = False
        # correlate is bilinear: the learning rate scales a trace, not the weight-shaped
        # product, and the spikes stay boolean so that correlate may skip silent rows.
        if config["lr_post"] != 0.0:
            post = observed["post"]
            if config["potentiation_reduction"] == "winners":
                post = _per_winner(post, accumulator.batch_reduction, observed["pre_trace"].dtype)
            potentiation, batched = correlation_term(
                connection, accumulator, post, observed["pre_trace"] * config["lr_post"]
            )
        if config["lr_pre"] != 0.0:
            depression, batched = correlation_term(
                connection, accumulator, observed["post_trace"] * config["lr_pre"], observed["pre"]
            )
        return potentiation, depression, batched


def _per_winner(post: torch.Tensor, batch_reduction: object, dtype: torch.dtype) -> torch.Tensor:
    """Postsynaptic spikes weighted so that the batch reduction averages over each neuron's spikes.

    ``post`` is ``(batch, *shape)``; each neuron's spikes are divided by how
    many samples it spiked in (at least 1), and multiplied by the batch size
    when the Accumulator then takes the batch mean.
    """
    weights = post.to(dtype)
    counts = weights.sum(0).clamp_(min=1.0)
    if batch_reduction == "mean":
        counts.div_(post.shape[0])
    return weights / counts


class TripletSTDP(LearningRule):
    r"""Triplet spike-timing-dependent plasticity (Pfister & Gerstner 2006).

    Two presynaptic traces :math:`r_1` (:math:`\tau_+`) and :math:`r_2`
    (:math:`\tau_x`), two postsynaptic traces :math:`o_1` (:math:`\tau_-`) and
    :math:`o_2` (:math:`\tau_y`), each incremented by 1 per spike in the
    all-to-all model (``trace_mode="cumulative"``) or set to 1 in the nearest
    model (``"nearest"``, Pfister & Gerstner's minimal nearest-spike model),
    and

    .. math::

        \text{post spike at } t:&\quad w \leftarrow w + r_1(t)\,\bigl[A_2^+ + A_3^+\, o_2(t^-)\bigr] \\
        \text{pre spike at } t:&\quad w \leftarrow w - o_1(t)\,\bigl[A_2^- + A_3^-\, r_2(t^-)\bigr]

    per step :math:`t`:

    .. math::

        P_{ij}(t) = s^\text{post}_i(t)\,\bigl[A_2^+ + A_3^+ o_{2,i}(t^-)\bigr]\, r_{1,j}(t), \qquad
        D_{ij}(t) = o_{1,i}(t)\, s^\text{pre}_j(t)\,\bigl[A_2^- + A_3^- r_{2,j}(t^-)\bigr].

    **Timing.** The pair traces :math:`r_1, o_1` include the current step's
    spikes, as in :class:`STDP` (same-step pre and post spikes pair at
    distance 0). The triplet traces :math:`o_2, r_2` are read *before* the
    current step's spikes are added, :math:`o_2(t^-) = o_2(t - \Delta t)\,
    e^{-\Delta t/\tau_y}` (:class:`PriorTraceReducer`), so a spike never forms
    a triplet with itself, as in the paper.

    Args:
        a2_plus: :math:`A_2^+`, pair potentiation amplitude.
        a3_plus: :math:`A_3^+`, triplet potentiation amplitude.
        a2_minus: :math:`A_2^-`, pair depression amplitude (positive: depression).
        a3_minus: :math:`A_3^-`, triplet depression amplitude (positive: depression).
        tc_plus: :math:`\tau_+`, presynaptic pair trace :math:`r_1`, ms.
        tc_minus: :math:`\tau_-`, postsynaptic pair trace :math:`o_1`, ms.
        tc_x: :math:`\tau_x`, presynaptic triplet trace :math:`r_2`, ms.
        tc_y: :math:`\tau_y`, postsynaptic triplet trace :math:`o_2`, ms.
        trace_mode: ``"cumulative"`` (all-to-all) or ``"nearest"``.
        monitors: the monitor pool to share.

    Defaults are the all-to-all visual-cortex fit of Pfister & Gerstner (2006,
    Table 4): :math:`A_2^+ = 5\cdot10^{-10}, A_3^+ = 6.2\cdot10^{-3},
    A_2^- = 7\cdot10^{-3}, A_3^- = 2.3\cdot10^{-4}`, :math:`\tau_+ = 16.8`,
    :math:`\tau_- = 33.7`, :math:`\tau_x = 101`, :math:`\tau_y = 125` ms.

    Raises:
        ValueError: a time constant not positive, an amplitude not finite,
            an unknown ``trace_mode``.
    """

    def __init__(
        self,
        a2_plus: float = 5e-10,
        a3_plus: float = 6.2e-3,
        a2_minus: float = 7e-3,
        a3_minus: float = 2.3e-4,
        tc_plus: float = 16.8,
        tc_minus: float = 33.7,
        tc_x: float = 101.0,
        tc_y: float = 125.0,
        trace_mode: str = "cumulative",
        *,
        monitors: MonitorPool | None = None,
    ) -> None:
        super().__init__(
            {
                "a2_plus": a2_plus,
                "a3_plus": a3_plus,
                "a2_minus": a2_minus,
                "a3_minus": a3_minus,
                "tc_plus": tc_plus,
                "tc_minus": tc_minus,
                "tc_x": tc_x,
                "tc_y": tc_y,
                "trace_mode": trace_mode,
            },
            monitors,
        )

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        for name in ("a2_plus", "a3_plus", "a2_minus", "a3_minus"):
            config[name] = as_float(name, config[name])
        for name in ("tc_plus", "tc_minus", "tc_x", "tc_y"):
            config[name] = as_float(name, config[name], positive, "ms")
        config["trace_mode"] = trace_mode("trace_mode", config["trace_mode"])
        return config

    def observations(self, cell: Cell, config: Mapping[str, Any]) -> dict[str, Observation]:
        pre_module, pre_attribute = cell.observable("presynaptic.spike")
        post_module, post_attribute = cell.observable("postsynaptic.spike")
        step_time = cell.connection.step_time
        mode = config["trace_mode"]
        return {
            **self.spikes(cell),
            "r1": (pre_module, pre_attribute, trace_reducer(mode, step_time, config["tc_plus"])),
            "o1": (post_module, post_attribute, trace_reducer(mode, step_time, config["tc_minus"])),
            "r2": (pre_module, pre_attribute, PriorTraceReducer(step_time, config["tc_x"], mode)),
            "o2": (post_module, post_attribute, PriorTraceReducer(step_time, config["tc_y"], mode)),
        }

    def terms(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> Terms:
        config, connection, accumulator = record.config, record.connection, record.accumulator
        # The triplet factors fold into the spiking side: correlate is bilinear.
        post = observed["post"] * (config["a2_plus"] + config["a3_plus"] * observed["o2"])
        pre = observed["pre"] * (config["a2_minus"] + config["a3_minus"] * observed["r2"])
        potentiation, batched = correlation_term(connection, accumulator, post, observed["r1"])
        depression, _ = correlation_term(connection, accumulator, observed["o1"], pre)
        return potentiation, depression, batched
