"""A real container engine for the tests and benchmarks: found, or installed and started.

Order: an engine already answering (``DOCKER_HOST`` or the usual socket) is
used and left alone. Otherwise, as root, Debian's ``docker.io`` is installed
when ``dockerd`` is missing and a private daemon is started with the flags
DESIGN.md asks for (``--bridge=none --iptables=false``: never the engine's
default bridge), on its own socket and data root; whoever started it stops
it. Where none of that works, ``EngineUnavailable`` says why, so the tests
can skip loudly (or fail under ``CI=true``).

``CORRAL_CONTAINER_ENGINE=podman`` selects Podman instead: a service already
answering on ``PODMAN_SOCKET`` is used and left alone; otherwise (as root)
Debian's ``podman`` and ``catatonit`` are installed when missing and
``podman system service --time=0`` is started on that socket and stopped at
the end. ``DOCKER_HOST`` is ignored then: it names a Docker engine.
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
ENGINE_VARIABLE = "CORRAL_CONTAINER_ENGINE"
PODMAN_SOCKET = "/run/corral-podman.sock"
PODMAN_LOG = Path("/tmp/corral-podman.log")


class EngineUnavailable(RuntimeError):
    """No container engine could be reached or started here; the message says why."""


@dataclass
class Engine:
    """A reachable engine: its socket URL, and the daemon we started (if we did)."""

    url: str
    pid: int | None = None
    notes: list[str] = field(default_factory=list)
    kind: str = "docker"

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


def wanted_engine() -> str:
    """``docker`` unless ``CORRAL_CONTAINER_ENGINE`` names another (``podman``)."""
    kind = os.environ.get(ENGINE_VARIABLE, "docker") or "docker"
    if kind not in ("docker", "podman"):
        raise EngineUnavailable(f"{ENGINE_VARIABLE}={kind!r}: expected docker or podman")
    return kind


def ensure(kind: str | None = None) -> Engine:
    """An engine of ``kind`` (by default ``wanted_engine()``) that answers a ping,
    starting one if needed (see the module doc)."""
    try:
        import docker  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(
            "the docker SDK is not installed: pip install -e '.[container]'"
        ) from exc
    if (kind or wanted_engine()) == "podman":
        return _ensure_podman()
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


def _install(packages: tuple[str, ...] = ("docker.io",), binary: str = "dockerd") -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run = subprocess.run(
        ["apt-get", "install", "-y", "-q", *packages],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    names = " ".join(packages)
    if run.returncode != 0 or shutil.which(binary) is None:
        raise EngineUnavailable(f"apt-get install {names} failed: {run.stderr.strip()[-500:]}")
    return f"installed {names} with apt-get"


def _ensure_podman() -> Engine:
    """Podman's Docker-compatible service on ``PODMAN_SOCKET``: found, or started detached."""
    url = f"unix://{PODMAN_SOCKET}"
    if _answers(url):
        return Engine(url, kind="podman")
    if os.geteuid() != 0:
        raise EngineUnavailable("no podman service answers and starting one needs root")
    notes = []
    if shutil.which("podman") is None or shutil.which("catatonit") is None:
        notes.append(_install(("podman", "catatonit"), "podman"))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(PODMAN_SOCKET)
    with PODMAN_LOG.open("ab") as log:
        subprocess.run(
            ["setsid", "-f", "podman", "system", "service", "--time=0", url],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=True,
        )  # fmt: skip
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if _answers(url):
            return Engine(
                url, _podman_pid(), [*notes, f"started podman on {PODMAN_SOCKET}"], "podman"
            )
        time.sleep(0.5)
    Engine(url, _podman_pid(), kind="podman").stop()
    raise EngineUnavailable(f"podman did not answer within {READY_SECONDS} s; see {PODMAN_LOG}")


def _podman_pid() -> int | None:
    """The pid serving our podman socket (its peer credentials), if it is podman."""
    from corral.runtime.container.engine_limits import engine_pid

    pid = engine_pid(f"unix://{PODMAN_SOCKET}")
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if pid else b""
    except OSError:
        return None
    return pid if b"podman" in cmdline and PODMAN_SOCKET.encode() in cmdline else None


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
    """On our private daemon (or Podman service) only: remove worker images of other corral versions.

    Each change to corral's source gives a new image tag (~90 MB); the test
    daemon's data root would otherwise grow with every edit. An image a
    container still uses is kept (the engine refuses).
    """
    if engine.url not in (f"unix://{SOCKET}", f"unix://{PODMAN_SOCKET}"):
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


def _remove_podman_upload_copies(engine: Engine) -> None:
    """Podman 4.3's compatible import keeps each uploaded tarball in /var/tmp (``api_load.tar*``,
    ~95 MB per image build) and never removes it; on our own test service, we do."""
    if engine.kind != "podman" or engine.url != f"unix://{PODMAN_SOCKET}":
        return
    for leftover in Path("/var/tmp").glob("api_load.tar*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


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
    config = corral.ContainerConfig(engine=engine.kind, socket=engine.url)
    try:
        tag = corral.build_container_image(config)  # this corral's tag; a few seconds
        prune_old_images(engine, keep=tag)
        _remove_podman_upload_copies(engine)
    except corral.CorralError as exc:
        engine.stop()
        _engine_unavailable(f"building the worker image failed: {exc}")
    yield config
    engine.stop()
