"""Checks that a function's cost grows linearly with its input, without wall-clock thresholds.

Timed tests flake on a shared, loaded machine ("speed is measured in benchmarks, not in timed tests"),
yet a regex that backtracks or a loop that copies a list can turn seconds into hours on real input,
and only a test catches that. So we compare two runs of the same function in the same process, on an
input of size n and one of 8n, measured in CPU time of this thread (``time.thread_time``): other
processes on the machine do not count, and the ratio cancels the machine's speed. Linear cost gives a
ratio of about 8, quadratic about 64; the bound of 24 leaves room for noise (caches, the garbage
collector) while still failing on quadratic behaviour.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FACTOR = 8
BOUND = 24


def cpu_seconds(function: Callable[[T], object], argument: T, runs: int) -> float:
    """The fastest of ``runs`` calls, in CPU seconds of this thread."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        started = time.thread_time()
        function(argument)
        best = min(best, time.thread_time() - started)
    return best


def growth(function: Callable[[T], object], make: Callable[[int], T], n: int, factor: int = FACTOR) -> float:
    """CPU time on ``make(factor * n)`` divided by CPU time on ``make(n)`` (best of a few runs each)."""
    small, large = make(n), make(factor * n)
    # the small input once more than the large one: its minimum is the noisier of the two
    return cpu_seconds(function, large, 2) / max(cpu_seconds(function, small, 3), 1e-6)


def assert_linear(function: Callable[[T], object], make: Callable[[int], T], n: int) -> None:
    """Fails when ``function`` on ``make(8n)`` costs more than ``BOUND`` times what it costs on ``make(n)``."""
    ratio = growth(function, make, n)
    assert ratio < BOUND, f"{FACTOR}x the input cost {ratio:.1f}x the CPU time (linear ~{FACTOR}, quadratic ~64)"
