"""Local learning: Accumulators and Updaters that reduce, bound and apply updates.

Learning rules *return* potentiating and depressing terms; an
:class:`Accumulator` collects them for one parameter (reducing over the batch
and over time), an :class:`Updater` holds the Accumulators of one module, and
the ``LocalLearning`` callback reduces them across ranks with
:func:`flatten_pending` / :func:`apply_flattened` and applies them with bounds
and post-update constraints (:class:`Clamp`, :class:`Normalize`).

Every way of applying goes through one protocol: ``Accumulator.pending()``
(the reduced terms), ``Accumulator.prepare(terms)`` (checked, bounded and
constrained, nothing written) and ``Accumulator.commit(prepared)`` (the one
place a parameter is written); ``Accumulator.step()`` and ``Updater.step()``
are that protocol for one process.
"""

from ..functional.bounding import Bound, ClampBound, HardBound, PowerBound, SoftBound
from .accumulator import Accumulator, PendingUpdate, PreparedUpdate
from .constraints import Clamp, Constraint, Normalize
from .rules import (
    MSTDP,
    MSTDPET,
    STDP,
    DelayLearning,
    LearningRule,
    LinearHomeostasis,
    TripletSTDP,
    updater_for,
)
from .updater import FlatSegment, FlatSpec, Updater, apply_flattened, flatten_pending

__all__ = [
    "Accumulator",
    "PendingUpdate",
    "PreparedUpdate",
    "Updater",
    "FlatSegment",
    "FlatSpec",
    "flatten_pending",
    "apply_flattened",
    "Constraint",
    "Clamp",
    "Normalize",
    "Bound",
    "ClampBound",
    "HardBound",
    "SoftBound",
    "PowerBound",
    "LearningRule",
    "updater_for",
    "STDP",
    "TripletSTDP",
    "MSTDP",
    "MSTDPET",
    "DelayLearning",
    "LinearHomeostasis",
]
