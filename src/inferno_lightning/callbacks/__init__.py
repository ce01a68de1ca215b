"""Lightning callbacks: local learning, spike and weight statistics."""

from .local_learning import LocalLearning
from .statistics import SpikeStatistics

__all__ = ["LocalLearning", "SpikeStatistics"]
