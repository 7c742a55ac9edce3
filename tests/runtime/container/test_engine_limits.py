"""The engine's own hard limits, read from the process behind its socket."""

from __future__ import annotations

import os
import resource
import socket

import psutil

import corral
from corral.runtime.container.engine_limits import engine_limits, engine_pid


def test_the_pid_behind_a_unix_socket_is_its_server(tmp_path):
    path = str(tmp_path / "engine.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        assert engine_pid(f"unix://{path}") == os.getpid()
    assert engine_pid(f"unix://{tmp_path / 'absent.sock'}") is None
    assert engine_pid("tcp://127.0.0.1:2375") is None


def test_podman_gets_the_servers_hard_limits_docker_none(tmp_path):
    path = str(tmp_path / "engine.sock")
    me = psutil.Process()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()
        got = engine_limits(corral.ContainerConfig(engine="podman", socket=path))
        assert engine_limits(corral.ContainerConfig(engine="docker", socket=path)) == {}
    for name, which in (("nproc", resource.RLIMIT_NPROC), ("nofile", resource.RLIMIT_NOFILE)):
        hard = me.rlimit(which)[1]
        assert got.get(name) == (None if hard == resource.RLIM_INFINITY else hard)
