"""The engine's seccomp profile, generated from corral's own syscall policy.

There is one source of truth for what a worker may not ask the kernel:
``corral.sandbox.seccomp``. This module writes the same denials in the OCI
profile language the engine loads before the worker's first instruction, so
the refusals hold even for code that runs before corral's own filter (the
engine's init, the interpreter's start). Argument rules that the profile
language cannot say in one rule (``personality``'s two allowed values,
netlink protocols, UDP) stay with corral's own BPF filter, which the worker
still installs inside the container on top of this one.
"""

from __future__ import annotations

import errno
import json
from functools import lru_cache
from typing import Any

from corral.sandbox import _libc, seccomp

_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64"],
    "aarch64": ["SCMP_ARCH_AARCH64"],
}


def _deny(names: list[str], errno_ret: int = errno.EPERM, **extra: Any) -> dict[str, Any]:
    return {"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret, **extra}


def _arg(index: int, value: int, op: str = "SCMP_CMP_EQ", mask: int = 0) -> dict[str, Any]:
    if op == "SCMP_CMP_MASKED_EQ":
        return {"index": index, "value": mask, "valueTwo": value, "op": op}
    return {"index": index, "value": value, "valueTwo": 0, "op": op}


@lru_cache(maxsize=8)
def profile_for(network: str, machine: str = _libc.MACHINE) -> str:
    """The profile JSON for a network level: allow by default, corral's denials as EPERM.

    The AF_UNIX refusal below ``full`` is left to corral's in-container filter:
    the worker dials its IPC socket before it confines itself.
    """
    rules: list[dict[str, Any]] = [_deny(sorted(seccomp.DENIED))]
    for bit in range(32):
        flag = 1 << bit
        if seccomp.CLONE_NEW_FLAGS & flag:
            rules.append(_deny(["clone"], args=[_arg(0, flag, "SCMP_CMP_MASKED_EQ", flag)]))
    rules.append(_deny(["clone3"], errno.ENOSYS))
    for request in (seccomp.TIOCSTI, seccomp.TIOCLINUX):
        rules.append(_deny(["ioctl"], args=[_arg(1, request)]))
    if network == "none":
        for family in (seccomp.AF_INET, seccomp.AF_INET6):
            rules.append(_deny(["socket"], args=[_arg(0, family)]))
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": _ARCHES.get(machine, []),
        "syscalls": rules,
    }
    return json.dumps(profile, sort_keys=True)
