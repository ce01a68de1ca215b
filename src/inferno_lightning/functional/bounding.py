r"""Weight-bounding functions: how much of an update a weight may take near its limits.

A local learning rule produces a potentiating term :math:`P` and a depressing
term :math:`D` for a weight :math:`w`; the unbounded change is
:math:`\Delta w = P - D`. Bounding scales the part of the change that pushes
the weight *up* by a factor that vanishes at the upper limit :math:`w_\max`,
and the part that pushes it *down* by a factor that vanishes at the lower limit
:math:`w_\min`:

.. math::

    w' = w + U(w)\,\bigl(P^+ + D^-\bigr) - L(w)\,\bigl(P^- + D^+\bigr)

with :math:`x^+ = \max(x, 0)` and :math:`x^- = \max(-x, 0)`. For the usual
non-negative terms (Hebbian STDP with positive learning rates) this is
:math:`w' = w + U(w)\,P - L(w)\,D`. A negative :math:`P` or :math:`D` (an
anti-Hebbian rule, a negative reward) pushes the other way and is bounded by
the other limit, so a weight never overshoots a soft limit whatever the signs.

The half-bounding factors, each usable with the upper limit only, the lower
limit only, or both (a missing limit leaves its side unscaled, :math:`U = 1`
or :math:`L = 1`):

=============  ====================================  ==================================
kind           upper, :math:`U(w)`                   lower, :math:`L(w)`
=============  ====================================  ==================================
hard           :math:`\Theta(w_\max - w)`            :math:`\Theta(w - w_\min)`
soft           :math:`w_\max - w`                    :math:`w - w_\min`
power          :math:`(w_\max - w)^{\mu_+}`          :math:`(w - w_\min)^{\mu_-}`
=============  ====================================  ==================================

with :math:`\Theta(x) = 1` for :math:`x > 0` and :math:`0` otherwise, so a
weight at its limit takes no further push past it. The ``clamp`` kind applies
the update unscaled and clamps the result:
:math:`w' = \operatorname{clamp}(w + P - D,\ w_\min,\ w_\max)`.

Soft and power bounds are not clamps: a weight that already lies beyond a limit
gets a factor of the opposite sign, which pulls it back (for power bounds the
sign is kept, :math:`\operatorname{sgn}(x)\,|x|^{\mu}`, so :math:`\mu = 1`
equals the soft bound and fractional powers never give NaN). Hard bounds stop
pushes past a limit but a single large step may still overshoot it; add a
:class:`~inferno_lightning.learn.Clamp` constraint where that matters.

Select a kind by name (``"clamp"``, ``"hard"`` or ``"sharp"``, ``"soft"`` or
``"multiplicative"``) or by an instance of :class:`ClampBound`,
:class:`HardBound`, :class:`SoftBound` or :class:`PowerBound`; all are
picklable frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "Bound",
    "ClampBound",
    "HardBound",
    "SoftBound",
    "PowerBound",
    "BOUND_NAMES",
    "resolve_bound",
    "upper_hard",
    "lower_hard",
    "upper_soft",
    "lower_soft",
    "upper_power",
    "lower_power",
    "clamp_weight",
    "bounded_update",
]

Limit = float | torch.Tensor


def _heaviside(x: torch.Tensor) -> torch.Tensor:
    # Theta(0) = 0: a weight sitting on its limit takes no push past it.
    return (x > 0).to(x.dtype)


def _signed_power(x: torch.Tensor, power: float) -> torch.Tensor:
    if power == 1.0:
        return x
    return x.sign() * x.abs().pow(power)


def upper_hard(weight: torch.Tensor, update: torch.Tensor, w_max: Limit) -> torch.Tensor:
    r"""Hard (Heaviside) upper bounding of an upward update.

    .. math::

        \tilde{u} = u \, \Theta(w_\max - w), \qquad
        \Theta(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}

    Args:
        weight: current weight :math:`w`.
        update: non-negative upward push :math:`u` (potentiation), broadcastable
            to ``weight``.
        w_max: upper limit :math:`w_\max`, a float or a tensor broadcastable to
            ``weight``.

    Returns:
        The bounded push, shaped like ``weight``.
    """
    return update * _heaviside(w_max - weight)


def lower_hard(weight: torch.Tensor, update: torch.Tensor, w_min: Limit) -> torch.Tensor:
    r"""Hard (Heaviside) lower bounding of a downward update.

    .. math::

        \tilde{u} = u \, \Theta(w - w_\min)

    Args:
        weight: current weight :math:`w`.
        update: non-negative downward push :math:`u` (depression magnitude).
        w_min: lower limit :math:`w_\min`, a float or a broadcastable tensor.

    Returns:
        The bounded push, shaped like ``weight``; it is subtracted from the weight.
    """
    return update * _heaviside(weight - w_min)


def upper_soft(weight: torch.Tensor, update: torch.Tensor, w_max: Limit) -> torch.Tensor:
    r"""Soft (multiplicative) upper bounding of an upward update.

    .. math::

        \tilde{u} = u \, (w_\max - w)

    Args:
        weight: current weight :math:`w`.
        update: non-negative upward push :math:`u`.
        w_max: upper limit :math:`w_\max`.

    Returns:
        The bounded push, shaped like ``weight``.
    """
    return update * (w_max - weight)


def lower_soft(weight: torch.Tensor, update: torch.Tensor, w_min: Limit) -> torch.Tensor:
    r"""Soft (multiplicative) lower bounding of a downward update.

    .. math::

        \tilde{u} = u \, (w - w_\min)

    Args:
        weight: current weight :math:`w`.
        update: non-negative downward push :math:`u`.
        w_min: lower limit :math:`w_\min`.

    Returns:
        The bounded push, shaped like ``weight``; it is subtracted from the weight.
    """
    return update * (weight - w_min)


def upper_power(
    weight: torch.Tensor, update: torch.Tensor, w_max: Limit, power: float
) -> torch.Tensor:
    r"""Power-law upper bounding of an upward update.

    .. math::

        \tilde{u} = u \, \operatorname{sgn}(w_\max - w)\, |w_\max - w|^{\mu}

    which is :math:`u\,(w_\max - w)^{\mu}` for a weight below its limit.

    Args:
        weight: current weight :math:`w`.
        update: non-negative upward push :math:`u`.
        w_max: upper limit :math:`w_\max`.
        power: exponent :math:`\mu > 0`.

    Returns:
        The bounded push, shaped like ``weight``.
    """
    return update * _signed_power(w_max - weight, power)


def lower_power(
    weight: torch.Tensor, update: torch.Tensor, w_min: Limit, power: float
) -> torch.Tensor:
    r"""Power-law lower bounding of a downward update.

    .. math::

        \tilde{u} = u \, \operatorname{sgn}(w - w_\min)\, |w - w_\min|^{\mu}

    Args:
        weight: current weight :math:`w`.
        update: non-negative downward push :math:`u`.
        w_min: lower limit :math:`w_\min`.
        power: exponent :math:`\mu > 0`.

    Returns:
        The bounded push, shaped like ``weight``; it is subtracted from the weight.
    """
    return update * _signed_power(weight - w_min, power)


def clamp_weight(weight: torch.Tensor, w_min: Limit | None, w_max: Limit | None) -> torch.Tensor:
    r"""Clamp a weight into :math:`[w_\min, w_\max]` (either limit may be ``None``).

    Returns:
        A new tensor (``weight`` itself when both limits are ``None``).
    """
    if w_min is None and w_max is None:
        return weight
    return torch.clamp(weight, min=w_min, max=w_max)


class Bound:
    r"""A bounding kind: the half-bounding factors :math:`U` and :math:`L`.

    Subclasses implement :meth:`upper` and :meth:`lower`; :meth:`__call__`
    splits signed potentiation and depression into upward and downward pushes
    and applies them (see the module docstring).
    """

    def upper(self, weight: torch.Tensor, update: torch.Tensor, w_max: Limit) -> torch.Tensor:
        """Bound an upward push by the upper limit."""
        raise NotImplementedError

    def lower(self, weight: torch.Tensor, update: torch.Tensor, w_min: Limit) -> torch.Tensor:
        """Bound a downward push by the lower limit."""
        raise NotImplementedError

    def upper_factor_(self, weight: torch.Tensor, w_max: Limit, out: torch.Tensor) -> bool:
        """Write :math:`U(w)` into ``out`` (shaped like ``weight``); ``False`` if this kind cannot."""
        return False

    def lower_factor_(self, weight: torch.Tensor, w_min: Limit, out: torch.Tensor) -> bool:
        """Write :math:`L(w)` into ``out`` (shaped like ``weight``); ``False`` if this kind cannot."""
        return False

    def __call__(
        self,
        weight: torch.Tensor,
        potentiation: torch.Tensor | None,
        depression: torch.Tensor | None,
        w_min: Limit | None,
        w_max: Limit | None,
        *,
        nonnegative: bool = False,
        out: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        r"""The updated weight :math:`w' = w + U(w)(P^+ + D^-) - L(w)(P^- + D^+)`.

        Args:
            weight: current weight :math:`w`.
            potentiation: signed potentiating term :math:`P` (``None`` for zero).
            depression: signed depressing term :math:`D` (``None`` for zero).
            w_min: lower limit, or ``None`` for no lower bounding.
            w_max: upper limit, or ``None`` for no upper bounding.
            nonnegative: the caller guarantees :math:`P \ge 0` and
                :math:`D \ge 0` elementwise, so :math:`P^+ + D^- = P` and
                :math:`P^- + D^+ = D` and the sign split is skipped (same result).
            out: two scratch tensors shaped like ``weight`` (same dtype and
                device, aliasing neither ``weight`` nor a term) that the result
                may be computed in, to avoid allocating; the result is then the
                first of them. Ignored where a kind has no in-place form.

        Returns:
            A tensor shaped like ``weight`` (new, or ``out[0]``); ``weight`` is
            never modified.
        """
        if nonnegative:
            up, down = potentiation, depression
        else:
            up, down = _split(potentiation, depression)
        if up is None and down is None:
            return weight.clone()
        if out is not None:
            result, scratch = out
            if self._combine_into(weight, up, down, w_min, w_max, result, scratch):
                return result
        delta = None
        if up is not None:
            delta = up if w_max is None else self.upper(weight, up, w_max)
        if down is not None:
            lowered = down if w_min is None else self.lower(weight, down, w_min)
            delta = -lowered if delta is None else delta - lowered
        return weight + delta

    def _combine_into(
        self,
        weight: torch.Tensor,
        up: torch.Tensor | None,
        down: torch.Tensor | None,
        w_min: Limit | None,
        w_max: Limit | None,
        result: torch.Tensor,
        scratch: torch.Tensor,
    ) -> bool:
        # The same operations as the allocating path, in the same order (bit-identical results).
        if up is not None:
            if w_max is None:
                result.copy_(up)
            elif self.upper_factor_(weight, w_max, result):
                result.mul_(up)
            else:
                return False
        lowered = None
        if down is not None:
            if w_min is None:
                lowered = down
            else:
                lowered = self._lowered_into(weight, down, w_min, scratch)
                if lowered is None:
                    return False
        if up is None:
            assert lowered is not None
            result.copy_(lowered).neg_()
        elif lowered is not None:
            result.sub_(lowered)
        result.add_(weight)
        return True

    def _lowered_into(
        self, weight: torch.Tensor, down: torch.Tensor, w_min: Limit, out: torch.Tensor
    ) -> torch.Tensor | None:
        """:math:`L(w)` times the downward push into ``out``; ``None`` if this kind cannot."""
        if self.lower_factor_(weight, w_min, out):
            return out.mul_(down)
        return None


def _split(
    potentiation: torch.Tensor | None, depression: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Upward push ``P+ + D-`` and downward push ``P- + D+``, ``None`` for absent terms."""
    up = down = None
    if potentiation is not None:
        up = potentiation.clamp(min=0)
        down = (-potentiation).clamp(min=0)
    if depression is not None:
        d_up = (-depression).clamp(min=0)
        d_down = depression.clamp(min=0)
        up = d_up if up is None else up + d_up
        down = d_down if down is None else down + d_down
    return up, down


@dataclass(frozen=True)
class ClampBound(Bound):
    r"""Apply the update unscaled, then clamp: :math:`w' = \operatorname{clamp}(w + P - D, w_\min, w_\max)`."""

    def upper(self, weight: torch.Tensor, update: torch.Tensor, w_max: Limit) -> torch.Tensor:
        """The push unchanged (the clamp happens after the update)."""
        return update

    def lower(self, weight: torch.Tensor, update: torch.Tensor, w_min: Limit) -> torch.Tensor:
        """The push unchanged (the clamp happens after the update)."""
        return update

    def __call__(
        self,
        weight: torch.Tensor,
        potentiation: torch.Tensor | None,
        depression: torch.Tensor | None,
        w_min: Limit | None,
        w_max: Limit | None,
        *,
        nonnegative: bool = False,
        out: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The clamped updated weight; see :meth:`Bound.__call__` for the arguments."""
        if potentiation is None and depression is None:
            return weight.clone()
        if out is not None:
            result = out[0]
            if potentiation is None:
                result.copy_(depression).neg_()
            elif depression is None:
                result.copy_(potentiation)
            else:
                torch.sub(potentiation, depression, out=result)
            result.add_(weight)
            if w_min is None and w_max is None:
                return result
            return result.clamp_(min=w_min, max=w_max)
        if potentiation is None:
            updated = weight - depression
        elif depression is None:
            updated = weight + potentiation
        else:
            updated = weight + (potentiation - depression)
        return clamp_weight(updated, w_min, w_max)


@dataclass(frozen=True)
class HardBound(Bound):
    r"""Heaviside bounds: :math:`U = \Theta(w_\max - w)`, :math:`L = \Theta(w - w_\min)`."""

    def upper(self, weight: torch.Tensor, update: torch.Tensor, w_max: Limit) -> torch.Tensor:
        """See :func:`upper_hard`."""
        return upper_hard(weight, update, w_max)

    def lower(self, weight: torch.Tensor, update: torch.Tensor, w_min: Limit) -> torch.Tensor:
        """See :func:`lower_hard`."""
        return lower_hard(weight, update, w_min)

    def upper_factor_(self, weight: torch.Tensor, w_max: Limit, out: torch.Tensor) -> bool:
        r""":math:`\Theta(w_\max - w)` into ``out``."""
        torch.neg(weight, out=out).add_(w_max).gt_(0)
        return True

    def lower_factor_(self, weight: torch.Tensor, w_min: Limit, out: torch.Tensor) -> bool:
        r""":math:`\Theta(w - w_\min)` into ``out``."""
        torch.sub(weight, w_min, out=out).gt_(0)
        return True


@dataclass(frozen=True)
class SoftBound(Bound):
    r"""Soft (multiplicative) bounds: :math:`U = w_\max - w`, :math:`L = w - w_\min`."""

    def upper(self, weight: torch.Tensor, update: torch.Tensor, w_max: Limit) -> torch.Tensor:
        """See :func:`upper_soft`."""
        return upper_soft(weight, update, w_max)

    def lower(self, weight: torch.Tensor, update: torch.Tensor, w_min: Limit) -> torch.Tensor:
        """See :func:`lower_soft`."""
        return lower_soft(weight, update, w_min)

    def upper_factor_(self, weight: torch.Tensor, w_max: Limit, out: torch.Tensor) -> bool:
        r""":math:`w_\max - w` into ``out``, in one pass over the weight."""
        if not isinstance(w_max, torch.Tensor):
            # A 0-dim CPU tensor serves any device; the subtraction runs in the weight's
            # dtype, as with a Python scalar (same values).
            w_max = torch.tensor(w_max, dtype=weight.dtype)
        torch.sub(w_max, weight, out=out)
        return True

    def lower_factor_(self, weight: torch.Tensor, w_min: Limit, out: torch.Tensor) -> bool:
        r""":math:`w - w_\min` into ``out``."""
        torch.sub(weight, w_min, out=out)
        return True

    def _lowered_into(
        self, weight: torch.Tensor, down: torch.Tensor, w_min: Limit, out: torch.Tensor
    ) -> torch.Tensor | None:
        if not isinstance(w_min, torch.Tensor) and w_min == 0.0:
            # w - 0 is w exactly (-0.0 included): one pass over the weight less.
            return torch.mul(weight, down, out=out)
        return super()._lowered_into(weight, down, w_min, out)

    def _combine_into(
        self,
        weight: torch.Tensor,
        up: torch.Tensor | None,
        down: torch.Tensor | None,
        w_min: Limit | None,
        w_max: Limit | None,
        result: torch.Tensor,
        scratch: torch.Tensor,
    ) -> bool:
        if (
            up is not None
            and down is not None
            and not isinstance(w_min, torch.Tensor)
            and w_min == 0.0
        ):
            # L(w) = w. Without w_max: w + up - w down, two passes. With it:
            # w + (w_max - w) up - w down = w - w (up + down) + w_max up, three passes
            # instead of five (rounding may differ in the last place).
            if w_max is None:
                torch.addcmul(weight, weight, down, value=-1.0, out=result)
                result.add_(up)
                return True
            torch.add(up, down, out=result)
            torch.addcmul(weight, weight, result, value=-1.0, out=result)
            if isinstance(w_max, torch.Tensor):
                result.addcmul_(up, w_max)
            else:
                result.add_(up, alpha=w_max)
            return True
        return super()._combine_into(weight, up, down, w_min, w_max, result, scratch)


@dataclass(frozen=True)
class PowerBound(Bound):
    r"""Power-law bounds: :math:`U = (w_\max - w)^{\mu_+}`, :math:`L = (w - w_\min)^{\mu_-}`.

    Args:
        power: exponent :math:`\mu_+` of the upper bound (and of the lower one
            unless ``lower_power`` is given); positive and finite.
        lower_power: exponent :math:`\mu_-` of the lower bound; defaults to ``power``.

    Raises:
        ValueError: an exponent is not positive and finite.

    Example::

        PowerBound(0.5)                   # mu+ = mu- = 0.5
        PowerBound(1.0, lower_power=2.0)  # different exponents per side
    """

    power: float = 1.0
    lower_power: float | None = None

    def __post_init__(self) -> None:
        for name in ("power", "lower_power"):
            value = getattr(self, name)
            if value is None and name == "lower_power":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"PowerBound {name} must be a positive float, got {value!r}")
            if not (value > 0 and value != float("inf")):
                raise ValueError(f"PowerBound {name} must be positive and finite, got {value!r}")
            object.__setattr__(self, name, float(value))

    def upper(self, weight: torch.Tensor, update: torch.Tensor, w_max: Limit) -> torch.Tensor:
        """See :func:`upper_power`."""
        return upper_power(weight, update, w_max, self.power)

    def lower(self, weight: torch.Tensor, update: torch.Tensor, w_min: Limit) -> torch.Tensor:
        """See :func:`lower_power`."""
        power = self.power if self.lower_power is None else self.lower_power
        return lower_power(weight, update, w_min, power)


BOUND_NAMES: dict[str, type[Bound]] = {
    "clamp": ClampBound,
    "hard": HardBound,
    "sharp": HardBound,
    "soft": SoftBound,
    "multiplicative": SoftBound,
}
"""Names accepted by :func:`resolve_bound` (power bounds need an exponent: use :class:`PowerBound`)."""


def resolve_bound(bound: str | Bound) -> Bound:
    """Turn a bounding name or instance into a :class:`Bound`.

    Args:
        bound: one of :data:`BOUND_NAMES` or a :class:`Bound` instance.

    Raises:
        ValueError: an unknown name (``"power"`` asks for :class:`PowerBound`).
        TypeError: neither a string nor a :class:`Bound`.
    """
    if isinstance(bound, Bound):
        return bound
    if isinstance(bound, str):
        if bound in BOUND_NAMES:
            return BOUND_NAMES[bound]()
        if bound == "power":
            raise ValueError(
                "bound='power' needs an exponent: pass bound=PowerBound(power=...) instead"
            )
        raise ValueError(
            f"bound must be one of {sorted(BOUND_NAMES)} or a Bound instance "
            f"(e.g. PowerBound(0.5)), got {bound!r}"
        )
    raise TypeError(f"bound must be a string or a Bound instance, got {type(bound).__name__}")


def bounded_update(
    weight: torch.Tensor,
    potentiation: torch.Tensor | None = None,
    depression: torch.Tensor | None = None,
    *,
    bound: str | Bound = "clamp",
    w_min: Limit | None = None,
    w_max: Limit | None = None,
) -> torch.Tensor:
    r"""The weight after a bounded update (pure: ``weight`` is not modified).

    .. math::

        w' = w + U(w)\,(P^+ + D^-) - L(w)\,(P^- + D^+)

    or, for ``bound="clamp"``, :math:`w' = \operatorname{clamp}(w + P - D, w_\min, w_\max)`.

    Args:
        weight: current weight :math:`w`.
        potentiation: signed potentiating term :math:`P`, broadcastable to
            ``weight`` (``None`` for zero).
        depression: signed depressing term :math:`D`, subtracted (``None`` for zero).
        bound: bounding kind, by name or instance (see :func:`resolve_bound`).
        w_min: lower limit (float or broadcastable tensor), ``None`` for none.
        w_max: upper limit, ``None`` for none.

    Returns:
        The new weight, a new tensor shaped like ``weight``.

    Example::

        >>> w = torch.tensor([0.0, 0.5, 1.0])
        >>> bounded_update(w, torch.full((3,), 0.2), bound="soft", w_max=1.0)
        tensor([0.2000, 0.6000, 1.0000])
    """
    return resolve_bound(bound)(weight, potentiation, depression, w_min, w_max)
