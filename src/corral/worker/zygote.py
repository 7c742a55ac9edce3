"""The zygote: a small pre-started interpreter that forks one child per worker.

Starting a worker then costs a fork, not an interpreter start. The zygote
imports everything a worker needs before it forks, freezes the heap
(``gc.freeze``) so children share those pages, and serves a control channel
(a SOCK_SEQPACKET socket on fd 3): ``Spawn`` with the worker's channel and
capture pipes passed as SCM_RIGHTS, answered by ``Spawned``; every reaped
child is reported as ``Exited`` with its wait status and rusage.

It holds no host state and never runs plugin code itself.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import socket
from typing import NoReturn

from corral.errors import ProtocolError
from corral.policy.plan import NETWORK_LEVELS
from corral.protocol import Exited, Message, Spawn, Spawned, decode_body, encode_frame, from_wire
from corral.sandbox import _libc, cgroups, seccomp
from corral.worker.child import ChildFds, run_child

CONTROL_FD = 3
_PR_SET_PDEATHSIG = 1
_MAX_CONTROL = 1 << 20


class Zygote:
    """The control loop; one instance per zygote process."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.children: set[int] = set()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def run(self) -> NoReturn:
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self._wake_w)
        while True:
            ready, _, _ = select.select([self.control.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            self._reap()
            if self.control.fileno() in ready:
                self._receive()

    def _send(self, message: Message) -> None:
        self.control.send(encode_frame(message.to_wire())[4:])

    def _receive(self) -> None:
        data, fds, _, _ = socket.recv_fds(self.control, _MAX_CONTROL, 8)
        if not data:
            self._shutdown()
        try:
            message = from_wire(decode_body(data))
        except ProtocolError:
            for fd in fds:
                os.close(fd)
            return
        if isinstance(message, Spawn) and len(fds) in (3, 4):
            self._spawn(message, ChildFds(*fds))
        else:
            for fd in fds:
                os.close(fd)

    def _spawn(self, message: Spawn, fds: ChildFds) -> None:
        pid = os.fork()
        if pid == 0:
            self._become_child()
            run_child(message.spec, fds)
        self.children.add(pid)
        for fd in (fds.channel, fds.stdout, fds.stderr, fds.network):
            if fd >= 0:
                os.close(fd)
        self._send(Spawned(id=message.id, pid=pid))

    def _become_child(self) -> None:
        """Drop everything that belongs to the zygote before the child confines itself."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.control.close()
        gc.unfreeze()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self._send(_exited(pid, status, usage))

    def _shutdown(self) -> NoReturn:
        """The host is gone: no worker may outlive it."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os._exit(0)


def _exited(pid: int, status: int, usage: object) -> Exited:
    cpu = float(getattr(usage, "ru_utime", 0.0)) + float(getattr(usage, "ru_stime", 0.0))
    rss = int(getattr(usage, "ru_maxrss", 0))
    if os.WIFSIGNALED(status):
        return Exited(id=0, pid=pid, signal=os.WTERMSIG(status), cpu_seconds=cpu, max_rss_kb=rss)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    return Exited(id=0, pid=pid, exit_code=code, cpu_seconds=cpu, max_rss_kb=rss)


def _prebuild() -> None:
    """Build what every child would otherwise build again.

    The seccomp programs, and the cgroup directories (whose mount-table parsing
    also imports the ``unicode_escape`` codec): done here once, inherited by
    every fork.
    """
    for level in NETWORK_LEVELS:
        seccomp.program_for(level)
    cgroups.base_dirs()


def main(argv: list[str]) -> NoReturn:
    """Entry point of ``python -I -B -m corral.worker CONTROL_FD``."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    control = socket.socket(fileno=int(argv[1]) if len(argv) > 1 else CONTROL_FD)
    _prebuild()
    gc.collect()
    gc.freeze()
    Zygote(control).run()
