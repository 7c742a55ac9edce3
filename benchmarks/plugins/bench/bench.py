"""Callables the benchmarks time; each does as little as possible beyond its point."""

import time

import corral


@corral.export
def echo(value):
    return value


@corral.export
def open_loop(count):
    """Open and close this module's own file ``count`` times; returns seconds per open.

    Timed inside the pen so the figure is the guard's cost alone, with no IPC in it.
    """
    path = __file__
    start = time.perf_counter()
    for _ in range(count):
        with open(path, "rb"):
            pass
    return (time.perf_counter() - start) / count
