r"""Conductance-based synapses: reversal potentials, and the exact membrane step they give.

A conductance-based synapse of kind :math:`k` (excitatory, inhibitory, ...)
drives the membrane towards its reversal potential :math:`E_k`:

.. math::

    \tau \frac{dV}{dt} = (V_\text{rest} - V) + \sum_k g_k\,(E_k - V)

with the conductances :math:`g_k` dimensionless, in units of the membrane's
leak conductance :math:`1/R` (the form of Diehl & Cook's Brian code, where
:math:`g` is in nS over a 1 nS leak). The synaptic current is
:math:`I = \sum_k g_k (E_k - V) / R` nA for :math:`R` in MOhm and voltages in
mV. Unlike a current-based synapse, its effect shrinks as :math:`V`
approaches :math:`E_k` and it can never carry :math:`V` past :math:`E_k`
(shunting). Each conductance decays exponentially and jumps by the weight on
a presynaptic spike (:class:`~inferno_lightning.neural.ExponentialConductance`).

Held constant over a step of :math:`\Delta t`, with :math:`G = \sum_k g_k`,
the equation has the closed form

.. math::

    V_\infty = \frac{V_\text{rest} + \sum_k g_k E_k}{1 + G}, \qquad
    V(t + \Delta t) = V_\infty + (V(t) - V_\infty)\, e^{-\Delta t (1 + G) / \tau}

(:func:`conductance_voltage_step`). :func:`conductance_current` gives the
current that, held over the step by the exact LIF update of
:func:`~inferno_lightning.functional.lif_integrate`, lands on exactly that
voltage, so an ordinary LIF/ALIF neuron integrates conductance input exactly.
"""

from __future__ import annotations

import torch

from .traces import trace_decay

__all__ = [
    "conductance_voltage_step",
    "conductance_current",
    "conductance_decay",
]


def conductance_decay(
    conductance: torch.Tensor,
    increment: torch.Tensor | float,
    step_time: float,
    time_constant: float | torch.Tensor,
) -> torch.Tensor:
    r"""One step of an exponentially decaying conductance with jumps.

    .. math::
        g[t] = g[t - \Delta t]\, e^{-\Delta t / \tau_g} + \Delta g[t]

    (exact between jumps). A jump :math:`w` at time 0 leaves
    :math:`w\, e^{-t/\tau_g}`.

    Args:
        conductance: :math:`g[t - \Delta t]`, dimensionless, any shape.
        increment: :math:`\Delta g[t]`, e.g. the weighted presynaptic spikes of
            this step, broadcastable to ``conductance``.
        step_time: :math:`\Delta t` in ms.
        time_constant: :math:`\tau_g` in ms, positive.

    Returns:
        :math:`g[t]`, the shape of ``conductance`` (a new tensor).
    """
    return conductance * trace_decay(step_time, time_constant) + increment


def _total(
    conductances: torch.Tensor, reversal_v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    # conductances (K, batch, *shape), reversal_v (K,) -> G and sum_k g_k E_k
    reversal = reversal_v.to(conductances).reshape(-1, *([1] * (conductances.dim() - 1)))
    return conductances.sum(0), (conductances * reversal).sum(0)


def conductance_voltage_step(
    voltage: torch.Tensor,
    conductances: torch.Tensor,
    reversal_v: torch.Tensor,
    step_time: float,
    time_constant: float | torch.Tensor,
    rest_v: float | torch.Tensor,
) -> torch.Tensor:
    r"""Exact membrane voltage after a step with conductances held constant.

    .. math::

        V_\infty = \frac{V_\text{rest} + \sum_k g_k E_k}{1 + G}, \quad
        V(t + \Delta t) = V_\infty + (V(t) - V_\infty)\, e^{-\Delta t (1 + G)/\tau},
        \quad G = \sum_k g_k

    Args:
        voltage: :math:`V(t)` in mV, ``(batch, *shape)``.
        conductances: :math:`g_k`, dimensionless (units of the leak conductance),
            ``(K, batch, *shape)``, one slice per kind of synapse.
        reversal_v: :math:`E_k` in mV, ``(K,)``.
        step_time: :math:`\Delta t` in ms.
        time_constant: membrane :math:`\tau` in ms (float or broadcastable tensor).
        rest_v: :math:`V_\text{rest}` in mV (float or broadcastable tensor).

    Returns:
        :math:`V(t + \Delta t)` in mV, ``(batch, *shape)``.
    """
    total, driven = _total(conductances, reversal_v)
    target = (rest_v + driven) / (1.0 + total)
    decay = torch.exp(-step_time * (1.0 + total) / time_constant)
    return target + (voltage - target) * decay


def conductance_current(
    voltage: torch.Tensor,
    conductances: torch.Tensor,
    reversal_v: torch.Tensor,
    step_time: float,
    time_constant: float | torch.Tensor,
    rest_v: float | torch.Tensor,
    resistance: float | torch.Tensor,
) -> torch.Tensor:
    r"""The current that makes the exact LIF step land on the conductance solution.

    The LIF step of :func:`~inferno_lightning.functional.lif_integrate` gives
    :math:`V' = V_\text{rest} + (V - V_\text{rest})a + R I (1 - a)` with
    :math:`a = e^{-\Delta t/\tau}`; this returns

    .. math::

        I = \frac{V^* - V_\text{rest} - (V - V_\text{rest})\,a}{R\,(1 - a)}

    where :math:`V^*` is :func:`conductance_voltage_step`. For small
    :math:`\Delta t` it tends to :math:`\sum_k g_k (E_k - V)/R`; with all
    :math:`g_k = 0` it is 0.

    Args:
        voltage: :math:`V(t)` in mV, ``(batch, *shape)``.
        conductances: :math:`g_k`, dimensionless, ``(K, batch, *shape)``.
        reversal_v: :math:`E_k` in mV, ``(K,)``.
        step_time: :math:`\Delta t` in ms.
        time_constant: membrane :math:`\tau` in ms.
        rest_v: :math:`V_\text{rest}` in mV.
        resistance: membrane :math:`R` in MOhm.

    Returns:
        current :math:`I` in nA, ``(batch, *shape)``.
    """
    target = conductance_voltage_step(
        voltage, conductances, reversal_v, step_time, time_constant, rest_v
    )
    leak = torch.exp(-step_time / torch.as_tensor(time_constant, dtype=voltage.dtype))
    free = rest_v + (voltage - rest_v) * leak
    return (target - free) / (resistance * (1.0 - leak))
