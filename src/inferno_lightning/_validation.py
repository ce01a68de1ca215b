"""Argument checks shared by every public constructor and ``forward``.

Each check raises before any state changes, with a message that names the
argument, the value received and the value expected (DESIGN.md invariant 6).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from numbers import Real

import torch

from .functional.traces import trace_decay as exp_decay

__all__ = [
    "as_shape",
    "check_finite",
    "require_finite",
    "host_readable",
    "FiniteChecks",
    "deferred_finite_checks",
    "check_input",
    "check_choice",
    "positive",
    "nonnegative",
    "as_parameter_tensor",
    "check_greater",
    "finite",
    "as_float",
    "flag",
    "exp_decay",
]


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return f"{value.item()!r}"
        return f"a tensor of shape {tuple(value.shape)}"
    return repr(value)


def as_shape(name: str, shape: int | Sequence[int]) -> tuple[int, ...]:
    """Normalise a shape argument to a tuple of positive ints.

    Raises:
        TypeError: ``shape`` is not an int or a sequence of ints.
        ValueError: a dimension is not positive.
    """
    if isinstance(shape, bool):
        raise TypeError(
            f"{name} must be a positive int or a sequence of positive ints, got {shape!r}"
        )
    if isinstance(shape, int):
        dims: tuple = (shape,)
    elif isinstance(shape, torch.Size | Sequence) and not isinstance(shape, str):
        dims = tuple(shape)
    else:
        raise TypeError(
            f"{name} must be a positive int or a sequence of positive ints, got {shape!r}"
        )
    if len(dims) == 0:
        raise ValueError(f"{name} must have at least one dimension, got {shape!r}")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"{name} must contain positive ints, got {shape!r}")
        if d <= 0:
            raise ValueError(f"{name} must contain positive sizes, got {shape!r}")
    return dims


def _as_float_or_tensor(name: str, value: float | torch.Tensor) -> float | torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be a real number or real tensor, got dtype {value.dtype}")
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number or a tensor, got {value!r}")
    return float(value)


def _all(value: float | torch.Tensor, predicate) -> bool:
    if isinstance(value, torch.Tensor):
        with torch.no_grad():
            return bool(predicate(value.detach()).all())
    return bool(predicate(torch.tensor(value, dtype=torch.float64)))


def positive(name: str, value: float | torch.Tensor, unit: str = "") -> float | torch.Tensor:
    """Require ``value > 0`` (everywhere, for a tensor) and finite.

    Raises:
        ValueError: naming ``name`` and the expected range.
    """
    value = _as_float_or_tensor(name, value)
    if not _all(value, lambda v: torch.isfinite(v) & (v > 0)):
        suffix = f" (in {unit})" if unit else ""
        raise ValueError(f"{name} must be positive and finite{suffix}, got {_describe(value)}")
    return value


def nonnegative(name: str, value: float | torch.Tensor, unit: str = "") -> float | torch.Tensor:
    """Require ``value >= 0`` (everywhere, for a tensor) and finite.

    Raises:
        ValueError: naming ``name`` and the expected range.
    """
    value = _as_float_or_tensor(name, value)
    if not _all(value, lambda v: torch.isfinite(v) & (v >= 0)):
        suffix = f" (in {unit})" if unit else ""
        raise ValueError(f"{name} must be non-negative and finite{suffix}, got {_describe(value)}")
    return value


def finite(name: str, value: float | torch.Tensor) -> float | torch.Tensor:
    """Require a finite real number or tensor."""
    value = _as_float_or_tensor(name, value)
    if not _all(value, torch.isfinite):
        raise ValueError(f"{name} must be finite, got {_describe(value)}")
    return value


def as_float(name: str, value: object, check=finite, unit: str = "") -> float:
    """Validate a scalar argument with ``check`` (e.g. :func:`positive`) and return a float.

    Accepts a real number or a one-element real tensor (never a bool).

    Raises:
        TypeError: not a real number or a one-element real tensor.
        ValueError: outside the range ``check`` requires, naming ``name``.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"{name} must be a real number, got a tensor of shape {tuple(value.shape)}"
            )
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be a real number, got a tensor of dtype {value.dtype}")
        value = value.detach().item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(check(name, float(value), unit) if unit else check(name, float(value)))


def flag(name: str, value: object) -> bool:
    """Require a bool (``True`` or ``False``); anything else is a mistake, not a truth value.

    Raises:
        TypeError: naming ``name``, e.g. for ``"no"`` (which ``bool()`` would read as True).
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r}")
    return value


def positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int of at least 1 (not a bool), else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def nonnegative_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int of at least 0 (not a bool), else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def check_greater(
    name: str,
    value: float | torch.Tensor,
    other_name: str,
    other: float | torch.Tensor,
) -> None:
    """Require ``value > other`` everywhere (after broadcasting).

    Raises:
        ValueError: e.g. "thresh_v (-70.0) must be greater than reset_v (-65.0)", or
            the two are tensors that do not broadcast together.
    """
    a = value if isinstance(value, torch.Tensor) else torch.tensor(float(value))
    b = other if isinstance(other, torch.Tensor) else torch.tensor(float(other))
    try:
        torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"{name} (a tensor of shape {tuple(a.shape)}) and {other_name} (a tensor of shape "
            f"{tuple(b.shape)}) must broadcast together, with {name} greater than {other_name}"
        ) from None
    with torch.no_grad():
        ok = bool((a.detach().to(torch.float64) > b.detach().to(torch.float64)).all())
    if not ok:
        raise ValueError(
            f"{name} ({_describe(value)}) must be greater than {other_name} ({_describe(other)})"
        )


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    """Require ``value`` to be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)!r}, got {value!r}")


def as_parameter_tensor(
    name: str, value: float | torch.Tensor, shape: tuple[int, ...]
) -> torch.Tensor:
    """Turn a float or tensor into a tensor broadcastable to ``shape``.

    A float becomes a 0-d float tensor (the default dtype). A tensor is kept
    as it is (an ``nn.Parameter`` stays a parameter) after checking that it
    broadcasts to ``shape``.

    Raises:
        ValueError: the tensor does not broadcast to ``shape``.
    """
    if isinstance(value, torch.Tensor):
        try:
            out = torch.broadcast_shapes(tuple(value.shape), shape)
        except RuntimeError:
            out = None
        if out != shape:
            raise ValueError(
                f"{name} must be a float or a tensor broadcastable to shape {shape}, "
                f"got a tensor of shape {tuple(value.shape)}"
            )
        if not value.is_floating_point():
            value = value.to(torch.get_default_dtype())
        return value
    return torch.tensor(float(value), dtype=torch.get_default_dtype())


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Require every element of ``tensor`` to be finite (no NaN, no inf).

    Raises:
        ValueError: naming ``name`` and how many elements are not finite.
    """
    if tensor.is_floating_point() or tensor.is_complex():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            n = int(bad.sum())
            raise ValueError(
                f"{name} must be finite, got {n} NaN or infinite value(s) "
                f"in a tensor of shape {tuple(tensor.shape)}"
            )


#: Device types whose tensors a simulation step may read on the host (CPU: no synchronisation).
#: On every other device (CUDA, ...) a step never reads a tensor's value: checks are deferred to
#: once per batch (:class:`FiniteChecks`) and data-dependent fast paths are not taken. Tests
#: empty it to run the accelerator's policy on CPU.
HOST_READABLE_DEVICE_TYPES: frozenset[str] = frozenset({"cpu"})


_NO_CONTEXT = contextlib.nullcontext()


def no_grad() -> contextlib.AbstractContextManager[None]:
    """``torch.no_grad()``, or a shared do-nothing context where gradients are already off.

    A per-step path enters it every step: entering ``torch.no_grad()`` costs
    about a microsecond even when it changes nothing. While ``torch.compile``
    traces, always ``torch.no_grad()`` (which it traces; a plain context
    would break the graph).
    """
    if torch.is_grad_enabled() or torch.compiler.is_compiling():
        return torch.no_grad()
    return _NO_CONTEXT


def host_readable(device: torch.device) -> bool:
    """Whether a step may read values of tensors on ``device`` without a host synchronisation.

    Never while ``torch.compile`` traces: a host read would break the graph, so
    a compiled step takes the paths an accelerator takes (no data-dependent
    fast path; finiteness asserted in the kernel).
    """
    return device.type in HOST_READABLE_DEVICE_TYPES and not torch.compiler.is_compiling()


class FiniteChecks:
    """Finiteness checks of a time loop, kept on the device and read once (one synchronisation).

    Each :meth:`record` folds ``isfinite(tensor).all()`` into a device-side
    "first bad step" per checked name, with no host read; :meth:`raise_if_failed`
    reads them all at once and names the first name and time step that held a
    NaN or inf. :class:`~inferno_lightning.SpikingModule` opens one per batch
    on devices that are not :func:`host_readable` (and undoes the batch if it fails).

    Attributes:
        step: the current time step (set by the loop).
    """

    def __init__(self) -> None:
        self.step = 0
        self._first: dict[str, torch.Tensor] = {}

    def record(self, name: str, tensor: torch.Tensor) -> None:
        """Note whether ``tensor`` is finite at :attr:`step` (no host read)."""
        if not (tensor.is_floating_point() or tensor.is_complex()):
            return
        bad = ~torch.isfinite(tensor.detach()).all()
        first = self._first.get(name)
        if first is None:
            first = torch.full((), -1, dtype=torch.int64, device=tensor.device)
        self._first[name] = torch.where(bad & (first < 0), self.step, first)

    def raise_if_failed(self) -> None:
        """Read every record (one synchronisation); raise for the earliest non-finite one.

        Raises:
            ValueError: naming the checked value and the time step of its first NaN or inf.
        """
        if not self._first:
            return
        names = list(self._first)
        firsts = torch.stack([self._first[name].cpu() for name in names]).tolist()
        failed = sorted((step, name) for step, name in zip(firsts, names, strict=True) if step >= 0)
        if failed:
            step, name = failed[0]
            raise ValueError(
                f"{name} must be finite: NaN or inf at time step {step} (checked on the device "
                "and read once per batch)"
            )


_ACTIVE_CHECKS: ContextVar[FiniteChecks | None] = ContextVar("inferno_finite_checks", default=None)


@contextmanager
def deferred_finite_checks(enabled: bool = True) -> Iterator[FiniteChecks | None]:
    """Within the block, :func:`require_finite` on non-host-readable devices records instead of reading.

    Yields the :class:`FiniteChecks` (``None`` when not ``enabled``); the
    caller sets its ``step`` and calls ``raise_if_failed()`` once at the end.
    """
    if not enabled:
        yield None
        return
    checks = FiniteChecks()
    token = _ACTIVE_CHECKS.set(checks)
    try:
        yield checks
    finally:
        _ACTIVE_CHECKS.reset(token)


def require_finite(name: str, tensor: torch.Tensor) -> None:
    """:func:`check_finite` for a step's input, without a host synchronisation where it costs one.

    On a :func:`host_readable` device: one fast reduction (a finite sum means
    every element is finite; a sum that overflowed is told apart by the exact
    scan), the exact scan only when it is not finite. In a compiled step: an
    in-kernel assertion. Elsewhere (CUDA) inside :func:`deferred_finite_checks`:
    recorded on the device and raised once per batch; outside one, checked now.

    Raises:
        ValueError: as :func:`check_finite`.
    """
    if not (tensor.is_floating_point() or tensor.is_complex()):
        return
    if torch.compiler.is_compiling():
        # No host sync in a compiled step: the kernel checks, and a failed check raises
        # (RuntimeError, or a device-side assert on CUDA) before the state is written.
        torch._assert_async(
            torch.isfinite(tensor.detach()).all(), f"{name} must be finite (no NaN or inf)"
        )
        return
    if not host_readable(tensor.device):
        checks = _ACTIVE_CHECKS.get()
        if checks is not None:
            checks.record(name, tensor)
            return
    if tensor.is_complex() or not math.isfinite(
        (tensor.detach() if tensor.requires_grad else tensor).sum().item()
    ):
        check_finite(name, tensor)


def check_input(
    name: str,
    tensor: torch.Tensor,
    shape: tuple[int, ...],
    batch_size: int | None = None,
    finite: bool = True,
) -> int:
    """Check a batched input of shape ``(batch, *shape)`` and return the batch size.

    Args:
        name: argument name used in the error message.
        tensor: the input.
        shape: the expected shape after the batch dimension.
        batch_size: if given, the batch size the current state was built for.
        finite: also require every element to be finite.

    Raises:
        TypeError: ``tensor`` is not a tensor.
        ValueError: wrong shape, an empty batch, wrong batch size, or non-finite values.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (batch, {_dims(shape)}), got {type(tensor).__name__}"
        )
    if tensor.dim() != len(shape) + 1 or tuple(tensor.shape[1:]) != shape:
        raise ValueError(
            f"{name} must have shape (batch, {_dims(shape)}), got {tuple(tensor.shape)}"
        )
    if tensor.shape[0] == 0:
        raise ValueError(
            f"{name} has an empty batch (shape {tuple(tensor.shape)}): a batch needs at least one "
            "sample"
        )
    if batch_size is not None and tensor.shape[0] != batch_size:
        raise ValueError(
            f"{name} has batch size {tensor.shape[0]} but the current state was built for "
            f"batch size {batch_size}; call reset() between samples of different batch sizes"
        )
    if finite:
        check_finite(name, tensor)
    return int(tensor.shape[0])


def check_like(name: str, tensor: torch.Tensor, like: torch.Tensor, what: str) -> None:
    """Require ``tensor`` on the device of ``like`` and, when floating-point, in its dtype.

    Args:
        name: argument name used in the error message.
        tensor: the input.
        like: the tensor it is combined with (e.g. a connection's weight).
        what: what ``like`` is, for the message (e.g. ``"the connection's weight"``).

    Raises:
        ValueError: another device.
        TypeError: another floating-point dtype (integer and boolean inputs,
            e.g. spikes, are converted where they are used).
    """
    if tensor.device != like.device:
        raise ValueError(
            f"{name} is on {tensor.device} but {what} is on {like.device}; move one with .to()"
        )
    if tensor.is_floating_point() and tensor.dtype != like.dtype:
        raise TypeError(
            f"{name} has dtype {tensor.dtype} but {what} has dtype {like.dtype}: cast the input "
            f"(.to({like.dtype})) or the module (.to({tensor.dtype}))"
        )


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in shape)
