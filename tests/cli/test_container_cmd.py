"""``corral container build-image``: a user mistake is one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys


def corral(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_build_image_without_an_engine_says_where_it_looked():
    proc = corral("container", "build-image", "--socket", "/run/corral-no-such-engine.sock")
    assert proc.returncode == 1
    assert "no docker engine answers at unix:///run/corral-no-such-engine.sock" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_build_image_refuses_an_unknown_engine():
    proc = corral("container", "build-image", "--engine", "lxc")
    assert proc.returncode == 1
    assert "docker" in proc.stderr and "Traceback" not in proc.stderr
