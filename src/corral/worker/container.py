"""``python -I -B -m corral.worker.container SOCKET``: the worker inside a container.

The container engine already holds the layers it builds (namespaces, the
cgroup, the mounts, the identity); the plan marks them ``provided_layers``.
Everything else is the kernel pen's own code path, unchanged: this entry
dials the host's IPC socket (the only pathname socket it ever opens, before
corral's seccomp filter forbids AF_UNIX), reads its spec as the first frame
(a ``Spawn`` message, the zygote's own), takes the proxy's dispenser when
the plan is ``restricted`` (one byte with the descriptor attached, right
after the spec), and hands over to
:func:`corral.worker.child.run_child`, which wires the channel to fd 3,
confines (rlimits, Landlock, seccomp), installs the guard, loads the plugin
and serves. Same worker, same protocol, one more wall.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import NoReturn

from corral.protocol import Spawn, decode_body, from_wire
from corral.worker.child import ChildFds, run_child

_HEADER = 4
_MAX_SPEC = 1 << 22


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the host closed the channel before sending the spec")
        data += chunk
    return data


def main(argv: list[str]) -> NoReturn:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(argv[1])
    size = int.from_bytes(_read_exact(sock, _HEADER), "big")
    if size > _MAX_SPEC:
        os._exit(2)
    message = from_wire(decode_body(_read_exact(sock, size)))
    if not isinstance(message, Spawn):
        os._exit(2)
    network = _dispenser(sock) if message.spec["plan"].get("network") == "restricted" else -1
    fds = ChildFds(channel=sock.detach(), stdout=os.dup(1), stderr=os.dup(2), network=network)
    run_child(message.spec, fds)


def _dispenser(sock: socket.socket) -> int:
    """The proxy's dispenser, sent as one byte with the descriptor; -1 when it did not come.

    Without it ``run_child`` refuses to serve (``SandboxUnavailable("netproxy")``),
    so a restricted worker never runs with no way out and an unexplained failure.
    """
    tag, fds, _, _ = socket.recv_fds(sock, 1, 1)
    if tag != b"d" or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return -1
    return fds[0]


if __name__ == "__main__":
    main(sys.argv)
