r"""Pure one-step updates of synaptic currents.

Units: time in ms, current in nA, charge in pC (1 pC = 1 nA ms). Spikes are 0/1
values (float or bool) for one step of length :math:`\Delta t`; a spike on a
step is applied within that step, so the current it causes is already in the
value returned for that step.

Each function computes out of place, or in place into ``out`` when given (the
simulator's no-grad fast path passes the state tensor itself).
"""

from __future__ import annotations

import torch

__all__ = [
    "delta_current",
    "exponential_current",
    "double_exponential_current",
]


def _scale(
    spikes: torch.Tensor, scale: float | torch.Tensor, out: torch.Tensor | None
) -> torch.Tensor:
    if out is None:
        return spikes * scale
    return torch.mul(spikes, scale, out=out)


def delta_current(
    spikes: torch.Tensor,
    spike_charge: float | torch.Tensor,
    step_time: float,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Current of a delta synapse: each spike delivers its charge within one step.

    .. math::
        I[t] = \frac{q}{\Delta t}\, s[t]

    so that :math:`I[t]\,\Delta t = q` on a spike step.

    Args:
        spikes: :math:`s[t]`, 0/1, ``(batch, *shape)``.
        spike_charge: :math:`q` in pC, a float or a tensor broadcastable to ``shape``.
        step_time: :math:`\Delta t` in ms.
        out: optional output tensor (the state, for an in-place update).

    Returns:
        :math:`I[t]` in nA, ``(batch, *shape)``.
    """
    return _scale(spikes, spike_charge / step_time, out)


def exponential_current(
    current: torch.Tensor,
    spikes: torch.Tensor,
    decay: float | torch.Tensor,
    increment: float | torch.Tensor,
    *,
    inplace: bool = False,
) -> torch.Tensor:
    r"""One step of an exponentially decaying current.

    Exact integration of :math:`\tau\,dI/dt = -I` over a step, then the
    spikes of this step:

    .. math::
        I[t] = I[t - \Delta t]\, e^{-\Delta t / \tau} + a\, s[t]

    With :math:`a = q / \tau` a spike's current,
    :math:`(q/\tau)\,e^{-t/\tau}`, integrates to the charge :math:`q`.

    Args:
        current: :math:`I[t - \Delta t]` in nA, ``(batch, *shape)``.
        spikes: :math:`s[t]`, 0/1 in the dtype of ``current``, ``(batch, *shape)``.
        decay: :math:`e^{-\Delta t / \tau}`, a float or a tensor broadcastable to ``shape``.
        increment: :math:`a` in nA, a float or a tensor broadcastable to ``shape``.
        inplace: update ``current`` in place and return it.

    Returns:
        :math:`I[t]` in nA, ``(batch, *shape)``.
    """
    if not inplace:
        return current * decay + spikes * increment
    current.mul_(decay)
    if isinstance(increment, torch.Tensor):
        return current.addcmul_(spikes, increment)
    return current.add_(spikes, alpha=increment)


def double_exponential_current(
    decay_term: torch.Tensor,
    rise_term: torch.Tensor,
    spikes: torch.Tensor,
    decay: float | torch.Tensor,
    rise: float | torch.Tensor,
    increment: float | torch.Tensor,
    *,
    inplace: bool = False,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""One step of a difference-of-exponentials current.

    .. math::
        A[t] &= A[t - \Delta t]\, e^{-\Delta t / \tau_d} + a\, s[t] \\
        B[t] &= B[t - \Delta t]\, e^{-\Delta t / \tau_r} + a\, s[t] \\
        I[t] &= A[t] - B[t]

    With :math:`a = q / (\tau_d - \tau_r)` a spike at time 0 gives
    :math:`I(t) = \frac{q}{\tau_d - \tau_r}(e^{-t/\tau_d} - e^{-t/\tau_r})`,
    which integrates to :math:`q` and is 0 on the spike step itself.

    Args:
        decay_term: :math:`A[t - \Delta t]` in nA, ``(batch, *shape)``.
        rise_term: :math:`B[t - \Delta t]` in nA, ``(batch, *shape)``.
        spikes: :math:`s[t]`, 0/1 in the dtype of the terms, ``(batch, *shape)``.
        decay: :math:`e^{-\Delta t / \tau_d}`.
        rise: :math:`e^{-\Delta t / \tau_r}`.
        increment: :math:`a` in nA.
        inplace: update ``decay_term`` and ``rise_term`` in place.
        out: optional output tensor for :math:`I[t]`.

    Returns:
        :math:`(A[t], B[t], I[t])`, each ``(batch, *shape)`` in nA.
    """
    decay_term = exponential_current(decay_term, spikes, decay, increment, inplace=inplace)
    rise_term = exponential_current(rise_term, spikes, rise, increment, inplace=inplace)
    if out is None:
        return decay_term, rise_term, decay_term - rise_term
    return decay_term, rise_term, torch.sub(decay_term, rise_term, out=out)
