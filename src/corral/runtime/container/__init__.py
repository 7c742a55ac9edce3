"""The container backend: the same worker and protocol, behind a Docker or Podman engine."""

from __future__ import annotations

from corral.runtime.container.config import ContainerConfig
from corral.runtime.container.engine import EngineInfo, connect, describe


def build_container_image(config: ContainerConfig | None = None, tag: str = "") -> str:
    """Build the worker image on the engine from this host's files, pulling nothing."""
    from corral.runtime.container.image import build_image

    client = connect(config or ContainerConfig())
    try:
        return build_image(client, tag or (config.image if config else ""))
    finally:
        client.close()


def container_engine(config: ContainerConfig | None = None) -> EngineInfo:
    """What ``corral doctor`` reports: the engine, its version and security options."""
    return describe(config or ContainerConfig())


__all__ = ["ContainerConfig", "EngineInfo", "build_container_image", "container_engine"]
