r"""Trace updates: pure functions, one simulation step each.

A trace is a low-pass filtered record of events (spikes) or of a real-valued
observation. Between events it decays exponentially with time constant
:math:`\tau`; over one step of :math:`\Delta t` that is a factor

.. math:: d = \exp(-\Delta t / \tau),

computed once by :func:`trace_decay` and passed to the updates as ``decay``, so
the per-step hot path does no exponentials.

Three updates, each with an out-of-place form and an in-place form (trailing
underscore, as in PyTorch) that writes into ``trace`` and returns it:

* :func:`nearest_trace`: on an event the trace is *set* to the amplitude (only
  the nearest event counts), otherwise it decays.
* :func:`cumulative_trace`: every event *adds* the amplitude (all events count).
* :func:`scaled_trace`: the observation itself, times a scale, is added every
  step (for real-valued, non-spike observations).

Events are given as a boolean tensor or as 0/1 floats; ``decay`` and
``amplitude`` are floats or tensors broadcastable to the trace (per-neuron
values). These functions do not validate their arguments: the modules built on
them do.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "trace_decay",
    "nearest_trace",
    "nearest_trace_",
    "cumulative_trace",
    "cumulative_trace_",
    "scaled_trace",
    "scaled_trace_",
]


def trace_decay(step_time: float, time_constant: float | torch.Tensor) -> float | torch.Tensor:
    r"""Decay factor of a trace over one step, :math:`d = \exp(-\Delta t / \tau)`.

    Args:
        step_time: simulation step :math:`\Delta t`, in ms.
        time_constant: trace time constant :math:`\tau`, in ms (float or tensor).

    Returns:
        A float for a float ``time_constant``, otherwise a tensor of its shape.
    """
    if isinstance(time_constant, torch.Tensor):
        return torch.exp(-step_time / time_constant)
    return math.exp(-step_time / time_constant)


def _as_mask(event: torch.Tensor) -> torch.Tensor:
    return event if event.dtype == torch.bool else event != 0


def nearest_trace(
    trace: torch.Tensor,
    event: torch.Tensor,
    decay: float | torch.Tensor,
    amplitude: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    r"""Nearest-event trace, one step.

    .. math::

        x_t = \begin{cases} A & \text{if an event occurs at } t \\
                            d \, x_{t-1} & \text{otherwise} \end{cases}

    Args:
        trace: :math:`x_{t-1}`, any shape.
        event: boolean or 0/1 tensor broadcastable to ``trace`` (non-zero is an event).
        decay: :math:`d = \exp(-\Delta t/\tau)` (see :func:`trace_decay`).
        amplitude: :math:`A`, the value set on an event.

    Returns:
        :math:`x_t`, a new tensor shaped like ``trace``.
    """
    return torch.where(_as_mask(event), amplitude, trace * decay)


def nearest_trace_(
    trace: torch.Tensor,
    event: torch.Tensor,
    decay: float | torch.Tensor,
    amplitude: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """In-place :func:`nearest_trace`: writes :math:`x_t` into ``trace`` and returns it."""
    mask = _as_mask(event)
    trace.mul_(decay)
    if isinstance(amplitude, torch.Tensor) and amplitude.dim() != 0:
        return torch.where(mask, amplitude, trace, out=trace)
    return trace.masked_fill_(mask, amplitude)


def cumulative_trace(
    trace: torch.Tensor,
    event: torch.Tensor,
    decay: float | torch.Tensor,
    amplitude: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    r"""Cumulative (all-to-all) trace, one step.

    .. math:: x_t = d \, x_{t-1} + A \, s_t

    where :math:`s_t` is the event (1 on an event, 0 otherwise).

    Args:
        trace: :math:`x_{t-1}`, any shape.
        event: :math:`s_t`, boolean or 0/1 tensor broadcastable to ``trace``
            (a float event enters with its value).
        decay: :math:`d = \exp(-\Delta t/\tau)` (see :func:`trace_decay`).
        amplitude: :math:`A`, added per event.

    Returns:
        :math:`x_t`, a new tensor shaped like ``trace``.
    """
    return trace * decay + amplitude * event.to(trace.dtype)


def cumulative_trace_(
    trace: torch.Tensor,
    event: torch.Tensor,
    decay: float | torch.Tensor,
    amplitude: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """In-place :func:`cumulative_trace`: writes :math:`x_t` into ``trace`` and returns it."""
    if (
        not isinstance(amplitude, torch.Tensor)
        and amplitude == 1.0
        and not isinstance(decay, torch.Tensor)
    ):
        # One pass: x_t = event + decay * x_{t-1}.
        return torch.add(event, trace, alpha=decay, out=trace)
    trace.mul_(decay)
    if isinstance(amplitude, torch.Tensor):
        return trace.addcmul_(event.to(trace.dtype), amplitude)
    return trace.add_(event, alpha=amplitude)


def scaled_trace(
    trace: torch.Tensor,
    value: torch.Tensor,
    decay: float | torch.Tensor,
    scale: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    r"""Scaled (additive) trace of a real-valued observation, one step.

    .. math:: x_t = d \, x_{t-1} + a \, v_t

    A leaky integral of the observation :math:`v_t`; for 0/1 spikes it equals
    :func:`cumulative_trace` with amplitude :math:`a`.

    Args:
        trace: :math:`x_{t-1}`, any shape.
        value: :math:`v_t`, broadcastable to ``trace``.
        decay: :math:`d = \exp(-\Delta t/\tau)` (see :func:`trace_decay`).
        scale: :math:`a`.

    Returns:
        :math:`x_t`, a new tensor shaped like ``trace``.
    """
    return trace * decay + scale * value.to(trace.dtype)


def scaled_trace_(
    trace: torch.Tensor,
    value: torch.Tensor,
    decay: float | torch.Tensor,
    scale: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """In-place :func:`scaled_trace`: writes :math:`x_t` into ``trace`` and returns it."""
    trace.mul_(decay)
    if isinstance(scale, torch.Tensor):
        return trace.addcmul_(value.to(trace.dtype), scale)
    return trace.add_(value, alpha=scale)
