"""Inputs to spike trains: Poisson (exact intervals or Bernoulli), regular rate, latency."""

from .encoders import Encoder, LatencyEncoder, PoissonEncoder, RateEncoder

__all__ = ["Encoder", "PoissonEncoder", "RateEncoder", "LatencyEncoder"]
