"""What a user would do instead: plain processes talking over pipes.

These are the baselines corral's figures are divided by. They use the same
interpreter and the same msgpack framing corral uses, so the ratio isolates
what confinement and corral's bookkeeping cost.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from types import TracebackType

import msgpack
import psutil

# A fresh interpreter that answers one request over a pipe: the cold-start baseline.
_ONE_SHOT = (
    "import sys; data = sys.stdin.buffer.readline(); "
    "sys.stdout.buffer.write(data); sys.stdout.buffer.flush()"
)

# A child that echoes length-prefixed msgpack frames until its input closes.
_PING_PONG = r"""
import struct, sys
import msgpack
read, write = sys.stdin.buffer.read, sys.stdout.buffer
while True:
    head = read(4)
    if len(head) < 4:
        break
    (size,) = struct.unpack(">I", head)
    message = msgpack.unpackb(read(size))
    reply = {"kind": "result", "id": message["id"], "ok": True, "value": message["args"][0]}
    body = msgpack.packb(reply)
    write.write(struct.pack(">I", len(body)) + body)
    write.flush()
"""

_IDLE = "import sys; sys.stdin.buffer.read()"


def one_shot_python() -> None:
    """Start ``python -I -S``, send one line, read the answer, reap it."""
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _ONE_SHOT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    answer, _ = child.communicate(b"ping\n")
    if answer != b"ping\n":
        raise RuntimeError(f"the one-shot baseline answered {answer!r}")


class PingPong:
    """A plain child process answering msgpack calls over a pipe pair."""

    def __init__(self) -> None:
        # -I drops site-packages from sys.path; the child needs msgpack, so pass the path.
        env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._child = subprocess.Popen(
            [sys.executable, "-c", _PING_PONG], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env,
        )
        assert self._child.stdin is not None and self._child.stdout is not None
        self._in, self._out = self._child.stdin, self._child.stdout
        self._next = 0
        self._lock = threading.Lock()

    def call(self, value: object) -> object:
        with self._lock:
            self._next += 1
            call = {"kind": "call", "id": self._next, "name": "echo", "args": [value]}
            body = msgpack.packb(call)
            self._in.write(struct.pack(">I", len(body)) + body)
            self._in.flush()
            (size,) = struct.unpack(">I", self._out.read(4))
            return msgpack.unpackb(self._out.read(size))["value"]

    def close(self) -> None:
        self._in.close()
        self._child.wait(timeout=10)
        self._out.close()

    def __enter__(self) -> PingPong:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def idle_python_uss() -> float:
    """USS in bytes of a bare ``python -I -S`` child that has started and is idle."""
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", "import sys; sys.stdout.write('up\\n'); "
         "sys.stdout.flush(); " + _IDLE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        child.stdout.readline()
        return float(psutil.Process(child.pid).memory_full_info().uss)
    finally:
        child.communicate(b"")


def loop_rate(calls: list[Callable[[], object]], seconds: float) -> float:
    """Calls per second completed by one thread per entry of ``calls`` in ``seconds``."""
    done = [0] * len(calls)
    stop = threading.Event()

    def work(slot: int) -> None:
        call = calls[slot]
        while not stop.is_set():
            call()
            done[slot] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(len(calls))]
    for thread in pool:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return sum(done) / seconds
