"""isolation="container" on a real engine: same results as the pen, and nothing left behind."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import docker
import pytest

import corral
from corral.policy import AdminPolicy
from corral.runtime.container.engine import HOST_LABEL, WORKER_LABEL
from tests._net import Web
from tests.conftest import SABOTAGE

pytestmark = [pytest.mark.pen, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def engine(container_engine):
    client = docker.DockerClient(base_url=container_engine.base_url)
    yield client
    client.close()


@pytest.fixture
def chost(home, audit, container_engine):
    """A container host; in a sabotage run (scripts/sabotage.py) with that run's layers off."""
    with corral.Host(
        home=home,
        audit=audit,
        isolation="container",
        container=container_engine,
        unsafe_disable_layers=SABOTAGE,
    ) as h:
        yield h


def _workers(client, host=None):
    """Worker containers of the hosts in process ``host`` (default: this one).

    Other test runs on the same machine may share the engine; their workers are
    not this test's to count.
    """
    labels = [WORKER_LABEL, f"{HOST_LABEL}={host or os.getpid()}"]
    return client.containers.list(all=True, filters={"label": labels})


def _leftovers(client):
    """Everything a worker could leave behind: containers, volumes, networks, IPC dirs.

    Containers and IPC dirs are counted for this process's hosts only (its label,
    ``corral-ipc-<pid>-*``), so a second test run on the same machine does not disturb
    the count.
    """
    return (
        len(_workers(client)),
        len(client.volumes.list()),
        len(client.networks.list()),
        len(glob.glob(f"/tmp/corral-ipc-{os.getpid()}-*")),
    )


# --- same plugin, same results ----------------------------------------------------


def test_allow_the_good_plugin_gives_the_same_results_in_both_walls(
    home, audit, plugin_dir, container_engine, monkeypatch
):
    monkeypatch.setenv("TZ", "Europe/Oslo")

    def session(**options):
        with corral.Host(home=home, audit=audit, **options) as host:
            plugin = host.load(plugin_dir("good"))
            results = [
                plugin.call("echo", "hi"),
                plugin.call("echo", value="again"),
                plugin.call("cities")[0]["name"],
                Path(plugin.call("write_note", "a.txt", "hello")).name,
                plugin.call("sqlite_roundtrip"),
                plugin.call("threads", 8),
                plugin.call("tmp_roundtrip"),
                plugin.call("env")["TZ"],
            ]
            with pytest.raises(corral.PermissionDenied) as info:
                plugin.call("secret")
            return results, str(info.value)

    kernel = session()
    container = session(isolation="container", container=container_engine)
    assert container == kernel
    assert kernel[0][0] == {"value": "hi", "calls": 1}


def test_worker_started_is_audited_with_the_backend(chost, plugin_dir, audit):
    chost.load(plugin_dir("good")).call("echo", 1)
    assert audit.query(plugin="good-notes", kind="worker.started")


# --- fail secure ------------------------------------------------------------------


def test_no_engine_is_sandbox_unavailable_never_a_weaker_wall(home):
    config = corral.ContainerConfig(socket=f"/run/corral-no-engine-{uuid.uuid4().hex}.sock")
    with pytest.raises(corral.SandboxUnavailable, match="no docker engine answers"):
        corral.Host(home=home, audit="memory", isolation="container", container=config)


def test_missing_image_names_the_command_that_builds_it(home, container_engine):
    config = corral.ContainerConfig(socket=container_engine.socket, image="corral-worker:absent")
    with pytest.raises(corral.SandboxUnavailable, match="corral container build-image"):
        corral.Host(home=home, audit="memory", isolation="container", container=config)


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(ValueError, match="docker"):
        corral.ContainerConfig(engine="lxc")


# --- container-specific attacks ---------------------------------------------------


def test_deny_reaching_the_engine_from_inside(chost, plugin_dir, engine, container_engine):
    probe = chost.load(plugin_dir("fixtures/engine_probe"))
    name = f"corral-escape-{uuid.uuid4().hex[:8]}"
    socket_path = container_engine.base_url.removeprefix("unix://")
    for path in {socket_path, "/var/run/docker.sock", "/run/docker.sock"}:
        answer = probe.call("create_container", path, name)
        assert not answer.startswith("reply"), (path, answer)
    assert engine.containers.list(all=True, filters={"name": name}) == []


def test_deny_writing_the_root_filesystem(chost, plugin_dir, engine):
    probe = chost.load(plugin_dir("fixtures/engine_probe"))
    targets = ["/usr/lib/python3.11/planted.py", "/etc/profile", "/evil"]
    for target in targets:
        assert probe.call("write_raw", target) != "written"
    (worker,) = _workers(engine)
    changed = {c["Path"] for c in worker.diff() or []}
    assert not changed & set(targets)
    root = Path(f"/proc/{int(worker.attrs['State']['Pid'])}/root")
    assert not any((root / t.lstrip("/")).exists() for t in targets[::2])


def test_allow_work_is_a_size_capped_tmpfs(chost, plugin_dir):
    probe = chost.load(plugin_dir("fixtures/engine_probe"))
    assert probe.call("write_raw", "/run/corral/work/ok") == "written"


def test_deny_filling_work_past_disk_mb(chost, plugin_dir, engine):
    """A container's ``$WORK`` is its own tmpfs, capped at ``disk_mb`` (16 MiB) by the engine.

    Judged through the live container's root from the host. (A kernel pen's
    ``$WORK`` is a host directory the monitor holds, not the kernel.)
    """
    filler = chost.load(plugin_dir("fixtures/scratch_filler"))
    outcome = filler.call("fill", "/run/corral/work/fill", 40)
    (worker,) = _workers(engine)
    seen = Path(f"/proc/{int(worker.attrs['State']['Pid'])}/root/run/corral/work/fill")
    used = sum(f.stat().st_size for f in seen.iterdir())
    assert 0 < used <= 16 * 1024 * 1024, (outcome, used)
    assert outcome["written"] < 40 and outcome["error"], outcome


def test_an_engine_layer_switched_off_is_audited_and_reaches_the_engine(
    home, audit, plugin_dir, engine, container_engine
):
    """``unsafe_disable_layers`` (the sabotage check's only way in) reaches the engine's
    options, and is recorded as ``unsafe`` and in ``worker.started`` like a kernel layer."""
    with corral.Host(
        home=home,
        audit=audit,
        isolation="container",
        container=container_engine,
        unsafe_disable_layers={"engine-cpu"},
    ) as h:
        h.load(plugin_dir("fixtures/malicious_plugin"))
        (worker,) = _workers(engine)
        assert worker.attrs["HostConfig"]["NanoCpus"] == 0
        assert worker.attrs["HostConfig"]["PidsLimit"] > 0  # the others stay on
    (unsafe,) = audit.query(plugin="malicious-plugin", kind="unsafe")
    assert unsafe.details["unsafe_disable_layers"] == ["engine-cpu"]
    (started,) = audit.query(plugin="malicious-plugin", kind="worker.started")
    assert started.details["layers_off"] == ["engine-cpu"]


# --- nothing left behind ------------------------------------------------------------


def test_no_container_outlives_its_worker_after_any_fault(chost, plugin_dir, engine):
    before = _leftovers(engine)
    bad = chost.load(plugin_dir("fixtures/malicious_plugin"))
    assert len(_workers(engine)) == before[0] + 1
    with pytest.raises(corral.PluginCrashed):
        bad.call("crash")
    assert _leftovers(engine) == before
    with pytest.raises(corral.PluginTimeout):
        bad.call("sleep", 60)
    assert _leftovers(engine) == before
    with pytest.raises((corral.ResourceLimitExceeded, corral.PluginCrashed)):
        bad.call("memory_bomb", 1024)
    assert _leftovers(engine) == before
    with pytest.raises((corral.ResourceLimitExceeded, corral.PluginTimeout)):
        bad.call("busy_loop", 60)  # past cpu_seconds: killed, and its container removed
    assert _leftovers(engine) == before
    try:
        bad.call("fork_bomb", 200)
    except corral.CorralError:
        pass
    bad.close()
    assert _leftovers(engine) == before
    bad = chost.load(plugin_dir("fixtures/malicious_plugin"))
    assert bad.call("sleep", 0) == 0
    bad.close()
    assert _leftovers(engine) == before


def test_memory_past_the_limit_is_named_as_memory(chost, plugin_dir):
    bad = chost.load(plugin_dir("fixtures/malicious_plugin"))
    with pytest.raises(corral.ResourceLimitExceeded) as info:
        bad.call("memory_bomb", 300)
    assert info.value.limit == "memory_mb"


def test_host_close_removes_every_container(home, plugin_dir, engine, container_engine):
    before = _leftovers(engine)
    with corral.Host(
        home=home, audit="memory", isolation="container", container=container_engine
    ) as h:
        h.load(plugin_dir("good"))
        h.load(plugin_dir("fixtures/malicious_plugin"))
        assert len(_workers(engine)) == before[0] + 2
    assert _leftovers(engine) == before


def test_a_killed_hosts_containers_are_swept_by_the_next_host(
    home, plugin_dir, engine, container_engine
):
    script = textwrap.dedent(
        f"""
        import sys, corral
        config = corral.ContainerConfig(engine={container_engine.engine!r}, socket={container_engine.socket!r})
        host = corral.Host(home={str(home)!r}, audit="memory", isolation="container", container=config)
        host.load({str(plugin_dir("good"))!r})
        print("loaded", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    assert child.stdout.readline().strip() == b"loaded"
    assert _workers(engine, child.pid)
    assert glob.glob(f"/tmp/corral-ipc-{child.pid}-*")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with corral.Host(home=home, audit="memory", isolation="container", container=container_engine):
        pass
    assert not _workers(engine, child.pid)
    assert not glob.glob(f"/tmp/corral-ipc-{child.pid}-*")


def test_an_orphaned_worker_ends_when_its_host_channel_closes(
    home, plugin_dir, engine, container_engine
):
    """Without a host the worker's channel reads EOF and it exits; its container stops."""
    script = textwrap.dedent(
        f"""
        import sys, corral
        config = corral.ContainerConfig(engine={container_engine.engine!r}, socket={container_engine.socket!r})
        host = corral.Host(home={str(home)!r}, audit="memory", isolation="container", container=config)
        host.load({str(plugin_dir("good"))!r})
        print("loaded", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
    )
    assert child.stdout.readline().strip() == b"loaded"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    mine = _workers(engine, child.pid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for c in mine:
            c.reload()
        if all(c.status == "exited" for c in mine):
            break
        time.sleep(0.2)
    assert mine and all(c.status == "exited" for c in mine)
    with corral.Host(home=home, audit="memory", isolation="container", container=container_engine):
        pass  # and the next host sweeps what is left
    assert not _workers(engine, child.pid)
    assert not glob.glob(f"/tmp/corral-ipc-{child.pid}-*")


# --- restricted: the proxy's dispenser and nothing else -------------------------------------


def _restricted(plugin_copy, web):
    ports = {"PORTA": str(web.port), "PORTB": "1", "PORTC": "1"}
    return plugin_copy("fixtures/restricted_network", ports)


def test_a_restricted_worker_has_no_network_but_its_dispenser_and_leaves_nothing(
    home, audit, plugin_copy, engine, container_engine
):
    """Network mode ``none``; no socket file to dial; a crash and an unload leave nothing."""
    web = Web("127.0.0.1")
    before = _leftovers(engine)
    try:
        with corral.Host(
            home=home, audit=audit, isolation="container", container=container_engine
        ) as h:
            net = h.load(_restricted(plugin_copy, web))
            (worker,) = net._slots.queue
            settings = engine.containers.get(worker.container_id).attrs["HostConfig"]
            assert settings["NetworkMode"] == "none"
            assert os.listdir(worker._ipc_dir) == []  # the dispenser came over the channel
            request = "GET /r HTTP/1.0\r\n\r\n"
            assert net.call("raw", "127.0.0.1", web.port, request).endswith("hello /r")
            engine.containers.get(worker.container_id).kill()
            with pytest.raises(corral.PluginCrashed):
                net.call("raw", "127.0.0.1", web.port, request)
            assert _leftovers(engine)[0] == before[0]  # the crashed one is gone
            assert net.call("raw", "127.0.0.1", web.port, request).endswith("hello /r")
            h.unload("restricted-network")
            assert _leftovers(engine) == before
    finally:
        web.close()
    assert web.connections == 2
    allowed = [e for e in audit.query(kind="network.connect") if e.decision == "allow"]
    assert len(allowed) == 2 and all(e.source == "host" for e in allowed)


# --- isolation chosen by policy --------------------------------------------------------------


def test_a_kernel_host_runs_the_tiers_that_require_it_in_containers(
    home, audit, plugin_dir, engine, container_engine
):
    """Community requires containers; one plugin is pinned back to the pen by name."""
    policy = AdminPolicy.from_dict(
        {
            "tiers": {"community": {"isolation": "container"}},
            "plugins": {"good-notes": {"isolation": "kernel"}},
        }
    )
    before = _leftovers(engine)
    with corral.Host(home=home, audit=audit, policy=policy, container=container_engine) as h:
        assert h.isolation == "kernel"
        bad = h.load(plugin_dir("fixtures/engine_probe"))
        good = h.load(plugin_dir("good"))
        (worker,) = _workers(engine)
        assert worker.labels[WORKER_LABEL] == bad.name
        assert good.call("echo", "hi") == {"value": "hi", "calls": 1}
        # the container's wall, by attack: its root filesystem is read-only
        assert bad.call("write_raw", "/evil") != "written"
        assert not (Path(f"/proc/{int(worker.attrs['State']['Pid'])}/root") / "evil").exists()
    assert _leftovers(engine) == before
    started = {e.plugin: e.details["isolation"] for e in audit.query(kind="worker.started")}
    assert started == {bad.name: "container", "good-notes": "kernel"}


def test_the_policy_file_names_the_engine_for_an_application_that_does_not(
    home, audit, plugin_dir, engine, container_engine
):
    """An operator moves container tiers to an engine in policy.yaml; the host code is unchanged."""
    (home / "policy.yaml").write_text(
        "tiers:\n"
        "  community:\n"
        "    isolation: container\n"
        "container:\n"
        f"  engine: {container_engine.engine}\n"
        f"  socket: {container_engine.base_url}\n"
    )
    before = _leftovers(engine)
    with corral.Host(home=home, audit=audit) as h:  # no ContainerConfig in code
        probe = h.load(plugin_dir("fixtures/engine_probe"))
        (worker,) = _workers(engine)
        assert worker.labels[WORKER_LABEL] == probe.name
        assert probe.call("write_raw", "/evil") != "written"
        assert not (Path(f"/proc/{int(worker.attrs['State']['Pid'])}/root") / "evil").exists()
    assert _leftovers(engine) == before
    (started,) = audit.query(kind="worker.started")
    assert started.details["isolation"] == "container"
