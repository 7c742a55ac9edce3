"""The engine connection: reached through the Docker SDK on its socket, or refused.

Fail secure: a host that asked for containers and cannot reach the engine
gets ``SandboxUnavailable``, never a kernel pen or a plain process instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corral.errors import SandboxUnavailable
from corral.runtime.container.config import ContainerConfig

WORKER_LABEL = "corral.worker"
HOST_LABEL = "corral.host"


def connect(config: ContainerConfig, timeout: float = 10.0) -> Any:
    """A ``docker.DockerClient`` that answered a ping, or ``SandboxUnavailable``."""
    try:
        import docker
    except ImportError as exc:
        raise SandboxUnavailable(
            "container",
            "isolation='container' needs the Docker SDK for Python: "
            "pip install 'corral[container]'",
        ) from exc
    try:
        client = docker.DockerClient(base_url=config.base_url, timeout=int(timeout))
        client.ping()
    except Exception as exc:
        raise SandboxUnavailable(
            "container",
            f"no {config.engine} engine answers at {config.base_url} ({_short(exc)}); start it, "
            "or set ContainerConfig(socket=...)",
        ) from exc
    return client


@dataclass(frozen=True)
class EngineInfo:
    """What ``corral doctor`` says about the engine."""

    reachable: bool
    detail: str
    version: str = ""
    security_options: tuple[str, ...] = ()


def describe(config: ContainerConfig) -> EngineInfo:
    """The engine's version and security options, or why it cannot be reached."""
    try:
        client = connect(config, timeout=3)
    except SandboxUnavailable as exc:
        return EngineInfo(False, str(exc))
    try:
        info = client.info()
        version = str(client.version().get("Version", ""))
    finally:
        client.close()
    options = tuple(str(o) for o in info.get("SecurityOptions", ()))
    return EngineInfo(True, f"{config.engine} {version} at {config.base_url}", version, options)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
