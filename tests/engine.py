"""A real container engine for the tests and benchmarks: found, or installed and started.

Order: an engine already answering (``DOCKER_HOST`` or the usual socket) is
used and left alone. Otherwise, as root, Debian's ``docker.io`` is installed
when ``dockerd`` is missing and a private daemon is started with the flags
DESIGN.md asks for (``--bridge=none --iptables=false``: never the engine's
default bridge), on its own socket and data root; whoever started it stops
it. Where none of that works, ``EngineUnavailable`` says why, so the tests
can skip loudly (or fail under ``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SOCKET = "/run/corral-docker.sock"
DATA_ROOT = "/var/lib/corral-docker"
EXEC_ROOT = "/run/corral-docker-exec"
PIDFILE = "/run/corral-docker.pid"
LOG = Path("/tmp/corral-dockerd.log")
READY_SECONDS = 90


class EngineUnavailable(RuntimeError):
    """No container engine could be reached or started here; the message says why."""


@dataclass
class Engine:
    """A reachable engine: its socket URL, and the daemon we started (if we did)."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _answers(url: str) -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.DockerClient(base_url=url, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def ensure() -> Engine:
    """An engine that answers a ping, starting one if needed (see the module doc)."""
    try:
        import docker  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(
            "the docker SDK is not installed: pip install -e '.[container]'"
        ) from exc
    for url in filter(
        None, (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock", f"unix://{SOCKET}")
    ):
        if _answers(url):
            return Engine(url)
    if os.geteuid() != 0:
        raise EngineUnavailable("no engine answers and starting dockerd needs root")
    notes = []
    if shutil.which("dockerd") is None:
        notes.append(_install())
    return _start(notes)


def _install() -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run = subprocess.run(
        ["apt-get", "install", "-y", "-q", "docker.io"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if run.returncode != 0 or shutil.which("dockerd") is None:
        raise EngineUnavailable(f"apt-get install docker.io failed: {run.stderr.strip()[-500:]}")
    return "installed docker.io with apt-get"


def _start(notes: list[str]) -> Engine:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    command = [
        "dockerd",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        f"--host=unix://{SOCKET}",
        f"--data-root={DATA_ROOT}",
        f"--exec-root={EXEC_ROOT}",
        f"--pidfile={PIDFILE}",
    ]
    log = LOG.open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    url = f"unix://{SOCKET}"
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineUnavailable(f"dockerd exited ({process.returncode}); see {LOG}")
        if _answers(url):
            return Engine(url, process, [*notes, f"started dockerd on {SOCKET}"])
        time.sleep(0.5)
    process.kill()
    process.wait()
    raise EngineUnavailable(f"dockerd did not answer within {READY_SECONDS} s; see {LOG}")
