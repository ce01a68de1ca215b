"""Observation: Monitors (hooks that record a module's state each step) and
Reducers (what is kept of it, with bounded memory)."""

from .monitors import INPUT, OUTPUT, Monitor, MonitorPool
from .reducers import (
    CumulativeTraceReducer,
    EMAReducer,
    EventCountReducer,
    HistoryReducer,
    LatestReducer,
    MeanReducer,
    NearestTraceReducer,
    PriorTraceReducer,
    Reducer,
    ScaledTraceReducer,
    TimeSinceEventReducer,
)

__all__ = [
    "INPUT",
    "OUTPUT",
    "Monitor",
    "MonitorPool",
    "Reducer",
    "LatestReducer",
    "HistoryReducer",
    "NearestTraceReducer",
    "CumulativeTraceReducer",
    "ScaledTraceReducer",
    "EventCountReducer",
    "TimeSinceEventReducer",
    "MeanReducer",
    "EMAReducer",
    "PriorTraceReducer",
]
