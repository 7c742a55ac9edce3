"""``corral doctor``: which confinement layers this machine supports, for people and scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

NAMESPACES = {
    "userns": "user",
    "mountns": "mnt",
    "pidns": "pid",
    "ipcns": "ipc",
    "utsns": "uts",
    "netns": "net",
}


def doctor(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.cli", "doctor", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_lists_every_layer_with_a_boolean():
    proc = doctor("--json")
    assert proc.returncode == 0, proc.stderr
    layers = {row["layer"]: row for row in json.loads(proc.stdout)}
    for name in (*NAMESPACES, "landlock", "seccomp", "cgroups.memory", "cgroups.pids"):
        assert isinstance(layers[name]["available"], bool), name
        assert layers[name]["requirement"], name
    assert all(isinstance(row["available"], bool) for row in layers.values())


def test_json_says_which_memory_and_process_limits_are_in_force():
    layers = {row["layer"]: row for row in json.loads(doctor("--json").stdout)}
    cgroup = layers["cgroups.memory"]["available"] and os.geteuid() == 0
    assert ("cgroup" in layers["limit.memory"]["detail"]) == cgroup
    assert ("cgroup" in layers["limit.processes"]["detail"]) == cgroup


@pytest.mark.skipif(
    os.geteuid() != 0, reason="unprivileged, a kernel may have a namespace and refuse it"
)
def test_as_root_namespaces_reported_match_what_the_kernel_has():
    layers = {row["layer"]: row for row in json.loads(doctor("--json").stdout)}
    for layer, ns in NAMESPACES.items():
        assert layers[layer]["available"] == os.path.exists(f"/proc/self/ns/{ns}"), layer


def test_text_output_is_a_table_for_people():
    proc = doctor()
    assert proc.returncode == 0
    for name in (*NAMESPACES, "landlock", "seccomp"):
        assert name in proc.stdout
    assert "Traceback" not in proc.stderr


def test_the_engine_row_asks_the_engine_the_homes_policy_names(tmp_path):
    (tmp_path / "policy.yaml").write_text(
        "container:\n  engine: podman\n  socket: /run/corral-no-such-podman.sock\n"
    )
    rows = {row["layer"]: row for row in json.loads(doctor("--json", "--home", str(tmp_path)).stdout)}
    assert rows["container"]["available"] is False
    assert "unix:///run/corral-no-such-podman.sock" in rows["container"]["detail"]
    assert "podman" in rows["container"]["detail"]
