"""The figures that run real pens: cold start, warm calls, throughput, guard cost, memory."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

import corral
from benchmarks.baselines import PingPong, idle_python_uss, loop_rate, one_shot_python
from benchmarks.harness import Figure, Stats, interleave, timed

PLUGIN = Path(__file__).parent / "plugins" / "bench"


@contextmanager
def bench_host(**options: object) -> Iterator[corral.Host]:
    """A host as users get it (SQLite audit store, every layer on) in a throwaway home.

    The home sits under /var/tmp, which a pen's uid may search.
    """
    with tempfile.TemporaryDirectory(prefix="corral-bench-", dir="/var/tmp") as home:
        Path(home).chmod(0o711)
        with corral.Host(home=home, **options) as host:  # type: ignore[arg-type]
            yield host


def cold_start(runs: int) -> Figure:
    """``host.load`` + first call + unload, against a fresh ``python -I -S`` answering once."""
    with bench_host() as host:

        def ours() -> float:
            start = time.perf_counter()
            plugin = host.load(PLUGIN)
            plugin.call("echo", 1)
            elapsed = time.perf_counter() - start
            plugin.close()  # tearing the pen down is not part of reaching the first result
            return elapsed

        mine, base = interleave(ours, lambda: timed(one_shot_python), runs=runs)
    return Figure(
        "cold start: new pen to first result", "ms", _ms(mine), _ms(base),
        "fresh python -I -S answering one request over a pipe", goal=0.25, better="lower",
    )


def warm_call(runs: int, batch: int = 200) -> Figure:
    """Round trip of a small call to a warm worker, against a msgpack ping-pong over a pipe."""
    with bench_host() as host, host.load(PLUGIN) as plugin, PingPong() as pong:

        def ours() -> float:
            return timed(lambda: [plugin.call("echo", 1) for _ in range(batch)]) / batch

        def theirs() -> float:
            return timed(lambda: [pong.call(1) for _ in range(batch)]) / batch

        mine, base = interleave(ours, theirs, runs=runs)
    return Figure(
        "warm call round trip, small args", "µs", _us(mine), _us(base),
        "two plain processes ping-ponging msgpack over a pipe", goal=1.5, better="lower",
    )


def throughput(runs: int, seconds: float = 0.5) -> Figure:
    """Calls per second from two threads to a two-worker pool, against two raw pipe pairs."""
    with (
        bench_host() as host,
        host.load(PLUGIN, workers=2) as plugin,
        PingPong() as first,
        PingPong() as second,
    ):
        ours_calls = [lambda: plugin.call("echo", 1)] * 2
        their_calls = [lambda: first.call(1), lambda: second.call(1)]
        mine, base = interleave(
            lambda: loop_rate(ours_calls, seconds),
            lambda: loop_rate(their_calls, seconds),
            runs=runs,
            warmup=1,
        )
    return Figure(
        "calls per second, 2 workers", "calls/s", Stats.of(mine), Stats.of(base),
        "the same raw pipe pair, 2 threads", goal=0.6, better="higher",
    )


def guard_cost(runs: int, count: int = 2000) -> Figure:
    """Seconds per ``open()`` inside the pen, guard on against guard off (all else equal)."""
    with (
        bench_host() as guarded,
        bench_host(unsafe_disable_layers={"guard"}) as bare,
        guarded.load(PLUGIN) as on,
        bare.load(PLUGIN) as off,
    ):
        mine, base = interleave(
            lambda: float(on.call("open_loop", count)),
            lambda: float(off.call("open_loop", count)),
            runs=runs,
        )
    return Figure(
        "guard cost per open()", "µs", _us(mine), _us(base),
        "the same loop in the same pen, guard off", goal=1.1, better="lower",
    )


def idle_memory(runs: int) -> Figure:
    """USS of an idle confined worker (its whole process tree) against a bare idle python."""
    with bench_host() as host, host.load(PLUGIN) as plugin:
        plugin.call("echo", 1)
        mine, base = interleave(_worker_uss, idle_python_uss, runs=runs, warmup=0)
    return Figure(
        "idle worker memory (USS)", "MiB", _mib(mine), _mib(base),
        "a bare python -I -S child, idle", goal=0.5, better="lower",
        note="the worker's relay parent and the plugin process together",
    )


def _worker_uss() -> float:
    """USS of every process under the zygote (the host's child that forks pens)."""
    total = 0.0
    for zygote in psutil.Process().children():
        for worker in zygote.children(recursive=True):
            total += worker.memory_full_info().uss
    if not total:
        raise RuntimeError("no worker process found under the zygote")
    return total


def _ms(samples: list[float]) -> Stats:
    return Stats.of([s * 1e3 for s in samples])


def _us(samples: list[float]) -> Stats:
    return Stats.of([s * 1e6 for s in samples])


def _mib(samples: list[float]) -> Stats:
    return Stats.of([s / 2**20 for s in samples])
