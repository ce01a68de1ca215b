"""inferno-lightning: spiking neural networks with local learning, on PyTorch and Lightning.

The core subpackages (``functional``, ``neural``, ``encode``, ``observe``,
``learn``) depend on PyTorch only, so they serve plain PyTorch users too. The
Lightning face (:class:`SpikingModule`, the callbacks, the DDP strategy) is
imported on first use of its names, so ``import inferno_lightning.neural``
never imports Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> module that defines it (imported on first access, PEP 562).
_LIGHTNING_FACE = {
    "SpikingModule": "inferno_lightning.module",
    "LocalLearning": "inferno_lightning.callbacks",
    "SpikeStatistics": "inferno_lightning.callbacks",
    "LocalLearningDDPStrategy": "inferno_lightning.strategies",
}

__all__ = ["__version__", *_LIGHTNING_FACE]

if TYPE_CHECKING:
    from .callbacks import LocalLearning as LocalLearning
    from .callbacks import SpikeStatistics as SpikeStatistics
    from .module import SpikingModule as SpikingModule
    from .strategies import LocalLearningDDPStrategy as LocalLearningDDPStrategy


def __getattr__(name: str) -> Any:
    if name in _LIGHTNING_FACE:
        value = getattr(importlib.import_module(_LIGHTNING_FACE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'inferno_lightning' has no attribute {name!r}")
