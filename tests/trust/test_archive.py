"""Archive hygiene: every hostile entry a zip or a directory can hold is refused by name."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

import pytest

from corral.errors import TrustError
from corral.limits import Limits
from corral.trust import Keyring, Verifier
from corral.trust.package import open_package

from ._crafted import CODE, MANIFEST, make_plugin, zip_with

BASE = [
    ("plugin.yaml", MANIFEST.format(name="zipped", version="1.0.0", tier="community")),
    ("main.py", CODE),
]


def unix_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def test_a_clean_archive_opens(tmp_path, verifier_for):
    archive = zip_with(tmp_path / "ok.corral", BASE)
    assert set(open_package(archive).members) == {"plugin.yaml", "main.py"}
    assert verifier_for().verify(archive).manifest.name == "zipped"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape.py", "climbs out of the package"),
        ("lib/../../escape.py", "climbs out of the package"),
        ("/etc/cron.d/evil", "is an absolute path"),
        ("C:/evil.py", "is an absolute path"),
        ("lib\\evil.py", "backslash"),
        ("./main2.py", "empty or '.' path component"),
    ],
)
def test_zip_slip_and_absolute_names(tmp_path, verifier_for, name, reason):
    archive = zip_with(tmp_path / "bad.corral", [*BASE, (name, "x = 1\n")])
    with pytest.raises(TrustError, match=reason):
        verifier_for().verify(archive)


def test_symlink_member(tmp_path, verifier_for):
    link = unix_entry("data.txt", stat.S_IFLNK | 0o777)
    archive = zip_with(tmp_path / "bad.corral", [*BASE, (link, "/etc/shadow")])
    with pytest.raises(TrustError, match=r"'data.txt' is a symlink"):
        verifier_for().verify(archive)


def test_device_member(tmp_path, verifier_for):
    device = unix_entry("dev.bin", stat.S_IFCHR | 0o666)
    archive = zip_with(tmp_path / "bad.corral", [*BASE, (device, "")])
    with pytest.raises(TrustError, match=r"'dev.bin' is a device or special file"):
        verifier_for().verify(archive)


def test_duplicate_member(tmp_path, verifier_for):
    archive = tmp_path / "dup.corral"
    with pytest.warns(UserWarning, match=r"Duplicate name"):
        zip_with(archive, [*BASE, ("main.py", "print('second copy')\n")])
    with pytest.raises(TrustError, match=r"'main.py' appears more than once"):
        verifier_for().verify(archive)


def test_case_colliding_members(tmp_path, verifier_for):
    archive = zip_with(tmp_path / "case.corral", [*BASE, ("Main.py", "x = 1\n")])
    with pytest.raises(TrustError, match=r"collide when case is ignored"):
        verifier_for().verify(archive)


def test_file_and_directory_of_one_name(tmp_path, verifier_for):
    archive = zip_with(tmp_path / "fd.corral", [*BASE, ("lib", "x"), ("lib/a.py", "y")])
    with pytest.raises(TrustError, match=r"'lib' is both a file and a directory"):
        verifier_for().verify(archive)


def test_zip_bomb_ratio_is_refused_before_inflating(tmp_path, verifier_for):
    archive = zip_with(tmp_path / "bomb.corral", [*BASE, ("zeros.bin", b"\0" * (8 << 20))])
    assert archive.stat().st_size < 100_000
    with pytest.raises(TrustError, match=r"compression ratio \d+:1; at most 100:1"):
        verifier_for().verify(archive)


def test_member_and_package_size_caps(tmp_path):
    archive = zip_with(tmp_path / "big.corral", [*BASE, ("blob.bin", os.urandom(4096))])
    with pytest.raises(TrustError, match=r"inflates to 4096 bytes; at most 1024"):
        open_package(archive, Limits(member_bytes=1024))
    with pytest.raises(TrustError, match=r"3 members; at most 2"):
        open_package(archive, Limits(package_files=2))


def test_not_a_zip_nor_a_directory(tmp_path, verifier_for):
    junk = tmp_path / "junk.corral"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(TrustError, match=r"neither a plugin directory nor a .corral archive"):
        verifier_for().verify(junk)


def test_directory_symlink_member(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    (plugin / "data.txt").symlink_to("/etc/passwd")
    with pytest.raises(TrustError, match=r"'data.txt' is a symlink"):
        verifier_for().verify(plugin)


def test_directory_symlinked_subdirectory(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    (plugin / "lib").symlink_to("/etc")
    with pytest.raises(TrustError, match=r"'lib' is a symlink"):
        verifier_for().verify(plugin)


def test_directory_hardlink_member(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    secret = tmp_path / "outside.txt"
    secret.write_text("host secret")
    os.link(secret, plugin / "data.txt")
    with pytest.raises(TrustError, match=r"'data.txt' is a hard link"):
        verifier_for().verify(plugin)


def test_directory_fifo_member(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    os.mkfifo(plugin / "pipe")
    with pytest.raises(TrustError, match=r"'pipe' is a device or special file"):
        verifier_for().verify(plugin)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device needs root")
def test_directory_device_member(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    os.mknod(plugin / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(TrustError, match=r"'null' is a device or special file"):
        verifier_for().verify(plugin)


def test_directory_case_colliding_names(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p", **{"Main.py": b"x = 1\n"})
    with pytest.raises(TrustError, match=r"collide when case is ignored"):
        verifier_for().verify(plugin)


def test_vcs_metadata_in_a_directory_is_passed_over_and_never_stored(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p", **{".git/config": b"[core]\n"})
    verifier = verifier_for()
    stored = verifier.install(verifier.verify(plugin))
    assert sorted(p.name for p in stored.iterdir()) == ["main.py", "plugin.yaml"]


def _set_encrypted_flag(path, name: bytes):
    """Set bit 0 (encrypted) in the local and central headers of member ``name``."""
    data = bytearray(path.read_bytes())
    for magic, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := data.find(magic, start)) != -1:
            if data[start + name_at : start + name_at + len(name)] == name:
                data[start + flag_at] |= 0x1
            start += 4
    path.write_bytes(bytes(data))


def test_encrypted_member(tmp_path, verifier_for):
    archive = zip_with(tmp_path / "enc.corral", [*BASE, ("secret.py", "x = 1\n")])
    _set_encrypted_flag(archive, b"secret.py")
    with pytest.raises(TrustError, match=r"'secret\.py' is encrypted"):
        verifier_for().verify(archive)


def test_truncated_archive_is_a_clear_error(tmp_path, verifier_for):
    good = zip_with(tmp_path / "ok.corral", BASE)
    cut = tmp_path / "cut.corral"
    data = good.read_bytes()
    cut.write_bytes(data[:40] + data[-22:])  # keeps the end record, loses members
    with pytest.raises(TrustError, match=r"package .*cut\.corral"):
        verifier_for().verify(cut)


def test_a_directory_that_cannot_be_listed_is_not_silently_skipped():
    """Run as an unprivileged uid (root lists anything): lib/ unlistable must refuse."""
    root = Path(tempfile.mkdtemp(prefix="corral-unlistable-", dir="/var/tmp"))
    try:
        root.chmod(0o755)
        plugin = make_plugin(root / "p", **{"lib/helper.py": b"h = 1\n"})
        (plugin / "lib").chmod(0o000)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            code = 3
            try:
                if os.geteuid() == 0:
                    os.setresgid(65534, 65534, 65534)
                    os.setresuid(65534, 65534, 65534)
                Verifier(Keyring()).verify(plugin)
                code = 1
            except TrustError as exc:
                code = 0 if "cannot list" in str(exc) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        (root / "p" / "lib").chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_the_package_path_itself_may_be_a_link_chosen_by_the_host(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "real")
    (tmp_path / "current").symlink_to(plugin)
    assert verifier_for().verify(tmp_path / "current").manifest.name == "signed-hello"
