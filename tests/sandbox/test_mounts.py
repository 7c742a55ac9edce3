"""The pen's mounts, attacked for real and judged from the host's side of the mount namespace.

Deny tests switch Landlock off where it would also stop the act, so the mount
alone stands in the way; twins show the act landing without the mount layer
(or on the one directory the pen may write).
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

import pytest

from corral.policy.plan import PEN_PLUGIN_DIR, PEN_WORK_DIR
from tests.sandbox._forkrun import Channel, run, write_act
from tests.sandbox.conftest import PLUGIN_FILE, PLUGIN_TEXT, pen

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the root path; see test_apply")


def _unmounted(make_plan, pen_dirs, off=frozenset()):
    """The same plan with the mount layer off: the pen sees the host paths directly."""
    return make_plan(
        off={"mountns", *off}, plugin_dir=str(pen_dirs.plugin), work_dir=str(pen_dirs.work)
    )


def test_deny_tmp_write_does_not_reach_the_host_tmp(make_plan):
    name = f"/tmp/corral-pen-{uuid.uuid4().hex}"
    outcome = run(pen(make_plan(), write_act(name)))
    assert outcome.value == "written", outcome
    assert not Path(name).exists()


def test_allow_without_mountns_the_same_write_lands_in_host_tmp(make_plan, pen_dirs):
    name = Path(f"/tmp/corral-pen-{uuid.uuid4().hex}")
    try:
        outcome = run(pen(_unmounted(make_plan, pen_dirs), write_act(str(name))))
        assert outcome.value == "written", outcome
        assert name.read_bytes() == b"xxxxx"
    finally:
        name.unlink(missing_ok=True)


def test_deny_plugin_dir_is_read_only_even_where_file_modes_allow(make_plan, pen_dirs):
    pen_dirs.plugin.chmod(0o777)
    (pen_dirs.plugin / PLUGIN_FILE).chmod(0o666)  # only the read-only mount stands in the way

    def act(_: Channel) -> dict[str, str]:
        results = {"read": Path(PEN_PLUGIN_DIR, PLUGIN_FILE).read_text()}
        for what, attempt in {
            "write": lambda: Path(PEN_PLUGIN_DIR, PLUGIN_FILE).write_text("evil"),
            "create": lambda: Path(PEN_PLUGIN_DIR, "new.py").write_text("evil"),
            "unlink": lambda: os.unlink(Path(PEN_PLUGIN_DIR, PLUGIN_FILE)),
        }.items():
            try:
                attempt()
                results[what] = "done"
            except OSError as exc:
                results[what] = errno.errorcode[exc.errno or 0]
        return results

    outcome = run(pen(make_plan(off={"landlock"}), act))
    assert outcome.value == {
        "read": PLUGIN_TEXT,
        "write": "EROFS",
        "create": "EROFS",
        "unlink": "EROFS",
    }, outcome
    assert os.listdir(pen_dirs.plugin) == [PLUGIN_FILE]
    assert (pen_dirs.plugin / PLUGIN_FILE).read_text() == PLUGIN_TEXT


def test_allow_work_dir_writes_reach_the_host_work_source(make_plan, pen_dirs):
    outcome = run(pen(make_plan(), write_act(f"{PEN_WORK_DIR}/result.txt")))
    assert outcome.value == "written", outcome
    assert (pen_dirs.work / "result.txt").read_bytes() == b"xxxxx"


def test_deny_host_run_is_hidden(make_plan):
    assert set(os.listdir("/run")) - {"corral"}, "the host's /run should have entries"
    outcome = run(pen(make_plan(off={"landlock"}), lambda _: sorted(os.listdir("/run"))))
    assert outcome.value == ["corral"], outcome


def test_allow_without_mountns_the_pen_lists_the_host_run(make_plan, pen_dirs):
    outcome = run(
        pen(_unmounted(make_plan, pen_dirs, off={"landlock"}), lambda _: os.listdir("/run"))
    )
    assert set(outcome.value) == set(os.listdir("/run")), outcome


def test_deny_scratch_space_is_bounded_by_disk_mb(make_plan):
    outcome = run(pen(make_plan(disk_mb=1), write_act("/tmp/big", 2 * 1024 * 1024)))
    assert outcome.value == "ENOSPC", outcome


def test_deny_tmp_and_shm_share_one_budget(make_plan):
    def act(_: Channel) -> list[str]:
        half = 700 * 1024
        return [write_act("/tmp/a", half)(_), write_act("/dev/shm/b", half)(_)]

    outcome = run(pen(make_plan(disk_mb=1), act))
    assert outcome.value == ["written", "ENOSPC"], outcome


def test_allow_scratch_space_within_disk_mb(make_plan):
    def act(_: Channel) -> object:
        written = [write_act("/tmp/a", 300 * 1024)(_), write_act("/dev/shm/b", 300 * 1024)(_)]
        modes = [oct(os.stat(p).st_mode & 0o7777) for p in ("/tmp", "/dev/shm")]
        return {"written": written, "modes": modes}

    outcome = run(pen(make_plan(disk_mb=1), act))
    assert outcome.value == {"written": ["written"] * 2, "modes": ["0o1777"] * 2}, outcome


def test_deny_pen_dirs_only_under_run_corral(make_plan, pen_dirs):
    plan = make_plan(off={"landlock"}, work_dir="/etc/corral-work")
    outcome = run(pen(plan, lambda _: "confined"))
    assert "must live under /run/corral" in outcome.error, outcome
    assert not Path("/etc/corral-work").exists()


def test_allow_granted_reads_under_the_hosts_tmp_through_the_pens_own_tmp(make_plan, tmp_path):
    """A checkout or venv under /tmp (CI's clone, say) stays readable: bound back read-only."""
    shared = Path(f"/tmp/corral-lib-{uuid.uuid4().hex}")
    (shared / "pkg").mkdir(parents=True)
    (shared / "pkg" / "mod.py").write_text("VALUE = 7\n")
    shared.chmod(0o755)
    (shared / "pkg").chmod(0o755)
    (shared / "pkg" / "mod.py").chmod(0o644)
    plan = make_plan()
    plan = make_plan(read_paths=(*plan.read_paths, str(shared)))

    def act(_: Channel) -> dict[str, str]:
        results = {"read": (shared / "pkg" / "mod.py").read_text()}
        try:
            (shared / "pkg" / "mod.py").write_text("VALUE = 666\n")
            results["write"] = "written"
        except OSError as exc:
            results["write"] = errno.errorcode[exc.errno or 0]
        return results

    try:
        outcome = run(pen(plan, act))
        assert outcome.value["read"] == "VALUE = 7\n", outcome
        assert outcome.value["write"] in ("EROFS", "EACCES"), outcome  # read-only, for real
        assert (shared / "pkg" / "mod.py").read_text() == "VALUE = 7\n"
    finally:
        import shutil

        shutil.rmtree(shared, ignore_errors=True)
