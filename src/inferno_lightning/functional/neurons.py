r"""Neuron models as pure functions: one step of each model.

Units: time in ms, voltage in mV, current in nA, resistance in MOhm (so
:math:`R I` is in mV). Tensors are ``(batch, *shape)``; parameters are floats or
tensors broadcastable to ``shape`` (per-neuron values).

A model is its parameters plus one step function. The parameters are turned
once into per-step constants: the model's coefficients (``*_coefficients``:
decay factors and rates, so the step does no exponentials or divisions) and
the :class:`Firing` constants every model shares (threshold, reset,
refractory period, :math:`\Delta t`). A step then reads

.. code-block:: python

    spikes, state = lif_step(inputs, state, coefficients, firing, surrogate)

with ``state`` the model's per-sample state (a named tuple: :class:`NeuronState`,
:class:`ALIFState`, :class:`AdExState`, :class:`IzhikevichState`) and a new
state returned, never the old one overwritten. The neuron modules of
:mod:`inferno_lightning.neural.neurons` hold the parameters and the state,
check the inputs, cache the constants and call these steps, eagerly and
under ``torch.compile`` alike: there is no other implementation.

One step's order, for every model: integrate with this step's input
(``*_integrate``), then the shared refractory hold, threshold and reset (see
:mod:`~inferno_lightning.functional.spikes` for the refractory rule).
Models with adaptation update it from the state at the start of the step and
then add the spike-triggered increment of this step's spikes.

A remaining refractory time of ``None`` in a state, and a
:attr:`Firing.refrac_t` of ``None``, mean zero everywhere; with both, nothing
can be held, and the step skips the refractory count-down and hold (the same
numbers and gradients, five elementwise passes fewer) and returns ``None``
again.

Integration schemes: LIF (and ALIF) is integrated exactly for an input held
constant over the step, integrate-and-fire exactly; QIF, EIF, AdEx and
Izhikevich by forward Euler, all derivatives taken at the state at the start
of the step.

These functions do not validate their arguments: the modules built on them do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from .spikes import (
    SpikeFunction,
    _as_tensor_like,
    _operand,
    hold_spike_reset,
    refractory_step,
    threshold,
)
from .traces import trace_decay

__all__ = [
    "EXP_LIMIT",
    "BATCH_REDUCTIONS",
    "Firing",
    "NeuronState",
    "fire",
    "hold_spike_reset_select",
    "add_on_spike_",
    "reduce_batch",
    "LIFCoefficients",
    "lif_coefficients",
    "lif_integrate",
    "lif_step",
    "ALIFCoefficients",
    "ALIFState",
    "alif_coefficients",
    "adaptive_threshold_decay",
    "adaptive_threshold_update",
    "adaptive_threshold_update_",
    "alif_step",
    "IntegrateAndFireCoefficients",
    "integrate_and_fire_coefficients",
    "integrate_and_fire_step",
    "QIFCoefficients",
    "qif_coefficients",
    "qif_integrate",
    "qif_step",
    "EIFCoefficients",
    "eif_coefficients",
    "eif_integrate",
    "eif_step",
    "AdExCoefficients",
    "AdExState",
    "adex_coefficients",
    "adex_integrate",
    "adex_step",
    "IzhikevichCoefficients",
    "IzhikevichState",
    "izhikevich_coefficients",
    "izhikevich_integrate",
    "izhikevich_step",
]

Scalar = float | torch.Tensor
BatchReduction = str | Callable[[torch.Tensor, int], torch.Tensor]
RankReducer = Callable[[torch.Tensor, str], torch.Tensor]

EXP_LIMIT: float = 50.0
r"""Cap on :math:`\ln` of the EIF/AdEx exponential term: :math:`\Delta_T e^{(V - V_T)/\Delta_T} \le e^{50}` mV."""

BATCH_REDUCTIONS: tuple[str, ...] = ("mean", "sum", "max", "median")
"""Names accepted by :func:`reduce_batch`."""


def _log(x: Scalar) -> Scalar:
    return torch.log(x) if isinstance(x, torch.Tensor) else math.log(x)


def _affine(x: torch.Tensor, scale: Scalar, shift: Scalar) -> torch.Tensor:
    """``shift + scale * x`` as a new tensor, in as few kernels as the types allow."""
    if isinstance(scale, torch.Tensor) and isinstance(shift, torch.Tensor):
        return torch.addcmul(shift, scale, x)
    # Float operands as cached 0-d tensors, after the choice of ops (the same numbers).
    return torch.mul(x, _operand(scale, x)).add_(_operand(shift, x))


def _add_product_(target: torch.Tensor, scale: Scalar, x: torch.Tensor) -> torch.Tensor:
    """``target += scale * x`` in place (``target`` is a tensor this step created)."""
    if isinstance(scale, torch.Tensor):
        return target.addcmul_(x, scale)
    return target.add_(x, alpha=scale)


def add_on_spike_(state: torch.Tensor, spikes: torch.Tensor, increment: Scalar) -> torch.Tensor:
    r"""Spike-triggered increment in place, :math:`s \leftarrow s + \Delta s\, z`.

    Args:
        state: e.g. adaptation currents; overwritten and returned. It must not
            be a tensor autograd saved for backward (pass one this step created).
        spikes: 0/1 spikes :math:`z` broadcastable to ``state``.
        increment: :math:`\Delta s`, float or tensor broadcastable to ``state``.
    """
    return _add_product_(state, increment, spikes)


# ------------------------------------------------------------ the shared end of a step


class Firing(NamedTuple):
    r"""The constants of the end of a step that every model shares: hold, threshold, reset.

    Attributes:
        step_time: :math:`\Delta t`, in ms (the refractory count-down).
        thresh_v: :math:`V_\text{thresh}` in mV, float or tensor broadcastable to the voltage.
        reset_v: :math:`V_\text{reset}` in mV, float or tensor broadcastable to the voltage.
        refrac_t: :math:`t_\text{refrac}` in ms, float or tensor broadcastable to
            the voltage; ``None`` for no refractory period (zero everywhere).
    """

    step_time: float
    thresh_v: Scalar
    reset_v: Scalar
    refrac_t: Scalar | None = None


class NeuronState(NamedTuple):
    r"""Per-sample state of the models with a membrane voltage only (LIF, QIF, EIF, IF).

    Attributes:
        voltage: :math:`V` in mV, ``(batch, *shape)``.
        refrac: remaining refractory time in ms, ``(batch, *shape)``; ``None``
            for zero everywhere.
    """

    voltage: torch.Tensor
    refrac: torch.Tensor | None = None


def hold_spike_reset_select(
    integrated: torch.Tensor,
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    *,
    step_time: float,
    thresh_v: Scalar,
    reset_v: Scalar,
    refrac_t: Scalar,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r""":func:`~inferno_lightning.functional.spikes.hold_spike_reset` written for ``torch.compile``.

    The same refractory hold, threshold and reset, with the same values and
    gradients for 0/1 spikes, but each selection is a :func:`torch.where` on a
    boolean mask instead of a :func:`torch.lerp` with 0/1 weights. Compiled,
    the masks stay in registers of one fused kernel, which stores only the
    float spikes, the voltage and the refractory time; Inductor lowers each
    ``lerp`` to about ten vector operations, so compiled this form is the
    faster one (``benchmarks/lif_forward.py --compiled``). Eagerly it is the
    slower form (each boolean mask is a tensor), so :func:`fire` uses it only
    while ``torch.compile`` traces the step.

    Args:
        integrated: voltage after this step's integration, in mV, ``(batch, *shape)``.
        voltage: voltage before this step, in mV, ``(batch, *shape)``.
        refrac: remaining refractory time before this step, in ms, ``(batch, *shape)``.
        step_time: :math:`\Delta t`, in ms.
        thresh_v: :math:`V_\text{thresh}` in mV, float or tensor broadcastable to ``voltage``.
        reset_v: :math:`V_\text{reset}` in mV, float or tensor broadcastable to ``voltage``.
        refrac_t: :math:`t_\text{refrac}` in ms, float or tensor broadcastable to ``voltage``.
        surrogate: see :func:`~inferno_lightning.functional.spikes.threshold`.

    Returns:
        ``(spikes, voltage, refrac)`` as
        :func:`~inferno_lightning.functional.spikes.hold_spike_reset` returns them.
    """
    dtype = integrated.dtype
    refrac, _ = refractory_step(refrac, step_time)
    voltage = torch.where(refrac > 0, voltage.to(dtype), integrated)
    spikes = threshold(voltage, thresh_v, surrogate)
    fired = spikes.detach() != 0
    reset_v = reset_v.to(dtype) if isinstance(reset_v, torch.Tensor) else reset_v
    voltage = torch.where(fired, reset_v, voltage)
    refrac_t = refrac_t.to(refrac.dtype) if isinstance(refrac_t, torch.Tensor) else refrac_t
    refrac = torch.where(fired, refrac_t, refrac)
    return spikes, voltage, refrac


def fire(
    integrated: torch.Tensor,
    voltage: torch.Tensor,
    refrac: torch.Tensor | None,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
    thresh_v: Scalar | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    r"""The end of every model's step: refractory hold, threshold and reset.

    :func:`~inferno_lightning.functional.spikes.hold_spike_reset` with the
    :class:`Firing` constants; under ``torch.compile``, the same step as
    :func:`hold_spike_reset_select` (the form Inductor fuses best). When
    ``refrac`` and ``firing.refrac_t`` are both ``None`` (zero everywhere)
    nothing is held: the spikes and the reset are computed from ``integrated``
    directly and the refractory time stays ``None``.

    Args:
        integrated: voltage after this step's integration, in mV, ``(batch, *shape)``.
        voltage: voltage before this step, in mV, ``(batch, *shape)``.
        refrac: remaining refractory time before this step, in ms,
            ``(batch, *shape)``, or ``None`` for zero everywhere.
        firing: the constants; see :class:`Firing`.
        surrogate: see :func:`~inferno_lightning.functional.spikes.threshold`.
        thresh_v: a threshold in mV to use instead of ``firing.thresh_v`` (ALIF's
            effective threshold).

    Returns:
        ``(spikes, voltage, refrac)``: 0/1 spikes of ``integrated``'s dtype,
        post-reset voltage and remaining refractory time (``None`` where it
        stayed zero everywhere).
    """
    if thresh_v is None:
        thresh_v = firing.thresh_v
    refrac_t = firing.refrac_t
    if refrac is None:
        if refrac_t is None:
            # Nothing can be held: skip the count-down and the hold (the values and gradients
            # of hold_spike_reset, five elementwise passes fewer forward and back).
            spikes = threshold(integrated, thresh_v, surrogate)
            reset_v = _as_tensor_like(firing.reset_v, integrated)
            return spikes, torch.lerp(integrated, reset_v, spikes.detach()), None
        refrac = torch.zeros_like(integrated)
    step = hold_spike_reset_select if torch.compiler.is_compiling() else hold_spike_reset
    return step(
        integrated,
        voltage,
        refrac,
        step_time=firing.step_time,
        thresh_v=thresh_v,
        reset_v=firing.reset_v,
        refrac_t=0.0 if refrac_t is None else refrac_t,
        surrogate=surrogate,
    )


# ---------------------------------------------------------------------------- LIF


class LIFCoefficients(NamedTuple):
    r"""Per-step constants of the exact LIF update :math:`V' = d V + c + g I`.

    Attributes:
        decay: :math:`d = e^{-\Delta t / \tau}`.
        offset: :math:`c = V_\text{rest} (1 - d)`, in mV.
        gain: :math:`g = R (1 - d)`, in MOhm.
    """

    decay: Scalar
    offset: Scalar
    gain: Scalar


def lif_coefficients(
    step_time: float, *, time_constant: Scalar, rest_v: Scalar, resistance: Scalar
) -> LIFCoefficients:
    r"""Constants of the exact LIF update over one step (see :class:`LIFCoefficients`).

    Args:
        step_time: :math:`\Delta t`, in ms.
        time_constant: membrane time constant :math:`\tau`, in ms.
        rest_v: resting voltage :math:`V_\text{rest}`, in mV.
        resistance: membrane resistance :math:`R`, in MOhm.

    Returns:
        floats for float arguments, otherwise tensors broadcastable to ``shape``.
    """
    decay = trace_decay(step_time, time_constant)
    growth = 1 - decay
    return LIFCoefficients(decay, rest_v * growth, resistance * growth)


def lif_integrate(
    inputs: torch.Tensor, voltage: torch.Tensor, coefficients: LIFCoefficients
) -> torch.Tensor:
    r"""Exact LIF voltage update for input held constant over the step.

    Solves :math:`\tau \frac{dV}{dt} = -(V - V_\text{rest}) + R I` over
    :math:`\Delta t`:

    .. math::

        V(t + \Delta t) = V_\text{rest} + (V(t) - V_\text{rest}) e^{-\Delta t/\tau}
                          + R I (1 - e^{-\Delta t/\tau})

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        voltage: :math:`V(t)` in mV, ``(batch, *shape)``.
        coefficients: from :func:`lif_coefficients`.

    Returns:
        :math:`V(t + \Delta t)` in mV, ``(batch, *shape)`` (a new tensor).
    """
    decay, offset, gain = coefficients
    return _add_product_(_affine(inputs, gain, offset), decay, voltage)


def lif_step(
    inputs: torch.Tensor,
    state: NeuronState,
    coefficients: LIFCoefficients,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    r"""One step of a leaky integrate-and-fire neuron with absolute refractory period.

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest}) + R I

    integrated exactly (:func:`lif_integrate`), then held, thresholded and reset
    by :func:`fire`.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        state: :math:`V` in mV and the remaining refractory time in ms.
        coefficients: from :func:`lif_coefficients`.
        firing: threshold, reset, refractory period and :math:`\Delta t`.
        surrogate: ``None`` or a spike function such as
            :class:`~inferno_lightning.functional.spikes.Surrogate`.

    Returns:
        ``(spikes, state)``: 0/1 spikes ``(batch, *shape)`` and the new state.

    Example::

        >>> coefficients = lif_coefficients(1.0, time_constant=20.0, rest_v=-65.0, resistance=1.0)
        >>> firing = Firing(1.0, thresh_v=-50.0, reset_v=-65.0, refrac_t=2.0)
        >>> state = NeuronState(torch.full((8, 100), -65.0))
        >>> spikes, state = lif_step(torch.full((8, 100), 20.0), state, coefficients, firing)
    """
    voltage, refrac = state
    integrated = lif_integrate(inputs, voltage, coefficients)
    spikes, voltage, refrac = fire(integrated, voltage, refrac, firing, surrogate)
    return spikes, NeuronState(voltage, refrac)


# ------------------------------------------------------------ adaptive threshold


def reduce_batch(tensor: torch.Tensor, reduction: BatchReduction = "mean") -> torch.Tensor:
    """Reduce ``tensor`` over its first (batch) dimension.

    Args:
        tensor: ``(batch, *shape)``.
        reduction: ``"mean"``, ``"sum"``, ``"max"``, ``"median"`` (the lower of
            the two middle values for an even batch, as :func:`torch.median`),
            or a callable ``f(tensor, dim) -> tensor`` such as :func:`torch.mean`.

    Returns:
        ``(*shape)``.
    """
    if reduction == "mean":
        return tensor.mean(0)
    if reduction == "sum":
        return tensor.sum(0)
    if reduction == "max":
        return tensor.amax(0)
    if reduction == "median":
        return tensor.median(0).values
    if isinstance(reduction, str):
        raise ValueError(
            f"batch_reduction must be one of {list(BATCH_REDUCTIONS)!r}, got {reduction!r}"
        )
    if not callable(reduction):
        raise TypeError(
            f"batch_reduction must be one of {list(BATCH_REDUCTIONS)!r} or a callable "
            f"f(tensor, dim), got {reduction!r}"
        )
    return reduction(tensor, 0)


def adaptive_threshold_decay(step_time: float, tc_adaptation: Scalar) -> Scalar:
    r"""Per-step decay :math:`e^{-\Delta t / \tau_k}` of the adaptive threshold terms."""
    return trace_decay(step_time, tc_adaptation)


def adaptive_threshold_update(
    adaptation: torch.Tensor,
    spikes: torch.Tensor,
    *,
    decay: Scalar,
    spike_increment: Scalar,
    batch_reduction: BatchReduction = "mean",
) -> torch.Tensor:
    r"""Spike-triggered adaptive threshold terms shared across the batch, one step.

    .. math::

        \theta_k \leftarrow \theta_k\, e^{-\Delta t / \tau_k}
                            + \Delta\theta_k\, \operatorname{reduce}_b(z_b)

    Args:
        adaptation: :math:`\theta`, ``(K, *shape)`` in mV.
        spikes: this step's spikes :math:`z`, ``(batch, *shape)``.
        decay: :math:`e^{-\Delta t/\tau_k}`, broadcastable to ``(K, *shape)``
            (see :func:`adaptive_threshold_decay`).
        spike_increment: :math:`\Delta\theta_k` in mV, broadcastable to ``(K, *shape)``.
        batch_reduction: see :func:`reduce_batch`.

    Returns:
        The new :math:`\theta`, ``(K, *shape)`` (a new tensor).
    """
    reduced = reduce_batch(spikes, batch_reduction).to(adaptation.dtype)
    return _add_product_(torch.mul(adaptation, decay), spike_increment, reduced)


def adaptive_threshold_update_(
    adaptation: torch.Tensor,
    spikes: torch.Tensor,
    *,
    decay: Scalar,
    spike_increment: Scalar,
    batch_reduction: BatchReduction = "mean",
) -> torch.Tensor:
    """In-place form of :func:`adaptive_threshold_update`: writes into and returns ``adaptation``.

    ``adaptation`` must not need a gradient (it is a persistent buffer).
    """
    reduced = reduce_batch(spikes, batch_reduction).to(adaptation.dtype)
    return _add_product_(adaptation.mul_(decay), spike_increment, reduced)


class ALIFCoefficients(NamedTuple):
    r"""Per-step constants of an ALIF step.

    Attributes:
        lif: the membrane's :class:`LIFCoefficients`.
        adaptation_decay: :math:`e^{-\Delta t/\tau_k}`, broadcastable to ``(K, *shape)``.
        spike_increment: :math:`\Delta\theta_k` in mV, broadcastable to ``(K, *shape)``.
    """

    lif: LIFCoefficients
    adaptation_decay: Scalar
    spike_increment: Scalar


def alif_coefficients(
    step_time: float,
    *,
    time_constant: Scalar,
    rest_v: Scalar,
    resistance: Scalar,
    tc_adaptation: Scalar,
    spike_increment: Scalar,
) -> ALIFCoefficients:
    r"""Constants of the ALIF step (see :class:`ALIFCoefficients`).

    Args:
        step_time, time_constant, rest_v, resistance: as :func:`lif_coefficients`.
        tc_adaptation: :math:`\tau_k` in ms, broadcastable to ``(K, *shape)``.
        spike_increment: :math:`\Delta\theta_k` in mV, broadcastable to ``(K, *shape)``.
    """
    return ALIFCoefficients(
        lif_coefficients(
            step_time, time_constant=time_constant, rest_v=rest_v, resistance=resistance
        ),
        adaptive_threshold_decay(step_time, tc_adaptation),
        spike_increment,
    )


class ALIFState(NamedTuple):
    r"""State of an ALIF group.

    Attributes:
        voltage: :math:`V` in mV, ``(batch, *shape)``.
        refrac: remaining refractory time in ms, ``(batch, *shape)``, or ``None`` for zero.
        adaptation: :math:`\theta` in mV, ``(K, *shape)``, shared by the batch.
    """

    voltage: torch.Tensor
    refrac: torch.Tensor | None
    adaptation: torch.Tensor


def _only_sample(tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """The "reduction" of a batch of one: its only sample."""
    return tensor.select(dim, 0)


def _cast(value: Scalar, dtype: torch.dtype) -> Scalar:
    if isinstance(value, torch.Tensor) and value.dtype is not dtype:
        return value.to(dtype)
    return value


def _adapt(
    adaptation: torch.Tensor,
    spikes: torch.Tensor,
    coefficients: ALIFCoefficients,
    batch_reduction: BatchReduction,
    rank_reducer: RankReducer | None,
    inplace: bool,
) -> torch.Tensor:
    """This step's adaptive threshold update, outside autograd."""
    reduced = reduce_batch(spikes, batch_reduction)
    if rank_reducer is not None:
        reduced = rank_reducer(reduced, batch_reduction)
    update = adaptive_threshold_update_ if inplace else adaptive_threshold_update
    dtype = adaptation.dtype
    # The spikes are already reduced over the whole batch: taking the only sample of a
    # batch of one reduces them again (exactly a "sum" over it, one kernel fewer).
    return update(
        adaptation,
        reduced.unsqueeze(0),
        decay=_cast(coefficients.adaptation_decay, dtype),
        spike_increment=_cast(coefficients.spike_increment, dtype),
        batch_reduction=_only_sample,
    )


def alif_step(
    inputs: torch.Tensor,
    state: ALIFState,
    coefficients: ALIFCoefficients,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
    *,
    batch_reduction: BatchReduction = "mean",
    rank_reducer: RankReducer | None = None,
    training: bool = True,
    inplace: bool = False,
) -> tuple[torch.Tensor, ALIFState]:
    r"""One step of an LIF neuron with spike-triggered adaptive threshold terms.

    The voltage follows :func:`lif_step` with the effective threshold

    .. math:: V_\text{thresh,eff} = V_\text{thresh} + \sum_k \theta_k

    (:math:`\theta` as it was before this step); then, if ``training``, the
    terms are updated with this step's spikes (detached: the threshold passes
    no gradient back in time),

    .. math::

        \theta_k \leftarrow \theta_k\, e^{-\Delta t / \tau_k}
                            + \Delta\theta_k\, \operatorname{reduce}(z),

    the spikes reduced over the batch by ``batch_reduction`` and then, with
    a ``rank_reducer``, over the ranks.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        state: voltage, remaining refractory time and :math:`\theta` (``(K, *shape)``).
        coefficients: from :func:`alif_coefficients`.
        firing: base threshold :math:`V_\text{thresh}`, reset, refractory period, :math:`\Delta t`.
        surrogate: see :func:`lif_step`.
        batch_reduction: see :func:`reduce_batch`.
        rank_reducer: ``f(reduced, batch_reduction) -> tensor``, combining the
            batch-reduced spikes over the ranks (``None`` on one process).
        training: update :math:`\theta` (otherwise it is returned unchanged).
        inplace: write the new :math:`\theta` into ``state.adaptation`` (a
            tensor that needs no gradient) instead of a new tensor.

    Returns:
        ``(spikes, state)``: 0/1 spikes ``(batch, *shape)`` and the new state.
    """
    voltage, refrac, adaptation = state
    total = adaptation[0] if adaptation.shape[0] == 1 else adaptation.sum(0)
    integrated = lif_integrate(inputs, voltage, coefficients.lif)
    spikes, voltage, refrac = fire(
        integrated, voltage, refrac, firing, surrogate, firing.thresh_v + total
    )
    if training:
        if torch.is_grad_enabled():
            with torch.no_grad():
                adaptation = _adapt(
                    adaptation,
                    spikes.detach(),
                    coefficients,
                    batch_reduction,
                    rank_reducer,
                    inplace,
                )
        else:  # already without autograd: no context to enter, nothing to detach
            adaptation = _adapt(
                adaptation, spikes, coefficients, batch_reduction, rank_reducer, inplace
            )
    return spikes, ALIFState(voltage, refrac, adaptation)


# ------------------------------------------------------------- integrate-and-fire


class IntegrateAndFireCoefficients(NamedTuple):
    r"""Per-step constant of the integrate-and-fire update :math:`V' = V + g I`.

    Attributes:
        gain: :math:`g = \Delta t / C`, in mV/nA.
    """

    gain: Scalar


def integrate_and_fire_coefficients(
    step_time: float, *, capacitance: Scalar
) -> IntegrateAndFireCoefficients:
    r"""Constant of the integrate-and-fire update (see :class:`IntegrateAndFireCoefficients`).

    Args:
        step_time: :math:`\Delta t`, in ms.
        capacitance: :math:`C`, in nF.
    """
    return IntegrateAndFireCoefficients(step_time / capacitance)


def integrate_and_fire_step(
    inputs: torch.Tensor,
    state: NeuronState,
    coefficients: IntegrateAndFireCoefficients,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    r"""One step of a integrate-and-fire neuron without leak.

    .. math::

        C \frac{dV}{dt} = I, \qquad V(t + \Delta t) = V(t) + \frac{\Delta t}{C} I

    (exact for input held over the step), then held, thresholded and reset by
    :func:`fire`.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        state: :math:`V` in mV and the remaining refractory time in ms.
        coefficients: from :func:`integrate_and_fire_coefficients`.
        firing: threshold, reset, refractory period (usually ``None``) and :math:`\Delta t`.
        surrogate: see :func:`lif_step`.

    Returns:
        ``(spikes, state)``: 0/1 spikes ``(batch, *shape)`` and the new state.
    """
    voltage, refrac = state
    integrated = _affine(inputs, coefficients.gain, voltage)
    spikes, voltage, refrac = fire(integrated, voltage, refrac, firing, surrogate)
    return spikes, NeuronState(voltage, refrac)


# ---------------------------------------------------------------------------- QIF


class QIFCoefficients(NamedTuple):
    r"""Per-step constants of the forward-Euler QIF update.

    Attributes:
        rate_affinity: :math:`\frac{\Delta t}{\tau} a`, in 1/mV.
        rest_v: :math:`V_\text{rest}`, in mV.
        crit_v: :math:`V_\text{crit}`, in mV.
        gain: :math:`\frac{\Delta t}{\tau} R`, in MOhm.
    """

    rate_affinity: Scalar
    rest_v: Scalar
    crit_v: Scalar
    gain: Scalar


def qif_coefficients(
    step_time: float,
    *,
    time_constant: Scalar,
    rest_v: Scalar,
    crit_v: Scalar,
    affinity: Scalar,
    resistance: Scalar,
) -> QIFCoefficients:
    r"""Constants of the QIF update (see :class:`QIFCoefficients`)."""
    rate = step_time / time_constant
    return QIFCoefficients(rate * affinity, rest_v, crit_v, rate * resistance)


def qif_integrate(
    inputs: torch.Tensor, voltage: torch.Tensor, coefficients: QIFCoefficients
) -> torch.Tensor:
    r"""Forward-Euler QIF voltage update.

    .. math::

        \tau \frac{dV}{dt} = a (V - V_\text{rest})(V - V_\text{crit}) + R I

        V(t + \Delta t) = V + \frac{\Delta t}{\tau}
            \left[a (V - V_\text{rest})(V - V_\text{crit}) + R I\right]

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        voltage: :math:`V(t)` in mV, ``(batch, *shape)``.
        coefficients: from :func:`qif_coefficients`.

    Returns:
        :math:`V(t + \Delta t)` in mV (a new tensor).
    """
    rate_affinity, rest_v, crit_v, gain = coefficients
    out = _affine(inputs, gain, voltage)
    return out.addcmul_(torch.mul(voltage - rest_v, rate_affinity), voltage - crit_v)


def qif_step(
    inputs: torch.Tensor,
    state: NeuronState,
    coefficients: QIFCoefficients,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    r"""One step of a quadratic integrate-and-fire neuron (forward Euler).

    .. math:: \tau \frac{dV}{dt} = a (V - V_\text{rest})(V - V_\text{crit}) + R I

    (:func:`qif_integrate`), then held, thresholded (``firing.thresh_v`` is the
    spike cut-off) and reset by :func:`fire`.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        state: :math:`V` in mV and the remaining refractory time in ms.
        coefficients: from :func:`qif_coefficients`.
        firing: cut-off, reset, refractory period and :math:`\Delta t`.
        surrogate: see :func:`lif_step`.

    Returns:
        ``(spikes, state)``: 0/1 spikes ``(batch, *shape)`` and the new state.
    """
    voltage, refrac = state
    integrated = qif_integrate(inputs, voltage, coefficients)
    spikes, voltage, refrac = fire(integrated, voltage, refrac, firing, surrogate)
    return spikes, NeuronState(voltage, refrac)


# ---------------------------------------------------------------------------- EIF


class EIFCoefficients(NamedTuple):
    r"""Per-step constants of the forward-Euler EIF update.

    With :math:`\rho = \Delta t / \tau`:

    Attributes:
        keep: :math:`1 - \rho`.
        offset: :math:`\rho V_\text{rest}`, in mV.
        gain: :math:`\rho R`, in MOhm.
        rate: :math:`\rho`.
        inv_sharpness: :math:`1 / \Delta_T`, in 1/mV.
        shift: :math:`\ln \Delta_T - V_T / \Delta_T`, so that
            :math:`\Delta_T e^{(V - V_T)/\Delta_T} = e^{V / \Delta_T + \text{shift}}`.
    """

    keep: Scalar
    offset: Scalar
    gain: Scalar
    rate: Scalar
    inv_sharpness: Scalar
    shift: Scalar


def eif_coefficients(
    step_time: float,
    *,
    time_constant: Scalar,
    rest_v: Scalar,
    rheobase_v: Scalar,
    sharpness: Scalar,
    resistance: Scalar,
) -> EIFCoefficients:
    r"""Constants of the EIF update (see :class:`EIFCoefficients`)."""
    rate = step_time / time_constant
    inv_sharpness = 1 / sharpness
    return EIFCoefficients(
        1 - rate,
        rate * rest_v,
        rate * resistance,
        rate,
        inv_sharpness,
        _log(sharpness) - rheobase_v * inv_sharpness,
    )


def eif_integrate(
    inputs: torch.Tensor, voltage: torch.Tensor, coefficients: EIFCoefficients
) -> torch.Tensor:
    r"""Forward-Euler EIF voltage update.

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right) + R I

    one forward-Euler step of :math:`\Delta t`. The exponential term is capped
    at :math:`e^{\text{EXP\_LIMIT}}` mV so it cannot overflow (a voltage that
    high spikes and resets in the same step anyway).

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        voltage: :math:`V(t)` in mV, ``(batch, *shape)``.
        coefficients: from :func:`eif_coefficients`.

    Returns:
        :math:`V(t + \Delta t)` in mV (a new tensor).
    """
    keep, offset, gain, rate, inv_sharpness, shift = coefficients
    exponential = torch.exp(_affine(voltage, inv_sharpness, shift).clamp_(max=EXP_LIMIT))
    out = _add_product_(_affine(inputs, gain, offset), keep, voltage)
    return _add_product_(out, rate, exponential)


def eif_step(
    inputs: torch.Tensor,
    state: NeuronState,
    coefficients: EIFCoefficients,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, NeuronState]:
    r"""One step of an exponential integrate-and-fire neuron (forward Euler).

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right) + R I

    (:func:`eif_integrate`), then held, thresholded (``firing.thresh_v`` is the
    spike cut-off) and reset by :func:`fire`.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        state: :math:`V` in mV and the remaining refractory time in ms.
        coefficients: from :func:`eif_coefficients`.
        firing: cut-off, reset, refractory period and :math:`\Delta t`.
        surrogate: see :func:`lif_step`.

    Returns:
        ``(spikes, state)``: 0/1 spikes ``(batch, *shape)`` and the new state.
    """
    voltage, refrac = state
    integrated = eif_integrate(inputs, voltage, coefficients)
    spikes, voltage, refrac = fire(integrated, voltage, refrac, firing, surrogate)
    return spikes, NeuronState(voltage, refrac)


# --------------------------------------------------------------------------- AdEx


class AdExCoefficients(NamedTuple):
    r"""Per-step constants of the forward-Euler AdEx update.

    With :math:`\rho = \Delta t / \tau` and :math:`\rho_k = \Delta t / \tau_k`:

    Attributes:
        eif: the membrane's :class:`EIFCoefficients`.
        current_gain: :math:`-\rho R`, in MOhm (applied to :math:`\sum_k w_k`).
        adaptation_keep: :math:`1 - \rho_k`, broadcastable to ``(K, *shape)``.
        adaptation_coupling: :math:`\rho_k a_k` in uS, broadcastable to ``(K, *shape)``.
        rest_v: :math:`V_\text{rest}`, in mV.
        spike_increment: :math:`b_k` in nA, broadcastable to ``(K, *shape)``.
    """

    eif: EIFCoefficients
    current_gain: Scalar
    adaptation_keep: Scalar
    adaptation_coupling: Scalar
    rest_v: Scalar
    spike_increment: Scalar


def adex_coefficients(
    step_time: float,
    *,
    time_constant: Scalar,
    rest_v: Scalar,
    rheobase_v: Scalar,
    sharpness: Scalar,
    resistance: Scalar,
    tc_adaptation: Scalar,
    voltage_coupling: Scalar,
    spike_increment: Scalar,
) -> AdExCoefficients:
    r"""Constants of the AdEx update (see :class:`AdExCoefficients`).

    Args:
        step_time, time_constant, rest_v, rheobase_v, sharpness, resistance: as
            :func:`eif_coefficients`.
        tc_adaptation: :math:`\tau_k` in ms, broadcastable to ``(K, *shape)``.
        voltage_coupling: :math:`a_k` in uS (nA/mV), broadcastable to ``(K, *shape)``.
        spike_increment: :math:`b_k` in nA, broadcastable to ``(K, *shape)``.
    """
    eif = eif_coefficients(
        step_time,
        time_constant=time_constant,
        rest_v=rest_v,
        rheobase_v=rheobase_v,
        sharpness=sharpness,
        resistance=resistance,
    )
    adaptation_rate = step_time / tc_adaptation
    return AdExCoefficients(
        eif,
        -eif.gain,
        1 - adaptation_rate,
        adaptation_rate * voltage_coupling,
        rest_v,
        spike_increment,
    )


class AdExState(NamedTuple):
    r"""Per-sample state of an AdEx group.

    Attributes:
        voltage: :math:`V` in mV, ``(batch, *shape)``.
        refrac: remaining refractory time in ms, ``(batch, *shape)``, or ``None`` for zero.
        adaptation: adaptation currents :math:`w` in nA, ``(batch, K, *shape)``.
    """

    voltage: torch.Tensor
    refrac: torch.Tensor | None
    adaptation: torch.Tensor


def adex_integrate(
    inputs: torch.Tensor,
    voltage: torch.Tensor,
    adaptation: torch.Tensor,
    coefficients: AdExCoefficients,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Forward-Euler AdEx update of voltage and adaptation currents (before spikes).

    .. math::

        \tau \frac{dV}{dt} &= -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right)
            - R \sum_k w_k + R I \\
        \tau_k \frac{dw_k}{dt} &= a_k (V - V_\text{rest}) - w_k

    both from the state at the start of the step (exponential capped as in
    :func:`eif_integrate`). The spike increment :math:`w_k \mathrel{+}= b_k` is
    applied by :func:`adex_step` after thresholding.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        voltage: :math:`V(t)` in mV, ``(batch, *shape)``.
        adaptation: :math:`w` in nA, ``(batch, K, *shape)``.
        coefficients: from :func:`adex_coefficients`.

    Returns:
        ``(voltage, adaptation)``: new tensors, ``(batch, *shape)`` and ``(batch, K, *shape)``.
    """
    eif, current_gain, keep, coupling, rest_v, _ = coefficients
    total = adaptation.select(1, 0) if adaptation.shape[1] == 1 else adaptation.sum(1)
    out = _add_product_(eif_integrate(inputs, voltage, eif), current_gain, total)
    new_adaptation = _add_product_(
        torch.mul(adaptation, keep), coupling, (voltage - rest_v).unsqueeze(1)
    )
    return out, new_adaptation


def adex_step(
    inputs: torch.Tensor,
    state: AdExState,
    coefficients: AdExCoefficients,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, AdExState]:
    r"""One step of an adaptive exponential integrate-and-fire neuron (forward Euler).

    .. math::

        \tau \frac{dV}{dt} &= -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right)
            - R \sum_k w_k + R I \\
        \tau_k \frac{dw_k}{dt} &= a_k (V - V_\text{rest}) - w_k,
        \qquad w_k \leftarrow w_k + b_k \text{ on a spike}

    (:func:`adex_integrate`), then held, thresholded and reset by :func:`fire`,
    then the increment :math:`b_k` where the neuron spiked. The adaptation
    currents keep evolving while the voltage is held refractory.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        state: voltage, remaining refractory time and :math:`w` (``(batch, K, *shape)``).
        coefficients: from :func:`adex_coefficients`.
        firing: cut-off, reset, refractory period and :math:`\Delta t`.
        surrogate: see :func:`lif_step`.

    Returns:
        ``(spikes, state)``: 0/1 spikes ``(batch, *shape)`` and the new state.
    """
    voltage, refrac, adaptation = state
    integrated, adaptation = adex_integrate(inputs, voltage, adaptation, coefficients)
    spikes, voltage, refrac = fire(integrated, voltage, refrac, firing, surrogate)
    adaptation = add_on_spike_(adaptation, spikes.unsqueeze(1), coefficients.spike_increment)
    return spikes, AdExState(voltage, refrac, adaptation)


# --------------------------------------------------------------------- Izhikevich


class IzhikevichCoefficients(NamedTuple):
    r"""Per-step constants of the forward-Euler Izhikevich update.

    With :math:`\rho_u = \Delta t / \tau_u` (:math:`= a \Delta t`):

    Attributes:
        step_time: :math:`\Delta t`, in ms.
        gain: :math:`\Delta t R`.
        recovery_keep: :math:`1 - \rho_u`.
        recovery_coupling: :math:`\rho_u b`.
        spike_increment: :math:`d`, in mV/ms.
    """

    step_time: float
    gain: Scalar
    recovery_keep: Scalar
    recovery_coupling: Scalar
    spike_increment: Scalar


def izhikevich_coefficients(
    step_time: float,
    *,
    tc_adaptation: Scalar,
    voltage_coupling: Scalar,
    resistance: Scalar,
    spike_increment: Scalar,
) -> IzhikevichCoefficients:
    r"""Constants of the Izhikevich update (see :class:`IzhikevichCoefficients`).

    Args:
        step_time: :math:`\Delta t`, in ms.
        tc_adaptation: :math:`\tau_u = 1/a`, in ms.
        voltage_coupling: :math:`b`.
        resistance: :math:`R`, in mV/(ms nA).
        spike_increment: :math:`d`, in mV/ms.
    """
    rate = step_time / tc_adaptation
    return IzhikevichCoefficients(
        step_time, step_time * resistance, 1 - rate, rate * voltage_coupling, spike_increment
    )


class IzhikevichState(NamedTuple):
    r"""Per-sample state of an Izhikevich group.

    Attributes:
        voltage: :math:`v` in mV, ``(batch, *shape)``.
        refrac: remaining refractory time in ms, ``(batch, *shape)``, or ``None`` for zero.
        recovery: :math:`u` in mV/ms, ``(batch, *shape)`` (:math:`b v_0` at the start).
    """

    voltage: torch.Tensor
    refrac: torch.Tensor | None
    recovery: torch.Tensor


def izhikevich_integrate(
    inputs: torch.Tensor,
    voltage: torch.Tensor,
    recovery: torch.Tensor,
    coefficients: IzhikevichCoefficients,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Forward-Euler Izhikevich (2003) update of voltage and recovery (before spikes).

    .. math::

        \frac{dv}{dt} &= 0.04 v^2 + 5 v + 140 - u + R I \\
        \frac{du}{dt} &= a (b v - u) = \frac{b v - u}{\tau_u}

    both from the state at the start of the step.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        voltage: :math:`v(t)` in mV, ``(batch, *shape)``.
        recovery: :math:`u(t)` in mV/ms, ``(batch, *shape)``.
        coefficients: from :func:`izhikevich_coefficients`.

    Returns:
        ``(voltage, recovery)``: new tensors, ``(batch, *shape)``.
    """
    step_time, gain, keep, coupling, _ = coefficients
    out = _affine(inputs, gain, voltage)
    out.addcmul_(voltage, voltage, value=0.04 * step_time)
    out.add_(voltage, alpha=5.0 * step_time).add_(140.0 * step_time)
    out.sub_(recovery, alpha=step_time)
    new_recovery = _add_product_(torch.mul(recovery, keep), coupling, voltage)
    return out, new_recovery


def izhikevich_step(
    inputs: torch.Tensor,
    state: IzhikevichState,
    coefficients: IzhikevichCoefficients,
    firing: Firing,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, IzhikevichState]:
    r"""One step of the Izhikevich (2003) neuron, :math:`a, b, c, d` form (forward Euler).

    .. math::

        \frac{dv}{dt} &= 0.04 v^2 + 5 v + 140 - u + R I \\
        \frac{du}{dt} &= a (b v - u)

    (:func:`izhikevich_integrate`) and on :math:`v \ge v_\text{thresh}` (30 mV):
    :math:`v \leftarrow c`, :math:`u \leftarrow u + d`. In this package's names
    :math:`a = 1/\tau_u` (``tc_adaptation``), :math:`b` = ``voltage_coupling``,
    :math:`c` = ``reset_v``, :math:`d` = ``spike_increment``. An optional
    absolute refractory period holds :math:`v` (none in the original model).

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        state: :math:`v`, remaining refractory time and :math:`u`.
        coefficients: from :func:`izhikevich_coefficients`.
        firing: cut-off (30 mV), reset :math:`c`, refractory period and :math:`\Delta t`.
        surrogate: see :func:`lif_step`.

    Returns:
        ``(spikes, state)``: 0/1 spikes ``(batch, *shape)`` and the new state.
    """
    voltage, refrac, recovery = state
    integrated, recovery = izhikevich_integrate(inputs, voltage, recovery, coefficients)
    spikes, voltage, refrac = fire(integrated, voltage, refrac, firing, surrogate)
    recovery = add_on_spike_(recovery, spikes, coefficients.spike_increment)
    return spikes, IzhikevichState(voltage, refrac, recovery)
