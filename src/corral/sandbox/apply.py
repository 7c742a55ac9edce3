"""``confine(plan)``: turn a freshly forked worker into a pen, every layer in its order.

The order is the design (DESIGN.md, "Confinement") and each step depends on
the one before:

1. session: the pen inherits nothing it was not handed (fds, environment).
2. cgroup (as root, with a cgroup namespace rooted at it, so the pen
   cannot read the host's cgroup path), then namespaces. As root, the
   namespaces are created *as root*, so they belong to the host's user
   namespace: when the pen later gets a user namespace of its own, the
   capabilities it holds there give it no power over its mounts, network
   or hostname. Without root, the user namespace comes first and owns the
   rest (the only way to create them).
3. mounts, hostname and loopback while the process can still do them.
4. identity (as root): the pen's uid, then its own user namespace, whose
   per-user object limits (namespaces, inotify, fanotify) are set to 0.
5. rlimits, then no_new_privs, Landlock, capabilities dropped, seccomp, in
   that order because Landlock and seccomp need no_new_privs and seccomp
   forbids the syscalls the earlier steps use.

A layer that is on but cannot be applied raises SandboxUnavailable: never a
silent skip. The caller must then exit; the process is half-confined.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence

from corral.policy.plan import EnforcementPlan
from corral.sandbox import caps, cgroups, landlock, mounts, namespaces, rlimits, seccomp

LOOPBACK_NETWORKS = ("internal", "restricted")
"""Levels with ``lo`` up: internal talks over it, restricted reaches its forwarder there."""


def confine(plan: EnforcementPlan, *, keep_fds: Sequence[int] = (3,)) -> None:
    """Confine the calling process to ``plan``; returns in the pen (pid 1 with a pid namespace).

    With a pid namespace the caller's process becomes an outside relay that
    never returns: it waits for the pen and exits with its status, so whoever
    waits for it sees the pen's exit code, signal and rusage.
    """
    if plan.layer_on("session"):
        _new_session(plan, keep_fds)
    if os.geteuid() == 0:
        _enter_as_root(plan)
    else:
        _enter_as_user(plan)
    _lock_down(plan)


def _new_session(plan: EnforcementPlan, keep_fds: Sequence[int]) -> None:
    with contextlib.suppress(PermissionError):  # already a session leader
        os.setsid()
    null = os.open("/dev/null", os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0)
        os.close(null)
    signal.set_wakeup_fd(-1)  # it may be one of the fds about to be closed
    namespaces.close_fds_except({0, 1, 2, *keep_fds})
    os.environ.clear()
    os.environ.update(dict(plan.env))


def _join_cgroup(plan: EnforcementPlan) -> bool:
    """Join the plan's cgroup; whether the pen is now in a group of its own."""
    if not (plan.layer_on("cgroups") and rlimits.cgroup_in_force(plan)):
        return False
    if not cgroups.member(plan.cgroup_name):  # a spare joined before its plan came
        cgroups.join(plan.cgroup_name, os.getpid())
    return True


def _enter_as_root(plan: EnforcementPlan) -> None:
    if _join_cgroup(plan):
        namespaces.root_own_cgroup()
    layers = namespaces.wanted(plan, user=False)
    namespaces.unshare(layers)
    alive = namespaces.split_reaper() if "pidns" in layers else None
    _furnish(plan, layers)
    namespaces.become(plan.pen_uid, plan.pen_gid)
    if plan.layer_on("userns"):
        namespaces.unshare(("userns",))
        namespaces.map_ids(plan.pen_uid, plan.pen_gid)
        namespaces.close_user_limits()
    if alive is not None:
        namespaces.tether(alive)


def _enter_as_user(plan: EnforcementPlan) -> None:
    _join_cgroup(plan)
    layers = namespaces.wanted(plan, user=True)
    uid, gid = os.getuid(), os.getgid()
    namespaces.unshare(layers)
    if "userns" in layers:
        namespaces.map_ids(uid, gid)
    alive = namespaces.split_reaper() if "pidns" in layers else None
    _furnish(plan, layers)
    if "userns" in layers:
        namespaces.close_user_limits()  # after the namespaces it owns were made
    if alive is not None:
        namespaces.tether(alive)


def _furnish(plan: EnforcementPlan, layers: Sequence[str]) -> None:
    """What needs the namespaces' privileges: mounts, hostname, loopback."""
    if "mountns" in layers:
        mounts.apply(plan)
    if "utsns" in layers:
        namespaces.set_hostname()
    if "netns" in layers and plan.network in LOOPBACK_NETWORKS:
        namespaces.loopback_up()


def _lock_down(plan: EnforcementPlan) -> None:
    if plan.layer_on("rlimits"):
        rlimits.apply(plan)
    caps.no_new_privs()
    if plan.layer_on("landlock"):
        landlock.apply(plan)
    caps.drop_all()
    if plan.layer_on("seccomp"):
        seccomp.apply(plan)
    if plan.work_dir:
        os.chdir(plan.work_dir)
