"""LocalLearning: reduce local rules' updates across ranks and apply them."""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from .._validation import check_choice
from ..learn import Updater, apply_flattened, flatten_pending

__all__ = ["LocalLearning"]


class LocalLearning(Callback):
    r"""Applies the accumulated updates of every local learning rule, identically on every rank.

    Each training step (or each simulation step, with ``apply_every="step"``),
    under ``torch.no_grad``, in three steps:

    1. every :class:`~inferno_lightning.learn.Updater` in the module packs its
       locally reduced potentiation and depression into one flat buffer
       (:func:`~inferno_lightning.learn.flatten_pending`);
    2. the buffer is summed across all ranks with **one** all-reduce (terms of
       mean-reduced accumulators are pre-divided by the world size, so with
       per-rank batch :math:`b` on :math:`N` ranks the result equals one process
       with batch :math:`Nb`);
    3. the reduced terms are bounded with the current weights, applied, the
       post-update constraints run, and the accumulators are cleared
       (:func:`~inferno_lightning.learn.apply_flattened`).

    Collectives run on every rank; nothing here is rank-zero only. The
    callback keeps its own count of applied updates in :attr:`steps` and saves
    it in checkpoints. For a model that trains by local rules only (no
    optimizer, so Lightning's ``global_step`` would stay at 0), each training
    batch also advances ``trainer.global_step`` by one, so that ``max_steps``,
    logging intervals and ``ModelCheckpoint(every_n_train_steps=...)`` work.

    Args:
        apply_every: ``"batch"`` (default: once per training batch, after the
            optimizer step if any) or ``"step"`` (after every simulation step,
            one all-reduce per step).

    Raises:
        ValueError: ``apply_every`` is not ``"batch"`` or ``"step"``.
        RuntimeError: at fit start, the module has no Updater (no rule was
            registered), or it is not a
            :class:`~inferno_lightning.SpikingModule` when ``apply_every="step"``.

    Example::

        trainer = Trainer(callbacks=[LocalLearning()], strategy="ddp_local_spawn", devices=2)
    """

    def __init__(self, apply_every: Literal["batch", "step"] = "batch") -> None:
        check_choice("apply_every", apply_every, ("batch", "step"))
        self.apply_every = apply_every
        self.steps = 0
        self._updaters: list[Updater] = []
        self._trainer: Any = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(apply_every=self.apply_every)

    @staticmethod
    def updaters(pl_module: torch.nn.Module) -> list[Updater]:
        """Every Updater under ``pl_module``, in module order (the same on every rank)."""
        return [m for m in pl_module.modules() if isinstance(m, Updater)]

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._updaters = self.updaters(pl_module)
        if not self._updaters:
            raise RuntimeError(
                "LocalLearning found no Updater in the module: register a learning rule on a cell "
                "(e.g. in SpikingModule.configure_rules) or remove the callback"
            )
        for updater in self._updaters:
            updater.clear()
        if self.apply_every == "step":
            if not hasattr(pl_module, "register_step_hook"):
                raise RuntimeError(
                    "LocalLearning(apply_every='step') needs a SpikingModule (with register_step_hook), "
                    f"got {type(pl_module).__name__}"
                )
            self._trainer = trainer
            pl_module.register_step_hook(self._on_simulation_step)

    def _on_simulation_step(self, pl_module: pl.LightningModule) -> None:
        self.apply(self._trainer, pl_module)

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.apply_every == "batch":
            self.apply(trainer, pl_module)
        if not getattr(pl_module, "uses_gradients", True) and not pl_module.automatic_optimization:
            # No optimizer steps in a local-only fit: count each trained batch as one step,
            # so that global_step, max_steps, loggers and ModelCheckpoint advance with learning.
            progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
            progress.increment_ready()
            progress.increment_completed()

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.apply_every == "step" and hasattr(pl_module, "remove_step_hook"):
            pl_module.remove_step_hook(self._on_simulation_step)
        self._trainer = None

    @torch.no_grad()
    def apply(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> bool:
        """Reduce every pending update across ranks and apply it; returns whether anything changed."""
        updaters = self._updaters or self.updaters(pl_module)
        world_size = trainer.world_size
        flat, spec = flatten_pending(updaters, world_size=world_size)
        if spec.numel == 0:
            return False
        if world_size > 1:
            flat = trainer.strategy.reduce(flat, reduce_op="sum")
        changed = apply_flattened(updaters, flat, spec)
        self.steps += 1
        return changed

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        steps = state_dict.get("steps") if isinstance(state_dict, dict) else None
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(
                "state_dict of LocalLearning must be {'steps': n} with n a non-negative int, "
                f"got {state_dict!r}"
            )
        self.steps = steps
