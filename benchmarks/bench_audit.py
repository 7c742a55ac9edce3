"""Audit store throughput on SQLite, as ratios against a bare sqlite3 baseline in this process.

The baseline is what a naive durable log does: one INSERT and one COMMIT per
event on a WAL database with synchronous=FULL (the store's own settings), no
hashing, no thread. Against it:

* ``write``, 1 thread: every event waits for its own commit (worst case).
* ``write``, 8 threads: acknowledged writes from concurrent callers share
  commits (group commit), which is what a host with busy plugins does.
* ``submit`` + one ``flush``: the queued path for high-rate info events.

Run: ``.venv/bin/python benchmarks/bench_audit.py [events]``. Numbers depend on
the disk's fsync latency, so only the ratios travel between machines.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from corral.audit import AuditEvent, open_store


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        time=time.time(),
        kind="denied",
        plugin="bench",
        decision="deny",
        details={"n": n, "permission": "file:read=/etc/shadow"},
    )


def baseline(path: Path, count: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE log (id TEXT PRIMARY KEY, time REAL, kind TEXT, details TEXT)")
    start = time.perf_counter()
    for n in range(count):
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO log VALUES (?, ?, ?, ?)",
            (uuid.uuid4().hex, time.time(), "denied", json.dumps({"n": n})),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return count / elapsed


def writes(path: Path, count: int, threads: int) -> float:
    store = open_store(path, host_id="bench")
    per = count // threads

    def run() -> None:
        for n in range(per):
            store.write(_event(n))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    store.close()
    return per * threads / elapsed


def submits(path: Path, count: int) -> float:
    store = open_store(path, host_id="bench")
    start = time.perf_counter()
    for n in range(count):
        store.submit(_event(n))
    store.flush()
    elapsed = time.perf_counter() - start
    store.close()
    return count / elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        root = Path(tmp)
        base = baseline(root / "base.db", count)
        rows = [
            ("bare sqlite3, commit per event (baseline)", base),
            ("SqliteStore.write, 1 thread", writes(root / "w1.db", count, 1)),
            ("SqliteStore.write, 8 threads", writes(root / "w8.db", count, 8)),
            ("SqliteStore.submit + flush", submits(root / "s.db", count * 5)),
        ]
    print(f"{'path':<44} {'events/s':>10} {'x baseline':>11}")
    for name, rate in rows:
        print(f"{name:<44} {rate:>10.0f} {rate / base:>11.2f}")


if __name__ == "__main__":
    main()
