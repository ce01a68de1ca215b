"""Shared timing helpers for the benchmarks: interleaved runs, median, spread, ratio."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

import torch

#: glibc malloc settings every benchmark runs under (see :func:`steady_allocator`).
GLIBC_TUNABLES = "glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=268435456"


def steady_allocator() -> None:
    """Re-run this script under :data:`GLIBC_TUNABLES` unless it already is.

    With glibc's defaults, freed tensors of a few MB are given back to the
    system and the next allocation of that size page-faults its memory in
    again, so the time of code that allocates per step depends on what ran
    before it in the process: the W2 reference took 0.54 ms per step at
    batch 1 under these settings and anywhere from 0.9 to 2.4 ms without,
    next to our implementation (which allocates nothing per step). Keeping
    freed memory in the process makes both sides steady and the ratio fair.
    """
    if os.environ.get("GLIBC_TUNABLES") == GLIBC_TUNABLES:
        return
    os.environ["GLIBC_TUNABLES"] = GLIBC_TUNABLES
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def synchronize(device: torch.device | str | None) -> None:
    """Wait for the work queued on ``device`` (CUDA); nothing on the CPU, which runs in order.

    CUDA kernels run asynchronously: a host clock read right after launching
    them measures the launches, not the work, so every timed region starts
    and ends with this.
    """
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device | str) -> str:
    """The GPU's name for a CUDA device (``NVIDIA H200``), ``CPU`` otherwise."""
    return torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else "CPU"


def interleaved(
    candidates: dict[str, Callable[[], object]],
    runs: int,
    per: float = 1.0,
    device: torch.device | str | None = None,
) -> dict[str, list[float]]:
    """Time each candidate ``runs`` times, alternating between them, in ms divided by ``per``.

    Interleaving puts every candidate under the same background load (the
    machine is shared), so the ratios are fairer than back-to-back blocks. On
    a CUDA ``device`` each run is bracketed by :func:`synchronize`.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append((time.perf_counter() - start) * 1e3 / per)
    return times


def summary(times: list[float]) -> str:
    """``median ± half-range`` of a list of times."""
    return f"{statistics.median(times):8.3f} ± {(max(times) - min(times)) / 2:<6.3f}"


def ratio(ours: list[float], reference: list[float]) -> str:
    """Median and range of the per-run ratios ours / reference (runs are paired)."""
    ratios = [a / b for a, b in zip(ours, reference, strict=True)]
    return f"{statistics.median(ratios):5.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"
