"""The host's container backend: one engine connection, one image, workers on demand.

Created when a host asks for ``isolation="container"``; it refuses at once
(``SandboxUnavailable``) when the engine cannot be reached or the image is
missing, so a host never starts in a weaker mode than it asked for. It also
removes containers a previous host on this machine left behind when it was
killed (labelled with that host's pid).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil

from corral.errors import SandboxUnavailable
from corral.policy import Grant
from corral.runtime.container.config import ContainerConfig
from corral.runtime.container.engine import HOST_LABEL, WORKER_LABEL, connect
from corral.runtime.container.engine_limits import engine_limits
from corral.runtime.container.image import default_tag, image_present
from corral.runtime.container.mapping import PROVIDED, run_options
from corral.runtime.container.worker import IPC_PREFIX, ContainerWorker, launch, listen, remove
from corral.runtime.pen import PenLayout, build_plan


class ContainerBackend:
    """Starts container workers for one host."""

    def __init__(self, config: ContainerConfig) -> None:
        self.config = config
        self.client = connect(config)
        self.image = config.image or default_tag()
        if not image_present(self.client, self.image):
            self.client.close()
            raise SandboxUnavailable(
                "container",
                f"image {self.image!r} is not on the {config.engine} engine; build it with "
                "`corral container build-image` (no registry needed)",
            )
        self.engine_limits = engine_limits(config)
        self.swept = self.sweep()

    def sweep(self) -> list[str]:
        """Remove worker containers and IPC dirs whose host process is gone; returns their ids."""
        for ipc_dir in Path(tempfile.gettempdir()).glob(f"{IPC_PREFIX}*"):
            owner = ipc_dir.name.removeprefix(IPC_PREFIX).split("-", 1)[0]
            if owner.isdigit() and not psutil.pid_exists(int(owner)):
                shutil.rmtree(ipc_dir, ignore_errors=True)
        gone: list[str] = []
        for container in self.client.containers.list(all=True, filters={"label": WORKER_LABEL}):
            owner = container.labels.get(HOST_LABEL, "")
            if not owner.isdigit() or not psutil.pid_exists(int(owner)):
                remove(container)
                gone.append(container.id)
        return gone

    def spec(
        self,
        grant: Grant,
        store_dir: Path,
        entry: str,
        disabled: Iterable[str],
        host_env: Mapping[str, str],
    ) -> tuple[dict[str, Any], Any]:
        """The worker spec (as the pen's) and its plan, with the engine's layers provided."""
        layout = PenLayout(str(store_dir), "", mounted=True)
        plan, read, write = build_plan(
            grant, layout, host_env=host_env, disabled_layers=set(disabled) - PROVIDED
        )
        plan = dataclasses.replace(plan, provided_layers=PROVIDED)
        spec = {
            "plan": plan.to_wire(),
            "grant": grant.to_wire(),
            "plugin": grant.plugin,
            "entry": entry,
            "baseline_read": list(read),
            "baseline_write": list(write),
            "manifest_file": "plugin.yaml",
        }
        return spec, plan

    def start(
        self,
        grant: Grant,
        store_dir: Path,
        entry: str,
        disabled: Iterable[str],
        dispenser: socket.socket | None = None,
    ) -> ContainerWorker:
        """A ready-to-serve container worker; ``dispenser`` is a restricted worker's proxy end."""
        spec, plan = self.spec(grant, store_dir, entry, disabled, os.environ)
        labels = {WORKER_LABEL: grant.plugin, HOST_LABEL: str(os.getpid())}
        ipc_dir, listener = listen(plan.pen_uid)
        try:
            options = run_options(plan, self.config, ipc_dir, labels, self.engine_limits)
            return launch(
                client=self.client,
                image=self.image,
                options=options,
                ipc_dir=ipc_dir,
                listener=listener,
                spec=spec,
                plugin=grant.plugin,
                cpu_seconds=grant.limits.cpu_seconds,
                dispenser=dispenser,
            )
        except BaseException:
            listener.close()
            shutil.rmtree(ipc_dir, ignore_errors=True)
            raise

    def close(self) -> None:
        self.client.close()
