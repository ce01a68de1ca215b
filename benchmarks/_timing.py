"""Shared timing helpers for the benchmarks: interleaved runs, median, spread, ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(
    candidates: dict[str, Callable[[], object]], runs: int, per: float = 1.0
) -> dict[str, list[float]]:
    """Time each candidate ``runs`` times, alternating between them, in ms divided by ``per``.

    Interleaving puts every candidate under the same background load (the
    machine is shared), so the ratios are fairer than back-to-back blocks.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3 / per)
    return times


def summary(times: list[float]) -> str:
    """``median ± half-range`` of a list of times."""
    return f"{statistics.median(times):8.3f} ± {(max(times) - min(times)) / 2:<6.3f}"


def ratio(ours: list[float], reference: list[float]) -> str:
    """Median and range of the per-run ratios ours / reference (runs are paired)."""
    ratios = [a / b for a, b in zip(ours, reference, strict=True)]
    return f"{statistics.median(ratios):5.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
