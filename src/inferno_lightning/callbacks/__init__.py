"""Lightning callbacks: local learning, spike and weight statistics."""

from .local_learning import LocalLearning

__all__ = ["LocalLearning"]
