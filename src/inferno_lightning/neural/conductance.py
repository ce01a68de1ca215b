r"""Conductance-based synapses: a conductance trace per presynaptic neuron, reversal potentials per connection.

Two pieces make a connection conductance-based (see
:mod:`inferno_lightning.functional.conductance` for the equations):

* :class:`ExponentialConductance`, the synapse of the connection: each
  presynaptic spike raises the synapse's conductance by 1, which decays with
  :math:`\tau_g`; the connection's weights scale it, so the connection
  outputs the postsynaptic conductance :math:`g = \sum_j w_{ij} \tilde g_j`,
  dimensionless, in units of the postsynaptic leak conductance.
* :class:`ReversalPotentials`, the ``combine`` of the
  :class:`~inferno_lightning.neural.Layer` group the connections feed: it
  turns the conductances of the connections into the current that drives
  the group's LIF/ALIF membrane exactly as

  .. math::
      \tau \frac{dV}{dt} = (V_\text{rest} - V) + \sum_c g_c\,(E_c - V)

  with :math:`E_c` the reversal potential of connection :math:`c` (conductances
  held constant over a step).

Example::

    exc = ALIF(100, 0.5, rest_v=-65.0, time_constant=100.0, ...)
    layer = Layer(
        connections={
            "input": LinearDense(784, 100, synapse=ExponentialConductance(784, 0.5, time_constant=1.0)),
            "inhibition": LinearLateral(100, synapse=ExponentialConductance(100, 0.5, time_constant=2.0),
                                        weight_init=17.0),
        },
        neurons={"excitatory": exc},
        wiring={"input": "excitatory", "inhibition": "excitatory"},
        combine={"excitatory": ReversalPotentials(exc, {"input": 0.0, "inhibition": -100.0})},
    )
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .._validation import exp_decay, finite, positive
from ..functional.conductance import conductance_current
from ..functional.synapses import exponential_current
from .base import Neuron
from .synapses import HistorySynapse

__all__ = ["ExponentialConductance", "ReversalPotentials"]


class ExponentialConductance(HistorySynapse):
    r"""A conductance that jumps by 1 on a presynaptic spike and decays with :math:`\tau_g`.

    .. math::
        \tilde g[t] = \tilde g[t - \Delta t]\, e^{-\Delta t / \tau_g} + s[t]

    (exact between spikes). Behind a connection with weights :math:`w_{ij}`
    the postsynaptic conductance is :math:`g_i = \sum_j w_{ij} \tilde g_j`, so
    a spike through weight :math:`w` gives :math:`w\, e^{-t/\tau_g}`, the
    conductance of Diehl & Cook (2015), :math:`\tau_{g_e}` = 1 ms and
    :math:`\tau_{g_i}` = 2 ms. Its "current" (the value the connection
    weighs, and :attr:`current`) is :math:`\tilde g`, dimensionless; a
    :class:`ReversalPotentials` combiner turns the weighted conductances into
    the membrane current.

    Args:
        shape: shape of the presynaptic group, excluding the batch dimension.
        step_time: :math:`\Delta t` in ms.
        time_constant: :math:`\tau_g` in ms, positive; float or tensor
            broadcastable to ``shape``.
        delay, interp_mode, current_overbound, spike_overbound, check_inputs:
            see :class:`~inferno_lightning.neural.HistorySynapse`.

    Raises:
        ValueError: ``time_constant`` not positive (and see ``HistorySynapse``).

    Shapes:
        ``forward(spikes)``: ``spikes`` ``(batch, *shape)``, 0/1 float or
        bool; returns :math:`\tilde g` ``(batch, *shape)``.
    """

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float,
        *,
        time_constant: float | torch.Tensor = 1.0,
        delay: float = 0.0,
        interp_mode: str = "linear",
        current_overbound: float | None = None,
        spike_overbound: bool | None = None,
        check_inputs: bool = True,
    ) -> None:
        super().__init__(
            shape,
            step_time,
            delay=delay,
            interp_mode=interp_mode,
            current_overbound=current_overbound,
            spike_overbound=spike_overbound,
            check_inputs=check_inputs,
        )
        self._parameter("time_constant", time_constant, unit="ms")

    def integrate(
        self, spikes: torch.Tensor, *extra: torch.Tensor | None, inplace: bool
    ) -> torch.Tensor:
        decay = exp_decay(self.step_time, self.time_constant)
        return exponential_current(self.current_state, spikes, decay, 1.0, inplace=inplace)


class ReversalPotentials:
    r"""A :class:`~inferno_lightning.neural.Layer` combiner: connection conductances to membrane current.

    Given the conductances :math:`g_c` ``(batch, *shape)`` that the
    connections feeding ``neuron`` output (dimensionless, units of the leak
    conductance), it returns the current :math:`I` (nA) with which the
    neuron's exact LIF step

    .. math::
        V' = V_\text{rest} + (V - V_\text{rest})\,a + R I (1 - a), \quad a = e^{-\Delta t/\tau}

    lands on the exact solution of
    :math:`\tau\, dV/dt = (V_\text{rest} - V) + \sum_c g_c (E_c - V)` for
    conductances held over the step:
    :math:`V' = V_\infty + (V - V_\infty) e^{-\Delta t (1 + G)/\tau}`,
    :math:`V_\infty = (V_\text{rest} + \sum_c g_c E_c)/(1 + G)`,
    :math:`G = \sum_c g_c` (see
    :func:`~inferno_lightning.functional.conductance_current`). For small
    :math:`\Delta t`, :math:`I \to \sum_c g_c (E_c - V) / R`. The voltage
    is the neuron's at the start of the step (its resting voltage before the
    first step). Connections not named in ``reversal_v`` are current-based:
    their outputs are added as currents (nA).

    The neuron must integrate as a LIF (``LIF``, ``ALIF``): it is read for
    ``step_time``, ``time_constant``, ``rest_v``, ``resistance`` and
    ``voltage``. A plain object, not a module (the neuron belongs to the
    layer), so it pickles with the layer.

    Args:
        neuron: the group the connections feed.
        reversal_v: connection name -> reversal potential :math:`E_c` in mV
            (Diehl & Cook: 0 excitatory, -100 inhibitory onto excitatory
            neurons, -85 onto inhibitory ones).

    Raises:
        TypeError: ``neuron`` is not a Neuron, or ``reversal_v`` not a mapping.
        ValueError: ``reversal_v`` empty or a value not finite.
    """

    def __init__(self, neuron: Neuron, reversal_v: Mapping[str, float]) -> None:
        if not isinstance(neuron, Neuron):
            raise TypeError(f"neuron must be a Neuron, got {type(neuron).__name__}")
        for name in ("time_constant", "rest_v", "resistance"):
            if not hasattr(neuron, name):
                raise TypeError(
                    f"neuron must integrate as a LIF (have {name}); got {type(neuron).__name__}"
                )
        if not isinstance(reversal_v, Mapping) or not reversal_v:
            raise ValueError(
                f"reversal_v must map at least one connection name to mV, got {reversal_v!r}"
            )
        self.neuron = neuron
        self.reversal_v = {
            str(k): float(finite(f"reversal_v[{k!r}]", v)) for k, v in reversal_v.items()
        }
        positive("step_time", neuron.step_time, "ms")

    def __call__(self, conductances: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Current in nA, ``(batch, *shape)``, from ``{connection name: conductance or current}``."""
        names = [name for name in conductances if name in self.reversal_v]
        reference = next(iter(conductances.values()))
        neuron = self.neuron
        voltage = neuron.voltage
        rest_v = _value(neuron.rest_v, reference)
        if voltage is None:
            voltage = torch.as_tensor(rest_v, dtype=reference.dtype, device=reference.device)
            voltage = voltage.expand_as(reference)
        current = reference.new_zeros(())
        if names:
            stacked = torch.stack([conductances[name] for name in names])
            reversal = torch.tensor(
                [self.reversal_v[name] for name in names],
                dtype=reference.dtype,
                device=reference.device,
            )
            current = conductance_current(
                voltage,
                stacked,
                reversal,
                float(neuron.step_time),
                _value(neuron.time_constant, reference),
                rest_v,
                _value(neuron.resistance, reference),
            )
        for name, value in conductances.items():
            if name not in self.reversal_v:
                current = current + value
        return current.expand_as(reference) if current.dim() == 0 else current

    def __repr__(self) -> str:
        return f"ReversalPotentials({type(self.neuron).__name__}, {self.reversal_v})"


def _value(value: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=like.dtype, device=like.device)
    return float(value)
