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
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

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
    pid: int | None = None
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the daemon we started (SIGTERM, then SIGKILL after 30 s); no-op otherwise."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not Path(f"/proc/{pid}").exists() or _zombie(pid):
                    return
                time.sleep(0.2)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


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
    """Start dockerd detached (``setsid -f``): not a child of the test process, whose
    no-process-left-behind checks would otherwise count it; stopped through its pidfile."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    command = [
        "setsid", "-f", "dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
        f"--host=unix://{SOCKET}", f"--data-root={DATA_ROOT}", f"--exec-root={EXEC_ROOT}",
        f"--pidfile={PIDFILE}",
    ]  # fmt: skip
    with LOG.open("ab") as log:
        subprocess.run(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=True)
    url = f"unix://{SOCKET}"
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if _answers(url):
            return Engine(url, _daemon_pid(), [*notes, f"started dockerd on {SOCKET}"])
        time.sleep(0.5)
    engine = Engine(url, _daemon_pid())
    engine.stop()
    raise EngineUnavailable(f"dockerd did not answer within {READY_SECONDS} s; see {LOG}")


def _daemon_pid() -> int | None:
    """The pid in our dockerd's pidfile, if that process is our dockerd."""
    try:
        pid = int(Path(PIDFILE).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"dockerd" in cmdline and SOCKET.encode() in cmdline else None


def prune_old_images(engine: Engine, keep: str) -> list[str]:
    """On our private daemon only: remove worker images of other corral versions.

    Each change to corral's source gives a new image tag (~90 MB); the test
    daemon's data root would otherwise grow with every edit. An image a
    container still uses is kept (the engine refuses).
    """
    if engine.url != f"unix://{SOCKET}":
        return []
    import docker

    removed: list[str] = []
    client = docker.DockerClient(base_url=engine.url, timeout=30)
    try:
        for image in client.images.list(name=keep.rpartition(":")[0]):
            if keep not in image.tags:
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(image.id, force=False)
                    removed.append(image.id)
        with contextlib.suppress(docker.errors.APIError):
            client.images.prune()
    finally:
        client.close()
    return removed


# --- the shared pytest fixture (imported by tests/conftest.py) ------------------------------


def _engine_unavailable(reason: str):
    """Skip loudly, or fail under CI=true: an untested backend is never reported as passed."""
    message = f"CONTAINER BACKEND NOT TESTED: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="session")
def container_engine():
    """A real engine for the whole session, with the worker image built; stopped at the end."""
    import corral

    try:
        engine = ensure()
    except EngineUnavailable as exc:
        _engine_unavailable(str(exc))
    config = corral.ContainerConfig(socket=engine.url)
    try:
        tag = corral.build_container_image(config)  # this corral's tag; a few seconds
        prune_old_images(engine, keep=tag)
    except corral.CorralError as exc:
        engine.stop()
        _engine_unavailable(f"building the worker image failed: {exc}")
    yield config
    engine.stop()
