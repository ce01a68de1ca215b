r"""Accumulator: collect, reduce, bound and apply the updates of one parameter.

A learning rule hands an :class:`Accumulator` a potentiating term :math:`P` and
a depressing term :math:`D` once per simulation step. The Accumulator reduces
them over the batch (per step) and over time (across steps) and, when asked,
applies

.. math::

    w \leftarrow C\bigl(w + U(w)\,(\bar P^+ + \bar D^-) - L(w)\,(\bar P^- + \bar D^+)\bigr)

where :math:`\bar P, \bar D` are the reduced terms, :math:`U, L` the bounding
factors of :mod:`inferno_lightning.functional.bounding` and :math:`C` the
post-update constraints, in order.

**Sign convention.** :math:`P` and :math:`D` are *signed*; the unbounded change
is :math:`\Delta w = P - D`. An STDP rule passes
:math:`P = \eta_\text{post}\, s_\text{post} \otimes x_\text{pre}` and
:math:`D = \eta_\text{pre}\, x_\text{post} \otimes s_\text{pre}`, so the signs
of the learning rates select the mode:

=================  =========================  =========================
mode               :math:`\eta_\text{post}`   :math:`\eta_\text{pre}`
=================  =========================  =========================
Hebbian            :math:`> 0`                :math:`> 0`
anti-Hebbian       :math:`< 0`                :math:`< 0`
potentiation only  :math:`> 0`                :math:`0` (or :math:`< 0`)
depression only    :math:`0` (or :math:`< 0`) :math:`> 0`
=================  =========================  =========================

Whatever the sign, the part of the change that raises a weight is bounded by
the upper limit and the part that lowers it by the lower limit.

**The protocol.** Every way of applying updates goes through the same
three public steps, so that multi-device training ends with identical
weights on every rank and a failed update writes nothing:

1. :meth:`Accumulator.accumulate` each simulation step; :meth:`Accumulator.pending`
   gives the locally reduced (unbounded) terms;
2. :meth:`Accumulator.prepare` checks the terms (its own, or the ones
   combined across ranks with :attr:`Accumulator.rank_reduction`, see
   :func:`inferno_lightning.learn.flatten_pending`), bounds them with the
   current weight and runs the constraints, writing nothing;
3. :meth:`Accumulator.commit` writes the prepared value (the only place a
   parameter is written) and clears.

:meth:`Accumulator.step` is ``commit(prepare())`` for one process;
:meth:`Updater.step <inferno_lightning.learn.Updater.step>` prepares every
Accumulator of a module before committing any.

**Speed, derived inside.** A rule hands over a
:class:`~inferno_lightning.neural.Correlation` (a lazy, batch-reduced
``post x pre`` product); it knows its sign from its spike factor (no pass
over the weight to find it) and its support (the rows of the neurons that
spiked, the columns of the inputs that did). A step applied alone (updates
every step) is then bounded and written only at those rows and columns
(event-driven); several steps are computed straight into one running sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import nn

from .._validation import host_readable, no_grad
from ..functional.bounding import Bound, ClampBound, SoftBound, resolve_bound
from ..neural.base import Correlation
from .constraints import check_limits

__all__ = ["Accumulator", "PendingUpdate", "PreparedUpdate", "Reduction", "ReductionFn"]

Reduction = Literal["mean", "sum"]
ReductionFn = Callable[[torch.Tensor], torch.Tensor]
_REDUCTIONS = ("mean", "sum")
_TERMS = ("potentiation", "depression")

#: Largest fraction of a weight's elements an event-driven update may touch (the rows of the
#: postsynaptic neurons that spiked, the columns of the inputs that did); beyond it the dense
#: path, whose passes over the whole weight are cheaper than scattered blocks.
EVENT_FRACTION = 0.25


class PendingUpdate(NamedTuple):
    r"""The reduced, unbounded terms of one parameter (``None`` where nothing was given).

    Attributes:
        potentiation: signed potentiating term :math:`\bar P`, shaped like the parameter.
        depression: signed depressing term :math:`\bar D`, shaped like the parameter.
    """

    potentiation: torch.Tensor | None
    depression: torch.Tensor | None


@dataclass(frozen=True, eq=False)
class PreparedUpdate:
    r"""A checked, bounded and constrained new value of one parameter, not written yet.

    Made by :meth:`Accumulator.prepare`, written by :meth:`Accumulator.commit`.
    Either the whole new value (``value``), or, for an event-driven update,
    the new values of the rows and columns it touched (the rest is unchanged).

    Attributes:
        parameter: the tensor it is for.
        value: the whole new value, shaped like ``parameter``, or ``None``.
        rows: indices of the rewritten rows (dim 0), or ``None``.
        row_values: their new values, ``(len(rows), *parameter.shape[1:])``.
        cols: indices of the rewritten columns (last dim), or ``None``.
        col_values: their new values, ``(*parameter.shape[:-1], len(cols))``.
        added: or, for one step's correlations, the ``(P, D)`` correlations
            (``None`` for either) that :meth:`Accumulator.commit` bounds into
            the parameter in place (checked at prepare: no element can
            overflow): with a clamp, :math:`w \leftarrow \operatorname{clamp}(w
            + P - D)` to ``limits``; with soft bounds (both terms, ``w_min =
            0``), :math:`w \leftarrow w - w (P + D) + w_\max P`.
        limits: ``(w_min, w_max)`` of that bound (``None`` for no limit).
        soft: whether ``added`` is bounded softly (else clamped).
    """

    parameter: torch.Tensor
    value: torch.Tensor | None = None
    rows: torch.Tensor | None = None
    row_values: torch.Tensor | None = None
    cols: torch.Tensor | None = None
    col_values: torch.Tensor | None = None
    added: tuple[Correlation | None, Correlation | None] | None = None
    limits: tuple[float | None, float | None] | None = None
    soft: bool = False


def _in_place_magnitude(dtype: torch.dtype) -> float:
    """Largest magnitude of a correlation added into a weight of ``dtype`` in place.

    An eighth of ``max * eps`` is below half an ulp of the largest finite float
    (about 1.0e31 for float32): a finite float plus less than that rounds to a
    finite float, so a weight this Accumulator wrote (finite) stays finite
    after ``+ P`` and then ``- D``.
    """
    info = torch.finfo(dtype)
    return info.max * info.eps / 8


def _union(indices: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Sorted distinct indices of several index tensors (an empty long tensor for none)."""
    if not indices:
        return torch.empty(0, dtype=torch.long, device=device)
    if len(indices) == 1:
        return indices[0]
    return torch.cat(indices).unique()


def _assert_finite(updated: torch.Tensor, name: str) -> None:
    """In a compiled step: the kernel checks the updated weight (no host read), before it is written.

    A failure raises a ``RuntimeError`` (a device-side assert on CUDA) naming the parameter.
    """
    torch._assert_async(
        torch.isfinite(updated).all(),
        f"the updated {name!r} must be finite (a NaN or inf in the update); not written",
    )


def _check_reduction(name: str, value: object, allow: tuple[str, ...]) -> None:
    if isinstance(value, str):
        if value not in allow:
            raise ValueError(f"{name} must be one of {list(allow)!r} or a callable, got {value!r}")
    elif not callable(value):
        raise ValueError(f"{name} must be one of {list(allow)!r} or a callable, got {value!r}")


def _resolve_tensor(module: nn.Module, name: str) -> torch.Tensor:
    if "." not in name:
        # The per-step path: a direct parameter or buffer of the module (no __getattr__).
        target = module._parameters.get(name)
        if target is None:
            target = module._buffers.get(name)
        if target is not None:
            return target
    target: Any = module
    for part in name.split("."):
        target = getattr(target, part, None)
        if target is None:
            break
    if not isinstance(target, torch.Tensor):
        available = [n for n, _ in module.named_parameters()]
        raise AttributeError(
            f"{type(module).__name__} has no parameter or tensor {name!r}; "
            f"its parameters are {available!r}"
        )
    return target


class Accumulator:
    r"""Collects potentiating and depressing updates of one parameter and applies them.

    Each call of :meth:`accumulate` is one simulation step. A term is given
    either shaped like the parameter (already reduced over the batch by the
    rule) or, with ``batched=True``, per sample as ``(batch, *parameter.shape)``
    and reduced here over the batch with ``batch_reduction``. The per-step
    results are reduced over time with ``time_reduction``:

    .. math::

        \bar P = \mathop{\mathrm{R_t}}_{t=1}^{T}\ \mathop{\mathrm{R_b}}_{b=1}^{B} P_{t,b}

    With ``"sum"`` or ``"mean"`` over time the Accumulator keeps one running
    sum per term (memory independent of :math:`T`); a step that gives ``None``
    for a term adds zero to it and still counts as a step for ``"mean"``.

    Args:
        parameter: the tensor to update (an ``nn.Parameter`` or buffer), or its
            name (dotted path allowed) in ``module``; a name is looked up at
            every use, so the Accumulator follows a parameter that was replaced.
        module: the module owning ``parameter`` when it is given by name.
        batch_reduction: ``"mean"`` (default), ``"sum"``, or a picklable
            callable that receives the per-sample term ``(batch, *parameter.shape)``
            of one step and returns a tensor shaped like the parameter.
        time_reduction: ``"sum"`` (default), ``"mean"`` (divide by the number of
            :meth:`accumulate` calls), or a picklable callable that receives
            the stacked per-step terms ``(steps, *parameter.shape)`` (steps that
            gave ``None`` are zeros) and returns a tensor shaped like the
            parameter; a callable keeps every step in memory until cleared.
        bound: bounding kind by name (``"clamp"``, ``"hard"``, ``"soft"``, ...)
            or instance (e.g. ``PowerBound(0.5)``); see
            :mod:`inferno_lightning.functional.bounding`. ``"clamp"`` with
            neither limit leaves updates unbounded.
        w_min: lower limit :math:`w_\min` (float or tensor broadcastable to the
            parameter), ``None`` for none.
        w_max: upper limit :math:`w_\max`, ``None`` for none.
        constraints: post-update constraints run in order on the updated
            weight (e.g. :class:`~inferno_lightning.learn.Normalize`).
        rank_reduction: how the ranks' pending terms combine (``"mean"`` or
            ``"sum"``) so that N ranks equal one process with all samples.
            Derived from string reductions (it equals ``batch_reduction``);
            must be declared when either reduction is a callable, or
            multi-rank flattening refuses this Accumulator.
        name: a label for error messages when ``parameter`` is a tensor.

    Raises:
        ValueError: an unknown reduction or bound, ``w_min > w_max``, a
            non-clamp bound without limits, a limit that does not broadcast to
            the parameter, or a ``rank_reduction`` that contradicts
            ``batch_reduction``.
        TypeError: a parameter that is not a floating-point tensor, a
            constraint that is not callable.
        AttributeError: ``module`` has no tensor called ``parameter``.

    Example::

        linear = torch.nn.Linear(784, 100, bias=False)
        acc = Accumulator("weight", module=linear, bound="soft", w_min=0.0, w_max=1.0)
        for t in range(steps):
            acc.accumulate(potentiation=ltp_t, depression=ltd_t, batched=True)
        acc.step()   # one process: prepare() then commit(); see flatten_pending for several
    """

    def __init__(
        self,
        parameter: torch.Tensor | str,
        *,
        module: nn.Module | None = None,
        batch_reduction: Reduction | ReductionFn = "mean",
        time_reduction: Reduction | ReductionFn = "sum",
        bound: str | Bound = "clamp",
        w_min: float | torch.Tensor | None = None,
        w_max: float | torch.Tensor | None = None,
        constraints: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
        rank_reduction: Reduction | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(parameter, str):
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"module must be the nn.Module owning parameter {parameter!r}, "
                    f"got {type(module).__name__}"
                )
            _resolve_tensor(module, parameter)
            self._module: nn.Module | None = module
            self._tensor: torch.Tensor | None = None
            self.name = parameter
        elif isinstance(parameter, torch.Tensor):
            if module is not None:
                raise TypeError("module is only used with a parameter given by name")
            if name is not None and not isinstance(name, str):
                raise TypeError(f"name must be a str label or None, got {name!r}")
            self._module = None
            self._tensor = parameter
            self.name = name if name is not None else "parameter"
        else:
            raise TypeError(
                f"parameter must be a tensor or the name of one in module, got {type(parameter).__name__}"
            )
        param = self.parameter
        if not param.is_floating_point():
            raise TypeError(
                f"parameter {self.name!r} must be a floating-point tensor, got dtype {param.dtype}"
            )

        _check_reduction("batch_reduction", batch_reduction, _REDUCTIONS)
        _check_reduction("time_reduction", time_reduction, _REDUCTIONS)
        if rank_reduction is not None and rank_reduction not in _REDUCTIONS:
            raise ValueError(
                f"rank_reduction must be one of {list(_REDUCTIONS)!r} or None, got {rank_reduction!r}"
            )
        if (
            rank_reduction is not None
            and isinstance(batch_reduction, str)
            and isinstance(time_reduction, str)
            and rank_reduction != batch_reduction
        ):
            raise ValueError(
                f"rank_reduction={rank_reduction!r} contradicts batch_reduction={batch_reduction!r}: "
                "ranks must combine the way the batch is reduced (leave rank_reduction=None)"
            )
        self.batch_reduction = batch_reduction
        self.time_reduction = time_reduction
        self._rank_reduction = rank_reduction

        self.bound: Bound = resolve_bound(bound)
        check_limits(w_min, w_max)
        if w_min is None and w_max is None and not isinstance(self.bound, ClampBound):
            raise ValueError(
                f"bound={self.bound!r} needs w_min, w_max or both; got neither "
                "(use bound='clamp' for unbounded updates)"
            )
        for limit_name, limit in (("w_min", w_min), ("w_max", w_max)):
            if isinstance(limit, torch.Tensor):
                try:
                    shape = torch.broadcast_shapes(tuple(limit.shape), tuple(param.shape))
                except RuntimeError:
                    shape = None
                if shape != tuple(param.shape):
                    raise ValueError(
                        f"{limit_name} must be a float or a tensor broadcastable to the shape "
                        f"{tuple(param.shape)} of parameter {self.name!r}, got shape {tuple(limit.shape)}"
                    )
        self.w_min = float(w_min) if isinstance(w_min, int | float) else w_min
        self.w_max = float(w_max) if isinstance(w_max, int | float) else w_max

        if isinstance(constraints, str) or not isinstance(constraints, Sequence):
            raise TypeError(
                "constraints must be a sequence (list or tuple) of callables, e.g. "
                f"[Normalize(78.0)], got {constraints!r}"
            )
        for index, constraint in enumerate(constraints):
            if not callable(constraint):
                raise TypeError(f"constraints[{index}] must be callable, got {constraint!r}")
        self.constraints = tuple(constraints)

        self._steps = 0
        # Running sums (linear time reductions): preallocated on first use, reused after clear().
        self._sums: list[torch.Tensor | None] = [None, None]
        self._present = [False, False]
        # A step's correlation held unevaluated (first step after a clear only).
        self._lazy: list[Correlation | None] = [None, None]
        # Whether every term accumulated since the last clear is known non-negative.
        self._nonnegative = [True, True]
        # (id, version) of the parameter when this Accumulator last wrote it (finite; for a clamp,
        # within its limits).
        self._within: tuple[int, int] | None = None
        # (id, version) of the parameter when it was last known within [w_min, w_max].
        self._in_limits: tuple[int, int] | None = None
        # Per-step terms (callable time reduction only).
        self._history: list[list[torch.Tensor | None]] = [[], []]
        # Two weight-shaped work tensors the bounded weight is computed in (no allocation per apply).
        self._work: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ info

    @property
    def parameter(self) -> torch.Tensor:
        """The tensor this Accumulator updates (looked up by name each time)."""
        if self._module is not None:
            return _resolve_tensor(self._module, self.name)
        assert self._tensor is not None
        return self._tensor

    @property
    def rank_reduction(self) -> Reduction | None:
        """How ranks combine their pending terms: ``"mean"``, ``"sum"``, or ``None`` if unknown.

        ``None`` only when a reduction is a user callable and no
        ``rank_reduction`` was declared; multi-rank flattening refuses it.
        """
        if self._rank_reduction is not None:
            return self._rank_reduction
        if isinstance(self.batch_reduction, str) and isinstance(self.time_reduction, str):
            return self.batch_reduction
        return None

    @property
    def steps(self) -> int:
        """Number of :meth:`accumulate` calls since the last clear."""
        return self._steps

    def __repr__(self) -> str:
        return (
            f"Accumulator({self.name!r}, batch_reduction={self.batch_reduction!r}, "
            f"time_reduction={self.time_reduction!r}, bound={self.bound!r}, "
            f"w_min={self.w_min!r}, w_max={self.w_max!r}, constraints={self.constraints!r})"
        )

    # ------------------------------------------------------------ accumulate

    def accumulate(
        self,
        potentiation: torch.Tensor | Correlation | None = None,
        depression: torch.Tensor | Correlation | None = None,
        *,
        batched: bool = False,
    ) -> None:
        r"""Add one simulation step's terms.

        Call once per simulation step (sum several terms of one step first),
        on every rank, so that ``time_reduction="mean"`` divides by the same
        number of steps everywhere. The inputs are detached; no autograd graph
        is kept, and a tensor passed in may be reused by the caller (it is
        copied or added, never kept).

        Args:
            potentiation: signed potentiating term :math:`P_t` (``None`` for zero):
                a tensor, or a :class:`~inferno_lightning.neural.Correlation`
                (already reduced over the batch). A correlation is held
                unevaluated until the next step or :meth:`prepare`: then it
                is computed straight into the running sum, or, when the
                update is applied after this one step, only at the rows and
                columns of the neurons that spiked (event-driven).
            depression: signed depressing term :math:`D_t`, subtracted (``None`` for zero).
            batched: ``False``: terms are shaped like the parameter (the rule
                reduced the batch itself). ``True``: terms are per sample,
                ``(batch, *parameter.shape)``, and are reduced here with
                ``batch_reduction``. Never guessed from the shape.

        Raises:
            TypeError: a term is not a floating-point tensor.
            ValueError: a term has the wrong shape or device, or a
                ``batch_reduction`` callable returned the wrong shape; nothing
                is accumulated.
        """
        if not isinstance(batched, bool):
            raise TypeError(f"batched must be a bool (True or False), got {batched!r}")
        param = self.parameter
        reduced = [
            None if value is None else self._reduce_batch(term, value, param, batched)
            for term, value in zip(_TERMS, (potentiation, depression), strict=True)
        ]
        # A string batch reduction makes a new tensor the caller never sees; a callable's
        # result may alias its input.
        fresh = batched and isinstance(self.batch_reduction, str)
        self._steps += 1
        for index, value in enumerate(reduced):
            if value is None:
                if callable(self.time_reduction):
                    self._history[index].append(None)  # a zero step, stacked as zeros
                continue
            self._add(index, value, param.dtype, fresh)

    def _reduce_batch(
        self, term: str, value: torch.Tensor | Correlation, param: torch.Tensor, batched: bool
    ) -> torch.Tensor | Correlation:
        shape = tuple(param.shape)
        if isinstance(value, Correlation):
            if batched:
                raise ValueError(
                    f"{term} is a Correlation, already reduced over the batch: pass batched=False"
                )
            if tuple(value.shape) != shape or value.device != param.device:
                raise ValueError(
                    f"{term} for parameter {self.name!r} must have shape {shape} on {param.device}, "
                    f"got a Correlation of shape {tuple(value.shape)} on {value.device}"
                )
            if not value.dtype.is_floating_point:
                raise TypeError(f"{term} must be floating-point, got dtype {value.dtype}")
            return value
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{term} must be a tensor or None, got {type(value).__name__}")
        if not value.is_floating_point():
            raise TypeError(f"{term} must be a floating-point tensor, got dtype {value.dtype}")
        if value.device != param.device:
            raise ValueError(
                f"{term} is on {value.device} but parameter {self.name!r} is on {param.device}"
            )
        value = value.detach()
        if not batched:
            if tuple(value.shape) != shape:
                hint = (
                    "; pass batched=True for per-sample terms"
                    if tuple(value.shape[1:]) == shape
                    else ""
                )
                raise ValueError(
                    f"{term} for parameter {self.name!r} must have shape {shape}, "
                    f"got {tuple(value.shape)}{hint}"
                )
            return value
        if value.dim() != len(shape) + 1 or tuple(value.shape[1:]) != shape or value.shape[0] == 0:
            raise ValueError(
                f"{term} for parameter {self.name!r} with batched=True must have shape "
                f"(batch, {', '.join(str(d) for d in shape)}), got {tuple(value.shape)}"
            )
        if self.batch_reduction == "mean":
            return value.mean(dim=0)
        if self.batch_reduction == "sum":
            return value.sum(dim=0)
        out = self.batch_reduction(value)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"batch_reduction {self.batch_reduction!r} must return a tensor of shape {shape} "
                f"for {term} of parameter {self.name!r}, got {got}"
            )
        return out

    def _add(
        self,
        index: int,
        value: torch.Tensor | Correlation,
        param_dtype: torch.dtype,
        fresh: bool = False,
    ) -> None:
        if isinstance(value, Correlation):
            if isinstance(self.time_reduction, str) and value.dtype == torch.promote_types(
                param_dtype, value.dtype
            ):
                if not self._present[index]:
                    # Held unevaluated: a step applied alone may touch only its support.
                    # Its sign is read when needed (_evaluate, or prepare).
                    value.keep()
                    self._lazy[index] = value
                    self._present[index] = True
                    return
                self._evaluate(index)
                # Summed over steps: the signs are measured once, at prepare, where a bound
                # needs them (cheaper than reading each step's factors).
                self._nonnegative[index] = False
                buffer = self._sums[index]
                assert buffer is not None
                if buffer.device != value.device:
                    buffer = self._sums[index] = buffer.to(value.device)
                value.add_to_(buffer)
                return
            self._track_sign(index, value)
            value, fresh = value.tensor(), True
        else:
            # Tensors are measured at prepare, where a bound needs their signs.
            self._nonnegative[index] = False
        if callable(self.time_reduction):
            # Copy: a rule may hand over a tensor it keeps updating in place.
            dtype = torch.promote_types(param_dtype, value.dtype)
            self._history[index].append(value.to(dtype, copy=True))
            return
        dtype = torch.promote_types(param_dtype, value.dtype)
        buffer = self._sums[index]
        if not self._present[index]:
            if fresh and value.dtype == dtype and value.is_contiguous():
                # Made here, seen by nobody else: keep it as the running sum, no copy.
                self._sums[index] = value
            elif (
                buffer is not None
                and buffer.shape == value.shape
                and buffer.dtype == dtype
                and buffer.device == value.device
            ):
                buffer.copy_(value)
            else:
                self._sums[index] = value.to(dtype, copy=True)
            self._present[index] = True
        else:
            self._evaluate(index)
            buffer = self._sums[index]
            assert buffer is not None
            if buffer.device != value.device:
                buffer = self._sums[index] = buffer.to(value.device)
            buffer.add_(value)

    def _track_sign(self, index: int, value: Correlation) -> None:
        # Only a correlation knows its sign without a pass over the weight (on CPU, from
        # its small factors).
        if self._nonnegative[index] and not value.nonnegative:
            self._nonnegative[index] = False

    def _evaluate(self, index: int) -> None:
        """Compute a held correlation into the running sum (reusing its buffer)."""
        value = self._lazy[index]
        if value is None:
            return
        self._lazy[index] = None
        self._track_sign(index, value)
        buffer = self._sums[index]
        if (
            buffer is not None
            and buffer.shape == value.shape
            and buffer.dtype == value.dtype
            and buffer.device == value.device
        ):
            value.write_(buffer)
        else:
            self._sums[index] = value.tensor()

    # --------------------------------------------------------------- pending

    def pending(self, *, copy: bool = True) -> PendingUpdate | None:
        r"""The locally reduced, unbounded terms :math:`(\bar P, \bar D)`.

        Args:
            copy: ``True`` (default): new tensors the caller owns. ``False``:
                the running sums themselves where the time reduction is a
                sum, read-only and valid until the next :meth:`accumulate` or
                :meth:`clear` (what :func:`~inferno_lightning.learn.flatten_pending`
                packs without a copy).

        Returns:
            A :class:`PendingUpdate` with tensors shaped like the parameter
            (``None`` for a term never given), or ``None`` when no term was
            given since the last clear.

        Raises:
            ValueError: a ``time_reduction`` callable returned the wrong shape.
        """
        if self._steps == 0:
            return None
        terms = [self._reduce_time(index, copy) for index in range(2)]
        if terms[0] is None and terms[1] is None:
            return None
        return PendingUpdate(*terms)

    def _reduce_time(self, index: int, copy: bool = True) -> torch.Tensor | None:
        if isinstance(self.time_reduction, str):
            if not self._present[index]:
                return None
            self._evaluate(index)
            total = self._sums[index]
            assert total is not None
            if self.time_reduction == "mean":
                return total / self._steps
            return total.clone() if copy else total
        history = self._history[index]
        first = next((h for h in history if h is not None), None)
        if first is None:
            return None
        stacked = torch.stack([torch.zeros_like(first) if h is None else h for h in history])
        out = self.time_reduction(stacked)
        shape = tuple(self.parameter.shape)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"time_reduction {self.time_reduction!r} must return a tensor of shape {shape} "
                f"for {_TERMS[index]} of parameter {self.name!r}, got {got}"
            )
        return out

    def clear(self) -> None:
        """Forget everything accumulated since the last clear (running sums are kept allocated)."""
        self._steps = 0
        self._present = [False, False]
        self._lazy = [None, None]
        self._nonnegative = [True, True]
        self._history = [[], []]

    # -------------------------------------------------- prepare, commit, step

    def _limit(
        self, limit: float | torch.Tensor | None, like: torch.Tensor
    ) -> float | torch.Tensor | None:
        if isinstance(limit, torch.Tensor):
            return limit.to(device=like.device, dtype=like.dtype)
        return limit

    def prepare(
        self,
        terms: PendingUpdate | tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
        *,
        start: torch.Tensor | None = None,
    ) -> PreparedUpdate | None:
        r"""Check, bound and constrain an update without writing the parameter.

        .. math::

            w' = C\bigl(w + U(w)\,(P^+ + D^-) - L(w)\,(P^- + D^+)\bigr)

        Everything that can fail is done here (shapes, dtypes, NaN/inf in the
        terms or in the result), so that :meth:`commit` cannot fail and a
        failed update writes nothing.

        Args:
            terms: reduced signed ``(potentiation, depression)`` shaped like
                the parameter (e.g. from :meth:`pending`, or after the
                cross-rank reduction), ``None`` for either; or ``None``
                (default) for this Accumulator's own pending terms. Its own
                terms of a single step whose correlations have a small
                support (sparse spikes, on CPU) are bounded only at the rows
                and columns of the neurons that spiked: the same result,
                elementwise bounds being the identity where both terms are
                zero (for ``"clamp"``, while the weight is within its limits,
                which this Accumulator's last write left it).
            start: the weight to bound from instead of the parameter's value
                (several Accumulators of one parameter, applied in turn).

        Returns:
            The :class:`PreparedUpdate`, or ``None`` when there are no terms
            (then the constraints do not run either).

        Raises:
            TypeError: a term is not a floating-point tensor.
            ValueError: a term has the wrong shape or holds NaN/inf, or the
                bounded, constrained weight is not finite. Nothing is written,
                and the pending terms are kept.
        """
        param = self.parameter
        if terms is None:
            if self._steps == 0:
                return None
            held = self._held_step() if start is None else None
            if held is not None:
                fast = None
                if isinstance(self.bound, ClampBound):
                    # Added into the weight where they land (at their spikes), then clamped.
                    fast = self._prepare_in_place(param, held)
                if fast is None:
                    fast = self._prepare_events(param, held)
                if fast is None and isinstance(self.bound, SoftBound):
                    fast = self._prepare_soft_in_place(param, held)
                if fast is None:
                    fast = self._prepare_clamped(param, held)
                if fast is not None:
                    return fast
            own = self.pending(copy=False)
            if own is None:
                return None
            known_nonnegative = isinstance(self.time_reduction, str) and all(
                flag
                for flag, present in zip(self._nonnegative, self._present, strict=True)
                if present
            )
            return self._prepare_dense(param, tuple(own), start, known_nonnegative)
        if not isinstance(terms, tuple) or len(terms) != 2:
            raise TypeError(
                "terms must be a (potentiation, depression) pair or None, "
                f"got {type(terms).__name__}"
            )
        return self._prepare_dense(param, tuple(terms), start, False)

    def commit(self, prepared: PreparedUpdate) -> None:
        r"""Write a :meth:`prepare`\ d update into the parameter, then clear.

        The one place a parameter is written (in place, under ``no_grad``,
        keeping its identity).

        Raises:
            ValueError: ``prepared`` was prepared for another tensor.
        """
        param = self.parameter
        if not isinstance(prepared, PreparedUpdate) or prepared.parameter is not param:
            raise ValueError(
                f"prepared must be a PreparedUpdate of parameter {self.name!r} from prepare()"
            )
        with no_grad():
            if prepared.value is not None:
                param.copy_(prepared.value)
            elif prepared.added is not None and prepared.soft:
                # w - w (P + D) + w_max P, as SoftBound computes it, into the weight itself.
                potentiation, depression = prepared.added
                assert potentiation is not None and depression is not None
                up, both = self._work_tensors(param)
                potentiation.write_(up)
                depression.write_(both).add_(up)
                torch.addcmul(param, param, both, value=-1.0, out=param)
                param.add_(up, alpha=prepared.limits[1])
                self._in_limits = (id(param), param._version)
            elif prepared.added is not None:
                # w + P - D accumulated into the weight itself (the products' own passes),
                # then clamped: no work tensor and no copy.
                potentiation, depression = prepared.added
                if potentiation is not None:
                    potentiation.add_to_(param)
                if depression is not None:
                    depression.add_to_(param, alpha=-1.0)
                w_min, w_max = prepared.limits or (None, None)
                if w_min is not None or w_max is not None:
                    param.clamp_(min=w_min, max=w_max)
                    if w_min is not None and w_max is not None:
                        self._in_limits = (id(param), param._version)
            else:
                # Columns first: the rows were bounded from the same old weight and hold the
                # elements both touch.
                if prepared.cols is not None and prepared.cols.numel():
                    values = prepared.col_values
                    if param.dim() == 2:
                        # Whole rows of the transpose (see _prepare_events).
                        param.t().index_copy_(0, prepared.cols, values.t())
                    else:
                        param.index_copy_(-1, prepared.cols, values)
                if prepared.rows is not None and prepared.rows.numel():
                    param.index_copy_(0, prepared.rows, prepared.row_values)
        self._within = (id(param), param._version)
        self.clear()

    def step(
        self, terms: PendingUpdate | tuple[torch.Tensor | None, torch.Tensor | None] | None = None
    ) -> bool:
        """:meth:`prepare`, then :meth:`commit`: apply the given terms, or this rank's own.

        Args:
            terms: ``(potentiation, depression)`` as in :meth:`prepare`;
                ``None`` (default) for this Accumulator's own pending terms
                (one process).

        Returns:
            ``True`` if the parameter was written; ``False`` (and cleared)
            when there was nothing to apply.

        Raises:
            TypeError, ValueError: as :meth:`prepare`; nothing is written.
        """
        prepared = self.prepare(terms)
        if prepared is None:
            self.clear()
            return False
        self.commit(prepared)
        return True

    def _held_step(self) -> list[Correlation | None] | None:
        """``[P, D]``: one step's correlations, all held unevaluated, with no constraint to run.

        ``None`` when the fast paths do not apply (several steps, a tensor
        term, constraints): the general path then evaluates the sums.
        """
        if self._steps != 1 or self.constraints:
            return None
        held = [self._lazy[index] if self._present[index] else None for index in range(2)]
        if any(p and h is None for p, h in zip(self._present, held, strict=True)):
            return None
        return held

    def _prepare_events(
        self, param: torch.Tensor, held: list[Correlation | None]
    ) -> PreparedUpdate | None:
        """The event-driven update of one step's correlations, or ``None`` for the dense path."""
        if (
            param.dim() != 2
            or isinstance(self.w_min, torch.Tensor)
            or isinstance(self.w_max, torch.Tensor)
            or not host_readable(param.device)
        ):
            return None
        clamps = isinstance(self.bound, ClampBound) and (
            self.w_min is not None or self.w_max is not None
        )
        if clamps and self._within != (id(param), param._version):
            return None  # the weight may lie outside the limits: one dense clamp first
        rows: list[torch.Tensor] = []
        cols: list[torch.Tensor] = []
        # Terms limited to some columns (every row); the others are limited to some rows.
        column_terms: list[Correlation | None] = [None, None]
        out_size, in_size = param.shape
        budget = int(EVENT_FRACTION * param.numel())
        for index, term in enumerate(held):
            if term is None:
                continue
            term_rows, term_cols = term.support(budget)
            if term_rows is not None:
                rows.append(term_rows)
                budget -= term_rows.numel() * in_size
            elif term_cols is not None:
                cols.append(term_cols)
                column_terms[index] = term
                budget -= term_cols.numel() * out_size
            else:
                return None
            if budget < 0:
                return None
        row_index = _union(rows, param.device)
        col_index = _union(cols, param.device)
        # A clamp needs no signs; other bounds split the small blocks by sign unless known.
        nonnegative = isinstance(self.bound, ClampBound) or all(
            term.nonnegative for term in held if term is not None
        )
        row_values = col_values = None
        with no_grad():
            # The columns' new values from the old weight: a row-limited term is zero there
            # except in its rows, whose new values (all terms) are written after, over them.
            if col_index.numel():
                # Gathered through the transpose: whole rows of it, contiguous (a strided
                # gather of columns costs twice as much); the values keep that layout, so the
                # commit writes them back the same way.
                block = param.t().index_select(0, col_index).t()
                p, d = (None if t is None else t.block(cols=col_index) for t in column_terms)
                col_values = self.bound(
                    block, p, d, self.w_min, self.w_max, nonnegative=nonnegative
                )
            if row_index.numel():
                block = param.index_select(0, row_index)
                p, d = (None if t is None else t.block(rows=row_index) for t in held)
                row_values = self.bound(
                    block, p, d, self.w_min, self.w_max, nonnegative=nonnegative
                )
            if row_values is not None and col_values is not None:
                total = row_values.sum() + col_values.sum()
            else:
                written = row_values if row_values is not None else col_values
                total = None if written is None else written.sum()
            if total is not None and not math.isfinite(total.item()):
                return None  # the dense path names the culprit
        return PreparedUpdate(param, None, row_index, row_values, col_index, col_values)

    def _prepare_clamped(
        self, param: torch.Tensor, held: list[Correlation | None]
    ) -> PreparedUpdate | None:
        """``clamp(w + P - D)`` of one step's correlations computed into one work tensor, or ``None``.

        The products go straight into the result (no tensor per term, no sign
        pass: a clamp needs none). ``None`` where it does not apply, or when
        the result is not finite (the general path then names the culprit).
        """
        if not isinstance(self.bound, ClampBound) or any(
            h is not None and h.dtype != param.dtype for h in held
        ):
            return None
        potentiation, depression = held
        with no_grad():
            result = self._work_tensors(param)[0]
            if potentiation is not None:
                potentiation.write_(result)
                if depression is not None:
                    depression.add_to_(result, alpha=-1.0)
            else:
                assert depression is not None
                depression.write_(result).neg_()
            result.add_(param)
            w_min, w_max = self._limit(self.w_min, result), self._limit(self.w_max, result)
            if w_min is not None or w_max is not None:
                result.clamp_(min=w_min, max=w_max)
            if torch.compiler.is_compiling():
                _assert_finite(result, self.name)
            elif not math.isfinite(result.sum().item()):
                return None
        return PreparedUpdate(param, result)

    def _prepare_in_place(
        self, param: torch.Tensor, held: list[Correlation | None]
    ) -> PreparedUpdate | None:
        """``clamp(w + P - D)`` of one step's correlations, to be added into the weight at commit.

        Only while the weight is as this Accumulator last wrote it (finite), on
        a host-readable device, with scalar limits, and with each correlation
        bounded (:meth:`~inferno_lightning.neural.Correlation.magnitude`, from
        its small factors) below :func:`_in_place_magnitude`: adding less than
        half an ulp of the largest float to a finite float never overflows, so
        the result is finite and commit cannot fail. ``None`` otherwise (the
        work-tensor path checks the result itself).
        """
        limits = (self.w_min, self.w_max)
        if (
            not host_readable(param.device)
            or self._within != (id(param), param._version)
            or any(isinstance(limit, torch.Tensor) for limit in limits)
            or any(term is not None and term.dtype != param.dtype for term in held)
        ):
            return None
        largest = _in_place_magnitude(param.dtype)
        for term in held:
            if term is not None and not term.magnitude() <= largest:
                return None  # not finite, or large: the checked path (it names the culprit)
        return PreparedUpdate(param, added=(held[0], held[1]), limits=limits)

    def _prepare_soft_in_place(
        self, param: torch.Tensor, held: list[Correlation | None]
    ) -> PreparedUpdate | None:
        r"""Soft bounds of one step's correlations, to be computed into the weight at commit.

        With ``w_min = 0``: :math:`w' = w - w (P + D) + w_\max P`, a convex
        combination of :math:`w`, 0 and :math:`w_\max` when :math:`P, D \ge 0`
        and :math:`P + D \le 1`, so a weight within :math:`[0, w_\max]` stays
        there (finite): commit cannot fail and writes no copy. Only for both
        terms present and known non-negative, their magnitudes summing to at
        most 1, scalar limits, a weight this Accumulator wrote (finite) and
        known within its limits (read once, with one pass, when not known), on
        a host-readable device. ``None`` otherwise.
        """
        potentiation, depression = held
        w_min, w_max = self.w_min, self.w_max
        if (
            potentiation is None
            or depression is None
            or isinstance(w_min, torch.Tensor)
            or isinstance(w_max, torch.Tensor)
            or w_min != 0.0
            or w_max is None
            or not math.isfinite(w_max)
            or not host_readable(param.device)
            or self._within != (id(param), param._version)
            or any(term.dtype != param.dtype for term in (potentiation, depression))
            or not (potentiation.nonnegative and depression.nonnegative)
            or not potentiation.magnitude() + depression.magnitude() <= 1.0
        ):
            return None
        if self._in_limits != (id(param), param._version):
            low, high = torch.aminmax(param.detach())
            if not (float(low) >= 0.0 and float(high) <= w_max):
                return None
            self._in_limits = (id(param), param._version)
        return PreparedUpdate(
            param, added=(potentiation, depression), limits=(0.0, w_max), soft=True
        )

    def _prepare_dense(
        self,
        param: torch.Tensor,
        given: tuple[torch.Tensor | None, ...],
        start: torch.Tensor | None,
        known_nonnegative: bool,
    ) -> PreparedUpdate | None:
        shape = tuple(param.shape)
        terms: list[torch.Tensor | None] = []
        for term, value in zip(_TERMS, given, strict=True):
            if value is None:
                terms.append(None)
                continue
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                raise TypeError(
                    f"{term} for parameter {self.name!r} must be a floating-point tensor or None, "
                    f"got {type(value).__name__}"
                    + (f" of dtype {value.dtype}" if isinstance(value, torch.Tensor) else "")
                )
            if tuple(value.shape) != shape:
                raise ValueError(
                    f"{term} for parameter {self.name!r} must have the parameter's shape {shape}, "
                    f"got {tuple(value.shape)}; the parameter is unchanged"
                )
            terms.append(value.detach().to(device=param.device, dtype=param.dtype))
        if terms[0] is None and terms[1] is None:
            return None
        with no_grad():
            current = param.detach() if start is None else start
            # One read of each term gives both its finiteness and its sign: min and max
            # are finite exactly when every element is (NaN propagates), and
            # non-negative terms need no sign split.
            compiling = torch.compiler.is_compiling()
            if known_nonnegative or compiling:
                # A NaN or inf in a term reaches the result, whose check below catches it.
                # Compiled, signs are not read (no host read in the graph): split elementwise.
                terms_finite, nonnegative = True, known_nonnegative
            else:
                present = [t for t in terms if t is not None]
                extremes = torch.stack([v for t in present for v in torch.aminmax(t)]).tolist()
                terms_finite = all(math.isfinite(v) for v in extremes)
                nonnegative = terms_finite and all(v >= 0 for v in extremes[0::2])
            updated = self.bound(
                current,
                terms[0],
                terms[1],
                self._limit(self.w_min, current),
                self._limit(self.w_max, current),
                nonnegative=nonnegative,
                out=self._work_tensors(current),
            )
            for index, constraint in enumerate(self.constraints):
                updated = constraint(updated)
                if not isinstance(updated, torch.Tensor) or tuple(updated.shape) != shape:
                    raise ValueError(
                        f"constraints[{index}] ({constraint!r}) must return a tensor of shape {shape}"
                    )
            if compiling:
                _assert_finite(updated, self.name)
                return PreparedUpdate(param, updated)
            # A finite sum means every element is finite (NaN and inf propagate through a
            # sum); a non-finite sum may be an overflow, so then every element is checked.
            if terms_finite and math.isfinite(updated.sum().item()):
                return PreparedUpdate(param, updated)
            checked = [(term, t) for term, t in zip(_TERMS, terms, strict=True) if t is not None]
            checked.append(("the bounded and constrained weight", updated))
            finite = torch.stack([torch.isfinite(t).all() for _, t in checked]).tolist()
            for (term, t), ok in zip(checked, finite, strict=True):
                if not ok:
                    raise ValueError(
                        f"{term} for parameter {self.name!r} must be finite, got "
                        f"{int((~torch.isfinite(t)).sum())} NaN or infinite value(s); "
                        "the parameter is unchanged"
                    )
        return PreparedUpdate(param, updated)

    def _work_tensors(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        work = self._work
        if (
            work is None
            or work[0].shape != like.shape
            or work[0].dtype != like.dtype
            or work[0].device != like.device
        ):
            work = self._work = (torch.empty_like(like), torch.empty_like(like))
        elif like is work[0] or like is work[1]:
            # Chained Accumulators of one parameter: bound from the previous result elsewhere.
            work = (torch.empty_like(like), torch.empty_like(like))
        return work

    def __getstate__(self) -> dict[str, Any]:
        # Work tensors are scratch: never pickled (checkpoints, DDP spawn, deepcopy).
        self._evaluate(0)
        self._evaluate(1)
        state = self.__dict__.copy()
        state["_work"] = None
        state["_within"] = None
        state["_in_limits"] = None
        return state

    # ----------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """The running state (steps, running sums or per-step history) for checkpoints."""
        self._evaluate(0)
        self._evaluate(1)
        sums = [
            t if present else None for t, present in zip(self._sums, self._present, strict=True)
        ]
        return {
            "steps": self._steps,
            "sums": sums,
            "history": [list(h) for h in self._history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the running state saved by :meth:`state_dict` (moved to the parameter's device).

        Raises:
            ValueError: the state does not fit this Accumulator's parameter.
        """
        param = self.parameter
        shape = tuple(param.shape)
        try:
            steps = state["steps"]
            sums = list(state["sums"])
            history = [list(h) for h in state["history"]]
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"state for accumulator {self.name!r} must have 'steps', 'sums' and 'history'"
            ) from error
        if isinstance(steps, torch.Tensor) and steps.numel() == 1 and not steps.is_floating_point():
            steps = steps.item()
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(
                f"state for accumulator {self.name!r}: 'steps' must be a non-negative int, "
                f"got {steps!r}"
            )
        if len(sums) != 2 or len(history) != 2:
            raise ValueError(
                f"state for accumulator {self.name!r}: 'sums' and 'history' must have two "
                f"entries each (potentiation, depression), got {len(sums)} and {len(history)}"
            )
        tensors = [t for t in sums if t is not None] + [
            t for h in history for t in h if t is not None
        ]
        for t in tensors:
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
                raise ValueError(
                    f"saved running state of accumulator {self.name!r} does not match the "
                    f"parameter shape {shape}"
                )

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(param.device)

        self._steps = steps
        self._lazy = [None, None]
        self._present = [t is not None for t in sums]
        self._nonnegative = [False, False]  # not saved: measured again at apply
        self._sums = [
            move(t) if t is not None else old for t, old in zip(sums, self._sums, strict=True)
        ]
        self._history = [[move(t) for t in h] for h in history]

    def transform_state(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Apply ``fn`` (e.g. a device move from ``nn.Module.to``) to the running state and limits."""
        self._evaluate(0)
        self._evaluate(1)
        self._sums = [None if t is None else fn(t) for t in self._sums]
        self._history = [[None if t is None else fn(t) for t in h] for h in self._history]
        self._work = None
        for attr in ("w_min", "w_max"):
            value = getattr(self, attr)
            if isinstance(value, torch.Tensor):
                setattr(self, attr, fn(value))
