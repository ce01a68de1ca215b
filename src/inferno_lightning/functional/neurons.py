r"""Neuron updates: pure functions, one simulation step each.

Units: time in ms, voltage in mV, current in nA, resistance in MOhm (so
:math:`R I` is in mV). Tensors are ``(batch, *shape)``; parameters are floats or
tensors broadcastable to ``shape`` (per-neuron values).

Every model splits into three parts:

* ``*_coefficients``: the per-step constants (decay factors, rates) computed
  once from the parameters, so the hot path does no exponentials or divisions;
* ``*_integrate``: the voltage (and adaptation) update with this step's input,
  from the coefficients;
* :func:`~inferno_lightning.functional.spikes.hold_spike_reset`: refractory hold,
  threshold, reset (shared by every model); :func:`hold_spike_reset_select`
  computes the same for a step that ``torch.compile`` traces.

``*_step`` strings the three together with the parameters as arguments; the
neuron modules cache the coefficients and call the parts. One step's order, for
every model: integrate with this step's input, then spike where
:math:`V \ge V_\text{thresh}`, then reset (see
:mod:`~inferno_lightning.functional.spikes` for the refractory rule). Models
with adaptation update it from the voltage at the start of the step and then
add the spike-triggered increment of this step's spikes.

Integration schemes: LIF (and ALIF) is integrated exactly for an input held
constant over the step; QIF, EIF, AdEx and Izhikevich by forward Euler, all
derivatives taken at the state at the start of the step.

These functions do not validate their arguments: the modules built on them do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from .spikes import SpikeFunction, _operand, hold_spike_reset, refractory_step, threshold
from .traces import trace_decay

__all__ = [
    "EXP_LIMIT",
    "BATCH_REDUCTIONS",
    "LIFCoefficients",
    "lif_coefficients",
    "lif_integrate",
    "lif_step",
    "add_on_spike_",
    "hold_spike_reset_select",
    "reduce_batch",
    "adaptive_threshold_decay",
    "adaptive_threshold_update",
    "adaptive_threshold_update_",
    "alif_step",
    "QIFCoefficients",
    "qif_coefficients",
    "qif_integrate",
    "qif_step",
    "EIFCoefficients",
    "eif_coefficients",
    "eif_integrate",
    "eif_step",
    "AdExCoefficients",
    "adex_coefficients",
    "adex_integrate",
    "adex_step",
    "IzhikevichCoefficients",
    "izhikevich_coefficients",
    "izhikevich_integrate",
    "izhikevich_step",
]

Scalar = float | torch.Tensor
BatchReduction = str | Callable[[torch.Tensor, int], torch.Tensor]

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
    slower form (each boolean mask is a tensor),
    so the neuron modules call it only while ``torch.compile`` traces them.

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
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    *,
    step_time: float,
    time_constant: Scalar,
    rest_v: Scalar,
    reset_v: Scalar,
    thresh_v: Scalar,
    refrac_t: Scalar,
    resistance: Scalar,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of a leaky integrate-and-fire neuron with absolute refractory period.

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest}) + R I

    integrated exactly (:func:`lif_integrate`), then held, thresholded and reset
    by :func:`~inferno_lightning.functional.spikes.hold_spike_reset`.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        voltage: :math:`V` in mV, ``(batch, *shape)``.
        refrac: remaining refractory time in ms, ``(batch, *shape)``.
        step_time: :math:`\Delta t`, in ms.
        time_constant: :math:`\tau`, in ms.
        rest_v: :math:`V_\text{rest}`, in mV.
        reset_v: :math:`V_\text{reset}`, in mV.
        thresh_v: :math:`V_\text{thresh}`, in mV.
        refrac_t: absolute refractory period, in ms.
        resistance: :math:`R`, in MOhm.
        surrogate: ``None`` or a spike function such as
            :class:`~inferno_lightning.functional.spikes.Surrogate`.

    Returns:
        ``(spikes, voltage, refrac)``, each ``(batch, *shape)``.
    """
    coefficients = lif_coefficients(
        step_time, time_constant=time_constant, rest_v=rest_v, resistance=resistance
    )
    integrated = lif_integrate(inputs, voltage, coefficients)
    return hold_spike_reset(
        integrated,
        voltage,
        refrac,
        step_time=step_time,
        thresh_v=thresh_v,
        reset_v=reset_v,
        refrac_t=refrac_t,
        surrogate=surrogate,
    )


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


def alif_step(
    inputs: torch.Tensor,
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    adaptation: torch.Tensor,
    *,
    step_time: float,
    time_constant: Scalar,
    rest_v: Scalar,
    reset_v: Scalar,
    thresh_v: Scalar,
    refrac_t: Scalar,
    resistance: Scalar,
    tc_adaptation: Scalar,
    spike_increment: Scalar,
    batch_reduction: BatchReduction = "mean",
    training: bool = True,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of an LIF neuron with spike-triggered adaptive threshold terms.

    The voltage follows :func:`lif_step` with the effective threshold

    .. math:: V_\text{thresh,eff} = V_\text{thresh} + \sum_k \theta_k

    (:math:`\theta` as it was before this step); then, if ``training``, the
    terms are updated by :func:`adaptive_threshold_update` with this step's
    spikes (detached: the threshold passes no gradient back in time).

    Args:
        inputs, voltage, refrac, step_time, time_constant, rest_v, reset_v,
            thresh_v, refrac_t, resistance, surrogate: as :func:`lif_step`.
        adaptation: :math:`\theta`, ``(K, *shape)`` in mV, shared by the batch.
        tc_adaptation: :math:`\tau_k` in ms, broadcastable to ``(K, *shape)``.
        spike_increment: :math:`\Delta\theta_k` in mV, broadcastable to ``(K, *shape)``.
        batch_reduction: see :func:`reduce_batch`.
        training: update :math:`\theta` (otherwise it is returned unchanged).

    Returns:
        ``(spikes, voltage, refrac, adaptation)``.
    """
    coefficients = lif_coefficients(
        step_time, time_constant=time_constant, rest_v=rest_v, resistance=resistance
    )
    integrated = lif_integrate(inputs, voltage, coefficients)
    spikes, voltage, refrac = hold_spike_reset(
        integrated,
        voltage,
        refrac,
        step_time=step_time,
        thresh_v=thresh_v + adaptation.sum(0),
        reset_v=reset_v,
        refrac_t=refrac_t,
        surrogate=surrogate,
    )
    if training:
        adaptation = adaptive_threshold_update(
            adaptation,
            spikes.detach(),
            decay=adaptive_threshold_decay(step_time, tc_adaptation),
            spike_increment=spike_increment,
            batch_reduction=batch_reduction,
        )
    return spikes, voltage, refrac, adaptation


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
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    *,
    step_time: float,
    time_constant: Scalar,
    rest_v: Scalar,
    crit_v: Scalar,
    affinity: Scalar,
    reset_v: Scalar,
    thresh_v: Scalar,
    refrac_t: Scalar,
    resistance: Scalar,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of a quadratic integrate-and-fire neuron (forward Euler).

    .. math:: \tau \frac{dV}{dt} = a (V - V_\text{rest})(V - V_\text{crit}) + R I

    Args:
        crit_v: :math:`V_\text{crit}` in mV, above which the voltage runs away.
        affinity: :math:`a` in 1/mV.
        others: as :func:`lif_step` (``thresh_v`` acts as the spike cut-off).

    Returns:
        ``(spikes, voltage, refrac)``, each ``(batch, *shape)``.
    """
    coefficients = qif_coefficients(
        step_time,
        time_constant=time_constant,
        rest_v=rest_v,
        crit_v=crit_v,
        affinity=affinity,
        resistance=resistance,
    )
    return hold_spike_reset(
        qif_integrate(inputs, voltage, coefficients),
        voltage,
        refrac,
        step_time=step_time,
        thresh_v=thresh_v,
        reset_v=reset_v,
        refrac_t=refrac_t,
        surrogate=surrogate,
    )


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
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    *,
    step_time: float,
    time_constant: Scalar,
    rest_v: Scalar,
    rheobase_v: Scalar,
    sharpness: Scalar,
    reset_v: Scalar,
    thresh_v: Scalar,
    refrac_t: Scalar,
    resistance: Scalar,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of an exponential integrate-and-fire neuron (forward Euler).

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right) + R I

    Args:
        rheobase_v: :math:`V_T` in mV, where the exponential takes over.
        sharpness: :math:`\Delta_T` in mV (slope factor).
        others: as :func:`lif_step` (``thresh_v`` acts as the spike cut-off).

    Returns:
        ``(spikes, voltage, refrac)``, each ``(batch, *shape)``.
    """
    coefficients = eif_coefficients(
        step_time,
        time_constant=time_constant,
        rest_v=rest_v,
        rheobase_v=rheobase_v,
        sharpness=sharpness,
        resistance=resistance,
    )
    return hold_spike_reset(
        eif_integrate(inputs, voltage, coefficients),
        voltage,
        refrac,
        step_time=step_time,
        thresh_v=thresh_v,
        reset_v=reset_v,
        refrac_t=refrac_t,
        surrogate=surrogate,
    )


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
    """

    eif: EIFCoefficients
    current_gain: Scalar
    adaptation_keep: Scalar
    adaptation_coupling: Scalar
    rest_v: Scalar


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
) -> AdExCoefficients:
    r"""Constants of the AdEx update (see :class:`AdExCoefficients`)."""
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
        eif, -eif.gain, 1 - adaptation_rate, adaptation_rate * voltage_coupling, rest_v
    )


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
    eif, current_gain, keep, coupling, rest_v = coefficients
    total = adaptation.select(1, 0) if adaptation.shape[1] == 1 else adaptation.sum(1)
    out = _add_product_(eif_integrate(inputs, voltage, eif), current_gain, total)
    new_adaptation = _add_product_(
        torch.mul(adaptation, keep), coupling, (voltage - rest_v).unsqueeze(1)
    )
    return out, new_adaptation


def adex_step(
    inputs: torch.Tensor,
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    adaptation: torch.Tensor,
    *,
    step_time: float,
    time_constant: Scalar,
    rest_v: Scalar,
    rheobase_v: Scalar,
    sharpness: Scalar,
    reset_v: Scalar,
    thresh_v: Scalar,
    refrac_t: Scalar,
    resistance: Scalar,
    tc_adaptation: Scalar,
    voltage_coupling: Scalar,
    spike_increment: Scalar,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of an adaptive exponential integrate-and-fire neuron (forward Euler).

    .. math::

        \tau \frac{dV}{dt} &= -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right)
            - R \sum_k w_k + R I \\
        \tau_k \frac{dw_k}{dt} &= a_k (V - V_\text{rest}) - w_k,
        \qquad w_k \leftarrow w_k + b_k \text{ on a spike}

    The adaptation currents keep evolving while the voltage is held refractory.

    Args:
        adaptation: :math:`w` in nA, ``(batch, K, *shape)``.
        tc_adaptation: :math:`\tau_k` in ms, broadcastable to ``(K, *shape)``.
        voltage_coupling: :math:`a_k` in uS (nA/mV), broadcastable to ``(K, *shape)``.
        spike_increment: :math:`b_k` in nA, broadcastable to ``(K, *shape)``.
        others: as :func:`eif_step`.

    Returns:
        ``(spikes, voltage, refrac, adaptation)``.
    """
    coefficients = adex_coefficients(
        step_time,
        time_constant=time_constant,
        rest_v=rest_v,
        rheobase_v=rheobase_v,
        sharpness=sharpness,
        resistance=resistance,
        tc_adaptation=tc_adaptation,
        voltage_coupling=voltage_coupling,
    )
    integrated, adaptation = adex_integrate(inputs, voltage, adaptation, coefficients)
    spikes, voltage, refrac = hold_spike_reset(
        integrated,
        voltage,
        refrac,
        step_time=step_time,
        thresh_v=thresh_v,
        reset_v=reset_v,
        refrac_t=refrac_t,
        surrogate=surrogate,
    )
    adaptation = add_on_spike_(adaptation, spikes.unsqueeze(1), spike_increment)
    return spikes, voltage, refrac, adaptation


# --------------------------------------------------------------------- Izhikevich


class IzhikevichCoefficients(NamedTuple):
    r"""Per-step constants of the forward-Euler Izhikevich update.

    With :math:`\rho_u = \Delta t / \tau_u` (:math:`= a \Delta t`):

    Attributes:
        step_time: :math:`\Delta t`, in ms.
        gain: :math:`\Delta t R`.
        recovery_keep: :math:`1 - \rho_u`.
        recovery_coupling: :math:`\rho_u b`.
    """

    step_time: float
    gain: Scalar
    recovery_keep: Scalar
    recovery_coupling: Scalar


def izhikevich_coefficients(
    step_time: float, *, tc_adaptation: Scalar, voltage_coupling: Scalar, resistance: Scalar
) -> IzhikevichCoefficients:
    r"""Constants of the Izhikevich update (see :class:`IzhikevichCoefficients`)."""
    rate = step_time / tc_adaptation
    return IzhikevichCoefficients(
        step_time, step_time * resistance, 1 - rate, rate * voltage_coupling
    )


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
    step_time, gain, keep, coupling = coefficients
    out = _affine(inputs, gain, voltage)
    out.addcmul_(voltage, voltage, value=0.04 * step_time)
    out.add_(voltage, alpha=5.0 * step_time).add_(140.0 * step_time)
    out.sub_(recovery, alpha=step_time)
    new_recovery = _add_product_(torch.mul(recovery, keep), coupling, voltage)
    return out, new_recovery


def izhikevich_step(
    inputs: torch.Tensor,
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    recovery: torch.Tensor,
    *,
    step_time: float,
    reset_v: Scalar,
    thresh_v: Scalar,
    refrac_t: Scalar,
    tc_adaptation: Scalar,
    voltage_coupling: Scalar,
    spike_increment: Scalar,
    resistance: Scalar,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of the Izhikevich (2003) neuron, :math:`a, b, c, d` form (forward Euler).

    .. math::

        \frac{dv}{dt} &= 0.04 v^2 + 5 v + 140 - u + R I \\
        \frac{du}{dt} &= a (b v - u)

    and on :math:`v \ge v_\text{thresh}` (30 mV): :math:`v \leftarrow c`,
    :math:`u \leftarrow u + d`. In this package's names :math:`a = 1/\tau_u`
    (``tc_adaptation``), :math:`b` = ``voltage_coupling``, :math:`c` =
    ``reset_v``, :math:`d` = ``spike_increment``.

    Args:
        inputs: current :math:`I` in nA, ``(batch, *shape)``.
        voltage: :math:`v` in mV, ``(batch, *shape)``.
        refrac: remaining refractory time in ms, ``(batch, *shape)``.
        recovery: :math:`u` in mV/ms, ``(batch, *shape)``.
        step_time: :math:`\Delta t`, in ms.
        reset_v: :math:`c`, in mV.
        thresh_v: spike cut-off, in mV.
        refrac_t: absolute refractory period, in ms (0 in the original model).
        tc_adaptation: :math:`\tau_u = 1/a`, in ms.
        voltage_coupling: :math:`b`, in 1/ms.
        spike_increment: :math:`d`, in mV/ms.
        resistance: :math:`R`, in mV/(ms nA): :math:`R I` plays the role of
            Izhikevich's input :math:`I`.
        surrogate: see :func:`lif_step`.

    Returns:
        ``(spikes, voltage, refrac, recovery)``.
    """
    coefficients = izhikevich_coefficients(
        step_time,
        tc_adaptation=tc_adaptation,
        voltage_coupling=voltage_coupling,
        resistance=resistance,
    )
    integrated, recovery = izhikevich_integrate(inputs, voltage, recovery, coefficients)
    spikes, voltage, refrac = hold_spike_reset(
        integrated,
        voltage,
        refrac,
        step_time=step_time,
        thresh_v=thresh_v,
        reset_v=reset_v,
        refrac_t=refrac_t,
        surrogate=surrogate,
    )
    recovery = add_on_spike_(recovery, spikes, spike_increment)
    return spikes, voltage, refrac, recovery
