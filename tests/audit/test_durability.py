"""Nothing acknowledged is lost when the host is killed with SIGKILL under load.

"Acknowledged" (docs/architecture.md, "Audit log"): ``write`` (and so
``Host.record`` for denials) has returned, or ``flush`` has returned after a
``submit``. A real child process records from six threads and reports each
acknowledged event the moment it is acknowledged; the test kills it with
SIGKILL mid-stream, then opens the store and checks every reported event is
there and the chain still verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = Path(__file__).with_name("_load_child.py")
WANT = 3000  # acknowledged events to see before the kill


def test_sigkill_under_load_loses_no_acknowledged_event(backend, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), backend.target, str(tmp_path / "home")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    acknowledged: set[str] = set()
    deadline = time.monotonic() + 60
    try:
        while len(acknowledged) < WANT and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acknowledged.add(line.decode().strip())
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        tail = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    complete = tail.decode().split("\n")[:-1]  # a line cut by the kill was never reported whole
    acknowledged.update(complete)
    assert len(acknowledged) >= WANT

    with backend.open(host_id="verifier") as store:
        stored = {e.details.get("token") for e in store.query(plugin="loadtest")}
        reports = store.verify()
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert any(t.startswith("deny-") for t in acknowledged)
    assert any(t.startswith("call-") for t in acknowledged)
    assert reports and all(r.ok for r in reports), [r.summary() for r in reports]
