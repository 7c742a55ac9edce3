"""Reports and reviews recorded on one machine are obeyed by a host on another.

Machine A is a ``python -m corral`` process with a home of its own; host B
runs in this test's process with a *different* home. They share nothing but
the PostgreSQL URL their policy.yaml names as the audit log, so whatever B
obeys came through that database. A third host with its own home and no URL
is the control: it loads the same plugin, so B's refusal is not its own doing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import corral
from tests.conftest import SABOTAGE

pytestmark = pytest.mark.pen
GOOD = Path(__file__).resolve().parents[1] / "plugins" / "good"
QUIET = "monitoring:\n  interval_seconds: 3600\n"


def ok(*argv: str, home: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "corral", *argv, "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True
    return data


def _home(policy: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="corral-home-", dir="/var/tmp"))
    root.chmod(0o711)  # a pen's uid must be able to search it
    (root / "policy.yaml").write_text(policy)
    return root


@dataclass
class Machines:
    a: Path  # where the CLI runs
    b: Path  # the host that must obey
    alone: Path  # a host sharing nothing: the control

    def host(self, home: Path) -> corral.Host:
        return corral.Host(home=home, unsafe_disable_layers=SABOTAGE)


@pytest.fixture
def machines(postgresql_backend) -> Iterator[Machines]:
    shared = f"{QUIET}audit: '{postgresql_backend.target}'\n"
    made = Machines(_home(shared), _home(shared), _home(QUIET))
    yield made
    for home in (made.a, made.b, made.alone):
        shutil.rmtree(home, ignore_errors=True)


def test_a_critical_report_from_machine_a_disables_the_plugin_at_load_on_host_b(machines):
    ok("vuln", "report", "good-notes", "--version", "1.0.0", "--severity", "critical",
       "--id", "CVE-2026-4242", "--fixed-in", "1.1.0", home=machines.a)
    assert _sqlite_reports(machines.a) == []  # not in A's own corral.db
    with machines.host(machines.b) as host:
        with pytest.raises(corral.VettingError, match="CVE-2026-4242"):
            host.load(GOOD)
        assert host.plugins() == []
    with machines.host(machines.alone) as host:
        assert host.load(GOOD).call("cities")  # the control: nothing local stops it
    listed = ok("vuln", "list", home=machines.b)["reports"]
    assert [r["vuln_id"] for r in listed] == ["CVE-2026-4242"]

    ok("vuln", "resolve", "good-notes", "--id", "CVE-2026-4242", home=machines.a)
    with machines.host(machines.b) as host:
        assert host.load(GOOD).call("cities")


def test_a_review_recorded_on_machine_a_lets_host_b_load_a_version_that_needs_one(
    machines, tmp_path
):
    ok("vuln", "report", "good-notes", "--version", "1.0.0", "--severity", "high",
       "--id", "CVE-2026-4343", home=machines.a)
    with machines.host(machines.b) as host:
        with pytest.raises(corral.TrustError, match="no internal security review"):
            host.load(GOOD)
        assert host.plugins() == []
    notes = tmp_path / "notes.txt"
    notes.write_text("read the fix for CVE-2026-4343; nothing else reachable\n")
    ok("review", "add", "good-notes", "1.0.0", "--level", "internal", "--notes", str(notes),
       "--reviewer", "ana", home=machines.a)
    with machines.host(machines.b) as host:
        assert host.load(GOOD).call("cities")
    (review,) = ok("review", "list", "good-notes", home=machines.b)["reviews"]
    assert review["reviewer"] == "ana"


def _sqlite_reports(home: Path) -> list[tuple]:
    """Rows in the home's own corral.db, if it has the table (it must not have any)."""
    import sqlite3

    db = sqlite3.connect(home / "corral.db")
    try:
        return db.execute("SELECT * FROM vuln_reports").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
