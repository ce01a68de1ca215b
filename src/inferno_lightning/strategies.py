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

from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch import nn
from typing_extensions import override

__all__ = ["LocalLearningDDPStrategy", "per_sample_state_names", "broadcast_module_state"]

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
