"""LocalLearning: reduce local rules' updates across ranks and apply them."""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from .._validation import check_choice
from ..learn import Updater, apply_flattened, flatten_pending
from ..module import _Snapshot
from ..strategies import install_rank_reducers

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

    A parameter that an Updater trains is trained by its local rule only: at
    fit set-up it stops requiring a gradient (``requires_grad_(False)``), on
    one process as on many, so a model with a rule-trained layer and a
    gradient-trained readout needs nothing more under ``ddp_local`` (DDP then
    reduces the gradients of the other parameters only, and finds no
    parameter that "was not used in producing the loss").

    A fit that would learn nothing fails instead of running in silence: the
    module (or a module an Updater trains) in ``eval()`` mode when training
    starts, or a first training batch after which no Updater holds anything
    (a rule registered on a cell but not in the module's ``rules``, or a step
    that never calls the rules).

    Args:
        apply_every: ``"batch"`` (default: once per training batch, after the
            optimizer step if any) or ``"step"`` (after every simulation step,
            one all-reduce per step).
        expect_updates: fail when the first training batch accumulated no
            update; ``False`` for rules that may legitimately accumulate
            nothing in a whole batch.

    Raises:
        ValueError: ``apply_every`` is not ``"batch"`` or ``"step"``.
        RuntimeError: at fit start, the module has no Updater (no rule was
            registered), or it is not a
            :class:`~inferno_lightning.SpikingModule` when ``apply_every="step"``;
            at training start, the module or a trained module is in evaluation
            mode; after the first training batch, nothing was accumulated
            (with ``expect_updates``).

    Example::

        trainer = Trainer(callbacks=[LocalLearning()], strategy="ddp_local_spawn", devices=2)
    """

    def __init__(
        self, apply_every: Literal["batch", "step"] = "batch", expect_updates: bool = True
    ) -> None:
        check_choice("apply_every", apply_every, ("batch", "step"))
        if not isinstance(expect_updates, bool):
            raise TypeError(f"expect_updates must be a bool, got {expect_updates!r}")
        self.apply_every = apply_every
        self.expect_updates = expect_updates
        self.steps = 0
        self._updaters: list[Updater] = []
        self._trainer: Any = None
        # Whether this fit's first training batch is still to be checked, and whether anything
        # was accumulated since it started.
        self._first_batch = False
        self._accumulated = False
        self._before_first_batch: _Snapshot | None = None

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(apply_every=self.apply_every)

    @staticmethod
    def updaters(pl_module: torch.nn.Module) -> list[Updater]:
        """Every Updater under ``pl_module``, in module order (the same on every rank)."""
        return [m for m in pl_module.modules() if isinstance(m, Updater)]

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Stop gradients of the parameters that rules train (before DDP wraps the module).

        Also gives the components that combine a per-step statistic over the
        ranks (``ALIF`` thresholds) their all-reduce, whatever the strategy
        (:func:`~inferno_lightning.strategies.install_rank_reducers`).
        """
        install_rank_reducers(pl_module, trainer.world_size)
        if stage != "fit":
            return
        frozen = []
        for updater in self.updaters(pl_module):
            for name in updater.names:
                parameter = getattr(updater.module, name, None)
                if isinstance(parameter, torch.nn.Parameter) and parameter.requires_grad:
                    parameter.requires_grad_(False)
                    frozen.append(f"{type(updater.module).__name__}.{name}")
        if frozen and getattr(pl_module, "uses_gradients", True):
            # Worth saying only where gradients train something: a local-only model has no
            # optimizer for these parameters anyway.
            rank_zero_info(
                f"LocalLearning: {', '.join(frozen)} trained by local rules, not by gradients "
                "(requires_grad set to False)"
            )

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Refuse to train a module left in evaluation mode: its rules would accumulate nothing."""
        resting = [] if pl_module.training else [type(pl_module).__name__]
        resting += [
            type(updater.module).__name__
            for updater in self._updaters
            if isinstance(updater.module, torch.nn.Module) and not updater.module.training
        ]
        if resting:
            raise RuntimeError(
                f"{', '.join(resting)} {'is' if len(resting) == 1 else 'are'} in evaluation mode "
                "at the start of training, so local rules would accumulate nothing (Lightning keeps "
                "the mode it is given): call model.train() before Trainer.fit"
            )
        self._first_batch = self.expect_updates
        self._accumulated = False

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
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._first_batch and self._before_first_batch is None:
            # What the first batch may change, so that a fit failing after it leaves nothing moved.
            self._before_first_batch = _Snapshot(pl_module, parameters=True)

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
        if self._first_batch:
            self._first_batch = False
            saved, self._before_first_batch = self._before_first_batch, None
            # Every rank decides alike (one collective, on the first batch only).
            if not trainer.strategy.reduce_boolean_decision(self._accumulated, all=False):
                if saved is not None:
                    saved.restore()  # e.g. adaptive thresholds moved by that batch
                raise RuntimeError(self._nothing_learned(pl_module))
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
        if not self._accumulated:
            self._accumulated = any(
                accumulator.steps > 0
                for updater in updaters
                for accumulator in updater.accumulators.values()
            )
        flat, spec = flatten_pending(updaters, world_size=world_size)
        if spec.numel == 0:
            return False
        if world_size > 1:
            flat = trainer.strategy.reduce(flat, reduce_op="sum")
        changed = apply_flattened(updaters, flat, spec)
        self.steps += 1
        return changed

    def _nothing_learned(self, pl_module: pl.LightningModule) -> str:
        names = [
            name for name, m in pl_module.named_modules() if isinstance(m, Updater) and len(m.names)
        ]
        rules = getattr(pl_module, "rules", None)
        count = len(rules) if rules is not None else None
        held = "" if count is None else f" ({type(pl_module).__name__}.rules holds {count})"
        return (
            f"LocalLearning: the first training batch accumulated no update in any Updater "
            f"({', '.join(names) or 'none'}), so the fit would learn nothing. A learning rule "
            f"registered on a cell must also be in the module's rules{held}: "
            "self.rules.append(rule) in configure_rules, so the time loop calls it after every "
            "step (SpikingModule.learning_step). If the rules may accumulate nothing in a whole "
            "batch, pass LocalLearning(expect_updates=False)"
        )

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
