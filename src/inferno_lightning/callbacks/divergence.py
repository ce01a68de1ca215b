"""DivergenceGuard: stop (or undo) a training step that left NaN or infinite values in the model."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from typing_extensions import override

from .._validation import check_choice, positive_int

__all__ = ["DivergenceError", "DivergenceGuard"]


class DivergenceError(RuntimeError):
    """Training produced NaN or infinite weights, thresholds or states (raised by DivergenceGuard)."""


class DivergenceGuard(Callback):
    r"""Checks after every training batch that no parameter, buffer or state is NaN or infinite.

    After each training batch (after the optimizer step and after
    :class:`~inferno_lightning.callbacks.LocalLearning` applied the local
    updates, before any checkpoint of that batch is written) every floating
    parameter and buffer of the module is checked: weights, adaptive
    thresholds (e.g. ALIF's ``theta``), and the per-sample states of neurons
    and synapses (voltages, currents, traces). All tensors are checked with one
    host synchronisation, and every rank takes the same decision (one
    all-reduce). When a value is not finite, on any rank:

    * ``action="stop"`` (default): raise :class:`DivergenceError` naming each
      offending tensor (``'excitatory.neuron.voltage'``), its layer and class,
      how many values are NaN or infinite, the global step, epoch and batch.
      The batch's checkpoint is never written (this callback runs before
      :class:`~lightning.pytorch.callbacks.ModelCheckpoint`, which Lightning
      always runs last), so the last checkpoint on disk is the last good one;
      its path is in the message.
    * ``action="skip"``: restore the parameters and buffers saved before the
      batch, reset the per-sample state, drop the batch's pending local
      updates, warn with the same description, and go on. :attr:`skipped`
      counts skipped batches (saved in checkpoints). Optimizer moments (e.g.
      Adam's) are not restored; a model whose gradients are NaN usually needs
      a smaller learning rate rather than skipping.

    Args:
        action: ``"stop"`` or ``"skip"``.
        check_every_n_steps: check every this many training batches (1: every
            batch; ``"skip"`` needs 1, as it can only undo the last batch).
        max_names: at most this many offending tensors are listed.

    Raises:
        ValueError: ``action`` is not ``"stop"`` or ``"skip"``, a non-positive
            ``check_every_n_steps`` or ``max_names``, or ``"skip"`` with
            ``check_every_n_steps > 1``.

    Example::

        trainer = Trainer(callbacks=[LocalLearning(), DivergenceGuard(), ModelCheckpoint(save_last=True)])
    """

    def __init__(
        self,
        action: Literal["stop", "skip"] = "stop",
        check_every_n_steps: int = 1,
        max_names: int = 8,
    ) -> None:
        check_choice("action", action, ("stop", "skip"))
        positive_int("check_every_n_steps", check_every_n_steps)
        positive_int("max_names", max_names)
        if action == "skip" and check_every_n_steps != 1:
            raise ValueError(
                "check_every_n_steps must be 1 with action='skip' (only the last batch can be "
                f"undone), got {check_every_n_steps}"
            )
        self.action = action
        self.check_every_n_steps = check_every_n_steps
        self.max_names = max_names
        self.skipped = 0
        self._batches = 0
        self._snapshot: dict[str, torch.Tensor] | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(action=self.action)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "batches": self._batches}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = int(state_dict.get("skipped", 0))
        self._batches = int(state_dict.get("batches", 0))

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Run after every other callback's on_train_batch_end (LocalLearning applies updates
        # there) but before the checkpoints, which Lightning keeps at the end of the list.
        callbacks = trainer.callbacks
        if self in callbacks:
            callbacks.remove(self)
            position = next(
                (i for i, c in enumerate(callbacks) if isinstance(c, ModelCheckpoint)),
                len(callbacks),
            )
            callbacks.insert(position, self)

    @staticmethod
    def _tensors(pl_module: pl.LightningModule) -> list[tuple[str, torch.Tensor]]:
        named = [(name, p.detach()) for name, p in pl_module.named_parameters()]
        named += [(name, b) for name, b in pl_module.named_buffers()]
        return [(n, t) for n, t in named if t.is_floating_point() and t.numel() > 0]

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.action == "skip":
            self._snapshot = {
                name: tensor.detach().clone()
                for name, tensor in pl_module.state_dict().items()
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
            }

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._batches += 1
        if self._batches % self.check_every_n_steps:
            return
        named = self._tensors(pl_module)
        if named:
            finite = torch.stack([torch.isfinite(t).all() for _, t in named]).cpu().tolist()
        else:
            finite = []
        bad = [(name, tensor) for (name, tensor), ok in zip(named, finite, strict=True) if not ok]
        diverged = trainer.strategy.reduce_boolean_decision(bool(bad), all=False)
        if not diverged:
            return
        description = self.describe(trainer, pl_module, bad, batch_idx)
        if self.action == "stop":
            raise DivergenceError(description)
        self._undo(pl_module)
        self.skipped += 1
        warnings.warn(f"{description}\nThe batch was undone and training goes on.", stacklevel=2)

    def describe(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        bad: list[tuple[str, torch.Tensor]],
        batch_idx: int,
    ) -> str:
        """The message naming each non-finite tensor, its layer, and where training was."""
        modules = dict(pl_module.named_modules())
        lines = []
        for name, tensor in bad[: self.max_names]:
            layer, _, attribute = name.rpartition(".")
            kind = type(modules.get(layer, pl_module)).__name__
            nan = int(torch.isnan(tensor).sum())
            infinite = int(torch.isinf(tensor).sum())
            what = "parameter" if name in dict(pl_module.named_parameters()) else "buffer/state"
            lines.append(
                f"  {what} {name!r} ({attribute.lstrip('_')} of layer {layer or '<module>'!r}, {kind}): "
                f"{nan} NaN and {infinite} infinite of {tensor.numel()} values"
            )
        if len(bad) > self.max_names:
            lines.append(f"  ... and {len(bad) - self.max_names} more")
        if not bad:
            lines.append("  (on another rank)")
        checkpoint = trainer.checkpoint_callback
        last = getattr(checkpoint, "last_model_path", "") or getattr(
            checkpoint, "best_model_path", ""
        )
        kept = f"the last good checkpoint is kept: {last}" if last else "no checkpoint written yet"
        return (
            f"Training diverged at global step {trainer.global_step} (epoch "
            f"{trainer.current_epoch}, batch {batch_idx}): non-finite values in\n"
            + "\n".join(lines)
            + f"\nNothing from this batch was checkpointed; {kept}."
        )

    def _undo(self, pl_module: pl.LightningModule) -> None:
        if self._snapshot is None:
            raise DivergenceError("DivergenceGuard(action='skip') found no snapshot to restore")
        with torch.no_grad():
            current = pl_module.state_dict()
            for name, saved in self._snapshot.items():
                if name in current and current[name].shape == saved.shape:
                    current[name].copy_(saved)
        # Per-sample state and pending local updates of the failed batch go too.
        reset = getattr(pl_module, "reset_state", None)
        if callable(reset):
            reset()
        from ..learn import Updater

        for module in pl_module.modules():
            if isinstance(module, Updater):
                module.clear()
