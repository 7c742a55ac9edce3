"""``corral run``: one call in the real pen, as a plugin author runs it from a shell.

Each test starts the command as a separate process, the way a person or a
script would, and reads only its stdout, stderr and exit code: 0 when the
call returned, 1 when the plugin failed or was refused, 2 when the command
line itself is wrong. With ``--json`` stdout is exactly one JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.pen
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def corral_run(*argv: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    where = ["--home", str(home)] if home is not None else []
    return subprocess.run(
        [sys.executable, "-m", "corral.cli", "run", *argv, *where],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.stdout.count("\n") == 1, proc.stdout + proc.stderr  # one object, one line
    return json.loads(proc.stdout)


def test_allow_a_call_prints_its_result_and_usage(tmp_path):
    proc = corral_run(str(PLUGINS / "good"), "echo", "--args", '["hi"]', "--json", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = as_json(proc)
    assert out["ok"] is True
    assert out["result"] == {"value": "hi", "calls": 1}
    assert set(out["usage"]) == {"wall_seconds", "cpu_seconds", "peak_memory_mb"}
    assert out["usage"]["wall_seconds"] > 0


def test_allow_keyword_arguments_as_a_json_object(tmp_path):
    proc = corral_run(
        str(PLUGINS / "good"), "echo", "--args", '{"value": 7}', "--json", home=tmp_path
    )
    assert as_json(proc)["result"] == {"value": 7, "calls": 1}


def test_deny_prints_the_error_and_the_permission_that_would_allow_it(tmp_path):
    bad = str(PLUGINS / "fixtures" / "malicious_plugin")
    proc = corral_run(bad, "read_open", "--args", '["/etc/hostname"]', "--json", home=tmp_path)
    assert proc.returncode == 1
    error = as_json(proc)["error"]
    assert error["type"] == "PermissionDenied"
    assert error["permission"] == "file:read=/etc/hostname"
    assert "add it to permissions in plugin.yaml" in error["message"]
    assert "Traceback" not in proc.stderr


def test_deny_by_the_manifests_own_deny_says_so(tmp_path):
    proc = corral_run(str(PLUGINS / "good"), "secret", "--json", home=tmp_path)
    error = as_json(proc)["error"]
    assert error["type"] == "PermissionDenied" and error["permission"] == ""
    assert "denied by 'file:read=data/secrets/**'" in error["message"]


def test_a_crash_is_an_error_object_not_a_traceback(tmp_path):
    proc = corral_run(
        str(PLUGINS / "fixtures" / "malicious_plugin"), "crash", "--json", home=tmp_path
    )
    assert proc.returncode == 1
    assert as_json(proc)["error"]["type"] == "PluginCrashed"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_text_output_for_people(tmp_path):
    ok = corral_run(str(PLUGINS / "good"), "echo", "--args", '["hi"]', home=tmp_path)
    assert ok.returncode == 0
    assert json.loads(ok.stdout) == {"value": "hi", "calls": 1}
    assert "usage" in ok.stderr
    denied = corral_run(str(PLUGINS / "good"), "secret", home=tmp_path)
    assert denied.returncode == 1
    assert denied.stdout == ""
    assert "PermissionDenied" in denied.stderr and "file:read=data/secrets" in denied.stderr


@pytest.mark.parametrize("bad", ["[hi", "{'value': 1}"])
def test_arguments_that_are_not_json_are_a_usage_error(tmp_path, bad):
    proc = corral_run(str(PLUGINS / "good"), "echo", "--args", bad, "--json", home=tmp_path)
    assert proc.returncode == 2
    error = as_json(proc)["error"]  # --json promises one object, even for a usage error
    assert error["type"] == "UsageError" and "--args is not JSON" in error["message"]
    assert "Traceback" not in proc.stderr


def test_arguments_that_are_not_json_without_json_flag(tmp_path):
    proc = corral_run(str(PLUGINS / "good"), "echo", "--args", "[hi", home=tmp_path)
    assert proc.returncode == 2
    assert "--args is not JSON" in proc.stderr and proc.stdout == ""


def test_an_isolation_level_this_host_cannot_give_is_refused(tmp_path):
    argv = ("echo", "--args", "[1]", "--isolation", "container", "--json")
    proc = corral_run(str(PLUGINS / "good"), *argv, home=tmp_path)
    assert proc.returncode == 1
    assert as_json(proc)["error"]["type"] == "SandboxUnavailable"


@pytest.mark.skipif(os.geteuid() != 0, reason="as root the pen runs as another uid")
def test_allow_process_isolation_with_the_scratch_home():
    # No --home: the command's own scratch home must be reachable by the pen's uid.
    proc = corral_run(
        str(PLUGINS / "good"), "echo", "--args", "[1]", "--isolation", "process", "--json"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert as_json(proc)["result"]["value"] == 1
