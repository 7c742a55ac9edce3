"""Context figures: other isolation tools, measured where they exist on this machine."""

from __future__ import annotations

import shutil
import subprocess
import sys

from benchmarks.harness import timed


def notes(runs: int) -> list[str]:
    """One line per alternative: its median start-to-answer time, or why it was skipped."""
    return [_bwrap(runs), _container(runs)]


def _bwrap(runs: int) -> str:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap + python: skipped, bwrap is not installed"
    command = [
        bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
        "--die-with-parent", sys.executable, "-I", "-S", "-c", "print('ok')",
    ]
    samples = sorted(timed(lambda: subprocess.run(command, check=True, capture_output=True))
                     for _ in range(runs))
    median = samples[len(samples) // 2] * 1e3
    return f"bwrap + python -I -S, start to answer: median {median:.1f} ms"


def _container(runs: int) -> str:
    docker = shutil.which("docker")
    if docker is None:
        return "container start: skipped, no docker client"
    probe = subprocess.run([docker, "info"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "container start: skipped, the docker client finds no engine on this machine"
    samples = sorted(
        timed(lambda: subprocess.run(
            [docker, "run", "--rm", "--network", "none", "python:3.11-slim", "python", "-c", "1"],
            check=True, capture_output=True))
        for _ in range(runs)
    )
    median = samples[len(samples) // 2] * 1e3
    return f"docker run python:3.11-slim, start to exit: median {median:.0f} ms"
