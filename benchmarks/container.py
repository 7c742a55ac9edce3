"""Container backend figures: cold start and warm call, each against the kernel pen.

The baseline is the kernel pen in the same process and the same run, so the
ratio says what the container wall costs on top of the pen. The engine comes
from tests/engine.py: one already answering, or a private dockerd (or Podman
service) started for the run and stopped after it, and the worker image built
without a registry. Each figure is measured on Docker and on Podman.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.engine import Engine, ensure

import corral
from benchmarks.harness import Figure, interleave, timed
from benchmarks.pen import PLUGIN, _ms, _us, bench_host

_started: list[Engine] = []


@functools.cache
def _config(kind: str) -> corral.ContainerConfig:
    engine = ensure(kind)
    if engine.pid is not None:
        _started.append(engine)
    config = corral.ContainerConfig(engine=engine.kind, socket=engine.url)
    corral.build_container_image(config)
    return config


def stop_engine() -> None:
    """Stop a daemon this run started (none if one was already answering)."""
    while _started:
        _started.pop().stop()
    _config.cache_clear()


@contextmanager
def _both(kind: str) -> Iterator[tuple[corral.Host, corral.Host]]:
    with bench_host() as pen, bench_host(isolation="container", container=_config(kind)) as box:
        yield pen, box


def cold_start(runs: int, kind: str = "docker") -> Figure:
    """``host.load`` + first call in a new container, against the same in a new kernel pen."""
    with _both(kind) as (pen, box):

        def first_result(host: corral.Host) -> float:
            start = time.perf_counter()
            plugin = host.load(PLUGIN)
            plugin.call("echo", 1)
            elapsed = time.perf_counter() - start
            plugin.close()
            return elapsed

        mine, base = interleave(lambda: first_result(box), lambda: first_result(pen), runs=runs)
    return Figure(
        f"container cold start ({kind}): new container to first result",
        "ms",
        _ms(mine),
        _ms(base),
        "a new kernel pen to first result, same run",
        goal=100.0,
        better="lower",
        note=f"{kind}: create and start with the engine's init, seccomp profile and mounts, "
        "then the pen's worker",
    )


def warm_call(runs: int, kind: str = "docker", batch: int = 200) -> Figure:
    """Round trip of a small call to a warm container worker, against a warm kernel pen."""
    with _both(kind) as (pen, box), pen.load(PLUGIN) as near, box.load(PLUGIN) as far:

        def batch_of(plugin: corral.PluginHandle) -> float:
            return timed(lambda: [plugin.call("echo", 1) for _ in range(batch)]) / batch

        mine, base = interleave(lambda: batch_of(far), lambda: batch_of(near), runs=runs)
    return Figure(
        f"container warm call round trip ({kind}), small args",
        "µs",
        _us(mine),
        _us(base),
        "the same call to a warm kernel pen, same run",
        goal=1.5,
        better="lower",
    )
