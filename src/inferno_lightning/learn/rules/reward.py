r"""Reward-modulated STDP (Florian 2007): :class:`MSTDP` and :class:`MSTDPET`.

Both use the pair-STDP quantity of Florian's discrete-time algorithm
(Florian 2007, Neural Computation 19(6), sec. 4), with the traces including
the current step's spikes (as in :class:`~inferno_lightning.learn.rules.STDP`):

.. math::

    \zeta_{ij}(t) = \eta_\text{post}\, s^\text{post}_i(t)\, x^\text{pre}_j(t)
                  - \eta_\text{pre}\, x^\text{post}_i(t)\, s^\text{pre}_j(t)

(Florian's :math:`A_+ = \eta_\text{post}`, :math:`A_- = -\eta_\text{pre}`),
per sample, and a reward :math:`r(t)` per sample, given to every call as
``rule(reward=r)``, shape ``(batch,)``. The reward passed with step :math:`t`
multiplies that step's :math:`\zeta(t)` (MSTDP) or :math:`z(t)` (MSTDPET):
pass Florian's :math:`r(t + \Delta t)` there for his exact timing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from ..._validation import as_float, check_finite, positive
from ...neural.layers import Cell
from ...observe import MonitorPool
from .base import (
    CellRecord,
    LearningRule,
    Observation,
    Terms,
    correlate_term,
)
from .stdp import pair_config, pair_observations

__all__ = ["MSTDP", "MSTDPET"]


def _check_reward(value: object, check: bool) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"reward must be a tensor of shape (batch,), one reward per sample, "
            f"got {type(value).__name__}"
        )
    if value.dim() != 1:
        raise ValueError(
            f"reward must have shape (batch,), one reward per sample, got {tuple(value.shape)}"
        )
    if not value.is_floating_point():
        value = value.to(torch.get_default_dtype())
    if check:
        check_finite("reward", value)
    return value.detach()


class _RewardModulated(LearningRule):
    """Shared by MSTDP and MSTDPET: pair-trace observations, reward checks."""

    inputs: ClassVar[tuple[str, ...]] = ("reward",)

    def __init__(self, defaults: dict[str, Any], monitors: MonitorPool | None, check: bool) -> None:
        if not isinstance(check, bool):
            raise TypeError(f"check_finite must be a bool, got {check!r}")
        super().__init__(defaults, monitors)
        self.check_finite = check

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = pair_config(config)
        config["scale"] = as_float("scale", config["scale"])
        return config

    def observations(self, cell: Cell, config: Mapping[str, Any]) -> dict[str, Observation]:
        return pair_observations(cell, config)

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {"reward": _check_reward(inputs["reward"], self.check_finite)}

    def check_step(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> None:
        batch = observed["post"].shape[0]
        reward = inputs["reward"]
        if reward.shape[0] != batch:
            raise ValueError(
                f"reward must have shape (batch,) = ({batch},), one reward per sample, "
                f"got {tuple(reward.shape)}"
            )

    @staticmethod
    def per_sample(reward: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``reward`` in ``like``'s dtype and device, shaped to broadcast against it."""
        reward = reward.to(device=like.device, dtype=like.dtype)
        return reward.view(-1, *([1] * (like.dim() - 1)))


class MSTDP(_RewardModulated):
    r"""Reward-modulated STDP (Florian 2007): :math:`\Delta w = \gamma\, r(t)\, \zeta(t)` per step.

    Per step and sample :math:`b`, with :math:`\zeta` as in the module docstring,

    .. math::

        P_{ij} = \gamma\,\eta_\text{post}\, r_b\, s^\text{post}_{bi}\, x^\text{pre}_{bj}, \qquad
        D_{ij} = \gamma\,\eta_\text{pre}\, r_b\, x^\text{post}_{bi}\, s^\text{pre}_{bj},

    reduced over the batch by the Accumulator (the reward folds into the
    postsynaptic factor, so ``"mean"``/``"sum"`` use one matrix product).
    A negative reward gives negative terms, which the Accumulator bounds
    with the opposite limits.

    Args:
        lr_post: :math:`\eta_\text{post}` (Florian's :math:`A_+`).
        lr_pre: :math:`\eta_\text{pre}` (Florian's :math:`-A_-`; positive for
            Hebbian pairing).
        tc_post: :math:`\tau_\text{post}` (Florian's :math:`\tau_-`), ms.
        tc_pre: :math:`\tau_\text{pre}` (Florian's :math:`\tau_+`), ms.
        trace_mode: ``"cumulative"`` (all-to-all, Florian's) or ``"nearest"``.
        scale: :math:`\gamma`, the learning rate multiplying every update.
        check_finite: check the reward for NaN/inf each step (a device
            synchronisation).
        monitors: the monitor pool to share.

    Raises:
        ValueError: as :class:`~inferno_lightning.learn.rules.STDP`, or ``scale`` not finite.

    Shapes:
        ``forward(reward=r)``: ``r`` is ``(batch,)``, one reward per sample.
    """

    def __init__(
        self,
        lr_post: float = 1.0,
        lr_pre: float = 1.0,
        tc_post: float = 20.0,
        tc_pre: float = 20.0,
        trace_mode: str = "cumulative",
        scale: float = 1e-3,
        *,
        check_finite: bool = True,
        monitors: MonitorPool | None = None,
    ) -> None:
        super().__init__(
            {
                "lr_post": lr_post,
                "lr_pre": lr_pre,
                "tc_post": tc_post,
                "tc_pre": tc_pre,
                "trace_mode": trace_mode,
                "scale": scale,
            },
            monitors,
            check_finite,
        )

    def terms(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> Terms:
        config, connection, accumulator = record.config, record.connection, record.accumulator
        post, post_trace = observed["post"], observed["post_trace"]
        reward = self.per_sample(inputs["reward"], post_trace)
        potentiation = depression = None
        batched = False
        if config["lr_post"] != 0.0:
            potentiation, batched = correlate_term(
                connection, accumulator, post * reward, observed["pre_trace"]
            )
            potentiation = potentiation * (config["scale"] * config["lr_post"])
        if config["lr_pre"] != 0.0:
            depression, batched = correlate_term(
                connection, accumulator, post_trace * reward, observed["pre"]
            )
            depression = depression * (config["scale"] * config["lr_pre"])
        return potentiation, depression, batched


class MSTDPET(_RewardModulated):
    r"""Reward-modulated STDP with an eligibility trace (Florian 2007).

    Per step and sample :math:`b`, an eligibility trace (Florian's form, with
    :math:`\zeta` as in the module docstring)

    .. math::

        z_{bij}(t) = z_{bij}(t - \Delta t)\, e^{-\Delta t/\tau_z} + \frac{\zeta_{bij}(t)}{\tau_z},

    starting from 0 after a reset, and the update

    .. math:: \Delta w_{ij}(t) = \gamma\, r_b(t)\, z_{bij}(t)\, \Delta t,

    a single signed potentiating term (the Accumulator bounds its positive
    part with the upper limit and its negative part with the lower one),
    reduced over the batch by the Accumulator. :math:`z` has units of
    1/ms, so :math:`z\,\Delta t` is dimensionless and a reward given for one
    step after a single pre-before-post pair changes the weight by about
    :math:`\gamma\,\eta_\text{post}\, e^{-\Delta/\tau_\text{pre}}\, \Delta t/\tau_z`.

    The eligibility trace is per-sample state, ``(batch, *weight.shape)``,
    non-persistent and dropped by ``reset()`` with the network's state.

    Args:
        lr_post, lr_pre, tc_post, tc_pre, trace_mode, scale, check_finite,
        monitors: as for :class:`MSTDP`.
        tc_eligibility: :math:`\tau_z`, ms (Florian: 25 ms).

    Raises:
        ValueError: as :class:`MSTDP`, or ``tc_eligibility`` not positive.

    Shapes:
        ``forward(reward=r)``: ``r`` is ``(batch,)``, one reward per sample.
    """

    def __init__(
        self,
        lr_post: float = 1.0,
        lr_pre: float = 1.0,
        tc_post: float = 20.0,
        tc_pre: float = 20.0,
        tc_eligibility: float = 25.0,
        trace_mode: str = "cumulative",
        scale: float = 1e-3,
        *,
        check_finite: bool = True,
        monitors: MonitorPool | None = None,
    ) -> None:
        super().__init__(
            {
                "lr_post": lr_post,
                "lr_pre": lr_pre,
                "tc_post": tc_post,
                "tc_pre": tc_pre,
                "tc_eligibility": tc_eligibility,
                "trace_mode": trace_mode,
                "scale": scale,
            },
            monitors,
            check_finite,
        )

    def check_config(self, config: dict[str, Any]) -> dict[str, Any]:
        config = super().check_config(config)
        config["tc_eligibility"] = as_float(
            "tc_eligibility", config["tc_eligibility"], positive, "ms"
        )
        return config

    def init_record(self, record: CellRecord) -> None:
        record.register_state("eligibility")

    def eligibility(self, cell: Cell) -> torch.Tensor | None:
        """The eligibility trace :math:`z` of ``cell``, ``(batch, *weight.shape)`` in 1/ms (live)."""
        return self._record(cell).eligibility

    def check_step(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> None:
        super().check_step(record, observed, inputs)
        trace = record.eligibility
        batch = observed["post"].shape[0]
        if trace is not None and trace.shape[0] != batch:
            raise ValueError(
                f"MSTDPET on {record.cell!r}: the eligibility trace holds batch size "
                f"{trace.shape[0]} but the step has {batch}; call reset() between batches"
            )

    def terms(
        self, record: CellRecord, observed: Mapping[str, torch.Tensor], inputs: Mapping[str, Any]
    ) -> Terms:
        config, connection, accumulator = record.config, record.connection, record.accumulator
        step_time = connection.step_time
        tc = config["tc_eligibility"]
        trace = record.eligibility
        weight = getattr(connection, self.parameter)
        if trace is None:
            batch = observed["post"].shape[0]
            trace = record.eligibility = torch.zeros(
                (batch, *weight.shape), dtype=weight.dtype, device=weight.device
            )
        else:
            trace.mul_(math.exp(-step_time / tc))
        if config["lr_post"] != 0.0:
            pair = connection.correlate(observed["post"], observed["pre_trace"], "none")
            trace.add_(pair, alpha=config["lr_post"] / tc)
        if config["lr_pre"] != 0.0:
            pair = connection.correlate(observed["post_trace"], observed["pre"], "none")
            trace.sub_(pair, alpha=config["lr_pre"] / tc)
        reward = inputs["reward"].to(device=trace.device, dtype=trace.dtype)
        factor = config["scale"] * step_time
        reduction = accumulator.batch_reduction
        if isinstance(reduction, str):
            # sum_b r_b z_b without a (batch, *weight.shape) temporary
            update = torch.tensordot(reward, trace, dims=([0], [0]))
            if reduction == "mean":
                factor /= trace.shape[0]
            return update.mul_(factor), None, False
        return trace * (self.per_sample(reward, trace) * factor), None, True
