from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import corral
from corral.audit import MemorySink
from tests.conftest import SABOTAGE


@pytest.fixture
def audit():
    return MemorySink()


@pytest.fixture
def home():
    """The host's CORRAL_HOME: under /var/tmp and searchable (0711) by a pen's uid.

    pytest's tmp_path sits under a 0700 directory. A pen whose mount layer is
    off (a sabotage run, or isolation="process") reaches its store and work dir
    by their host paths as an unprivileged uid; it must not fail for that
    reason instead of the one a test is about.
    """
    root = Path(tempfile.mkdtemp(prefix="corral-home-", dir="/var/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def plugin_copy(plugin_dir, tmp_path):
    """A fixture plugin copied into tmp_path with text of its plugin.yaml replaced.

    ``plugin_copy("fixtures/internal_network", {"PORT": "4321"})``: for manifests
    that need a value known only at test time (a port, a unique name).
    """

    def copy(name: str, replace: dict[str, str]) -> Path:
        target = tmp_path / "plugins" / Path(name).name
        shutil.copytree(plugin_dir(name), target)
        manifest = target / "plugin.yaml"
        text = manifest.read_text()
        for old, new in replace.items():
            assert old in text, f"{old!r} is not in {name}/plugin.yaml"
            text = text.replace(old, new)
        manifest.write_text(text)
        return target

    return copy


@pytest.fixture
def backend():
    """The isolation level under test; a module overrides it to run against both walls."""
    return "kernel"


@pytest.fixture
def host(home, audit, backend, request):
    options = {}
    if backend == "container":
        options = {
            "isolation": "container",
            "container": request.getfixturevalue("container_engine"),
        }
    with corral.Host(home=home, audit=audit, unsafe_disable_layers=SABOTAGE, **options) as h:
        yield h


def pytest_collection_modifyitems(config, items):
    """Tests on the container engine run last, together: the engine starts once for them.

    It also keeps the engine client's memory out of the tests after them: the
    sandbox's RLIMIT_AS fallback tests fork from this process and count its
    address space (glibc arenas included) against their limit.
    """

    def uses_engine(item):  # the benchmark smoke run measures the container figures too
        return "container" in item.nodeid or item.nodeid.startswith("tests/benchmarks/")

    on_engine = [i for i in items if uses_engine(i)]
    if on_engine:
        items[:] = [i for i in items if not uses_engine(i)] + on_engine
