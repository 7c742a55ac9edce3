"""Make a kernel feature look absent, to test the refusal paths of the layers that need it.

Only the fail-secure paths use this: a barrier itself is always tested on the
real kernel feature.
"""

from __future__ import annotations

import ctypes
import struct

from corral.sandbox import _libc, caps


def refuse_syscall(name: str, err: int) -> None:
    """Make this process's kernel answer ``err`` to ``name``, as a kernel lacking it would."""
    nr = _libc.syscall_number(name)
    code = [
        (0x20, 0, 0, 0),
        (0x15, 0, 1, nr),
        (0x06, 0, 0, 0x50000 | err),
        (0x06, 0, 0, 0x7FFF0000),
    ]
    program = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in code))
    fprog = struct.pack("HxxxxxxQ", len(code), ctypes.addressof(program))
    caps.no_new_privs()
    _libc.syscall("seccomp", 1, 0, ctypes.create_string_buffer(fprog, len(fprog)))
