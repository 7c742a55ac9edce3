"""The zygote: a small pre-started interpreter that forks one child per worker.

Starting a worker then costs a fork, not an interpreter start. The zygote
imports everything a worker needs before it forks, freezes the heap
(``gc.freeze``) so children share those pages, and serves a control channel
(a SOCK_SEQPACKET socket on fd 3): ``Spawn`` with the worker's channel and
capture pipes passed as SCM_RIGHTS, answered by ``Spawned``; every reaped
child is reported as ``Exited`` with its wait status and rusage.

``Prefork`` asks for a spare: a child forked now that joins the given (empty,
host-made) cgroup and then waits on a socket of its own. Under cgroup v1 the
join waits for an RCU grace period, the largest part of a worker's start, so
a spare pays it before any plugin is loaded. A later ``Spawn`` whose spec
names the spare (``spec["spare"]``) is handed to it, fds and all, and the
spare carries on exactly as a fresh child would; if the spare is gone, the
zygote forks as usual. A spare holds nothing but what every child inherits.

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

from corral.errors import ProtocolError, SandboxUnavailable
from corral.policy.plan import NETWORK_LEVELS
from corral.protocol import (
    Exited,
    Message,
    Prefork,
    Spawn,
    Spawned,
    decode_body,
    encode_frame,
    from_wire,
)
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
        self.spares: dict[str, tuple[int, socket.socket]] = {}  # spare name -> pid, its socket
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
        elif isinstance(message, Prefork) and not fds:
            self._prefork(message)
        else:
            for fd in fds:
                os.close(fd)

    def _spawn(self, message: Spawn, fds: ChildFds) -> None:
        spare = self.spares.pop(str(message.spec.get("spare", "")), None)
        if spare is not None and self._hand_over(spare, message, fds):
            pid = spare[0]
        else:
            pid = os.fork()
            if pid == 0:
                self._become_child()
                run_child(message.spec, fds)
            self.children.add(pid)
        for fd in (fds.channel, fds.stdout, fds.stderr, fds.network):
            if fd >= 0:
                os.close(fd)
        self._send(Spawned(id=message.id, pid=pid))

    def _hand_over(self, spare: tuple[int, socket.socket], message: Spawn, fds: ChildFds) -> bool:
        """Pass the spawn to a waiting spare; False if it is gone (then fork as usual)."""
        pid, sock = spare
        try:
            if pid not in self.children:
                return False
            frame = encode_frame(message.to_wire(), max_bytes=_MAX_CONTROL)[4:]
            passed = [fd for fd in (fds.channel, fds.stdout, fds.stderr, fds.network) if fd >= 0]
            socket.send_fds(sock, [frame], passed)
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def _prefork(self, message: Prefork) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._become_child()
            _serve_as_spare(theirs, message.cgroup)
        theirs.close()
        self.children.add(pid)
        self.spares[message.cgroup] = (pid, ours)
        self._send(Spawned(id=message.id, pid=pid))

    def _become_child(self) -> None:
        """Drop everything that belongs to the zygote before the child confines itself."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        for _, sock in self.spares.values():  # another spare's way in is not this child's
            sock.close()
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
            for name, (spare, sock) in list(self.spares.items()):
                if spare == pid:
                    sock.close()
                    del self.spares[name]
            self._send(_exited(pid, status, usage))

    def _shutdown(self) -> NoReturn:
        """The host is gone: no worker may outlive it."""
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os._exit(0)


def _serve_as_spare(sock: socket.socket, cgroup: str) -> NoReturn:
    """A spare: join ``cgroup`` now, then wait for the one spawn it will become.

    A join that fails is not fatal: the host may already have renamed the group
    for the worker it starts here, and the child then joins by the plan's name
    (``sandbox.apply`` joins whenever it is not yet a member).
    """
    if cgroup:
        with contextlib.suppress(OSError, ValueError, SandboxUnavailable):
            cgroups.join(cgroup, os.getpid())
    try:
        data, fds, _, _ = socket.recv_fds(sock, _MAX_CONTROL, 8)
        sock.close()
        message = from_wire(decode_body(data)) if data else None
    except (OSError, ProtocolError, SandboxUnavailable):
        os._exit(1)
    if not isinstance(message, Spawn) or len(fds) not in (3, 4):
        for fd in fds:
            os.close(fd)
        os._exit(0)  # the zygote closed the socket: not needed after all
    run_child(message.spec, ChildFds(*fds))


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
