"""Host code under a deadline: the caller gets on, the runaway is counted and bounded."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from corral.runtime.deadline import DeadlineExceeded, DeadlineRunner, TooManyRunaways


def test_a_quick_function_returns_its_value_and_its_exception():
    runner = DeadlineRunner(max_runaways=1)
    assert runner.run(lambda a, b: a + b, 1.0, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        runner.run(lambda: 1 / 0, 1.0)


def test_async_functions_are_run_to_completion():
    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert DeadlineRunner(1).run(answer, 1.0) == 42


def test_a_runaway_is_abandoned_counted_and_released_when_it_ends():
    runner = DeadlineRunner(max_runaways=1)
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        runner.run(release.wait, 0.1, 10)
    assert time.monotonic() - start < 1
    assert runner.runaways == 1
    with pytest.raises(TooManyRunaways):  # the bound holds while the runaway runs
        runner.run(lambda: None, 1.0)
    release.set()
    deadline = time.monotonic() + 5
    while runner.runaways and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runner.runaways == 0
    assert runner.run(lambda: "free again", 1.0) == "free again"


def test_threads_are_reused_across_calls_and_leave_when_idle():
    def hostcall_threads() -> int:
        return sum(t.name == "corral-hostcall" for t in threading.enumerate())

    before = hostcall_threads()
    runner = DeadlineRunner(max_runaways=1, idle_seconds=0.2)
    for i in range(200):
        assert runner.run(lambda x: x, 1.0, i) == i
    assert hostcall_threads() - before <= 2
    deadline = time.monotonic() + 5
    while hostcall_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hostcall_threads() <= before  # (other runners' idle threads may leave too)
