"""A worker leaves nothing behind: no process and no cgroup, however it ends.

Each test loads a copy of a fixture under a name no other run uses, then
looks from outside, in ``/sys/fs/cgroup`` and the process table, for what
that plugin's workers left. A worker replaced after a crash, a timeout or an
OOM kill must take its cgroup with it; ``Host.close()`` must take everything.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psutil
import pytest

import corral
from corral.policy import AdminPolicy
from tests.conftest import SABOTAGE

pytestmark = pytest.mark.pen
CGROUPS = os.geteuid() == 0 and "cgroups" not in SABOTAGE


def cgroups_of(plugin: str) -> set[str]:
    """Names of the cgroups ``<plugin>-*`` under a ``corral`` dir of any hierarchy."""
    found = set()
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        if Path(root).name == "corral":
            found.update(d for d in dirs if d.startswith(f"{plugin}-"))
            dirs.clear()
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def worker_pids(audit, plugin: str) -> list[int]:
    return [int(e.worker) for e in audit.query(plugin=plugin, kind="worker.started")]


def descendants() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if alive(p.pid)]


@pytest.fixture
def unique(plugin_copy):
    """A copy of a fixture plugin renamed ``leak-<random>``: (path, name)."""

    def copy(fixture: str, old_name: str, **manifest: str) -> tuple[Path, str]:
        name = f"leak-{uuid.uuid4().hex[:8]}"
        replace = {f"name: {old_name}": f"name: {name}", **manifest}
        return plugin_copy(fixture, replace), name

    return copy


@pytest.fixture
def malicious(unique):
    # A 1 s call timeout keeps the timeout case short.
    return unique(
        "fixtures/malicious_plugin",
        "malicious-plugin",
        **{"call_timeout_seconds: 5": "call_timeout_seconds: 1"},
    )


def test_close_leaves_no_cgroup_and_no_process(home, audit, malicious):
    path, name = malicious
    host = corral.Host(home=home, audit=audit, unsafe_disable_layers=SABOTAGE)
    host.load(path).call("whoami")
    if CGROUPS:
        assert len(cgroups_of(name)) == 1
    host.close()
    assert cgroups_of(name) == set()
    assert not any(alive(pid) for pid in worker_pids(audit, name))
    assert descendants() == []


@pytest.mark.parametrize(
    ("how", "args", "error"),
    [
        ("crash", (), corral.PluginCrashed),
        ("sleep", (60,), corral.PluginTimeout),
        pytest.param(
            "memory_bomb",
            (300,),
            corral.ResourceLimitExceeded,
            marks=pytest.mark.skipif(not CGROUPS, reason="an OOM kill needs the memory cgroup"),
        ),
    ],
)
def test_a_replaced_worker_leaves_no_cgroup(host, audit, malicious, how, args, error):
    path, name = malicious
    plugin = host.load(path)
    first = cgroups_of(name)
    with pytest.raises(error):
        plugin.call(how, *args)
    assert plugin.call("sleep", 0) == 0  # a fresh worker answers
    now = cgroups_of(name)
    assert not first & now
    if CGROUPS:
        assert len(now) == 1
    old, new = worker_pids(audit, name)
    assert not alive(old) and alive(new)


def test_a_refused_load_leaves_no_cgroup_and_no_process(host, audit, unique):
    path, name = unique("fixtures/entry_not_a_plugin", "entry-not-a-plugin")
    with pytest.raises(corral.PluginValidationError):
        host.load(path)
    assert cgroups_of(name) == set()
    assert [p for p in descendants() if p.ppid() != os.getpid()] == []  # the zygote only


def test_cpu_seconds_past_the_rlimit_is_reported_as_that_limit(home, audit, malicious):
    # The tier's quota is lifted so that cpu_seconds=1 is reached in about a second
    # of wall time; the call timeout (1 s in the copy) is raised to leave room for it.
    path, _ = malicious
    manifest = path / "plugin.yaml"
    text = manifest.read_text().replace("cpu_seconds: 2", "cpu_seconds: 1")
    manifest.write_text(text.replace("call_timeout_seconds: 1", "call_timeout_seconds: 10"))
    policy = AdminPolicy.from_dict({"tiers": {"community": {"limits": {"cpu_percent": 100}}}})
    with corral.Host(home=home, policy=policy, audit=audit, unsafe_disable_layers=SABOTAGE) as host:
        plugin = host.load(path)
        with pytest.raises(corral.ResourceLimitExceeded) as info:
            plugin.call("busy_loop", 30)
        assert info.value.limit == "cpu_seconds"
        assert plugin.call("sleep", 0) == 0
