"""One warm container per worker, seen from the host through the same ``Worker`` protocol.

A ``ContainerWorker`` is a ``WorkerProcess`` whose process happens to be a
container's init: the channel is a unix socket the container dialled, the
capture pipe is fed from the engine's log stream, and the exit is what the
engine's ``wait`` reports. Timeouts, crash and OOM classification, usage
from /proc, all come from the pen's own worker code. What differs is the end:
every way a worker ends (kill, crash, timeout, shutdown) goes through
``_close``, which removes the container and its private IPC directory, so no
container outlives its worker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from corral.errors import SandboxUnavailable
from corral.limits import DEFAULT_LIMITS
from corral.protocol import Exited, Spawn, encode_frame
from corral.runtime.container.mapping import CHANNEL, SECCOMP_FILE
from corral.runtime.meter import Meter
from corral.runtime.worker import WorkerProcess
from corral.runtime.zygote import SpawnedWorker
from corral.sandbox import cgroups

_MAX_SPEC = 1 << 22
IPC_PREFIX = "corral-ipc-"
"""IPC directories are named ``corral-ipc-<host pid>-*``, so a dead host's can be swept."""
_ACCEPT_SLICE = 0.1
DISPENSER_TAG = b"d"
"""The byte that carries a restricted worker's dispenser after its spec."""


class ContainerWorker(WorkerProcess):
    """A worker running in its own container; removing the container is part of its end."""

    def __init__(
        self,
        *,
        spawned: SpawnedWorker,
        plugin: str,
        container: Any,
        ipc_dir: str,
        cpu_seconds: float,
        oom: threading.Event,
        tail: list[str],
    ) -> None:
        super().__init__(spawned, plugin, None, cpu_seconds)
        with contextlib.suppress(OSError):  # without it, usage is read from /proc (slower)
            self._meter = Meter(cgroups.groups_of(spawned.pid))
        self.container = container
        self.container_id: str = container.id
        self._ipc_dir = ipc_dir
        self._oom = oom
        self._tail = tail

    def _await_exit(self) -> Exited | None:
        # The container's memory group, read first: the engine removes it once the
        # container has stopped. Podman on cgroup v1 never sets State.OOMKilled (its
        # conmon misses the event here), so this is what names its OOM kills; under
        # Docker either source says it.
        in_group = self._meter is not None and self._meter.oom_killed()
        exited = super()._await_exit()
        self._oom_killed = in_group or self._oom.is_set()
        self.output.extend(self._tail)
        return exited

    def _close(self) -> None:
        if self.dead:
            return
        super()._close()
        remove(self.container)
        shutil.rmtree(self._ipc_dir, ignore_errors=True)


def remove(container: Any) -> None:
    """Kill and remove a container with its anonymous volumes; already gone is fine."""
    with contextlib.suppress(Exception):
        container.remove(force=True, v=True)


def launch(
    *,
    client: Any,
    image: str,
    options: dict[str, Any],
    ipc_dir: str,
    listener: socket.socket,
    spec: dict[str, Any],
    plugin: str,
    cpu_seconds: float,
    dispenser: socket.socket | None = None,
) -> ContainerWorker:
    """Start the container, take its call on the IPC socket, send the spec (and dispenser).

    A restricted worker's dispenser (``corral.netproxy``) follows the spec on the
    same socket as one byte carrying the descriptor (SCM_RIGHTS), exactly as the
    zygote hands it to a pen: the container gets its one way to the proxy without
    a second socket file that anything else in the directory could dial.
    """
    command = ["python3", "-I", "-B", "-m", "corral.worker.container", CHANNEL]
    container = None
    try:  # create, then start: a container the engine made but would not start is removed
        create = {k: v for k, v in options.items() if k != "detach"}
        container = client.containers.create(image, command, **create)
        container.start()
    except Exception as exc:  # the engine's own refusal: fail secure, and say what it said
        if container is not None:
            remove(container)
        detail = str(exc).splitlines()[0][:400] if str(exc) else type(exc).__name__
        raise SandboxUnavailable("container", f"the engine refused the worker: {detail}") from exc
    finally:
        with contextlib.suppress(OSError):  # Podman's copy of the profile, read at create
            os.unlink(os.path.join(ipc_dir, SECCOMP_FILE))
    try:
        channel = _accept(listener, container, DEFAULT_LIMITS.worker_start_seconds)
        channel.sendall(encode_frame(Spawn(id=0, spec=spec).to_wire(), max_bytes=_MAX_SPEC))
        if dispenser is not None:
            socket.send_fds(channel, [DISPENSER_TAG], [dispenser.fileno()])
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        # The engine keeps the output; it is read once, when the worker ends (a thread
        # per stream for a worker's whole life cost the host more than it told us).
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        os.close(out_w)
        os.close(err_w)
        oom = threading.Event()
        tail: list[str] = []
        exited = _EngineExit(container, oom, tail)
    except BaseException:
        remove(container)
        raise
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(ipc_dir, os.path.basename(CHANNEL)))
    spawned = SpawnedWorker(pid, channel, out_r, err_r, exited)
    return ContainerWorker(
        spawned=spawned,
        plugin=plugin,
        container=container,
        ipc_dir=ipc_dir,
        cpu_seconds=cpu_seconds,
        oom=oom,
        tail=tail,
    )


def listen(uid: int) -> tuple[str, socket.socket]:
    """A private directory with a listening socket only the worker's uid may dial."""
    ipc_dir = tempfile.mkdtemp(prefix=f"{IPC_PREFIX}{os.getpid()}-")
    os.chmod(ipc_dir, 0o711)  # noqa: S103  (search only: the socket itself is 0600)
    path = os.path.join(ipc_dir, os.path.basename(CHANNEL))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    if os.geteuid() == 0:
        os.chown(path, uid, uid)
    os.chmod(path, 0o600)
    listener.listen(1)
    listener.settimeout(_ACCEPT_SLICE)
    return ipc_dir, listener


def _accept(listener: socket.socket, container: Any, timeout: float) -> socket.socket:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            channel, _ = listener.accept()
        except TimeoutError:
            container.reload()
            if container.status not in ("created", "running"):
                break
            continue
        channel.settimeout(None)
        return channel
    logs = _logs(container)
    raise SandboxUnavailable(
        "container", f"the worker container did not dial its channel within {timeout:g} s{logs}"
    )


def _logs(container: Any) -> str:
    try:
        text = container.logs().decode("utf-8", "replace").strip()
    except Exception:
        return ""
    return f":\n{text[-2000:]}" if text else ""


class _EngineExit(Future[Exited]):
    """The container's exit as the engine reports it, asked for only when someone waits.

    A pen's exit arrives from the zygote's reaper; a container's is one
    blocking ``wait`` on the engine, made in the thread that wants it, so a
    warm container costs the host no thread. The OOM flag and the last
    output are read before it resolves, while the container still exists:
    whoever waits removes it next.
    """

    def __init__(self, container: Any, oom: threading.Event, tail: list[str]) -> None:
        super().__init__()
        self._container = container
        self._oom = oom
        self._tail = tail
        self._lock = threading.Lock()

    def result(self, timeout: float | None = None) -> Exited:
        with self._lock:
            if not self.done():
                self._wait(timeout)
        return super().result(0)

    def _wait(self, timeout: float | None) -> None:
        import requests

        try:
            reply = self._container.wait(timeout=timeout)
        except requests.exceptions.Timeout as exc:
            raise FutureTimeout() from exc
        except requests.exceptions.ConnectionError as exc:  # a read timeout, as urllib3 says it
            if "timed out" in str(exc).lower():
                raise FutureTimeout() from exc
            self.set_result(_exited(None))
            return
        except Exception:
            self.set_result(_exited(None))
            return
        code = int(reply.get("StatusCode", -1))
        with contextlib.suppress(Exception):
            self._container.reload()
            if self._container.attrs["State"].get("OOMKilled"):
                self._oom.set()
            logs = self._container.logs(tail=200).decode("utf-8", "replace")
            self._tail.append(logs[-DEFAULT_LIMITS.log_line_bytes * 8 :])
        self.set_result(_exited(code))


def _exited(code: int | None) -> Exited:
    """The engine reports 128+N when the init (or the worker, via tini) died of signal N."""
    if code is None or code < 0:
        return Exited(id=0, pid=0, signal=signal.SIGKILL)
    if code > 128:
        return Exited(id=0, pid=0, signal=code - 128)
    return Exited(id=0, pid=0, exit_code=code)
