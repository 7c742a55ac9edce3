"""Interleaved measurement and the statistics every figure reports.

corral and its baseline alternate run by run, after a warm-up, so a burst of
load on the machine hits both sides instead of skewing one of them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stats:
    """Median, 95th percentile and spread of one side's samples."""

    median: float
    p95: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        ordered = sorted(samples)
        index = min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))
        median = statistics.median(ordered)
        return cls(median, ordered[index], ordered[0], ordered[-1], len(ordered))


@dataclass(frozen=True)
class Figure:
    """One row of the report: corral against its baseline, and the goal for their ratio.

    ``better`` says which way is good: "lower" for times and memory (ratio at most
    ``goal``), "higher" for rates (ratio at least ``goal``).
    """

    name: str
    unit: str
    corral: Stats
    baseline: Stats
    baseline_name: str
    goal: float
    better: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.corral.median / self.baseline.median if self.baseline.median else float("inf")

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal if self.better == "lower" else self.ratio >= self.goal

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, met=self.met)
        return data


def interleave(
    corral: Callable[[], float],
    baseline: Callable[[], float],
    *,
    runs: int,
    warmup: int = 2,
) -> tuple[list[float], list[float]]:
    """Alternate the two measurements ``runs`` times (order flipped each round)."""
    for _ in range(warmup):
        corral()
        baseline()
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(runs):
        if index % 2:
            theirs.append(baseline())
            ours.append(corral())
        else:
            ours.append(corral())
            theirs.append(baseline())
    return ours, theirs


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start
