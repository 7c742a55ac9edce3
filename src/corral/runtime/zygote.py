"""The host's side of the zygote: start it as a program, ask it to fork workers.

The host never imports the worker package; it starts ``python -I -B -m
corral.worker`` with a SOCK_SEQPACKET control socket on fd 3 and speaks the
protocol to it. Each spawn hands the zygote three descriptors (the worker's
channel end and two capture pipes) and gets back the worker's pid. A reader
thread turns ``Exited`` reports into per-pid futures that worker handles wait on.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from corral.errors import ProtocolError, SandboxUnavailable
from corral.limits import DEFAULT_LIMITS
from corral.protocol import Exited, Prefork, Spawn, Spawned, decode_body, encode_frame, from_wire

_MAX_CONTROL = 1 << 20


@dataclass(frozen=True)
class SpawnedWorker:
    """A freshly forked worker: its pid, its channel, its capture pipes, its exit."""

    pid: int
    channel: socket.socket
    stdout: int
    stderr: int
    exited: Future[Exited]


class ZygoteClient:
    """One zygote process and the control channel to it."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._spawns: dict[int, Future[Spawned]] = {}
        self._exits: dict[int, Future[Exited]] = {}
        self._early: dict[int, Exited] = {}
        self.process = self._start(theirs)
        theirs.close()
        self._reader = threading.Thread(target=self._read, name="corral-zygote", daemon=True)
        self._reader.start()

    @staticmethod
    def _start(theirs: socket.socket) -> subprocess.Popen[bytes]:
        os.set_inheritable(theirs.fileno(), True)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        try:
            return subprocess.Popen(
                [sys.executable, "-I", "-B", "-m", "corral.worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            raise SandboxUnavailable("zygote", f"cannot start {sys.executable}: {exc}") from exc

    def spawn(
        self,
        spec: dict[str, Any],
        timeout: float = DEFAULT_LIMITS.worker_start_seconds,
        *,
        network: socket.socket | None = None,
    ) -> SpawnedWorker:
        """Fork a worker for ``spec``; returns once the zygote reports its pid.

        ``network`` is a restricted pen's dispenser end (``corral.netproxy``),
        passed as a fourth descriptor; the host's copy is closed once sent.
        """
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        request_id = next(self._ids)
        spawned: Future[Spawned] = Future()
        with self._lock:
            self._spawns[request_id] = spawned
            frame = encode_frame(Spawn(id=request_id, spec=spec).to_wire(), max_bytes=_MAX_CONTROL)
            fds = [worker_end.fileno(), out_w, err_w]
            if network is not None:
                fds.append(network.fileno())
            socket.send_fds(self._control, [frame[4:]], fds)
        worker_end.close()
        if network is not None:
            network.close()
        os.close(out_w)
        os.close(err_w)
        answer = spawned.result(timeout)
        if answer.error:
            raise SandboxUnavailable("zygote", answer.error)
        return SpawnedWorker(answer.pid, host_end, out_r, err_r, self._exit_future(answer.pid))

    def prefork(self, cgroup: str) -> None:
        """Ask for a spare child joined to ``cgroup`` (see ``runtime.spare``); does not wait.

        The answer (the spare's pid) is dropped: a spare is named by its group,
        and its exit is read when a worker started in it is waited for.
        """
        request_id = next(self._ids)
        frame = encode_frame(Prefork(id=request_id, cgroup=cgroup).to_wire())
        with self._lock:
            self._control.send(frame[4:])

    def _exit_future(self, pid: int) -> Future[Exited]:
        with self._lock:
            future: Future[Exited] = Future()
            early = self._early.pop(pid, None)
            if early is not None:
                future.set_result(early)
            else:
                self._exits[pid] = future
            return future

    def _read(self) -> None:
        while True:
            try:
                data = self._control.recv(_MAX_CONTROL)
            except OSError:
                data = b""
            if not data:
                self._fail_all()
                return
            try:
                message = from_wire(decode_body(data))
            except ProtocolError:
                continue
            self._dispatch(message)

    def _dispatch(self, message: object) -> None:
        with self._lock:
            if isinstance(message, Spawned):
                future = self._spawns.pop(message.id, None)
                if future is not None:
                    future.set_result(message)
            elif isinstance(message, Exited):
                waiter = self._exits.pop(message.pid, None)
                if waiter is not None:
                    waiter.set_result(message)
                else:
                    self._early[message.pid] = message

    def _fail_all(self) -> None:
        """The zygote is gone: every worker it forked is dead with it (PDEATHSIG)."""
        gone = Exited(id=0, pid=0, signal=9)
        with self._lock:
            for future in self._spawns.values():
                future.set_exception(SandboxUnavailable("zygote", "the zygote exited"))
            for exit_future in self._exits.values():
                exit_future.set_result(gone)
            self._spawns.clear()
            self._exits.clear()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        """Closing the control channel tells the zygote to kill its workers and exit."""
        with contextlib.suppress(OSError):
            self._control.shutdown(socket.SHUT_RDWR)
        self._control.close()
        try:
            self.process.wait(DEFAULT_LIMITS.close_grace_seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(1.0)
