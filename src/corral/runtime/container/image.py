"""A worker image built on this machine, with no registry: ``docker import`` of a rootfs.

The image holds exactly what a worker runs: this host's interpreter and the
shared libraries it and its extension modules link, the standard library,
corral and the few packages the worker imports, a shell and a handful of
coreutils (so the pen's exec denials are tested against real binaries), and a
minimal ``/etc``. Nothing is pulled. The tag carries a digest of corral's
own files and the interpreter's version, so a changed corral gets a new image
rather than running stale worker code.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import json
import os
import py_compile
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import corral

IMAGE_REPOSITORY = "corral-worker"
SITE_DIR = f"/usr/local/lib/python{sys.version_info[0]}.{sys.version_info[1]}/dist-packages"
WORKER_PACKAGES = (
    "msgpack", "pydantic", "pydantic_core", "annotated_types", "typing_extensions",
    "typing_inspection",
)  # fmt: skip
TOOLS = (
    "/bin/sh", "/usr/bin/dash", "/usr/bin/echo", "/usr/bin/touch", "/usr/bin/cat",
    "/usr/bin/true", "/usr/bin/id", "/usr/bin/ls", "/usr/bin/sleep", "/usr/bin/env",
)  # fmt: skip
_SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data"}
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"  # noqa: S105
_LDD_LINE = re.compile(r"(/\S+)")


@functools.cache
def default_tag() -> str:
    """``corral-worker:<python>-<digest>`` for this interpreter and this corral."""
    digest = hashlib.sha256(sys.version.encode())
    root = Path(corral.__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    python = f"py{sys.version_info[0]}.{sys.version_info[1]}"
    return f"{IMAGE_REPOSITORY}:{python}-{digest.hexdigest()[:12]}"


def build_image(client: Any, tag: str = "") -> str:
    """Assemble the rootfs, import it as ``tag`` (default :func:`default_tag`); returns the tag."""
    tag = tag or default_tag()
    repository, _, version = tag.rpartition(":")
    with tempfile.TemporaryDirectory(prefix="corral-image-") as scratch:
        archive = Path(scratch) / "rootfs.tar"
        write_rootfs(archive)
        output = client.api.import_image_from_file(
            str(archive), repository=repository or tag, tag=version or "latest"
        )
    image_id = _imported_id(output)
    if image_id:  # Podman's compatible API ignores the tag on import: name it ourselves
        client.images.get(image_id).tag(repository or tag, version or "latest")
    return tag


def _imported_id(output: Any) -> str:
    """The ``sha256:...`` id an import reports (Docker and Podman both put it in ``status``)."""
    for line in reversed(str(output).splitlines()):
        with contextlib.suppress(ValueError, AttributeError):
            reply = json.loads(line)
            for key in ("id", "status"):
                value = str(reply.get(key, ""))
                if value.startswith("sha256:"):
                    return value
    return ""


def image_present(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def write_rootfs(archive: Path) -> None:
    """Write the worker's root filesystem as a tar file."""
    with tarfile.open(archive, "w") as tar:
        added: set[str] = set()
        for name in ("bin", "lib", "lib64", "sbin"):
            if os.path.islink(f"/{name}"):
                _link(tar, f"/{name}", added)
        for path in _host_files():
            _add(tar, path, added)
        purelib = Path(sysconfig.get_paths()["purelib"])
        for package in WORKER_PACKAGES:
            for source in (purelib / package, purelib / f"{package}.py"):
                if source.exists():
                    _tree(tar, source, f"{SITE_DIR}/{source.name}", added)
        _tree(tar, Path(corral.__file__).resolve().parent, f"{SITE_DIR}/corral", added)
        _text(tar, "/etc/passwd", _PASSWD)
        _text(tar, "/etc/group", "root:x:0:\nnogroup:x:65534:\n")
        for directory, mode in (("/tmp", 0o1777), ("/run/corral/plugin", 0o755),
                                ("/run/corral/work", 0o755), ("/run/corral/ipc", 0o755),
                                ("/proc", 0o555), ("/sys", 0o555), ("/dev", 0o755)):  # fmt: skip
            _dir(tar, directory, added, mode)


def _host_files() -> Iterator[str]:
    """The interpreter, its stdlib, the libraries they link, the tools, CA certificates."""
    executable = os.path.realpath(sys.executable)  # a venv's python links to the base one
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    yield executable
    yield f"/usr/bin/python{sys.version_info[0]}"
    objects = [executable]
    for path in _walk(stdlib):
        yield path
        if path.endswith(".so"):
            objects.append(path)
    purelib = Path(sysconfig.get_paths()["purelib"])
    for package in WORKER_PACKAGES:
        objects += (
            [str(p) for p in (purelib / package).rglob("*.so")]
            if (purelib / package).is_dir()
            else []
        )
    for tool in TOOLS:
        if os.path.exists(tool):
            yield tool
            objects.append(os.path.realpath(tool))
    yield from sorted(_libraries(objects))
    for extra in ("/etc/ssl/certs/ca-certificates.crt", "/etc/ld.so.cache"):
        if os.path.exists(extra):
            yield extra


def _walk(stdlib: Path) -> Iterator[str]:
    for root, dirs, files in os.walk(stdlib):
        if Path(root) == stdlib:
            dirs[:] = [d for d in dirs if d not in _SKIP_STDLIB and d != "site-packages"]
        for name in files:
            yield os.path.join(root, name)


def _libraries(objects: Iterable[str]) -> set[str]:
    """Every shared library the given ELF files load, as ``ldd`` resolves them."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(objects)), 64):
        run = subprocess.run(["ldd", *chunk], capture_output=True, text=True, check=False)
        for line in run.stdout.splitlines():
            match = _LDD_LINE.search(line.split("=>")[-1])
            if match and os.path.exists(match.group(1)):
                found.add(match.group(1))
    return found


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dir(tar: tarfile.TarFile, path: str, added: set[str], mode: int = 0o755) -> None:
    if path in added or path == "/":
        return
    _dir(tar, os.path.dirname(path), added)
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)
    added.add(path)


def _link(tar: tarfile.TarFile, path: str, added: set[str]) -> None:
    if path in added:
        return
    _dir(tar, os.path.dirname(path), added)
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    tar.addfile(info)
    added.add(path)


def _add(tar: tarfile.TarFile, path: str, added: set[str]) -> None:
    """Add ``path`` as the host has it: symlinked parents and links kept, targets added too."""
    parent = os.path.dirname(path)
    real_parent = os.path.realpath(parent)
    if real_parent != parent:  # reached through a linked directory: store the real place
        path = os.path.join(real_parent, os.path.basename(path))
    if path in added:
        return
    if os.path.islink(path):
        _link(tar, path, added)
        target = os.path.join(os.path.dirname(path), os.readlink(path))
        _add(tar, os.path.normpath(target), added)
        return
    _dir(tar, os.path.dirname(path), added)
    tar.add(path, arcname=path.lstrip("/"), recursive=False, filter=_plain)
    added.add(path)


def _tree(tar: tarfile.TarFile, source: Path, target: str, added: set[str]) -> None:
    if source.is_file():
        _dir(tar, os.path.dirname(target), added)
        tar.add(str(source), arcname=target.lstrip("/"), filter=_plain)
        return
    _dir(tar, target, added)
    for path in sorted(source.rglob("*")):
        if "__pycache__" in path.parts:
            continue
        dest = f"{target}/{path.relative_to(source).as_posix()}"
        if path.is_dir():
            _dir(tar, dest, added)
        else:
            _dir(tar, os.path.dirname(dest), added)
            tar.add(str(path), arcname=dest.lstrip("/"), recursive=False, filter=_plain)
            if path.suffix == ".py":
                _bytecode(tar, path, dest, added)


def _bytecode(tar: tarfile.TarFile, source: Path, dest: str, added: set[str]) -> None:
    """The module's bytecode, compiled now: workers run with -B on a read-only root.

    Without it every worker start would compile corral and pydantic again
    (about two seconds here). Unchecked-hash pycs: the image never changes.
    """
    cached = importlib.util.cache_from_source(dest)
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "module.pyc")
        try:
            py_compile.compile(
                str(source), cfile=out, dfile=dest, doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )  # fmt: skip
        except py_compile.PyCompileError:
            return  # a module this interpreter cannot compile is never imported by it
        _dir(tar, os.path.dirname(cached), added)
        tar.add(out, arcname=cached.lstrip("/"), filter=_plain)


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Owned by root and readable by all: the worker runs as an unprivileged uid."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode |= 0o444 if not info.isdir() else 0o555
    if info.mode & 0o100:
        info.mode |= 0o111
    info.mode &= ~0o022
    return info


def _text(tar: tarfile.TarFile, path: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))
