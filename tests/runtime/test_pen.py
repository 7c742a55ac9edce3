"""A grant becomes the pen: granted programs run, the admin's rules hold inside.

``subprocess:execute`` is enforced by Landlock's execute right, so a granted
program runs however it is spelled (by path, through a link, by name on
PATH) and an ungranted or admin-blocked one cannot be exec'd at all. Seed
004's extension and path rules, and the loader-variable stripping, are guard
checks on top of Landlock's directory rules (DESIGN.md, "Exec"): with the
guard switched off those tests fail, which is how they show what the guard
alone holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import corral
from corral.policy import AdminPolicy
from tests.conftest import SABOTAGE

pytestmark = pytest.mark.pen
GUARD = "guard" not in SABOTAGE


@pytest.fixture
def programs(host, plugin_dir):
    return host.load(plugin_dir("fixtures/exec_plugin"))


@pytest.fixture
def policed(home, audit, backend, request):
    """A host whose admin policy is given per test: policed({"blocked_commands": [...]})."""
    hosts = []
    options = {}
    if backend == "container":
        options = {
            "isolation": "container",
            "container": request.getfixturevalue("container_engine"),
        }

    def make(policy: dict) -> corral.Host:
        host = corral.Host(
            home=home,
            policy=AdminPolicy.from_dict(policy),
            audit=audit,
            unsafe_disable_layers=SABOTAGE,
            **options,
        )
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


# --- granted programs ---------------------------------------------------------------


@pytest.mark.parametrize("program", ["/usr/bin/echo", "/bin/echo", "echo"])
def test_allow_a_granted_program_by_path_link_or_name(programs, program):
    assert programs.call("run", [program, "hi"])["stdout"] == "hi\n"


def test_allow_a_granted_program_to_write_in_work(programs, host):
    assert programs.call("run", ["/usr/bin/touch", "marker"])["code"] == 0
    assert (host.home.work / "exec-plugin" / "marker").exists()


def test_deny_an_ungranted_program_next_to_granted_ones(programs, audit):
    with pytest.raises(corral.CorralError) as info:
        programs.call("run", ["/usr/bin/id"])
    assert "uid=" not in str(info.value)
    if GUARD:
        assert info.value.permission == "subprocess:execute=/usr/bin/id"


def test_deny_loader_variables_reaching_a_child(programs, audit):
    # If LD_PRELOAD reached /usr/bin/env, env would print it and ld.so would
    # complain on stderr that the (missing) library cannot be preloaded.
    out = programs.call("run_preloaded", ["/usr/bin/env"])
    assert out["code"] == 0
    assert "LD_" not in out["stdout"] + out["stderr"]
    stripped = {e.details.get("target") for e in audit.query(plugin="exec-plugin", kind="denied")}
    assert {"LD_PRELOAD", "LD_LIBRARY_PATH"} <= stripped


def test_deny_loader_variables_through_posix_spawn(programs):
    # posix_spawn copies its environment before any hook runs: it is refused whole.
    with pytest.raises(corral.PermissionDenied, match="LD_"):
        programs.call("spawn_preloaded", ["/usr/bin/env"])


# --- the administrator's rules (seed 004) --------------------------------------------


@pytest.mark.parametrize("backend", ["kernel", "container"])
def test_deny_a_blocked_command_even_when_granted(policed, plugin_dir, audit, backend):
    """Seed 004's ``blocked_commands``, in a pen and inside a container alike."""
    host = policed({"blocked_commands": ["/usr/bin/echo", "touch"]})
    programs = host.load(plugin_dir("fixtures/exec_plugin"))
    dropped = dict(programs.grant.dropped)
    assert "blocked command" in dropped["subprocess:execute=/usr/bin/touch"]
    if backend == "kernel":
        work = host.home.work / "exec-plugin"
    else:  # the container's $WORK tmpfs, seen from the host through its init's root
        (worker,) = programs._slots.queue
        work = Path(f"/proc/{worker.pid}/root/run/corral/work")
    for argv in (["/usr/bin/echo", "hi"], ["/usr/bin/touch", "marker"]):
        with pytest.raises(corral.CorralError) as info:
            programs.call("run", argv)
        if GUARD:
            assert isinstance(info.value, corral.PermissionDenied)
            assert "blocked" in str(info.value)
    assert work.is_dir() and not (work / "marker").exists()
    if GUARD:
        denied = [e.details["target"] for e in audit.query(plugin="exec-plugin", kind="denied")]
        assert {"/usr/bin/echo", "/usr/bin/touch"} <= set(denied)
    assert programs.call("run", ["/usr/bin/env"])["code"] == 0  # what is not blocked still runs


@pytest.fixture
def file_rules(policed, plugin_dir):
    host = policed({"allowed_extensions": [".txt"], "blocked_paths": ["**/*.key"]})
    return host, host.load(plugin_dir("fixtures/malicious_plugin"))


def test_allow_writing_an_allowed_extension(file_rules):
    host, bad = file_rules
    bad.call("write_file", "ok.txt", "fine")
    assert (host.home.work / "malicious-plugin" / "ok.txt").read_text() == "fine"


def test_deny_writing_another_extension(file_rules):
    host, bad = file_rules
    with pytest.raises(corral.PermissionDenied):
        bad.call("write_file", "x.exe")
    assert not (host.home.work / "malicious-plugin" / "x.exe").exists()


def test_deny_reading_a_blocked_path_pattern(file_rules):
    host, bad = file_rules
    work = host.home.work / "malicious-plugin"
    (work / "id.key").write_text("PRIVATE-KEY-MATERIAL")
    (work / "id.txt").write_text("public")
    assert bad.call("read_open", "id.txt") == "public"  # the allowed twin, same directory
    with pytest.raises(corral.PermissionDenied) as info:
        bad.call("read_open", "id.key")
    assert "PRIVATE" not in str(info.value)


def test_an_admin_refusal_is_recorded_with_its_reason(file_rules, audit):
    _, bad = file_rules
    with pytest.raises(corral.PermissionDenied):
        bad.call("write_file", "x.exe")
    reasons = [e.details.get("reason", "") for e in audit.query(kind="denied")]
    assert any("allows writing only .txt" in r for r in reasons)


def test_an_admin_refusal_tells_the_plugin_author_why(file_rules):
    _, bad = file_rules
    with pytest.raises(corral.PermissionDenied, match="admin policy"):
        bad.call("write_file", "x.exe")
