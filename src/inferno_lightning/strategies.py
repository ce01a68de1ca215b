"""The DDP strategy for local learning.

Plain ``DistributedDataParallel`` does not fit spiking networks trained by local
rules:

* it refuses a module with no parameter that requires a gradient (a network
  trained by STDP alone has none);
* by default it broadcasts every buffer from rank 0 before each forward, which
  would overwrite each rank's per-sample state (membrane voltages, traces,
  synaptic histories) with rank 0's (DESIGN.md invariant 4).

:class:`LocalLearningDDPStrategy` wraps the model in DDP only when some
parameter requires a gradient (surrogate-gradient or mixed models), never
broadcasts buffers during training, and otherwise runs the bare module after
one broadcast of parameters and persistent buffers from rank 0, so every rank
starts identical. Local updates are then kept identical by the
:class:`~inferno_lightning.callbacks.LocalLearning` callback, which all-reduces
them before applying.

Registered names (usable as ``Trainer(strategy=...)`` and in recipes):

========================  ======================
name                      start method
========================  ======================
``ddp_local``             popen (scripts, like ``ddp``)
``ddp_local_spawn``       spawn
``ddp_local_fork``        fork
``ddp_local_notebook``    fork (Jupyter)
========================  ======================
"""

from __future__ import annotations

import atexit
from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch import nn
from typing_extensions import override

__all__ = [
    "LocalLearningDDPStrategy",
    "per_sample_state_names",
    "broadcast_module_state",
    "reduce_across_ranks",
    "install_rank_reducers",
]

#: (registered name, start method)
REGISTERED: tuple[tuple[str, str], ...] = (
    ("ddp_local", "popen"),
    ("ddp_local_spawn", "spawn"),
    ("ddp_local_fork", "fork"),
    ("ddp_local_notebook", "fork"),
)


def per_sample_state_names(module: nn.Module) -> list[str]:
    """Fully qualified names of every per-sample state buffer under ``module``.

    These are the buffers registered with
    :meth:`~inferno_lightning.neural.base.StatefulModule.register_state` (and any
    module exposing ``state_names``); DDP must never broadcast them.
    """
    names: list[str] = []
    for prefix, sub in module.named_modules():
        for name in getattr(sub, "state_names", ()):
            names.append(f"{prefix}.{name}" if prefix else name)
    return names


def broadcast_module_state(module: nn.Module, src: int = 0) -> None:
    """Broadcast parameters and persistent buffers of ``module`` from rank ``src``.

    Per-sample state (non-persistent buffers) is left alone. A no-op when
    ``torch.distributed`` is not initialised.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    skip = set(per_sample_state_names(module))
    with torch.no_grad():
        for name, tensor in module.state_dict(keep_vars=True).items():
            if name in skip or not isinstance(tensor, torch.Tensor):
                continue
            data = tensor.data if isinstance(tensor, nn.Parameter) else tensor
            dist.broadcast(data, src=src)


def reduce_across_ranks(reduced: torch.Tensor, reduction: str) -> torch.Tensor:
    """All-reduce a batch-reduced per-step statistic so that it is the one of the global batch.

    With per-rank batch ``b`` on ``N`` ranks the result equals the reduction
    over one batch of ``N b`` for ``"mean"`` (equal per-rank batches, as the
    project's sampler hands out), ``"sum"`` and ``"max"``. A no-op outside
    ``torch.distributed`` or on one rank. This is the collective that
    :class:`~inferno_lightning.neural.ALIF` runs through its ``rank_reducer``.

    Raises:
        ValueError: another ``reduction``.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return reduced
    world = dist.get_world_size()
    if world == 1:
        return reduced
    if reduction == "mean":
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced.div_(world)
    if reduction == "sum":
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced
    if reduction == "max":
        dist.all_reduce(reduced, op=dist.ReduceOp.MAX)
        return reduced
    raise ValueError(f"reduction must be 'mean', 'sum' or 'max', got {reduction!r}")


def install_rank_reducers(module: nn.Module, world_size: int) -> list[str]:
    """Give every component under ``module`` that declares a ``rank_reduction`` its all-reduce.

    Components (``ALIF`` thresholds) that combine a per-step statistic over
    the ranks declare how (``rank_reduction``) and hold a ``rank_reducer``
    slot; on several ranks it becomes :func:`reduce_across_ranks`, on one it
    is cleared. Run on every rank before training (the strategy's and
    :class:`~inferno_lightning.callbacks.LocalLearning`'s ``setup``).

    Args:
        module: the model.
        world_size: number of ranks.

    Returns:
        the names of the components given a reducer.

    Raises:
        ValueError: on several ranks, a component that asks to be synchronised
            (``sync_ranks``) has no cross-rank form of its batch reduction
            (``"median"``, a callable), before anything runs.
    """
    installed = []
    for name, sub in module.named_modules():
        if not hasattr(sub, "rank_reducer"):
            continue
        if world_size <= 1 or not getattr(sub, "sync_ranks", False):
            sub.rank_reducer = None
            continue
        if getattr(sub, "rank_reduction", None) is None:
            raise ValueError(
                f"{name or type(sub).__name__}: batch_reduction "
                f"{getattr(sub, 'batch_reduction', None)!r} cannot be combined across "
                f"{world_size} ranks; use 'mean', 'sum' or 'max', or construct it with "
                "sync_ranks=False to adapt per rank"
            )
        sub.rank_reducer = reduce_across_ranks
        installed.append(name)
    return installed


_DESTROY_AT_EXIT: list[bool] = []


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class LocalLearningDDPStrategy(DDPStrategy):
    """DDP for spiking networks with local learning rules.

    Accepts every :class:`~lightning.pytorch.strategies.DDPStrategy` argument.
    ``broadcast_buffers`` defaults to ``False`` (and must stay so: per-sample
    state is per rank).

    Raises:
        ValueError: ``broadcast_buffers=True`` is passed.

    Example::

        trainer = Trainer(accelerator="cpu", devices=2, strategy="ddp_local_spawn",
                          callbacks=[LocalLearning()])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("broadcast_buffers", False):
            raise ValueError(
                "broadcast_buffers must be False for LocalLearningDDPStrategy: per-sample "
                "state (voltages, traces, synaptic histories) must never be broadcast between ranks"
            )
        kwargs["broadcast_buffers"] = False
        super().__init__(*args, **kwargs)

    @override
    def setup_environment(self) -> None:
        super().setup_environment()
        # Lightning destroys only NCCL process groups at exit; a gloo group left to the
        # interpreter's finalisation can abort a spawned rank after a finished fit ("terminate
        # called without an active exception", SIGABRT). Destroy it at exit, whatever the backend.
        if dist.is_available() and dist.is_initialized() and not _DESTROY_AT_EXIT:
            atexit.register(_destroy_process_group)
            _DESTROY_AT_EXIT.append(True)

    @staticmethod
    def _needs_gradient_sync(model: nn.Module) -> bool:
        # A SpikingModule says whether it trains by gradients; other modules, by their parameters.
        if not getattr(model, "uses_gradients", True):
            return False
        return any(p.requires_grad for p in model.parameters())

    @override
    def setup(self, trainer: Any) -> None:
        assert self.model is not None
        # DDP (and Lightning's state sync outside fitting) must never touch per-sample state.
        ignored = set(getattr(self.model, "_ddp_params_and_buffers_to_ignore", ()))
        ignored.update(per_sample_state_names(self.model))
        self.model._ddp_params_and_buffers_to_ignore = sorted(ignored)
        install_rank_reducers(self.model, self.world_size)
        super().setup(trainer)

    @override
    def configure_ddp(self) -> None:
        assert self.model is not None
        if self._needs_gradient_sync(self.model):
            super().configure_ddp()
        else:
            # Nothing for DDP's reducer to do: run the bare module, starting identical.
            broadcast_module_state(self.model)

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Any) -> None:
        for name, start_method in REGISTERED:
            strategy_registry.register(
                name,
                cls,
                description=f"DDP for local learning rules, start method '{start_method}'",
                start_method=start_method,
                override=True,
            )


LocalLearningDDPStrategy.register_strategies(StrategyRegistry)
