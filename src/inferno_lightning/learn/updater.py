r"""Updater: the Accumulators of one module's parameters, and one-buffer cross-rank reduction.

An :class:`Updater` holds one :class:`~inferno_lightning.learn.Accumulator`
per parameter name of one module (``weight``, ``bias``, ``delay``). It is an
``nn.Module`` so it can sit inside a LightningModule and be checkpointed, yet
it does not register the module it updates (no duplicate parameters in
``state_dict``), and it never writes the module's parameters except in
:meth:`Updater.step` / :func:`apply_flattened` (through :meth:`Accumulator.commit`).

Multi-device training keeps replicas identical with one collective per step:

.. code-block:: python

    flat, spec = flatten_pending(updaters, world_size=trainer.world_size)   # local
    if spec.numel:                                  # same on every rank
        flat = trainer.strategy.reduce(flat, reduce_op="sum")              # every rank
    apply_flattened(updaters, flat, spec)          # bound, apply, constrain, clear

``flatten_pending`` divides the terms of ``rank_reduction="mean"``
Accumulators by the world size before the sum, so after the all-reduce every
rank holds :math:`\frac1N\sum_r \bar P_r` (mean) or :math:`\sum_r \bar P_r`
(sum): with equal per-rank batches, exactly the terms one process would have
computed from all samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .accumulator import Accumulator, PendingUpdate, PreparedUpdate, Reduction, ReductionFn

__all__ = ["Updater", "FlatSegment", "FlatSpec", "flatten_pending", "apply_flattened"]


class Updater(nn.Module):
    r"""The Accumulators of one module's trainable parameters, by parameter name.

    ``updater.weight`` or ``updater["weight"]`` returns the Accumulator of the
    module's ``weight``, creating it with this Updater's default reductions on
    first access; :meth:`add` creates one with its own bounds and constraints.
    Create every Accumulator at set-up on every rank (not conditionally), so
    that the flattened layout is the same everywhere.

    Nothing persists between training steps except configuration; the running
    state of unfinished accumulation is saved through ``state_dict`` (as
    ``_extra_state``) so a checkpoint taken mid-accumulation resumes exactly.

    Args:
        module: the module whose parameters are updated (kept by reference,
            not registered as a submodule).
        batch_reduction: default ``batch_reduction`` of created Accumulators.
        time_reduction: default ``time_reduction`` of created Accumulators.
        rank_reduction: default ``rank_reduction`` of created Accumulators.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
        ValueError: an unknown reduction.

    Example::

        linear = torch.nn.Linear(4, 3)
        updater = Updater(linear)
        updater.add("weight", bound="soft", w_min=0.0, w_max=1.0, constraints=[Normalize(2.0)])
        for t in range(steps):
            updater.weight.accumulate(ltp_t, ltd_t, batched=True)   # (batch, 3, 4)
            updater.bias.accumulate(bias_t, batched=True)            # (batch, 3)
        updater.step()   # one process
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        batch_reduction: Reduction | ReductionFn = "mean",
        time_reduction: Reduction | ReductionFn = "sum",
        rank_reduction: Reduction | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        # Kept out of nn.Module registration: the owner already holds the module,
        # and registering it here would duplicate its parameters in state_dict.
        object.__setattr__(self, "_target", module)
        self._accumulators: dict[str, Accumulator] = {}
        self._deferred_state: dict[str, dict[str, Any]] = {}
        self._defaults: dict[str, Any] = {
            "batch_reduction": batch_reduction,
            "time_reduction": time_reduction,
            "rank_reduction": rank_reduction,
        }
        # Validate the defaults now rather than on first access.
        first = next(iter(module.parameters()), None)
        if first is not None and first.is_floating_point():
            Accumulator(first, **self._defaults)
        else:
            Accumulator(torch.zeros(()), **self._defaults)

    @property
    def module(self) -> nn.Module:
        """The module whose parameters this Updater updates."""
        return self._target

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the parameters that have an Accumulator, sorted."""
        return tuple(sorted(self._accumulators))

    @property
    def accumulators(self) -> dict[str, Accumulator]:
        """A copy of the name-to-Accumulator mapping, sorted by name."""
        return {name: self._accumulators[name] for name in self.names}

    def add(self, name: str, **config: Any) -> Accumulator:
        """Create the Accumulator of parameter ``name`` with its own configuration.

        Args:
            name: the parameter's name in :attr:`module` (dotted path allowed).
            **config: :class:`~inferno_lightning.learn.Accumulator` keyword
                arguments (``bound``, ``w_min``, ``w_max``, ``constraints``,
                reductions); reductions default to this Updater's.

        Returns:
            The new Accumulator.

        Raises:
            ValueError: ``name`` already has an Accumulator, or a bad configuration.
            AttributeError: the module has no such parameter.
        """
        if not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        if name in self._accumulators:
            raise ValueError(
                f"parameter {name!r} of {type(self._target).__name__} already has an Accumulator; "
                "configure it with add() before its first use"
            )
        if "module" in config or "parameter" in config:
            raise TypeError("add() takes the parameter by name; module and parameter are implied")
        kwargs = {**self._defaults, **config}
        accumulator = Accumulator(name, module=self._target, **kwargs)
        state = self._deferred_state.pop(name, None)
        if state is not None:
            accumulator.load_state_dict(state)
        self._accumulators[name] = accumulator
        return accumulator

    def __getitem__(self, name: str) -> Accumulator:
        """The Accumulator of parameter ``name``, created with the defaults on first access."""
        accumulator = self._accumulators.get(name)
        if accumulator is None:
            accumulator = self.add(name)
        return accumulator

    def __contains__(self, name: object) -> bool:
        return name in self._accumulators

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self._accumulators)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            pass
        # Guard against lookups during unpickling/deepcopy, before __dict__ is filled.
        accumulators = self.__dict__.get("_accumulators")
        target = self.__dict__.get("_target")
        if name.startswith("_") or accumulators is None or target is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        if name in accumulators:
            return accumulators[name]
        if isinstance(getattr(target, name, None), torch.Tensor):
            return self[name]
        available = [n for n, _ in target.named_parameters(recurse=False)]
        raise AttributeError(
            f"{type(self).__name__} has no attribute {name!r}, and {type(target).__name__} has no "
            f"parameter {name!r} to accumulate for (its parameters are {available!r})"
        )

    # ------------------------------------------------------------- one rank

    def pending(self) -> dict[str, PendingUpdate]:
        """This rank's reduced, unbounded terms by parameter name (only those with something pending)."""
        out = {}
        for name in self.names:
            pending = self._accumulators[name].pending()
            if pending is not None:
                out[name] = pending
        return out

    def step(self) -> bool:
        r"""Apply every Accumulator's own pending terms (one process), then clear.

        Every Accumulator is :meth:`~inferno_lightning.learn.Accumulator.prepare`\ d
        before any is committed, so an error writes no parameter. Multi-rank
        training uses :func:`flatten_pending` and :func:`apply_flattened`
        instead (the same prepare and commit, on the reduced terms).

        Returns:
            ``True`` if any parameter was written.

        Raises:
            ValueError: a pending term or an updated weight is not finite; no
                parameter is written.
        """
        return _step_all([(self._accumulators[name], None) for name in self.names])

    def clear(self) -> None:
        """Forget everything every Accumulator collected since the last apply."""
        for accumulator in self._accumulators.values():
            accumulator.clear()

    # ----------------------------------------------------------- many ranks

    def pending_flat(self, world_size: int = 1) -> tuple[torch.Tensor, FlatSpec]:
        """:func:`flatten_pending` of this Updater alone."""
        return flatten_pending([self], world_size=world_size)

    def apply_flat(self, flat: torch.Tensor, spec: FlatSpec) -> bool:
        """:func:`apply_flattened` of this Updater alone."""
        return apply_flattened([self], flat, spec)

    # ---------------------------------------------------- nn.Module plumbing

    def get_extra_state(self) -> dict[str, Any]:
        """Running state of Accumulators with unfinished accumulation (empty between steps)."""
        state = {
            name: self._accumulators[name].state_dict()
            for name in self.names
            if self._accumulators[name].steps > 0
        }
        state.update(self._deferred_state)
        return state

    def set_extra_state(self, state: Any) -> None:
        """Restore running state; state for Accumulators not created yet waits for :meth:`add`."""
        if not isinstance(state, dict):
            raise ValueError(f"Updater extra state must be a dict, got {type(state).__name__}")
        for accumulator in self._accumulators.values():
            accumulator.clear()
        self._deferred_state = {}
        for name, accumulator_state in state.items():
            if name in self._accumulators:
                self._accumulators[name].load_state_dict(accumulator_state)
            else:
                self._deferred_state[name] = accumulator_state

    def _apply(
        self, fn: Callable[[torch.Tensor], torch.Tensor], *args: Any, **kwargs: Any
    ) -> Updater:
        # Running sums are plain attributes (so DDP never broadcasts them); move them here.
        super()._apply(fn, *args, **kwargs)
        for accumulator in self._accumulators.values():
            accumulator.transform_state(fn)
        return self

    def extra_repr(self) -> str:
        return f"module={type(self._target).__name__}, accumulators={list(self.names)!r}"


# ------------------------------------------------------------------ flattening


@dataclass(frozen=True)
class FlatSegment:
    """Where one Accumulator's terms lie in the flat buffer.

    Attributes:
        updater: index of the Updater in the list given to :func:`flatten_pending`.
        name: the parameter name.
        shape: the parameter's shape.
        offset: start of the potentiation block; depression follows at ``offset + numel``.
        rank_reduction: ``"mean"`` or ``"sum"`` (``"sum"`` for an undeclared
            callable on a single rank).
    """

    updater: int
    name: str
    shape: tuple[int, ...]
    offset: int
    rank_reduction: str

    @property
    def numel(self) -> int:
        """Number of elements of the parameter."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class FlatSpec:
    """Layout of a flattened buffer; it depends only on configuration, so it is the same on every rank.

    Layout: for each segment, potentiation then depression (``numel`` each);
    then two presence flags per segment (1 where this rank had the term; after
    the all-reduce, the number of ranks that had it).

    Attributes:
        segments: one per Accumulator, in Updater order then sorted name order.
        world_size: the world size the mean terms were divided by.
        numel: total length of the buffer (0 when there is nothing to reduce).
    """

    segments: tuple[FlatSegment, ...]
    world_size: int
    numel: int

    @property
    def flags_offset(self) -> int:
        """Start of the presence flags."""
        return self.numel - 2 * len(self.segments)


def flatten_pending(
    updaters: Sequence[Updater], world_size: int = 1
) -> tuple[torch.Tensor, FlatSpec]:
    r"""Pack every Accumulator's pending terms into one buffer for a single all-reduce.

    Terms of ``rank_reduction="mean"`` Accumulators are divided by
    ``world_size`` here, so the caller all-reduces the whole buffer with one
    **sum**. A term nothing was accumulated for is packed as zeros (its rank
    contributes zero). The buffer's dtype is the promotion of float32 and the
    parameters' dtypes; its device is the first parameter's.

    Args:
        updaters: the Updaters, in the same order on every rank.
        world_size: number of ranks taking part in the all-reduce.

    Returns:
        ``(flat, spec)``: the 1-D buffer and its layout.

    Raises:
        ValueError: ``world_size > 1`` and an Accumulator has no known
            ``rank_reduction`` (a callable reduction without a declared one).
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    items: list[tuple[int, str, Accumulator]] = []
    for index, updater in enumerate(updaters):
        if not isinstance(updater, Updater):
            raise TypeError(f"updaters[{index}] must be an Updater, got {type(updater).__name__}")
        for name in updater.names:
            items.append((index, name, updater[name]))

    dtype = torch.float32
    device = torch.device("cpu")
    params = [accumulator.parameter for _, _, accumulator in items]
    for param in params:
        dtype = torch.promote_types(dtype, param.dtype)
    if params:
        device = params[0].device

    segments = []
    pieces: list[torch.Tensor] = []
    flags: list[float] = []
    offset = 0
    for (index, name, accumulator), param in zip(items, params, strict=True):
        rank_reduction = accumulator.rank_reduction
        if rank_reduction is None:
            if world_size > 1:
                raise ValueError(
                    f"accumulator {name!r} of updaters[{index}] "
                    f"({type(updaters[index].module).__name__}) has a callable reduction "
                    "and no rank_reduction: declare rank_reduction='mean' or 'sum' to train on "
                    "several ranks"
                )
            rank_reduction = "sum"
        shape = tuple(param.shape)
        segments.append(FlatSegment(index, name, shape, offset, rank_reduction))
        numel = math.prod(shape)
        offset += 2 * numel
        pending = accumulator.pending(copy=False)  # read-only: the cat below copies
        for term in pending if pending is not None else (None, None):
            if term is None:
                pieces.append(torch.zeros(numel, dtype=dtype, device=device))
                flags.append(0.0)
                continue
            piece = term.reshape(-1).to(device=device, dtype=dtype)
            if rank_reduction == "mean" and world_size > 1:
                piece = piece / world_size
            pieces.append(piece)
            flags.append(1.0)
    pieces.append(torch.tensor(flags, dtype=dtype, device=device))
    flat = torch.cat(pieces)
    spec = FlatSpec(tuple(segments), world_size, offset + len(flags))
    return flat, spec


def apply_flattened(updaters: Sequence[Updater], flat: torch.Tensor, spec: FlatSpec) -> bool:
    """Unpack an all-reduced buffer and apply every Accumulator's terms, then clear them.

    Each Accumulator gets its segment's terms (``None`` where no rank had the
    term), bounds them with the current weight, applies them, runs its
    constraints and clears. Everything is checked first: on an error no
    parameter is written.

    Args:
        updaters: the same Updaters, in the same order, as given to :func:`flatten_pending`.
        flat: the buffer after the cross-rank sum (or as flattened, on one rank).
        spec: the layout returned by :func:`flatten_pending`.

    Returns:
        ``True`` if any parameter was written.

    Raises:
        ValueError: ``flat`` or ``updaters`` do not match ``spec``, or ``flat``
            holds NaN/inf.
    """
    if not isinstance(flat, torch.Tensor) or flat.dim() != 1 or flat.numel() != spec.numel:
        got = tuple(flat.shape) if isinstance(flat, torch.Tensor) else type(flat).__name__
        raise ValueError(f"flat must be a 1-D tensor of {spec.numel} elements, got {got}")
    accumulators: list[Accumulator] = []
    for segment in spec.segments:
        if segment.updater >= len(updaters) or segment.name not in updaters[segment.updater]:
            raise ValueError(
                f"updaters do not match the flat spec: no accumulator {segment.name!r} in "
                f"updaters[{segment.updater}]"
            )
        accumulator = updaters[segment.updater][segment.name]
        if tuple(accumulator.parameter.shape) != segment.shape:
            raise ValueError(
                f"flat spec expects parameter {segment.name!r} of updaters[{segment.updater}] to have "
                f"shape {segment.shape}, got {tuple(accumulator.parameter.shape)}"
            )
        accumulators.append(accumulator)
    if not spec.segments:
        return False
    # One host sync: presence flags and the buffer's sum together. A finite sum means every
    # element is finite (NaN and inf propagate; one pass, where isfinite().all() costs several);
    # a sum that is not finite may be an overflow, so then every element is checked.
    host = torch.cat([flat[spec.flags_offset :], flat.sum().reshape(1)]).tolist()
    if not math.isfinite(host[-1]) and not bool(torch.isfinite(flat).all()):
        raise ValueError("flat must be finite, got NaN or infinite values; no parameter is written")
    work = []
    for position, (segment, accumulator) in enumerate(
        zip(spec.segments, accumulators, strict=True)
    ):
        numel = segment.numel
        terms = []
        for block in range(2):
            present = host[2 * position + block] > 0
            start = segment.offset + block * numel
            terms.append(flat[start : start + numel].view(segment.shape) if present else None)
        work.append((accumulator, tuple(terms)))
    return _step_all(work)


def _step_all(
    work: list[tuple[Accumulator, tuple[torch.Tensor | None, torch.Tensor | None] | None]],
) -> bool:
    """Prepare every update first, then commit them all: an error writes no parameter.

    ``work`` pairs each Accumulator with the terms to apply (``None``: its own
    pending terms). Accumulators of the same parameter (from several Updaters
    of one module) compose in order: each is bounded from the weight the
    previous one left, and the last result is committed.
    """
    groups: dict[int, list[tuple[Accumulator, Any]]] = {}
    for accumulator, terms in work:
        groups.setdefault(id(accumulator.parameter), []).append((accumulator, terms))
    commits: list[tuple[Accumulator, PreparedUpdate]] = []
    for group in groups.values():
        latest: tuple[Accumulator, PreparedUpdate] | None = None
        for accumulator, terms in group:
            start = None
            if len(group) > 1:
                start = accumulator.parameter.detach() if latest is None else latest[1].value
            prepared = accumulator.prepare(terms, start=start)
            if prepared is not None:
                latest = (accumulator, prepared)
        if latest is not None:
            commits.append(latest)
    for accumulator, prepared in commits:
        accumulator.commit(prepared)
    for accumulator, _ in work:
        accumulator.clear()
    return bool(commits)
