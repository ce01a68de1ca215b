r"""Spikes: threshold, reset and refractory logic, and surrogate spike functions.

Pure functions, one simulation step each. Every neuron model integrates its
voltage its own way and then shares the same last part of the step,
:func:`hold_spike_reset`:

1. the remaining refractory time counts down, :math:`r \leftarrow \max(r - \Delta t, 0)`
   (:func:`refractory_step`); neurons with :math:`r > 0` are *held*: they keep
   their voltage and ignore this step's input;
2. the others take the freshly integrated voltage;
3. a neuron spikes where :math:`V \ge V_\text{thresh}` (:func:`threshold`);
4. spiking neurons are reset, :math:`V \leftarrow V_\text{reset}`, and their
   refractory time set, :math:`r \leftarrow t_\text{refrac}`.

So the spike step counts as the first refractory step: with
:math:`\Delta t = 1` ms and :math:`t_\text{refrac} = 2` ms, a neuron spiking at
step :math:`t` is held at :math:`t + 1` and integrates again at :math:`t + 2`
(in general it is held for :math:`\lceil t_\text{refrac} / \Delta t \rceil - 1`
steps). Refractory times that are multiples of :math:`\Delta t` count exactly:
remaining times within :data:`REFRAC_TOLERANCE` steps of zero count as zero.

Surrogate spike functions are the Heaviside step forward,
:math:`H(x) = 1` for :math:`x \ge 0` (a spike at :math:`V = V_\text{thresh}`),
and a smooth pseudo-derivative :math:`\sigma'(x)` backward, so a spiking network
trains with backpropagation through time. Each has a ``slope`` :math:`k` in
1/mV (larger is sharper) and is a :class:`torch.autograd.Function`; the
picklable :class:`Surrogate` selects one by name for the neuron modules:

==================  ============================================================
name                :math:`\sigma'(x)`
==================  ============================================================
``"arctan"``        :math:`\frac{k}{2} \big/ \left(1 + (\frac{\pi}{2} k x)^2\right)`
``"fast_sigmoid"``  :math:`1 \big/ (1 + k |x|)^2` (SuperSpike)
``"sigmoid"``       :math:`k\, s (1 - s)`, :math:`s = 1 / (1 + e^{-k x})`
``"triangle"``      :math:`k \max(0,\ 1 - k |x|)`
==================  ============================================================

Spikes and masks are 0/1 floating-point tensors, never booleans, in the hot path.
These functions do not validate tensor arguments: the modules built on them do.
Where they work in place, it is on tensors they created themselves, never on
their arguments, and only with operations whose backward does not need the
overwritten values, so they stay correct under autograd.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "REFRAC_TOLERANCE",
    "SURROGATE_NAMES",
    "heaviside",
    "ArctanSpike",
    "FastSigmoidSpike",
    "SigmoidSpike",
    "TriangleSpike",
    "arctan_spike",
    "fast_sigmoid_spike",
    "sigmoid_spike",
    "triangle_spike",
    "Surrogate",
    "as_surrogate",
    "threshold",
    "refractory_step",
    "hold_spike_reset",
]

REFRAC_TOLERANCE: float = 1e-3
"""Remaining refractory times below this fraction of a step count as zero."""

SURROGATE_NAMES: tuple[str, ...] = ("arctan", "fast_sigmoid", "sigmoid", "triangle")
"""Names accepted by :class:`Surrogate`."""

SpikeFunction = Callable[[torch.Tensor], torch.Tensor]

# Dtypes whose CPU kernels compute in the dtype itself, so that a scalar operand is the
# same number whether it comes as a Python float or as a 0-d tensor of the dtype.
_EXACT_SCALAR_DTYPES = (torch.float32, torch.float64)


@functools.lru_cache(maxsize=128)
def _scalar_tensor(value: float, dtype: torch.dtype) -> torch.Tensor:
    with torch.inference_mode(False):  # an ordinary tensor, which autograd may save
        return torch.tensor(value, dtype=dtype)


def _operand(value: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    """``value`` in the form that costs least as an operand of an elementwise op on ``like``.

    PyTorch wraps a Python float operand into a new 0-d tensor on every call,
    which on CPU costs more than the arithmetic of a small group (a few
    microseconds). A cached 0-d float32/float64 CPU tensor of ``like``'s dtype
    is the same scalar to the same kernel, so the result is the same bit for
    bit. Anything else is returned unchanged: tensors, zeros (the cache would
    not tell 0.0 from -0.0), half-precision dtypes (their kernels compute in
    float32, where a float keeps digits a 0-d half tensor would round away),
    other devices, and a step being traced by ``torch.compile``.
    """
    if (
        isinstance(value, float)
        and value != 0.0
        and like.is_cpu
        and like.dtype in _EXACT_SCALAR_DTYPES
        and not torch.compiler.is_compiling()
    ):
        return _scalar_tensor(value, like.dtype)
    return value


def heaviside(x: torch.Tensor) -> torch.Tensor:
    r"""Heaviside step :math:`H(x) = [x \ge 0]` as 0/1 values of ``x``'s dtype, no gradient.

    Args:
        x: any shape, e.g. :math:`V - V_\text{thresh}` in mV.

    Returns:
        Tensor of ``x``'s shape and dtype.
    """
    return torch.ge(x, 0.0, out=torch.empty_like(x))


# Derivatives of the smooth stand-ins, shared by backward() and Surrogate.derivative().
def _arctan_grad(x: torch.Tensor, slope: float) -> torch.Tensor:
    return (slope / 2) / (1 + (math.pi / 2 * slope * x) ** 2)


def _fast_sigmoid_grad(x: torch.Tensor, slope: float) -> torch.Tensor:
    return 1 / (1 + slope * x.abs()) ** 2


def _sigmoid_grad(x: torch.Tensor, slope: float) -> torch.Tensor:
    s = torch.sigmoid(slope * x)
    return slope * s * (1 - s)


def _triangle_grad(x: torch.Tensor, slope: float) -> torch.Tensor:
    return slope * (1 - slope * x.abs()).clamp(min=0)


class ArctanSpike(torch.autograd.Function):
    r"""Heaviside forward; arctan pseudo-derivative backward.

    .. math:: \sigma'(x) = \frac{k / 2}{1 + (\frac{\pi}{2} k x)^2}

    the derivative of :math:`\frac{1}{\pi}\arctan(\frac{\pi}{2} k x) + \frac{1}{2}`
    (integrates to 1). Call as ``ArctanSpike.apply(x, slope)``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.ge(x, 0.0, out=torch.empty_like(x))

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * _arctan_grad(x, ctx.slope), None


class FastSigmoidSpike(torch.autograd.Function):
    r"""Heaviside forward; fast-sigmoid (SuperSpike) pseudo-derivative backward.

    .. math:: \sigma'(x) = \frac{1}{(1 + k |x|)^2}

    (Zenke & Ganguli 2018; equals 1 at :math:`x = 0`). Call as
    ``FastSigmoidSpike.apply(x, slope)``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.ge(x, 0.0, out=torch.empty_like(x))

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * _fast_sigmoid_grad(x, ctx.slope), None


class SigmoidSpike(torch.autograd.Function):
    r"""Heaviside forward; logistic-sigmoid pseudo-derivative backward.

    .. math:: \sigma'(x) = k\, s(x) (1 - s(x)), \quad s(x) = \frac{1}{1 + e^{-k x}}

    (integrates to 1). Call as ``SigmoidSpike.apply(x, slope)``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.ge(x, 0.0, out=torch.empty_like(x))

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * _sigmoid_grad(x, ctx.slope), None


class TriangleSpike(torch.autograd.Function):
    r"""Heaviside forward; triangular pseudo-derivative backward.

    .. math:: \sigma'(x) = k \max(0,\ 1 - k |x|)

    (zero outside :math:`|x| < 1/k`; integrates to 1). Call as
    ``TriangleSpike.apply(x, slope)``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.ge(x, 0.0, out=torch.empty_like(x))

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * _triangle_grad(x, ctx.slope), None


def arctan_spike(x: torch.Tensor, slope: float = 1.0) -> torch.Tensor:
    """Heaviside of ``x`` with the arctan surrogate gradient (see :class:`ArctanSpike`)."""
    return ArctanSpike.apply(x, slope)


def fast_sigmoid_spike(x: torch.Tensor, slope: float = 1.0) -> torch.Tensor:
    """Heaviside of ``x`` with the fast-sigmoid surrogate gradient (see :class:`FastSigmoidSpike`)."""
    return FastSigmoidSpike.apply(x, slope)


def sigmoid_spike(x: torch.Tensor, slope: float = 1.0) -> torch.Tensor:
    """Heaviside of ``x`` with the sigmoid surrogate gradient (see :class:`SigmoidSpike`)."""
    return SigmoidSpike.apply(x, slope)


def triangle_spike(x: torch.Tensor, slope: float = 1.0) -> torch.Tensor:
    """Heaviside of ``x`` with the triangular surrogate gradient (see :class:`TriangleSpike`)."""
    return TriangleSpike.apply(x, slope)


@dataclass(frozen=True)
class Surrogate:
    r"""A picklable choice of surrogate spike function: Heaviside forward, smooth backward.

    Calling it on :math:`x = V - V_\text{thresh}` (mV) returns 0/1 spikes of
    ``x``'s dtype whose gradient is :math:`\sigma'(x)` (see the module docstring
    for the formulas).

    Args:
        name: one of :data:`SURROGATE_NAMES`: ``"arctan"``, ``"fast_sigmoid"``,
            ``"sigmoid"``, ``"triangle"``.
        slope: sharpness :math:`k`, in 1/mV (positive; larger is narrower).

    Raises:
        ValueError: unknown ``name``, or ``slope`` not positive and finite.

    Example::

        >>> spikes = Surrogate("arctan", slope=2.0)(voltage - thresh_v)
    """

    name: str = "arctan"
    slope: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in SURROGATE_NAMES:
            raise ValueError(
                f"surrogate must be one of {list(SURROGATE_NAMES)!r}, got {self.name!r}"
            )
        if (
            isinstance(self.slope, bool)
            or not isinstance(self.slope, int | float)
            or not math.isfinite(self.slope)
            or self.slope <= 0
        ):
            raise ValueError(f"slope must be positive and finite 1/mV, got {self.slope!r}")
        object.__setattr__(self, "slope", float(self.slope))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes :math:`H(x)` with gradient :math:`\\sigma'(x)`; ``x`` any shape."""
        if self.name == "arctan":
            return ArctanSpike.apply(x, self.slope)
        if self.name == "fast_sigmoid":
            return FastSigmoidSpike.apply(x, self.slope)
        if self.name == "sigmoid":
            return SigmoidSpike.apply(x, self.slope)
        return TriangleSpike.apply(x, self.slope)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """The pseudo-derivative :math:`\\sigma'(x)` itself, elementwise."""
        if self.name == "arctan":
            return _arctan_grad(x, self.slope)
        if self.name == "fast_sigmoid":
            return _fast_sigmoid_grad(x, self.slope)
        if self.name == "sigmoid":
            return _sigmoid_grad(x, self.slope)
        return _triangle_grad(x, self.slope)


def as_surrogate(
    surrogate: Surrogate | str | SpikeFunction | None,
) -> Surrogate | SpikeFunction | None:
    """Resolve a ``surrogate=`` argument.

    Args:
        surrogate: ``None`` (plain Heaviside, no gradient), a name from
            :data:`SURROGATE_NAMES` (default slope), a :class:`Surrogate`, or any
            callable ``x -> spikes`` (it must return 0/1 values and, to go into
            checkpoints and DDP, be picklable: no lambdas).

    Returns:
        ``None``, a :class:`Surrogate`, or the callable unchanged.

    Raises:
        ValueError: unknown name.
        TypeError: anything else.
    """
    if surrogate is None or isinstance(surrogate, Surrogate):
        return surrogate
    if isinstance(surrogate, str):
        return Surrogate(surrogate)
    if callable(surrogate):
        return surrogate
    raise TypeError(
        f"surrogate must be None, one of {list(SURROGATE_NAMES)!r}, a Surrogate or a callable, "
        f"got {surrogate!r}"
    )


def threshold(
    voltage: torch.Tensor,
    thresh_v: float | torch.Tensor,
    surrogate: SpikeFunction | None = None,
) -> torch.Tensor:
    r"""Spikes where :math:`V \ge V_\text{thresh}`.

    .. math:: z = H(V - V_\text{thresh})

    Args:
        voltage: :math:`V` in mV, ``(batch, *shape)``.
        thresh_v: :math:`V_\text{thresh}` in mV, float or tensor broadcastable to ``voltage``.
        surrogate: ``None`` for a plain step (no gradient), or a spike function
            (e.g. a :class:`Surrogate`) applied to :math:`V - V_\text{thresh}`.

    Returns:
        0/1 spikes of ``voltage``'s dtype and shape (differentiable with a surrogate).
    """
    thresh_v = _operand(thresh_v, voltage)
    if surrogate is None:
        return torch.ge(voltage, thresh_v, out=torch.empty_like(voltage))
    return surrogate(voltage - thresh_v)


def refractory_step(refrac: torch.Tensor, step_time: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Count the refractory time down by one step.

    .. math:: r \leftarrow \max(r - \Delta t,\ 0)

    with values up to ``REFRAC_TOLERANCE * step_time`` set to exactly zero, so
    that float rounding never adds a step.

    Args:
        refrac: remaining refractory time :math:`r` in ms, ``(batch, *shape)``.
        step_time: :math:`\Delta t` in ms.

    Returns:
        ``(refrac, held)``: the new remaining time (a new tensor) and, as 0/1
        values of its dtype, the neurons still refractory during this step.
    """
    remaining = refrac - _operand(step_time, refrac)
    refrac = torch.threshold_(remaining, REFRAC_TOLERANCE * step_time, 0.0)
    return refrac, torch.sign(refrac)


def _as_tensor_like(value: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value if value.dtype is like.dtype else value.to(like.dtype)
    return like.new_full((), value)


def _as_dtype(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # Skips the call of a no-op .to(): on a small group, per-call overhead is the cost.
    return tensor if tensor.dtype is dtype else tensor.to(dtype)


def hold_spike_reset(
    integrated: torch.Tensor,
    voltage: torch.Tensor,
    refrac: torch.Tensor,
    *,
    step_time: float,
    thresh_v: float | torch.Tensor,
    reset_v: float | torch.Tensor,
    refrac_t: float | torch.Tensor,
    surrogate: SpikeFunction | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The shared end of every neuron step: refractory hold, threshold, reset.

    .. math::

        r' &= \max(r - \Delta t, 0), \qquad h = [r' > 0] \ \text{(held)} \\
        \tilde V &= \begin{cases} V & h = 1 \\ V_\text{int} & h = 0 \end{cases} \\
        z &= H(\tilde V - V_\text{thresh}) \\
        V_\text{new} &= \begin{cases} V_\text{reset} & z = 1 \\ \tilde V & z = 0 \end{cases},
        \qquad
        r_\text{new} = \begin{cases} t_\text{refrac} & z = 1 \\ r' & z = 0 \end{cases}

    The selections are :func:`torch.lerp` with 0/1 weights, which is exact at
    both ends (and, on CPU, much faster than boolean masks). The reset is not
    differentiated through: the gradient of :math:`V_\text{new}` is zero where
    a spike reset it, and none flows from the reset into :math:`z`.

    Args:
        integrated: :math:`V_\text{int}`, voltage after this step's
            integration, in mV, ``(batch, *shape)``.
        voltage: :math:`V`, voltage before this step, in mV, ``(batch, *shape)``.
        refrac: :math:`r`, remaining refractory time before this step, in ms,
            ``(batch, *shape)``.
        step_time: :math:`\Delta t`, in ms.
        thresh_v: :math:`V_\text{thresh}` in mV, float or tensor broadcastable to ``voltage``.
        reset_v: :math:`V_\text{reset}` in mV, float or tensor broadcastable to ``voltage``.
        refrac_t: :math:`t_\text{refrac}` in ms, float or tensor broadcastable to ``voltage``.
        surrogate: see :func:`threshold`.

    Returns:
        ``(spikes, voltage, refrac)``, each ``(batch, *shape)``: 0/1 spikes of
        ``integrated``'s dtype, post-reset voltage in mV and remaining
        refractory time in ms.
    """
    dtype = integrated.dtype
    refrac, held = refractory_step(refrac, step_time)
    voltage = torch.lerp(integrated, _as_dtype(voltage, dtype), _as_dtype(held, dtype))
    spikes = threshold(voltage, thresh_v, surrogate)
    mask = spikes.detach() if spikes.requires_grad else spikes
    voltage = voltage.lerp_(_as_tensor_like(reset_v, voltage), mask)
    refrac = refrac.lerp_(_as_tensor_like(refrac_t, refrac), _as_dtype(mask, refrac.dtype))
    return spikes, voltage, refrac
