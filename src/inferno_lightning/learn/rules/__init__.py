"""Local learning rules: the STDP family, reward-modulated STDP, delay learning, homeostasis.

Every rule is a :class:`LearningRule`: registered on Cells (several per rule,
each with its own hyperparameters), reading shared Monitors, and writing one
simulation step's terms per call into the connection's Updater
(:func:`updater_for`).
"""

from .base import TRACE_MODES, CellRecord, LearningRule, updater_for
from .delay import DelayLearning
from .homeostasis import LinearHomeostasis
from .reward import MSTDP, MSTDPET
from .stdp import STDP, TripletSTDP

__all__ = [
    "LearningRule",
    "CellRecord",
    "updater_for",
    "TRACE_MODES",
    "STDP",
    "TripletSTDP",
    "MSTDP",
    "MSTDPET",
    "DelayLearning",
    "LinearHomeostasis",
]
