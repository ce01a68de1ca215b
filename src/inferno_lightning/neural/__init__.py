"""Stateful modules built on ``functional``: neurons, synapses, connections, layers and cells."""

from .base import Connection, Correlation, Neuron, StatefulModule, Synapse
from .conductance import ExponentialConductance, ReversalPotentials
from .connections import Conv2d, LinearDense, LinearDirect, LinearLateral
from .layers import Cell, Layer, Serial
from .neurons import ALIF, EIF, LIF, QIF, AdEx, IntegrateAndFire, Izhikevich, SpikingNeuron
from .synapses import (
    DeltaCurrent,
    DeltaPlusCurrent,
    DoubleExponentialCurrent,
    ExponentialCurrent,
    HistorySynapse,
)

__all__ = [
    "StatefulModule",
    "Neuron",
    "Synapse",
    "Connection",
    "Correlation",
    "SpikingNeuron",
    "LIF",
    "ALIF",
    "QIF",
    "EIF",
    "AdEx",
    "Izhikevich",
    "IntegrateAndFire",
    "HistorySynapse",
    "DeltaCurrent",
    "DeltaPlusCurrent",
    "ExponentialCurrent",
    "DoubleExponentialCurrent",
    "ExponentialConductance",
    "ReversalPotentials",
    "LinearDense",
    "LinearDirect",
    "LinearLateral",
    "Conv2d",
    "Layer",
    "Serial",
    "Cell",
]
