r"""Neuron models: LIF, ALIF, QIF, EIF, AdEx, Izhikevich, IntegrateAndFire.

Thin stateful wrappers around :mod:`inferno_lightning.functional.neurons`:
each model is its parameters plus one functional step (``LIF`` calls
:func:`~inferno_lightning.functional.neurons.lif_step`, ``ALIF``
:func:`~inferno_lightning.functional.neurons.alif_step`, and so on), and
``forward`` checks the input, binds the state and caches the per-step
constants around that call, eagerly and under ``torch.compile`` alike.
Units: time in ms, voltage in mV, current in nA, resistance in MOhm.

Common to every model:

* ``forward(inputs)`` takes current ``(batch, *shape)`` in nA and returns
  spikes ``(batch, *shape)`` as 0/1 values of the input's dtype (with a
  surrogate gradient when ``surrogate`` is set). One step's order: integrate
  with this step's input, spike where :math:`V \ge V_\text{thresh}`, reset;
  a neuron that spikes at step :math:`t` is held (voltage kept, input
  ignored) until it integrates again at :math:`t + t_\text{refrac}` (the spike
  step is the first refractory step).
* Per-sample state (``voltage``, ``refrac``, ``spike``, and ``adaptation`` /
  ``recovery`` where the model has them) is created lazily at the batch size
  of the first input after :meth:`reset`, never saved in ``state_dict``, and
  readable and settable (setters check shape and finiteness). Before the first
  step it reads ``None``; the first step starts from ``rest_v``. Each step
  binds new state tensors and never overwrites the last step's, so a state
  read and kept (a list of voltages) stays as it was.
* Parameters (``rest_v``, ``thresh_v``, ``time_constant``, ...) are floats or
  tensors broadcastable to ``shape``. An ``nn.Parameter`` stays a parameter
  (and gets gradients); anything else becomes a persistent buffer. The
  per-step constants (decay factors, the firing constants) computed from the
  buffers are cached (:class:`~inferno_lightning.neural.base.ConstantCache`)
  and recomputed only when a buffer changes (in place, by assignment or by
  ``.to()``); while one of them is an ``nn.Parameter``, they are recomputed
  every step, inside autograd.
* ``check_finite=False`` skips the per-step NaN/inf check of ``inputs``; shape
  and batch-size checks always run. Every check runs before any state
  changes. On a device that is not
  :func:`~inferno_lightning._validation.host_readable` (CUDA) a step reads
  nothing on the host: inside a
  :class:`~inferno_lightning.SpikingModule` batch the NaN/inf check is
  recorded on the device and read once per batch.
* Under ``torch.compile`` (``torch.compile(neurons)``, or
  :meth:`~inferno_lightning.SpikingModule.compile_step`) a step traces the same
  functional step as one graph with no graph break, and Inductor fuses it
  into one kernel that stores float spikes, voltage and refractory time: the
  constants are computed inside the graph (no cache), the selections are
  :func:`~inferno_lightning.functional.neurons.hold_spike_reset_select`, and
  the NaN/inf check is an assertion in the kernel (no host sync; a failure is
  a ``RuntimeError``, a device-side assert on CUDA). The numbers are the eager
  step's, to float tolerance.

A new model is a functional step and a module like these: see
``notebooks/03_extend.ipynb`` and the how-to on a new neuron.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

import torch
from torch import nn

from .._validation import (
    as_parameter_tensor,
    check_choice,
    check_greater,
    check_input,
    finite,
    flag,
    nonnegative,
    positive,
    require_finite,
)
from ..functional import neurons as nf
from ..functional.spikes import SpikeFunction, Surrogate, _operand, as_surrogate
from .base import ConstantCache, Neuron, _version

__all__ = [
    "SpikingNeuron",
    "LIF",
    "ALIF",
    "QIF",
    "EIF",
    "AdEx",
    "Izhikevich",
    "IntegrateAndFire",
]

Value = float | torch.Tensor
Terms = float | Sequence[float] | torch.Tensor
SurrogateArg = Surrogate | str | SpikeFunction | None
BatchReduction = str | Callable[[torch.Tensor, int], torch.Tensor]

# The parameters the firing constants (nf.Firing) are computed from.
_FIRING = ("thresh_v", "reset_v", "refrac_t")


def _convert(value: Any, dtype: torch.dtype, scalars: bool) -> Any:
    """Cast the tensors in ``value`` (a number, tensor or tuple of them) to ``dtype``.

    With ``scalars``, 0-d tensors become Python floats: elementwise kernels
    take them as arguments instead of reading a broadcast tensor (much faster
    on CPU, one load fewer on GPU). Only for cached constants, outside autograd.
    """
    if isinstance(value, torch.Tensor):
        if scalars and value.dim() == 0:
            return float(value)
        return value.to(dtype)
    if isinstance(value, tuple):
        return type(value)(*(_convert(v, dtype, scalars) for v in value))
    return value


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in shape)


class SpikingNeuron(Neuron):
    r"""The base of spiking neuron modules: parameters, per-sample state, checks, cached constants.

    Every model of this module derives from it, and so can a new one. A model
    is one functional step (``step(inputs, state, coefficients, firing) ->
    (spikes, state)``, see :mod:`inferno_lightning.functional.neurons`) and a
    thin subclass that

    * registers its parameters in ``__init__`` with :meth:`add_membrane` (the
      voltages, ``refrac_t``, ``resistance`` and ``time_constant`` every model
      shares) and :meth:`add_parameter` (its own), each a float or a tensor
      broadcastable to ``shape`` (an ``nn.Parameter`` stays one);
    * lists in ``constant_names`` the parameters its constants depend on;
    * returns its step's constants (a named tuple) from them in
      :meth:`coefficients`;
    * in ``forward``: :meth:`check_inputs`, :meth:`constants`, :meth:`start`,
      its functional step, :meth:`finish`.

    It then has what every model has: lazily created per-sample ``voltage``,
    ``refrac`` and ``spike`` (readable and checked when set), constants
    recomputed only when a parameter changes (every step, inside autograd,
    for an ``nn.Parameter``), input checks before any state changes, a
    surrogate gradient, and a step that traces under ``torch.compile``.
    ``notebooks/03_extend.ipynb`` writes one.

    Args:
        shape: shape of the group, excluding the batch dimension.
        step_time: :math:`\Delta t`, in ms.
        surrogate: as for :class:`LIF`.
        check_finite: as for :class:`LIF`.
    """

    #: Names of the parameters the per-step constants depend on (the cache watches them).
    constant_names: tuple[str, ...] = _FIRING
    #: The parameter the voltage starts from after a reset.
    initial_voltage: str = "rest_v"

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float,
        *,
        surrogate: SurrogateArg,
        check_finite: bool,
    ) -> None:
        super().__init__(shape, step_time)
        self.surrogate = as_surrogate(surrogate)
        self.check_finite = flag("check_finite", check_finite)
        self.register_state("_voltage")
        self.register_state("_refrac")
        self.register_state("_spike")
        self._constant_cache: ConstantCache[tuple[Any, nf.Firing]] = ConstantCache(
            self.constant_names
        )

    # ------------------------------------------------------------ parameters

    def add_parameter(self, name: str, value: Value) -> None:
        """Register ``value`` (a float, a tensor broadcastable to ``shape``, or an ``nn.Parameter``).

        An ``nn.Parameter`` stays a parameter (and gets gradients); anything
        else becomes a persistent buffer. Validate it first (e.g. with
        ``positive``); this checks only its shape.
        """
        tensor = as_parameter_tensor(name, value, self.shape)
        if isinstance(value, nn.Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, torch.Tensor):
            self.register_buffer(name, tensor.detach().clone())
        else:
            self.register_buffer(name, tensor)

    def add_terms(self, name: str, value: Terms, check: Callable[[str, Value], Value]) -> int:
        """Register a per-term parameter broadcastable to ``(K, *shape)``; return ``K``."""
        n = len(self.shape)
        if isinstance(value, torch.Tensor):
            check(name, value)
            if value.dim() == 0:
                terms = 1
            else:
                terms = int(value.shape[0])
                try:
                    ok = value.dim() == n + 1 and torch.broadcast_shapes(
                        tuple(value.shape), (terms, *self.shape)
                    ) == (terms, *self.shape)
                except RuntimeError:
                    ok = False
                if not ok:
                    raise ValueError(
                        f"{name} must be a float, a sequence of floats (one per term), or a "
                        f"tensor with 0 or {n + 1} dimensions broadcastable to (K, {_dims(self.shape)}), "
                        f"got a tensor of shape {tuple(value.shape)}"
                    )
            if isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
            else:
                tensor = value.detach().clone()
                if not tensor.is_floating_point():
                    tensor = tensor.to(torch.get_default_dtype())
                self.register_buffer(name, tensor)
            return terms
        if isinstance(value, Real) and not isinstance(value, bool):
            values = [value]
        elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0:
            values = list(value)
        else:
            raise TypeError(
                f"{name} must be a float, a non-empty sequence of floats or a tensor, got {value!r}"
            )
        values = [float(check(name, v)) for v in values]
        tensor = torch.tensor(values, dtype=torch.get_default_dtype()).view(len(values), *([1] * n))
        self.register_buffer(name, tensor)
        return len(values)

    @staticmethod
    def _count_terms(**terms: int) -> int:
        many = {name: k for name, k in terms.items() if k != 1}
        if len(set(many.values())) > 1:
            listed = ", ".join(f"{name} has {k}" for name, k in many.items())
            raise ValueError(
                f"adaptation terms disagree in number: {listed}; give one value or K each"
            )
        return max(terms.values())

    def add_membrane(
        self,
        *,
        rest_v: Value,
        reset_v: Value,
        thresh_v: Value,
        refrac_t: Value,
        resistance: Value,
        time_constant: Value | None,
    ) -> None:
        """Validate and register the parameters every model shares.

        Args:
            rest_v: :math:`V_\text{rest}`, in mV (finite).
            reset_v: :math:`V_\text{reset}`, in mV (finite).
            thresh_v: :math:`V_\text{thresh}`, in mV, above ``reset_v``.
            refrac_t: absolute refractory period, in ms (non-negative).
            resistance: :math:`R`, in MOhm (positive).
            time_constant: :math:`\tau`, in ms (positive), or ``None`` for a
                model without one.

        Raises:
            ValueError: a value out of its range, naming it.
        """
        rest_v = finite("rest_v", rest_v)
        reset_v = finite("reset_v", reset_v)
        thresh_v = finite("thresh_v", thresh_v)
        refrac_t = nonnegative("refrac_t", refrac_t, "ms")
        resistance = positive("resistance", resistance, "MOhm")
        if time_constant is not None:
            time_constant = positive("time_constant", time_constant, "ms")
        check_greater("thresh_v", thresh_v, "reset_v", reset_v)
        self.add_parameter("rest_v", rest_v)
        self.add_parameter("reset_v", reset_v)
        self.add_parameter("thresh_v", thresh_v)
        self.add_parameter("refrac_t", refrac_t)
        self.add_parameter("resistance", resistance)
        if time_constant is not None:
            self.add_parameter("time_constant", time_constant)

    def _exponential(self, *, rheobase_v: Value, sharpness: Value) -> None:
        rheobase_v = finite("rheobase_v", rheobase_v)
        sharpness = positive("sharpness", sharpness, "mV")
        self.add_parameter("rheobase_v", rheobase_v)
        self.add_parameter("sharpness", sharpness)

    # ------------------------------------------------------------- constants

    def coefficients(self) -> Any:
        """The constants of the model's functional step (a named tuple), from its parameters.

        Read the parameters as attributes (tensors broadcastable to
        ``shape``); :meth:`constants` casts the result and caches it while the
        parameters named in ``constant_names`` are unchanged.
        """
        raise NotImplementedError

    def constants(self, dtype: torch.dtype) -> tuple[Any, nf.Firing]:
        """``(coefficients, firing)`` for a step in ``dtype``, cached while the parameters are unchanged.

        ``firing`` is the :class:`~inferno_lightning.functional.neurons.Firing`
        of ``thresh_v``, ``reset_v`` and ``refrac_t`` (``None`` when zero
        everywhere: the steps skip the hold). Under ``torch.compile`` both are
        computed inside the graph (the cache reads version counters, which a
        graph cannot).
        """
        if torch.compiler.is_compiling():
            return self._compute_constants(dtype, False)
        return self._constant_cache.get(self._buffers, dtype, self._compute_constants)

    def _compute_constants(self, dtype: torch.dtype, cached: bool) -> tuple[Any, nf.Firing]:
        reset_v = self.reset_v.to(dtype)
        thresh_v = _convert(self.thresh_v, dtype, cached)
        refrac_t = getattr(self, "refrac_t", None)
        if refrac_t is not None:
            # A cached "no refractory period" lets the steps skip the hold: one host read
            # when the constants are (re)computed, not per step.
            refrac_t = None if cached and not bool(refrac_t.any()) else refrac_t.to(dtype)
        if cached:
            # What threshold() would turn a float into on every step (a 0-d CPU tensor).
            thresh_v = _operand(thresh_v, reset_v)
        firing = nf.Firing(self.step_time, thresh_v, reset_v, refrac_t)
        return _convert(self.coefficients(), dtype, cached), firing

    # ----------------------------------------------------------------- state

    @property
    def voltage(self) -> torch.Tensor | None:
        """Membrane voltage in mV, ``(batch, *shape)``; ``None`` until the first step after :meth:`reset`."""
        return self._voltage

    @voltage.setter
    def voltage(self, value: torch.Tensor) -> None:
        self._voltage = self._checked_state("voltage", value)

    @property
    def spike(self) -> torch.Tensor | None:
        """Spikes of the last step, boolean ``(batch, *shape)``; ``None`` before the first step.

        Converted once per step (several monitors read it): the same tensor is
        returned until the state changes; do not write into it.
        """
        spikes = self._buffers["_spike"]
        if spikes is None:
            return None
        if torch.compiler.is_compiling():
            return spikes.bool()
        cached = self.__dict__.get("_spike_bool")
        if cached is not None and cached[0] is spikes:
            versions = (_version(spikes), _version(cached[2]))
            if versions == cached[1] and versions[0] is not None:
                return cached[2]
        value = spikes.bool()
        self.__dict__["_spike_bool"] = (spikes, (_version(spikes), _version(value)), value)
        return value

    @spike.setter
    def spike(self, value: torch.Tensor) -> None:
        value = self._checked_state("spike", value, floating=False)
        if value.dtype == torch.bool:
            voltage = self._voltage
            value = value.to(torch.get_default_dtype() if voltage is None else voltage.dtype)
        self._spike = value

    @property
    def refrac(self) -> torch.Tensor | None:
        """Remaining refractory time in ms, ``(batch, *shape)``; ``None`` before the first step."""
        refrac = self._refrac
        if refrac is None:
            # Steps that cannot hold any neuron keep no refractory tensor: zero everywhere.
            voltage = self._voltage
            return None if voltage is None else torch.zeros_like(voltage)
        return refrac

    @refrac.setter
    def refrac(self, value: torch.Tensor) -> None:
        value = self._checked_state("refrac", value)
        if bool((value < 0).any()):
            raise ValueError(
                "refrac must be non-negative (remaining refractory time in ms), got minimum "
                f"{float(value.min())!r}"
            )
        self._refrac = value

    def _checked_state(
        self,
        name: str,
        value: torch.Tensor,
        shape: tuple[int, ...] | None = None,
        floating: bool = True,
    ) -> torch.Tensor:
        shape = self.shape if shape is None else shape
        if isinstance(value, torch.Tensor) and floating and not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
        check_input(name, value, shape, self.batch_size, finite=True)
        return value

    def check_inputs(self, inputs: torch.Tensor) -> int:
        """Check ``inputs`` (shape, batch size, dtype, device, finiteness); return the batch size.

        Raises:
            TypeError: not a floating-point tensor.
            ValueError: wrong shape, batch size other than the current state's,
                NaN or inf (unless ``check_finite`` is off), other device.
            RuntimeError: NaN or inf in a compiled step (raised by the kernel,
                before the step's state is written).
        """
        if isinstance(inputs, torch.Tensor) and not inputs.is_floating_point():
            raise TypeError(
                f"inputs must be a floating-point tensor of current in nA, got dtype {inputs.dtype}"
            )
        batch = check_input("inputs", inputs, self._shape, self.batch_size, finite=False)
        if self.check_finite:
            # Compiled: an in-kernel assertion; on CUDA inside a SpikingModule batch: recorded
            # on the device and read once per batch; on CPU: one fast reduction now.
            require_finite("inputs", inputs)
        device = self._buffers.get("thresh_v")
        device = (self.thresh_v if device is None else device).device
        if inputs.device != device:
            raise ValueError(
                f"inputs is on {inputs.device} but the neuron is on {device}; move one with .to()"
            )
        return batch

    def start(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Voltage (mV) and refractory time (ms) to step from, ``(batch, *shape)``.

        After a reset: the parameter named by ``initial_voltage`` expanded to
        the input's shape, and ``None`` (no neuron is refractory).
        """
        buffers = self._buffers
        voltage = buffers["_voltage"]
        if voltage is None:
            # Never written in place, so an expanded view is enough.
            voltage = getattr(self, self.initial_voltage).to(inputs.dtype).expand_as(inputs)
        return voltage, buffers["_refrac"]

    def finish(
        self,
        inputs: torch.Tensor,
        spikes: torch.Tensor,
        voltage: torch.Tensor,
        refrac: torch.Tensor | None,
    ) -> torch.Tensor:
        """Bind the step's new ``voltage``, ``refrac`` and ``spikes`` as the state; return the spikes.

        The spikes are returned in the input's dtype. A model with more state
        (an adaptation current) binds it itself. The state is bound, never
        written in place (see :class:`~inferno_lightning.neural.base.StatefulModule`).
        """
        if spikes.dtype is not inputs.dtype:
            spikes = spikes.to(inputs.dtype)
        buffers = self._buffers
        buffers["_voltage"] = voltage
        buffers["_refrac"] = refrac
        buffers["_spike"] = spikes
        return spikes

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.surrogate is not None:
            text += f", surrogate={self.surrogate!r}"
        return text


def _positive_ms(name: str, value: Value) -> Value:
    return positive(name, value, "ms")


def _nonnegative_mv(name: str, value: Value) -> Value:
    return nonnegative(name, value, "mV")


def _finite(name: str, value: Value) -> Value:
    return finite(name, value)


# ---------------------------------------------------------------------------- LIF


class LIF(SpikingNeuron):
    r"""Leaky integrate-and-fire neurons with an absolute refractory period.

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest}) + R I

    integrated exactly for input held constant over a step,

    .. math::

        V(t + \Delta t) = V_\text{rest} + (V(t) - V_\text{rest}) e^{-\Delta t/\tau}
                          + R I (1 - e^{-\Delta t/\tau}),

    then a spike where :math:`V \ge V_\text{thresh}`, reset to
    :math:`V_\text{reset}` and :math:`t_\text{refrac}` of refractory time
    during which the voltage is held and input ignored (the spike step counts
    as the first refractory step: with :math:`\Delta t = 1` and
    :math:`t_\text{refrac} = 2` a neuron spiking at step :math:`t` is held at
    :math:`t+1` and integrates at :math:`t+2`).

    Args:
        shape: shape of the group, excluding the batch dimension.
        step_time: :math:`\Delta t`, in ms.
        rest_v: :math:`V_\text{rest}`, in mV (also the voltage after :meth:`reset`).
        reset_v: :math:`V_\text{reset}`, in mV.
        thresh_v: :math:`V_\text{thresh}`, in mV (greater than ``reset_v``).
        refrac_t: :math:`t_\text{refrac}`, in ms (non-negative).
        time_constant: :math:`\tau`, in ms (positive).
        resistance: :math:`R`, in MOhm (positive).
        surrogate: ``None`` (plain Heaviside, no gradient), a name such as
            ``"arctan"``, a :class:`~inferno_lightning.functional.spikes.Surrogate`,
            or a picklable callable ``(V - V_thresh) -> spikes``.
        check_finite: check every input for NaN/inf (a GPU synchronisation).

    The voltage parameters, ``time_constant``, ``resistance`` and ``refrac_t``
    take floats or tensors broadcastable to ``shape``.

    Raises:
        ValueError: a time constant or ``step_time`` not positive, ``refrac_t``
            negative, ``thresh_v`` not above ``reset_v``, a tensor not
            broadcastable to ``shape``.
        TypeError: a parameter that is not a number or a real tensor,
            ``check_finite`` not a bool.

    Shapes:
        ``forward(inputs)``: ``(batch, *shape)`` nA -> spikes ``(batch, *shape)``.

    Example::

        >>> neurons = LIF(100, step_time=1.0)
        >>> spikes = neurons(torch.full((8, 100), 20.0))
    """

    constant_names = ("time_constant", "rest_v", "resistance", *_FIRING)

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float = 1.0,
        *,
        rest_v: Value = -65.0,
        reset_v: Value = -65.0,
        thresh_v: Value = -50.0,
        refrac_t: Value = 2.0,
        time_constant: Value = 20.0,
        resistance: Value = 1.0,
        surrogate: SurrogateArg = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=check_finite)
        self.add_membrane(
            rest_v=rest_v,
            reset_v=reset_v,
            thresh_v=thresh_v,
            refrac_t=refrac_t,
            resistance=resistance,
            time_constant=time_constant,
        )

    def coefficients(self) -> nf.LIFCoefficients:
        return nf.lif_coefficients(
            self.step_time,
            time_constant=self.time_constant,
            rest_v=self.rest_v,
            resistance=self.resistance,
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with current ``inputs`` (nA, ``(batch, *shape)``); return spikes."""
        self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        state = nf.NeuronState(*self.start(inputs))
        spikes, state = nf.lif_step(inputs, state, coefficients, firing, self.surrogate)
        return self.finish(inputs, spikes, state.voltage, state.refrac)


# --------------------------------------------------------------------------- ALIF


class ALIF(SpikingNeuron):
    r"""LIF neurons with spike-triggered adaptive thresholds shared across the batch.

    The membrane is that of :class:`LIF`; the threshold is raised by
    :math:`K` adaptive terms :math:`\theta_k` (Diehl & Cook's :math:`\theta`
    for :math:`K = 1`):

    .. math::

        V_\text{thresh,eff} = V_\text{thresh} + \sum_k \theta_k

    and, after this step's spikes :math:`z_b` (per sample :math:`b`) are
    known, in training mode only,

    .. math::

        \theta_k \leftarrow \theta_k\, e^{-\Delta t/\tau_k}
                            + \Delta\theta_k \operatorname{reduce}_b(z_b).

    So the threshold used at step :math:`t` includes every spike up to
    :math:`t - 1`. :attr:`adaptation` (:math:`\theta`, ``(K, *shape)`` in mV)
    is a persistent buffer: shared by all samples of the batch, saved in
    ``state_dict``, untouched by :meth:`reset` (see :meth:`reset_adaptation`),
    and frozen in eval mode (neither decays nor grows). It passes no gradient.
    It is updated in place, except in a compiled step with autograd on, which
    binds a new tensor each step (a compiled backward may read the old one).

    Args:
        tc_adaptation: :math:`\tau_k` in ms (positive): a float (one term), a
            sequence (one per term), or a tensor broadcastable to
            ``(K, *shape)`` with 0 or ``1 + len(shape)`` dimensions.
        spike_increment: :math:`\Delta\theta_k` in mV (non-negative), same forms.
            ``tc_adaptation`` and ``spike_increment`` give :math:`K` together
            (one of them may have a single term, used for all).
        batch_reduction: how spikes are reduced over the batch:
            ``"mean"`` (default), ``"sum"``, ``"max"``, ``"median"``, or a
            picklable callable ``f(spikes, dim) -> tensor`` such as :func:`torch.sum`.
        sync_ranks: on several ranks, also reduce the spikes over every
            rank's batch (one small all-reduce per training step), so that
            :math:`N` ranks with batch :math:`b` adapt exactly as one process
            with batch :math:`N b` and every replica holds the same
            :math:`\theta`. Works with ``"mean"``, ``"sum"`` and ``"max"``.
            The neuron runs no collective itself: it declares
            :attr:`rank_reduction`, and the Lightning face (the ``ddp_local``
            strategies and :class:`~inferno_lightning.callbacks.LocalLearning`)
            sets :attr:`rank_reducer` to the all-reduce when training on
            several ranks.
        others: as :class:`LIF` (default ``thresh_v`` is the base threshold).

    Raises:
        ValueError: as :class:`LIF`, and for non-positive ``tc_adaptation``,
            negative ``spike_increment``, mismatched term counts, unknown
            ``batch_reduction``.
    """

    constant_names = (
        "time_constant",
        "rest_v",
        "resistance",
        "tc_adaptation",
        "spike_increment",
        *_FIRING,
    )

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float = 1.0,
        *,
        rest_v: Value = -65.0,
        reset_v: Value = -65.0,
        thresh_v: Value = -50.0,
        refrac_t: Value = 2.0,
        time_constant: Value = 20.0,
        resistance: Value = 1.0,
        tc_adaptation: Terms = 100.0,
        spike_increment: Terms = 1.0,
        batch_reduction: BatchReduction = "mean",
        sync_ranks: bool = True,
        surrogate: SurrogateArg = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=check_finite)
        self.sync_ranks = flag("sync_ranks", sync_ranks)
        #: ``f(reduced, reduction) -> tensor``: combines this step's batch-reduced spikes over the
        #: ranks; set by the Lightning face on every rank, ``None`` on one process.
        self.rank_reducer: Callable[[torch.Tensor, str], torch.Tensor] | None = None
        self.add_membrane(
            rest_v=rest_v,
            reset_v=reset_v,
            thresh_v=thresh_v,
            refrac_t=refrac_t,
            resistance=resistance,
            time_constant=time_constant,
        )
        if isinstance(batch_reduction, str):
            check_choice("batch_reduction", batch_reduction, nf.BATCH_REDUCTIONS)
        elif not callable(batch_reduction):
            raise TypeError(
                f"batch_reduction must be one of {list(nf.BATCH_REDUCTIONS)!r} or a callable, "
                f"got {batch_reduction!r}"
            )
        self.batch_reduction = batch_reduction
        self._terms = self._count_terms(
            tc_adaptation=self.add_terms("tc_adaptation", tc_adaptation, _positive_ms),
            spike_increment=self.add_terms("spike_increment", spike_increment, _nonnegative_mv),
        )
        self.register_buffer("adaptation", torch.zeros(self._terms, *self.shape))

    @property
    def rank_reduction(self) -> str | None:
        """How this step's spikes combine over the ranks (``"mean"``, ``"sum"``, ``"max"``).

        ``None`` when they do not: ``sync_ranks`` is off, or the batch
        reduction (``"median"``, a callable) has no cross-rank form.
        """
        reduction = self.batch_reduction
        if not self.sync_ranks or reduction not in ("mean", "sum", "max"):
            return None
        return reduction

    @property
    def terms(self) -> int:
        """Number :math:`K` of adaptive threshold terms."""
        return self._terms

    @property
    def threshold(self) -> torch.Tensor:
        r"""Effective threshold :math:`V_\text{thresh} + \sum_k \theta_k` in mV, broadcastable to ``shape``."""
        return self.thresh_v + self.adaptation.sum(0)

    def reset_adaptation(self) -> None:
        r"""Set the adaptive thresholds :math:`\theta` to zero."""
        with torch.no_grad():
            self.adaptation.zero_()

    def coefficients(self) -> nf.ALIFCoefficients:
        return nf.alif_coefficients(
            self.step_time,
            time_constant=self.time_constant,
            rest_v=self.rest_v,
            resistance=self.resistance,
            tc_adaptation=self.tc_adaptation,
            spike_increment=self.spike_increment,
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with current ``inputs`` (nA, ``(batch, *shape)``); return spikes."""
        self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        adaptation = self._buffers["adaptation"]
        state = nf.ALIFState(*self.start(inputs), adaptation)
        spikes, state = nf.alif_step(
            inputs,
            state,
            coefficients,
            firing,
            self.surrogate,
            batch_reduction=self.batch_reduction,
            rank_reducer=self.rank_reducer if self.sync_ranks else None,
            training=self.training,
            # A compiled backward may recompute the threshold from the adaptation tensor it
            # read, so a compiled step with autograd on binds a new one instead.
            inplace=not (torch.is_grad_enabled() and torch.compiler.is_compiling()),
        )
        if state.adaptation is not adaptation:
            self._buffers["adaptation"] = state.adaptation
        return self.finish(inputs, spikes, state.voltage, state.refrac)


# ---------------------------------------------------------------------------- QIF


class QIF(SpikingNeuron):
    r"""Quadratic integrate-and-fire neurons, forward Euler.

    .. math::

        \tau \frac{dV}{dt} = a (V - V_\text{rest})(V - V_\text{crit}) + R I

        V(t + \Delta t) = V + \frac{\Delta t}{\tau}
            \left[a (V - V_\text{rest})(V - V_\text{crit}) + R I\right]

    Below :math:`V_\text{crit}` the voltage relaxes to :math:`V_\text{rest}`;
    above it, it runs away until the cut-off :math:`V_\text{thresh}`, where the
    neuron spikes and resets as :class:`LIF` does (refractory rule included).
    Near rest the leak matches an LIF's of time constant
    :math:`\tau / (a (V_\text{crit} - V_\text{rest}))` (the defaults give :math:`\tau`).

    Args:
        crit_v: :math:`V_\text{crit}` in mV (greater than ``rest_v``).
        affinity: :math:`a` in 1/mV (positive).
        others: as :class:`LIF`.
    """

    constant_names = ("time_constant", "rest_v", "crit_v", "affinity", "resistance", *_FIRING)

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float = 1.0,
        *,
        rest_v: Value = -65.0,
        crit_v: Value = -55.0,
        affinity: Value = 0.1,
        reset_v: Value = -65.0,
        thresh_v: Value = -30.0,
        refrac_t: Value = 2.0,
        time_constant: Value = 20.0,
        resistance: Value = 1.0,
        surrogate: SurrogateArg = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=check_finite)
        crit_v = finite("crit_v", crit_v)
        affinity = positive("affinity", affinity, "1/mV")
        self.add_membrane(
            rest_v=rest_v,
            reset_v=reset_v,
            thresh_v=thresh_v,
            refrac_t=refrac_t,
            resistance=resistance,
            time_constant=time_constant,
        )
        check_greater("crit_v", crit_v, "rest_v", rest_v)
        self.add_parameter("crit_v", crit_v)
        self.add_parameter("affinity", affinity)

    def coefficients(self) -> nf.QIFCoefficients:
        return nf.qif_coefficients(
            self.step_time,
            time_constant=self.time_constant,
            rest_v=self.rest_v,
            crit_v=self.crit_v,
            affinity=self.affinity,
            resistance=self.resistance,
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with current ``inputs`` (nA, ``(batch, *shape)``); return spikes."""
        self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        state = nf.NeuronState(*self.start(inputs))
        spikes, state = nf.qif_step(inputs, state, coefficients, firing, self.surrogate)
        return self.finish(inputs, spikes, state.voltage, state.refrac)


# ---------------------------------------------------------------------------- EIF


class EIF(SpikingNeuron):
    r"""Exponential integrate-and-fire neurons, forward Euler.

    .. math::

        \tau \frac{dV}{dt} = -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right) + R I

    one forward-Euler step per :math:`\Delta t`, the exponential term capped
    at :math:`e^{50}` mV (no overflow; such a voltage spikes in the same
    step). :math:`V_\text{thresh}` is the spike cut-off (default
    :math:`V_T + 5\Delta_T`); spike, reset and refractory period as :class:`LIF`.

    Args:
        rheobase_v: :math:`V_T` in mV, where the exponential takes over.
        sharpness: :math:`\Delta_T` in mV (positive slope factor).
        others: as :class:`LIF`.
    """

    constant_names = (
        "time_constant",
        "rest_v",
        "rheobase_v",
        "sharpness",
        "resistance",
        *_FIRING,
    )

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float = 1.0,
        *,
        rest_v: Value = -65.0,
        rheobase_v: Value = -50.0,
        sharpness: Value = 2.0,
        reset_v: Value = -65.0,
        thresh_v: Value = -40.0,
        refrac_t: Value = 2.0,
        time_constant: Value = 20.0,
        resistance: Value = 1.0,
        surrogate: SurrogateArg = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=check_finite)
        self._exponential(rheobase_v=rheobase_v, sharpness=sharpness)
        self.add_membrane(
            rest_v=rest_v,
            reset_v=reset_v,
            thresh_v=thresh_v,
            refrac_t=refrac_t,
            resistance=resistance,
            time_constant=time_constant,
        )

    def coefficients(self) -> nf.EIFCoefficients:
        return nf.eif_coefficients(
            self.step_time,
            time_constant=self.time_constant,
            rest_v=self.rest_v,
            rheobase_v=self.rheobase_v,
            sharpness=self.sharpness,
            resistance=self.resistance,
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with current ``inputs`` (nA, ``(batch, *shape)``); return spikes."""
        self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        state = nf.NeuronState(*self.start(inputs))
        spikes, state = nf.eif_step(inputs, state, coefficients, firing, self.surrogate)
        return self.finish(inputs, spikes, state.voltage, state.refrac)


# --------------------------------------------------------------------------- AdEx


class AdEx(SpikingNeuron):
    r"""Adaptive exponential integrate-and-fire neurons, forward Euler.

    .. math::

        \tau \frac{dV}{dt} &= -(V - V_\text{rest})
            + \Delta_T \exp\!\left(\frac{V - V_T}{\Delta_T}\right)
            - R \sum_k w_k + R I \\
        \tau_k \frac{dw_k}{dt} &= a_k (V - V_\text{rest}) - w_k,
        \qquad w_k \leftarrow w_k + b_k \text{ on a spike}

    one forward-Euler step per :math:`\Delta t` from the state at the start of
    the step (exponential capped as in :class:`EIF`); then spike, reset and
    refractory period as :class:`LIF`, and the increment :math:`b_k` where the
    neuron spiked. The adaptation currents :math:`w` (nA) are per-sample state,
    :attr:`adaptation`, ``(batch, K, *shape)``, zero after :meth:`reset`, and
    keep evolving while the voltage is held refractory.

    Args:
        tc_adaptation: :math:`\tau_k` in ms (positive): a float (one term), a
            sequence (one per term), or a tensor broadcastable to
            ``(K, *shape)`` with 0 or ``1 + len(shape)`` dimensions.
        voltage_coupling: :math:`a_k` in uS (nA/mV), same forms (finite; may be negative).
        spike_increment: :math:`b_k` in nA, same forms (finite).
        others: as :class:`EIF`.
    """

    constant_names = (
        "time_constant",
        "rest_v",
        "rheobase_v",
        "sharpness",
        "resistance",
        "tc_adaptation",
        "voltage_coupling",
        "spike_increment",
        *_FIRING,
    )

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float = 1.0,
        *,
        rest_v: Value = -65.0,
        rheobase_v: Value = -50.0,
        sharpness: Value = 2.0,
        reset_v: Value = -65.0,
        thresh_v: Value = -40.0,
        refrac_t: Value = 2.0,
        time_constant: Value = 20.0,
        resistance: Value = 1.0,
        tc_adaptation: Terms = 100.0,
        voltage_coupling: Terms = 0.1,
        spike_increment: Terms = 1.0,
        surrogate: SurrogateArg = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=check_finite)
        self._exponential(rheobase_v=rheobase_v, sharpness=sharpness)
        self.add_membrane(
            rest_v=rest_v,
            reset_v=reset_v,
            thresh_v=thresh_v,
            refrac_t=refrac_t,
            resistance=resistance,
            time_constant=time_constant,
        )
        self._terms = self._count_terms(
            tc_adaptation=self.add_terms("tc_adaptation", tc_adaptation, _positive_ms),
            voltage_coupling=self.add_terms("voltage_coupling", voltage_coupling, _finite),
            spike_increment=self.add_terms("spike_increment", spike_increment, _finite),
        )
        self.register_state("_adaptation")

    @property
    def terms(self) -> int:
        """Number :math:`K` of adaptation currents."""
        return self._terms

    @property
    def adaptation(self) -> torch.Tensor | None:
        """Adaptation currents :math:`w` in nA, ``(batch, K, *shape)``; ``None`` before the first step."""
        return self._adaptation

    @adaptation.setter
    def adaptation(self, value: torch.Tensor) -> None:
        self._adaptation = self._checked_state("adaptation", value, (self._terms, *self.shape))

    def coefficients(self) -> nf.AdExCoefficients:
        return nf.adex_coefficients(
            self.step_time,
            time_constant=self.time_constant,
            rest_v=self.rest_v,
            rheobase_v=self.rheobase_v,
            sharpness=self.sharpness,
            resistance=self.resistance,
            tc_adaptation=self.tc_adaptation,
            voltage_coupling=self.voltage_coupling,
            spike_increment=self.spike_increment,
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with current ``inputs`` (nA, ``(batch, *shape)``); return spikes."""
        batch = self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        adaptation = self._buffers["_adaptation"]
        if adaptation is None:
            adaptation = inputs.new_zeros((batch, self._terms, *self._shape))
        state = nf.AdExState(*self.start(inputs), adaptation)
        spikes, state = nf.adex_step(inputs, state, coefficients, firing, self.surrogate)
        spikes = self.finish(inputs, spikes, state.voltage, state.refrac)
        self._buffers["_adaptation"] = state.adaptation
        return spikes


# --------------------------------------------------------------------- Izhikevich


class Izhikevich(SpikingNeuron):
    r"""Izhikevich (2003) neurons, :math:`a, b, c, d` form, forward Euler.

    .. math::

        \frac{dv}{dt} &= 0.04 v^2 + 5 v + 140 - u + R I \\
        \frac{du}{dt} &= a (b v - u)

    with :math:`v` in mV, :math:`t` in ms, :math:`u` in mV/ms and the
    coefficients 0.04 /(mV ms), 5 /ms, 140 mV/ms of the original model. One
    forward-Euler step per :math:`\Delta t`, both derivatives from the state at
    the start of the step; then, where :math:`v \ge v_\text{thresh}` (30 mV),
    a spike, :math:`v \leftarrow c` and :math:`u \leftarrow u + d`. The
    recovery variable :math:`u` is per-sample state, :attr:`recovery`
    (``(batch, *shape)``), starting at :math:`b\, v_0` with :math:`v_0` =
    ``rest_v``. An optional absolute refractory period holds :math:`v` as in
    :class:`LIF` (none by default, as in the original model).

    Keywords, in this package's names (or use :meth:`from_abcd`):

    Args:
        tc_adaptation: :math:`\tau_u = 1/a` in ms (positive); regular spiking
            :math:`a = 0.02` is 50 ms, fast spiking :math:`a = 0.1` is 10 ms.
        voltage_coupling: :math:`b` (finite; 0.2 for both).
        reset_v: :math:`c` in mV (-65 for both).
        spike_increment: :math:`d` in mV/ms (finite; 8 regular, 2 fast spiking).
        thresh_v: spike cut-off in mV (30), greater than ``reset_v``.
        rest_v: initial voltage :math:`v_0` in mV after :meth:`reset` (-65).
        resistance: :math:`R` in mV/(ms nA), positive: :math:`R I` is
            Izhikevich's input :math:`I` (with :math:`R = 1`, ``inputs`` of 10
            give tonic spiking).
        refrac_t: absolute refractory period, in ms (default 0).
        others: as :class:`LIF`.
    """

    constant_names = (
        "tc_adaptation",
        "voltage_coupling",
        "resistance",
        "spike_increment",
        *_FIRING,
    )

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float = 1.0,
        *,
        rest_v: Value = -65.0,
        reset_v: Value = -65.0,
        thresh_v: Value = 30.0,
        refrac_t: Value = 0.0,
        tc_adaptation: Value = 50.0,
        voltage_coupling: Value = 0.2,
        spike_increment: Value = 8.0,
        resistance: Value = 1.0,
        surrogate: SurrogateArg = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=check_finite)
        tc_adaptation = positive("tc_adaptation", tc_adaptation, "ms")
        voltage_coupling = finite("voltage_coupling", voltage_coupling)
        spike_increment = finite("spike_increment", spike_increment)
        self.add_membrane(
            rest_v=rest_v,
            reset_v=reset_v,
            thresh_v=thresh_v,
            refrac_t=refrac_t,
            resistance=resistance,
            time_constant=None,
        )
        self.add_parameter("tc_adaptation", tc_adaptation)
        self.add_parameter("voltage_coupling", voltage_coupling)
        self.add_parameter("spike_increment", spike_increment)
        self.register_state("_recovery")

    @classmethod
    def from_abcd(
        cls,
        shape: int | tuple[int, ...],
        a: float,
        b: float,
        c: float,
        d: float,
        step_time: float = 1.0,
        **kwargs: Any,
    ) -> Izhikevich:
        """Build from Izhikevich's parameters: ``tc_adaptation = 1/a``, ``voltage_coupling = b``,
        ``reset_v = c``, ``spike_increment = d``.

        Example::

            >>> regular = Izhikevich.from_abcd(10, a=0.02, b=0.2, c=-65.0, d=8.0)
            >>> fast = Izhikevich.from_abcd(10, a=0.1, b=0.2, c=-65.0, d=2.0)
        """
        a = positive("a", a, "1/ms")
        c = finite("c", c)
        thresh_v = kwargs.get("thresh_v", 30.0)
        if isinstance(thresh_v, Real | torch.Tensor) and not isinstance(thresh_v, bool):
            check_greater("thresh_v", finite("thresh_v", thresh_v), "c (reset_v)", c)
        return cls(
            shape,
            step_time,
            tc_adaptation=1 / a,
            voltage_coupling=b,
            reset_v=c,
            spike_increment=d,
            **kwargs,
        )

    @property
    def recovery(self) -> torch.Tensor | None:
        """Recovery variable :math:`u` in mV/ms, ``(batch, *shape)``; ``None`` before the first step."""
        return self._recovery

    @recovery.setter
    def recovery(self, value: torch.Tensor) -> None:
        self._recovery = self._checked_state("recovery", value)

    def coefficients(self) -> nf.IzhikevichCoefficients:
        return nf.izhikevich_coefficients(
            self.step_time,
            tc_adaptation=self.tc_adaptation,
            voltage_coupling=self.voltage_coupling,
            resistance=self.resistance,
            spike_increment=self.spike_increment,
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with current ``inputs`` (nA, ``(batch, *shape)``); return spikes."""
        self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        voltage, refrac = self.start(inputs)
        recovery = self._buffers["_recovery"]
        if recovery is None:  # u = b v at the start
            recovery = torch.mul(voltage, self.voltage_coupling.to(inputs.dtype))
        state = nf.IzhikevichState(voltage, refrac, recovery)
        spikes, state = nf.izhikevich_step(inputs, state, coefficients, firing, self.surrogate)
        spikes = self.finish(inputs, spikes, state.voltage, state.refrac)
        self._buffers["_recovery"] = state.recovery
        return spikes


# ------------------------------------------------------------- integrate-and-fire


class IntegrateAndFire(SpikingNeuron):
    r"""Integrate-and-fire neurons without leak, the counterpart of NIR's ``IF`` node.

    .. math::

        C \frac{dV}{dt} = I, \qquad V(t + \Delta t) = V(t) + \frac{\Delta t}{C} I

    (exact for input held over the step), then a spike where
    :math:`V \ge V_\text{thresh}` and a reset to :math:`V_\text{reset}`; no
    refractory period. In NIR's form :math:`\dot v = r I` (time in s),
    :math:`r = 1000 / C`. The voltage starts at :math:`V_\text{reset}`.

    Args:
        shape: shape of the group, excluding the batch dimension.
        step_time: :math:`\Delta t`, in ms.
        capacitance: :math:`C`, in nF (positive); a float or a tensor broadcastable to ``shape``.
        reset_v: :math:`V_\text{reset}` in mV, also the voltage after :meth:`reset`.
        thresh_v: :math:`V_\text{thresh}` in mV, above ``reset_v``.
        surrogate: as :class:`LIF` (default ``None``: no gradient).
        check_finite: as :class:`LIF`.

    Raises:
        ValueError: ``capacitance`` not positive, ``thresh_v`` not above ``reset_v``.

    Shapes:
        ``forward(inputs)``: ``(batch, *shape)`` nA -> spikes ``(batch, *shape)``.
    """

    constant_names = ("capacitance", "thresh_v", "reset_v")
    initial_voltage = "reset_v"

    def __init__(
        self,
        shape: int | tuple[int, ...],
        step_time: float = 1.0,
        *,
        capacitance: Value = 1.0,
        reset_v: Value = 0.0,
        thresh_v: Value = 1.0,
        surrogate: SurrogateArg = None,
        check_finite: bool = True,
    ) -> None:
        super().__init__(shape, step_time, surrogate=surrogate, check_finite=check_finite)
        capacitance = positive("capacitance", capacitance, "nF")
        reset_v = finite("reset_v", reset_v)
        thresh_v = finite("thresh_v", thresh_v)
        check_greater("thresh_v", thresh_v, "reset_v", reset_v)
        self.add_parameter("capacitance", capacitance)
        self.add_parameter("reset_v", reset_v)
        self.add_parameter("thresh_v", thresh_v)

    def coefficients(self) -> nf.IntegrateAndFireCoefficients:
        return nf.integrate_and_fire_coefficients(self.step_time, capacitance=self.capacitance)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one step with current ``inputs`` (nA, ``(batch, *shape)``); return spikes."""
        self.check_inputs(inputs)
        coefficients, firing = self.constants(inputs.dtype)
        state = nf.NeuronState(*self.start(inputs))
        spikes, state = nf.integrate_and_fire_step(
            inputs, state, coefficients, firing, self.surrogate
        )
        return self.finish(inputs, spikes, state.voltage, state.refrac)
