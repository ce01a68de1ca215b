"""Lightning callbacks: local learning, spike and weight statistics, divergence guard."""

from .divergence import DivergenceError, DivergenceGuard
from .local_learning import LocalLearning
from .statistics import SpikeStatistics

__all__ = ["DivergenceError", "DivergenceGuard", "LocalLearning", "SpikeStatistics"]
