"""How a host reaches its container engine and which image its workers run."""

from __future__ import annotations

import os
from dataclasses import dataclass

ENGINES = ("docker", "podman")
DEFAULT_SOCKETS = {
    "docker": "unix:///var/run/docker.sock",
    "podman": "unix:///run/podman/podman.sock",
}


@dataclass(frozen=True)
class ContainerConfig:
    """The engine, the image and the OCI runtime for ``isolation="container"``.

    ``image`` empty means the local image ``corral container build-image``
    makes for this interpreter and this corral (see :func:`default_tag`), so a
    changed corral never runs in a stale image. ``socket`` empty means
    ``DOCKER_HOST`` when set, else the engine's usual socket; Podman is reached
    through its Docker-compatible socket.
    """

    engine: str = "docker"
    image: str = ""
    runtime: str | None = None
    socket: str = ""

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"container engine must be one of {ENGINES}, not {self.engine!r}")

    @property
    def base_url(self) -> str:
        if self.socket:
            return self.socket if "://" in self.socket else f"unix://{self.socket}"
        return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKETS[self.engine]
